//! The work queue of a mirror and the sessions that empty it.
//!
//! The walk pushes one [`Job`] per file as it lists directories; workers
//! take them while the walk goes on. The queue is bounded
//! ([`MirrorOptions::queue_cap`]): when it is full the walker transfers
//! files itself before listing further, so memory does not grow with the
//! tree, and the first transfer starts while later directories are still
//! unlisted.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ftpkit_control::{Arg, Command};

use super::walk::{is_symlink, shown};
use super::{Direction, MirrorError, MirrorOptions, MirrorReport, Planned};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::download::download_file;
use crate::ops::files::FileOptions;
use crate::ops::partial::part_path;
use crate::ops::progress::{FileProgress, JobProgress, Progress, ProgressEvent};
use crate::ops::upload::upload_file;
use crate::Support;

/// One file to transfer.
pub(crate) struct Job {
    pub(crate) remote: Vec<u8>,
    pub(crate) local: PathBuf,
    /// Size: remote for downloads, local for uploads.
    pub(crate) size: Option<u64>,
    /// The remote time when the listing gave it exactly (UTC, seconds).
    pub(crate) remote_mtime: Option<SystemTime>,
    /// The remote listing's size (uploads: the file exists there).
    pub(crate) remote_size: Option<u64>,
    /// The local time (uploads).
    pub(crate) local_mtime: Option<SystemTime>,
    /// Its place in the job, from 1.
    pub(crate) index: u64,
}

impl Job {
    /// The remote path as a command argument.
    fn remote_arg(&self) -> Arg {
        Arg::from(self.remote.clone())
    }
}

/// What one job came to.
enum Outcome {
    Transferred(u64),
    Unchanged,
    Planned,
}

/// The queue, the report and the totals, shared by the walker and workers.
pub(crate) struct Shared {
    jobs: Mutex<VecDeque<Job>>,
    report: Mutex<MirrorReport>,
    /// The walk still lists directories (workers wait for more jobs).
    walking: AtomicBool,
    more: tokio::sync::Notify,
    files_queued: AtomicU64,
    bytes_queued: AtomicU64,
    files_done: AtomicU64,
    bytes_done: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            jobs: Mutex::new(VecDeque::new()),
            report: Mutex::new(MirrorReport::default()),
            walking: AtomicBool::new(true),
            more: tokio::sync::Notify::new(),
            files_queued: AtomicU64::new(0),
            bytes_queued: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
        })
    }

    pub(crate) fn report(&self) -> std::sync::MutexGuard<'_, MirrorReport> {
        self.report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn next_job(&self) -> Option<Job> {
        self.queue().pop_front()
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue().len()
    }

    /// Files and bytes queued so far (the limits count these).
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.files_queued.load(Ordering::Relaxed),
            self.bytes_queued.load(Ordering::Relaxed),
        )
    }

    /// Queues a job (its index is set here) and wakes a worker.
    pub(crate) fn push(&self, mut job: Job) {
        job.index = self.files_queued.fetch_add(1, Ordering::Relaxed) + 1;
        self.bytes_queued
            .fetch_add(job.size.unwrap_or(0), Ordering::Relaxed);
        self.queue().push_back(job);
        self.more.notify_one();
    }

    /// The walk is over: workers stop once the queue is empty.
    pub(crate) fn walk_done(&self) {
        self.walking.store(false, Ordering::SeqCst);
        self.more.notify_waiters();
    }

    pub(crate) fn error(&self, path: String, error: Error) {
        self.report().errors.push(MirrorError { path, error });
    }

    fn job_progress(&self) -> JobProgress {
        JobProgress {
            files_done: self.files_done.load(Ordering::Relaxed),
            files_queued: self.files_queued.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
            bytes_queued: self.bytes_queued.load(Ordering::Relaxed),
            listing_done: !self.walking.load(Ordering::SeqCst),
        }
    }

    /// Counts a job as done (whatever its outcome).
    fn done(&self, job: &Job) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done
            .fetch_add(job.size.unwrap_or(0), Ordering::Relaxed);
    }
}

/// A session that runs jobs: the caller's, or one of the mirror's own.
pub(crate) enum WorkerClient<'a> {
    Borrowed(&'a mut Client),
    Owned(Box<Client>),
}

impl WorkerClient<'_> {
    fn get(&mut self) -> &mut Client {
        match self {
            Self::Borrowed(c) => c,
            Self::Owned(c) => c,
        }
    }
}

