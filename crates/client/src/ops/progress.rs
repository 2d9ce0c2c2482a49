//! Progress reporting: a callback, a shared [`Meter`] with a sliding-window
//! rate, and `AsyncRead`/`AsyncWrite` wrappers that feed it without copying.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::observe::poll_read_observed;

/// One progress report.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProgressEvent {
    /// Bytes done, including a resumed prefix.
    pub bytes_done: u64,
    /// Total bytes, when known.
    pub total: Option<u64>,
    /// Bytes per second over the last [`RATE_WINDOW`].
    pub rate: f64,
    /// `true` for the last report of a transfer.
    pub finished: bool,
    /// The file, when the transfer is one of many (mirror): which one, so
    /// that the events of concurrent files can be told apart.
    pub file: Option<Arc<FileProgress>>,
    /// The whole job's totals, when the transfer is part of one (mirror).
    pub job: Option<JobProgress>,
}

/// Which file of a multi-file job an event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProgress {
    /// The remote path (lossy UTF-8).
    pub remote: String,
    /// The local path.
    pub local: std::path::PathBuf,
    /// Its place in the job, from 1 (the order files were queued in).
    pub index: u64,
    /// An upload (else a download).
    pub upload: bool,
}

/// The totals of a multi-file job when an event was made. Files are queued
/// while the tree is walked, so `files_queued` grows until `listing_done`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobProgress {
    /// Files finished (transferred, unchanged or failed).
    pub files_done: u64,
    /// Files queued so far.
    pub files_queued: u64,
    /// Bytes of the finished files (their listed sizes).
    pub bytes_done: u64,
    /// Bytes of the files queued so far (their listed sizes).
    pub bytes_queued: u64,
    /// The walk of the tree is over: the totals are final.
    pub listing_done: bool,
}

/// The progress callback. It is called from the transfer's task, at most
/// every [`REPORT_INTERVAL`] and once more at the end: keep it cheap.
/// Clones share the one callback; `Debug` shows only that there is one.
#[derive(Clone)]
pub struct Progress(Arc<dyn Fn(&ProgressEvent) + Send + Sync>);

impl Progress {
    /// A callback for progress events.
    pub fn new(callback: impl Fn(&ProgressEvent) + Send + Sync + 'static) -> Self {
        Self(Arc::new(callback))
    }

    /// Calls the callback with `event`.
    pub fn report(&self, event: &ProgressEvent) {
        (self.0)(event);
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// The sliding window over which the rate is measured.
pub const RATE_WINDOW: Duration = Duration::from_secs(3);
/// The shortest time between two reports (except the final one).
pub const REPORT_INTERVAL: Duration = Duration::from_millis(100);

/// Counts bytes for one or several concurrent streams (the segments of a
/// segmented download share one) and calls the callback.
pub struct Meter {
    callback: Option<Progress>,
    total: Option<u64>,
    state: Mutex<MeterState>,
}

struct MeterState {
    done: u64,
    samples: VecDeque<(Instant, u64)>,
    last_report: Option<Instant>,
    finished: bool,
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter")
            .field("total", &self.total)
            .field("done", &self.done())
            .finish_non_exhaustive()
    }
}

impl Meter {
    /// A meter starting at `start` bytes (a resumed prefix) out of `total`.
    pub fn new(callback: Option<Progress>, start: u64, total: Option<u64>) -> Arc<Self> {
        let mut samples = VecDeque::new();
        samples.push_back((Instant::now(), start));
        Arc::new(Self {
            callback,
            total,
            state: Mutex::new(MeterState {
                done: start,
                samples,
                last_report: None,
                finished: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MeterState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes done so far.
    pub fn done(&self) -> u64 {
        self.lock().done
    }

    /// Counts `n` more bytes; reports if the last report is old enough.
    pub fn add(&self, n: u64) {
        if n == 0 {
            return;
        }
        let now = Instant::now();
        let event = {
            let mut s = self.lock();
            s.done += n;
            let done = s.done;
            s.samples.push_back((now, done));
            while s.samples.len() > 2
                && s.samples
                    .get(1)
                    .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
            {
                s.samples.pop_front();
            }
            if s.samples.len() > 4096 {
                s.samples.pop_front();
            }
            let due = s
                .last_report
                .is_none_or(|t| now.duration_since(t) >= REPORT_INTERVAL);
            if !due || self.callback.is_none() {
                return;
            }
            s.last_report = Some(now);
            self.event(&s, now, false)
        };
        self.emit(&event);
    }

    /// Sends the final report (once).
    pub fn finish(&self) {
        let now = Instant::now();
        let event = {
            let mut s = self.lock();
            if s.finished {
                return;
            }
            s.finished = true;
            self.event(&s, now, true)
        };
        self.emit(&event);
    }

    /// The current rate in bytes per second.
    pub fn rate(&self) -> f64 {
        let s = self.lock();
        rate_of(&s, Instant::now())
    }

    fn event(&self, s: &MeterState, now: Instant, finished: bool) -> ProgressEvent {
        ProgressEvent {
            bytes_done: s.done,
            total: self.total,
            rate: rate_of(s, now),
            finished,
            file: None,
            job: None,
        }
    }

    fn emit(&self, event: &ProgressEvent) {
        if let Some(cb) = &self.callback {
            cb.report(event);
        }
    }
}

fn rate_of(s: &MeterState, now: Instant) -> f64 {
    let Some(&(t0, b0)) = s.samples.front() else {
        return 0.0;
    };
    let secs = now.duration_since(t0).as_secs_f64();
    if secs <= f64::EPSILON {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let bytes = s.done.saturating_sub(b0) as f64;
    bytes / secs
}

/// An `AsyncRead` or `AsyncWrite` that counts what passes through it into a
/// [`Meter`]: the bytes read, or the bytes written.
#[derive(Debug)]
pub struct Metered<S> {
    inner: S,
    meter: Arc<Meter>,
}

impl<S> Metered<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, meter: Arc<Meter>) -> Self {
        Self { inner, meter }
    }

    /// The wrapped stream.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Self { inner, meter } = self.get_mut();
        poll_read_observed(inner, cx, buf, |got| meter.add(got.len() as u64))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Self { inner, meter } = self.get_mut();
        let r = Pin::new(inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            meter.add(n as u64);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn counts_reads_and_finishes_once() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = events.clone();
        let cb = Progress::new(move |e: &ProgressEvent| ev.lock().unwrap().push(e.clone()));
        let meter = Meter::new(Some(cb), 10, Some(20));
        let mut r = Metered::new(&b"0123456789"[..], meter.clone());
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        meter.finish();
        meter.finish();
        let events = events.lock().unwrap();
        let last = events.last().unwrap();
        assert!(last.finished);
        assert_eq!(last.bytes_done, 20);
        assert_eq!(last.total, Some(20));
        assert_eq!(events.iter().filter(|e| e.finished).count(), 1);
    }
}
