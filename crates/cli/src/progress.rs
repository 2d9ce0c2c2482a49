//! The transfer progress bar: on stderr, only on a terminal.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar, or nothing when progress is not shown.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `label`, `done` bytes of `total` already there (resume).
    pub(crate) fn new(enabled: bool, label: &str, total: Option<u64>, done: u64) -> Self {
        if !enabled {
            return Self { bar: None };
        }
        let (bar, template) = match total {
            Some(t) => (
                ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            ),
            None => (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                "{msg} {spinner} {bytes} {bytes_per_sec} {elapsed}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_owned());
        bar.set_position(done);
        bar.reset_eta();
        Self { bar: Some(bar) }
    }

    /// Moves the bar to `done` bytes.
    pub(crate) fn set(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }

    pub(crate) fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Leaves the final state (size, rate) on screen.
    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            if !b.is_finished() {
                b.abandon();
            }
        }
    }
}

/// A library progress callback that draws the bar for `label`, or `None`
/// when progress is not shown. The bar appears at the first report, which
/// carries the total (when known) and a resumed prefix.
pub(crate) fn callback(enabled: bool, label: &str) -> Option<ftpkit::ops::Progress> {
    if !enabled {
        return None;
    }
    let label = label.to_owned();
    let bar: Mutex<Option<Progress>> = Mutex::new(None);
    Some(ftpkit::ops::Progress::new(
        move |ev: &ftpkit::ops::ProgressEvent| {
            let mut bar = bar
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let bar =
                bar.get_or_insert_with(|| Progress::new(true, &label, ev.total, ev.bytes_done));
            bar.set(ev.bytes_done);
            if ev.finished {
                bar.finish();
            }
        },
    ))
}

/// Mirror progress on a terminal: one line per finished file above an
/// overall bar of files done out of files queued (which grows while the
/// tree is listed). `None` when progress is not shown.
pub(crate) fn mirror_callback(enabled: bool) -> Option<ftpkit::ops::Progress> {
    if !enabled {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} files {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(ftpkit::ops::Progress::new(
        move |ev: &ftpkit::ops::ProgressEvent| {
            let (Some(file), Some(job)) = (&ev.file, &ev.job) else {
                return;
            };
            bar.set_length(job.files_queued);
            bar.set_position(job.files_done);
            let name = crate::output::terminal_safe(&file.remote).into_owned();
            if ev.finished {
                let arrow = if file.upload { "put" } else { "get" };
                bar.println(format!(
                    "{arrow} [{}/{}] {name} ({})",
                    file.index,
                    job.files_queued,
                    crate::output::count(ev.bytes_done, "byte", "bytes")
                ));
            } else {
                bar.set_message(name);
            }
            if job.listing_done && job.files_done >= job.files_queued {
                bar.finish_and_clear();
            }
        },
    ))
}