/// Reconnects a worker's session that broke; `false` when that failed
/// (recorded in the report).
async fn reconnect_if_broken(wc: &mut WorkerClient<'_>, shared: &Shared) -> bool {
    if !wc.get().is_broken() {
        return true;
    }
    match Client::connect(wc.get().config().clone()).await {
        Ok(c) => {
            let carried = wc.get().round_trips();
            *wc.get() = c;
            wc.get().round_trips_before += carried;
            true
        }
        Err(e) => {
            shared.error("(reconnect)".into(), e);
            false
        }
    }
}

/// Runs one job and records its outcome; `false` when the session is lost.
pub(crate) async fn run_job(
    wc: &mut WorkerClient<'_>,
    shared: &Arc<Shared>,
    job: Job,
    opts: &MirrorOptions,
    dir: Direction,
) -> bool {
    let path = shown(&job.remote);
    let r = transfer_with_retries(wc, shared, &job, opts, dir).await;
    shared.done(&job);
    match r {
        Ok(Outcome::Transferred(bytes)) => {
            let mut rep = shared.report();
            rep.files_transferred += 1;
            rep.bytes += bytes;
        }
        Ok(Outcome::Unchanged) => shared.report().skipped_unchanged += 1,
        Ok(Outcome::Planned) => shared.report().planned.push(Planned {
            remote: path,
            local: job.local,
            size: job.size,
        }),
        Err(e) => {
            tracing::warn!(%path, error = %e, "mirror: file failed");
            shared.error(path, e);
            if !reconnect_if_broken(wc, shared).await {
                return false;
            }
        }
    }
    true
}

/// Takes jobs until the queue is empty and the walk is over.
pub(crate) async fn worker(
    mut wc: WorkerClient<'_>,
    shared: Arc<Shared>,
    opts: &MirrorOptions,
    dir: Direction,
) {
    loop {
        let more = shared.more.notified();
        tokio::pin!(more);
        more.as_mut().enable();
        if let Some(job) = shared.next_job() {
            if !run_job(&mut wc, &shared, job, opts, dir).await {
                return;
            }
            continue;
        }
        if !shared.walking.load(Ordering::SeqCst) {
            break;
        }
        more.await;
    }
    if let WorkerClient::Owned(c) = wc {
        shared.report().round_trips += c.round_trips();
        let _ = (*c).quit().await;
    }
}

/// One file, with [`MirrorOptions::retries`] resumed attempts.
async fn transfer_with_retries(
    wc: &mut WorkerClient<'_>,
    shared: &Arc<Shared>,
    job: &Job,
    opts: &MirrorOptions,
    dir: Direction,
) -> Result<Outcome> {
    let mut attempt = 0u32;
    loop {
        let one = OneFile {
            shared,
            job,
            opts,
            resume: attempt > 0,
        };
        let r = match dir {
            Direction::Down => one.download(wc.get()).await,
            Direction::Up => one.upload(wc.get()).await,
        };
        match r {
            Err(e) if attempt < opts.retries && (e.is_transient() || wc.get().is_broken()) => {
                tracing::warn!(path = %shown(&job.remote), attempt, error = %e, "mirror: file failed; resuming");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100u64 << attempt.min(5))).await;
                if !reconnect_if_broken(wc, shared).await {
                    return Err(e);
                }
            }
            r => return r,
        }
    }
}

fn mtime_secs(t: SystemTime) -> Option<u64> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The remote time: the listing's when exact, else MDTM unless the server
/// is known not to have it (also tried when FEAT was refused: its first
/// answer is kept).
async fn remote_mtime(client: &mut Client, job: &Job) -> Option<SystemTime> {
    if job.remote_mtime.is_some() {
        return job.remote_mtime;
    }
    if client.support("MDTM") == Support::No {
        return None;
    }
    let m = client.modified(job.remote_arg()).await.ok()?;
    super::walk::mtime_of(&m)
}

/// One attempt at one file of the mirror.
struct OneFile<'a> {
    shared: &'a Arc<Shared>,
    job: &'a Job,
    opts: &'a MirrorOptions,
    /// A retry: continue the partial transfer.
    resume: bool,
}

impl OneFile<'_> {
    /// Downloads the file, unless unchanged (or planned only, in a dry run).
    async fn download(&self, client: &mut Client) -> Result<Outcome> {
        let (job, opts) = (self.job, self.opts);
        let want_time = opts.skip_unchanged || opts.preserve_mtime;
        let mtime = if want_time {
            remote_mtime(client, job).await
        } else {
            None
        };
        if is_symlink(&job.local).await || is_symlink(&part_path(&job.local)).await {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{} is a symbolic link: not written through",
                    job.local.display()
                ),
            ));
        }
        if opts.skip_unchanged {
            if let (Ok(m), Some(t)) = (tokio::fs::symlink_metadata(&job.local).await, mtime) {
                let size = match job.size {
                    Some(s) => Some(s),
                    None => client.size(job.remote_arg()).await.ok(),
                };
                let local_t = m.modified().ok().and_then(mtime_secs);
                if m.is_file()
                    && Some(m.len()) == size
                    && local_t.is_some()
                    && local_t == mtime_secs(t)
                {
                    return Ok(Outcome::Unchanged);
                }
            }
        }
        if opts.dry_run {
            return Ok(Outcome::Planned);
        }
        // The listing's size is the expected one: a file that changed since it
        // was listed fails (and a later run fetches the new version).
        let fopts = self
            .file_options(Direction::Down)
            .expected_size(job.size)
            .durable(opts.durable);
        let r = download_file(client, job.remote_arg(), &job.local, &fopts).await?;
        if let (true, Some(t)) = (opts.preserve_mtime, mtime) {
            let p = job.local.clone();
            let set = tokio::task::spawn_blocking(move || {
                std::fs::File::options()
                    .write(true)
                    .open(&p)
                    .and_then(|f| f.set_modified(t))
            })
            .await;
            if let Ok(Err(e)) = set {
                tracing::warn!(path = %job.local.display(), error = %e, "could not set the modification time");
            }
        }
        Ok(Outcome::Transferred(r.transferred))
    }

    /// The file's options: resume, verification and progress as the
    /// mirror's options say.
    fn file_options(&self, dir: Direction) -> FileOptions {
        FileOptions::new()
            .resume(self.resume)
            .verify(self.opts.verify)
            .progress(self.progress(dir))
    }

    /// The caller's progress callback, with the file and the job's totals
    /// added to each event.
    fn progress(&self, dir: Direction) -> Option<Progress> {
        let cb = self.opts.progress.clone()?;
        let job = self.job;
        let file = Arc::new(FileProgress {
            remote: shown(&job.remote),
            local: job.local.clone(),
            index: job.index,
            upload: dir == Direction::Up,
        });
        let shared = self.shared.clone();
        Some(Progress::new(move |ev: &ProgressEvent| {
            let mut ev = ev.clone();
            ev.file = Some(file.clone());
            ev.job = Some(shared.job_progress());
            cb.report(&ev);
        }))
    }

    /// Uploads the file, unless unchanged (or planned only, in a dry run).
    async fn upload(&self, client: &mut Client) -> Result<Outcome> {
        let (job, opts) = (self.job, self.opts);
        let mfmt = client.support("MFMT") == Support::Yes;
        if opts.skip_unchanged && job.remote_size.is_some() && job.remote_size == job.size {
            if let (Some(rt), Some(lt)) = (
                remote_mtime(client, job).await.and_then(mtime_secs),
                job.local_mtime.and_then(mtime_secs),
            ) {
                let unchanged = if mfmt && opts.preserve_mtime {
                    rt == lt
                } else {
                    rt >= lt
                };
                if unchanged {
                    return Ok(Outcome::Unchanged);
                }
            }
        }
        if opts.dry_run {
            return Ok(Outcome::Planned);
        }
        let fopts = self.file_options(Direction::Up);
        let r = upload_file(client, &job.local, job.remote_arg(), &fopts).await?;
        if let (true, true, Some(t)) = (
            opts.preserve_mtime,
            mfmt,
            job.local_mtime.and_then(mtime_secs),
        ) {
            let at = time::OffsetDateTime::from_unix_timestamp(i64::try_from(t).unwrap_or(0))
                .map(|o| time::PrimitiveDateTime::new(o.date(), o.time()));
            if let Ok(at) = at {
                if let Err(e) = client
                    .command_ok("MFMT", Command::Mfmt(at, job.remote_arg()))
                    .await
                {
                    tracing::warn!(path = %shown(&job.remote), error = %e, "MFMT failed");
                }
            }
        }
        Ok(Outcome::Transferred(r.transferred))
    }
}
