//! Recursive mirroring in both directions over several sessions.
//!
//! Safety rules of [`mirror_down`]: every local path is the target
//! directory joined with names that passed
//! [`RawName::is_safe_component`]; any other name the server sends is
//! refused (and reported), and the mirror goes on. Local symbolic links are
//! never written through nor descended into, so a link planted in the
//! target cannot redirect a write outside it. Remote symbolic links are not
//! followed either.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ftpkit_control::listing::{Entry, EntryKind, ListLine, Modified, Precision, RawName};
use ftpkit_control::{Arg, Command};
use futures::{FutureExt, StreamExt};

use super::download::download_file;
use super::files::{FileOptions, Verify};
use super::listing_stream::list_stream_arg;
use super::partial::{part_path, PARTIAL_DIR};
use super::progress::Progress;
use super::upload::upload_file;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::Support;

/// Options of [`mirror_down`] and [`mirror_up`].
#[derive(Clone)]
pub struct MirrorOptions {
    /// Sessions transferring files at once (at least 1). The caller's
    /// client is one of them; the others are opened with
    /// `Client::connect(client.config().clone())`.
    pub parallelism: usize,
    /// Skip files whose size and modification time (to the second) match.
    /// A file whose remote time is unknown is transferred again. For
    /// uploads to a server without `MFMT` (which cannot keep the local
    /// time), a remote file of the same size at least as new as the local
    /// one counts as unchanged.
    pub skip_unchanged: bool,
    /// Keep modification times: local files get the remote time; remote
    /// files get the local time with `MFMT` when FEAT lists it.
    pub preserve_mtime: bool,
    /// The check after each file.
    pub verify: Verify,
    /// Progress of each file (the events of concurrent files interleave).
    pub progress: Option<Progress>,
    /// Further attempts at a file after a transient failure
    /// ([`Error::is_transient`]) or a dropped connection. Each retry
    /// reconnects the worker's session when it broke, waits a short backoff
    /// and resumes: a download continues its `.part` file with `REST`, an
    /// upload continues after the server's `SIZE`.
    pub retries: u32,
    /// `fsync` each downloaded file before it gets its final name
    /// ([`FileOptions::durable`]); off by default.
    pub durable: bool,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        Self {
            parallelism: 4,
            skip_unchanged: true,
            preserve_mtime: true,
            verify: Verify::Size,
            progress: None,
            retries: 2,
            durable: false,
        }
    }
}

impl std::fmt::Debug for MirrorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorOptions")
            .field("parallelism", &self.parallelism)
            .field("skip_unchanged", &self.skip_unchanged)
            .field("preserve_mtime", &self.preserve_mtime)
            .field("verify", &self.verify)
            .field("retries", &self.retries)
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

/// A failure on one path; the mirror went on.
#[derive(Debug)]
pub struct MirrorError {
    /// The remote path (lossy UTF-8) or local path concerned.
    pub path: String,
    /// What failed.
    pub error: Error,
}

/// What a mirror did.
#[derive(Debug, Default)]
pub struct MirrorReport {
    /// Files transferred (and verified as asked).
    pub files_transferred: u64,
    /// Bytes transferred.
    pub bytes: u64,
    /// Files left alone because they were unchanged.
    pub skipped_unchanged: u64,
    /// Directories created (locally or on the server).
    pub dirs_created: u64,
    /// Names refused because they are not a safe path component (`..`,
    /// `a/b`, `C:x`, control bytes...), with the reason and the directory.
    pub refused: Vec<(RawName, String)>,
    /// Entries not mirrored that are not unsafe names: symbolic links
    /// (never followed), devices, listing rows that did not parse.
    pub skipped_other: Vec<(String, String)>,
    /// Per-path failures.
    pub errors: Vec<MirrorError>,
}

struct Job {
    remote: Vec<u8>,
    local: PathBuf,
    /// Size: remote for downloads, local for uploads.
    size: Option<u64>,
    /// The remote time when the listing gave it exactly (UTC, seconds).
    remote_mtime: Option<SystemTime>,
    /// The remote listing's size (uploads: the file exists there).
    remote_size: Option<u64>,
    /// The local time (uploads).
    local_mtime: Option<SystemTime>,
}

fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn join_remote(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

#[cfg(unix)]
fn local_component(name: &RawName) -> Option<&std::ffi::OsStr> {
    use std::os::unix::ffi::OsStrExt;
    Some(std::ffi::OsStr::from_bytes(name.as_bytes()))
}

#[cfg(not(unix))]
fn local_component(name: &RawName) -> Option<&std::ffi::OsStr> {
    name.to_str().map(std::ffi::OsStr::new)
}

#[cfg(unix)]
fn os_name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes().to_vec()
}

#[cfg(not(unix))]
fn os_name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    name.to_string_lossy().into_owned().into_bytes()
}

/// Why a name is unsafe, for the report.
fn unsafe_reason(name: &RawName) -> &'static str {
    let b = name.as_bytes();
    if b.is_empty() {
        "empty name"
    } else if b == b"." || b == b".." || b.starts_with(b"../") || b.starts_with(b"..\\") {
        "parent or current directory reference"
    } else if b.starts_with(b"/") || b.starts_with(b"\\") {
        "absolute path"
    } else if matches!(b, [l, b':', ..] if l.is_ascii_alphabetic()) {
        "drive letter"
    } else if b.iter().any(|&c| c < 0x20 || c == 0x7f) {
        "control byte in name"
    } else {
        "path separator in name"
    }
}

fn mtime_of(m: &Modified) -> Option<SystemTime> {
    let secs = m.at.assume_utc().unix_timestamp();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// A listing time that is exact enough to compare: UTC, to the second.
fn exact_mtime(e: &Entry) -> Option<SystemTime> {
    e.modified
        .as_ref()
        .filter(|m| m.utc && m.precision >= Precision::Second)
        .and_then(mtime_of)
}

fn secs(t: SystemTime) -> Option<u64> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

async fn is_symlink(p: &Path) -> bool {
    tokio::fs::symlink_metadata(p)
        .await
        .is_ok_and(|m| m.file_type().is_symlink())
}

/// Lists a remote directory: entries (without `.`/`..`) and unparsed rows.
async fn list_dir(client: &mut Client, dir: &[u8]) -> Result<(Vec<Entry>, Vec<Vec<u8>>)> {
    let mut s = Box::pin(list_stream_arg(client, Some(Arg::from(dir.to_vec()))));
    let (mut entries, mut unparsed) = (Vec::new(), Vec::new());
    while let Some(item) = s.next().await {
        match item? {
            ListLine::Entry(e) => {
                if matches!(e.kind, EntryKind::CurrentDir | EntryKind::ParentDir)
                    || (e.is_dir() && (e.name.as_bytes() == b"." || e.name.as_bytes() == b".."))
                {
                    continue;
                }
                entries.push(e);
            }
            ListLine::Unparsed(l) => unparsed.push(l),
            ListLine::Skip => {}
        }
    }
    Ok((entries, unparsed))
}

struct Shared {
    jobs: Mutex<VecDeque<Job>>,
    report: Mutex<MirrorReport>,
}

impl Shared {
    fn report(&self) -> std::sync::MutexGuard<'_, MirrorReport> {
        self.report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn next_job(&self) -> Option<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    }

    fn error(&self, path: String, error: Error) {
        self.report().errors.push(MirrorError { path, error });
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Down,
    Up,
}

/// Mirrors the remote directory `remote_dir` into `local_dir` (created if
/// missing). Returns an error only when nothing could be done (the target
/// cannot be created, the top listing fails); per-path failures are in
/// [`MirrorReport::errors`].
pub async fn mirror_down(
    client: &mut Client,
    remote_dir: &str,
    local_dir: &Path,
    opts: &MirrorOptions,
) -> Result<MirrorReport> {
    tokio::fs::create_dir_all(local_dir)
        .await
        .map_err(|e| Error::from_io(&format!("creating {}", local_dir.display()), e))?;
    let mut report = MirrorReport::default();
    let mut jobs = VecDeque::new();
    let mut dirs = vec![(remote_dir.as_bytes().to_vec(), local_dir.to_path_buf())];
    let mut first = true;
    while let Some((rdir, ldir)) = dirs.pop() {
        let (entries, unparsed) = match list_dir(client, &rdir).await {
            Ok(l) => l,
            Err(e) if first => return Err(e),
            Err(error) => {
                report.errors.push(MirrorError {
                    path: shown(&rdir),
                    error,
                });
                continue;
            }
        };
        first = false;
        for l in unparsed {
            report.skipped_other.push((
                shown(&l),
                format!("unparsed listing row in {}", shown(&rdir)),
            ));
        }
        for e in entries {
            let rpath = join_remote(&rdir, e.name.as_bytes());
            if !e.name.is_safe_component() {
                let why = format!("{} (in {})", unsafe_reason(&e.name), shown(&rdir));
                tracing::warn!(name = ?e.name, %why, "refusing an unsafe name from the server");
                report.refused.push((e.name, why));
                continue;
            }
            if e.name.as_bytes() == PARTIAL_DIR.as_bytes() {
                let why = format!(
                    "name reserved by ftpkit for partial downloads (in {})",
                    shown(&rdir)
                );
                report.refused.push((e.name, why));
                continue;
            }
            let Some(comp) = local_component(&e.name) else {
                report
                    .refused
                    .push((e.name, "not representable as a local name".into()));
                continue;
            };
            let lpath = ldir.join(comp);
            if is_symlink(&lpath).await {
                report.skipped_other.push((
                    lpath.display().to_string(),
                    "the local path is a symbolic link: not followed".into(),
                ));
                continue;
            }
            match e.kind {
                EntryKind::Dir => {
                    match tokio::fs::symlink_metadata(&lpath).await {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            report.errors.push(MirrorError {
                                path: lpath.display().to_string(),
                                error: Error::new(
                                    ErrorKind::InvalidArgument,
                                    "a local file is in the way of a directory",
                                ),
                            });
                            continue;
                        }
                        Err(_) => {
                            if let Err(err) = tokio::fs::create_dir(&lpath).await {
                                report.errors.push(MirrorError {
                                    path: lpath.display().to_string(),
                                    error: Error::from_io("creating directory", err),
                                });
                                continue;
                            }
                            report.dirs_created += 1;
                        }
                    }
                    dirs.push((rpath, lpath));
                }
                EntryKind::File => jobs.push_back(Job {
                    remote: rpath,
                    local: lpath,
                    size: e.size,
                    remote_mtime: exact_mtime(&e),
                    remote_size: e.size,
                    local_mtime: None,
                }),
                ref k => report.skipped_other.push((
                    shown(&rpath),
                    format!("{k:?} entry not mirrored (links are not followed)"),
                )),
            }
        }
    }
    run_jobs(client, jobs, report, opts, Direction::Down).await
}

/// Mirrors the local directory `local_dir` into `remote_dir` (created if
/// missing). Local symbolic links are not followed; local names that are
/// not safe components are refused like remote ones in [`mirror_down`].
pub async fn mirror_up(
    client: &mut Client,
    local_dir: &Path,
    remote_dir: &str,
    opts: &MirrorOptions,
) -> Result<MirrorReport> {
    let meta = tokio::fs::metadata(local_dir)
        .await
        .map_err(|e| Error::from_io(&format!("reading {}", local_dir.display()), e))?;
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{} is not a directory", local_dir.display()),
        ));
    }
    let mut report = MirrorReport::default();
    let mut jobs = VecDeque::new();
    // The top directory: create it unless the listing shows it exists.
    if client.mkdir(remote_dir).await.is_ok() {
        report.dirs_created += 1;
    }
    let mut dirs = vec![(
        local_dir.to_path_buf(),
        remote_dir.as_bytes().to_vec(),
        true,
    )];
    while let Some((ldir, rdir, exists)) = dirs.pop() {
        let remote: HashMap<Vec<u8>, Entry> = if exists {
            match list_dir(client, &rdir).await {
                Ok((entries, _)) => entries
                    .into_iter()
                    .map(|e| (e.name.as_bytes().to_vec(), e))
                    .collect(),
                Err(error) => {
                    report.errors.push(MirrorError {
                        path: shown(&rdir),
                        error,
                    });
                    continue;
                }
            }
        } else {
            HashMap::new()
        };
        let mut rd = match tokio::fs::read_dir(&ldir).await {
            Ok(rd) => rd,
            Err(e) => {
                report.errors.push(MirrorError {
                    path: ldir.display().to_string(),
                    error: Error::from_io("reading directory", e),
                });
                continue;
            }
        };
        loop {
            let de = match rd.next_entry().await {
                Ok(Some(de)) => de,
                Ok(None) => break,
                Err(e) => {
                    report.errors.push(MirrorError {
                        path: ldir.display().to_string(),
                        error: Error::from_io("reading directory", e),
                    });
                    break;
                }
            };
            let name = RawName::from(os_name_bytes(&de.file_name()));
            if name.as_bytes() == PARTIAL_DIR.as_bytes() {
                // ftpkit's own partial downloads, never user data.
                continue;
            }
            if !name.is_safe_component() {
                let why = format!("{} (in {})", unsafe_reason(&name), ldir.display());
                report.refused.push((name, why));
                continue;
            }
            let lpath = de.path();
            // DirEntry::file_type does not follow symbolic links.
            let ft = match de.file_type().await {
                Ok(ft) => ft,
                Err(e) => {
                    report.errors.push(MirrorError {
                        path: lpath.display().to_string(),
                        error: Error::from_io("reading", e),
                    });
                    continue;
                }
            };
            let rpath = join_remote(&rdir, name.as_bytes());
            let there = remote.get(name.as_bytes());
            if ft.is_dir() {
                let exists = there.is_some_and(Entry::is_dir);
                if !exists {
                    match client.mkdir(Arg::from(rpath.clone())).await {
                        Ok(_) => report.dirs_created += 1,
                        Err(error) => {
                            report.errors.push(MirrorError {
                                path: shown(&rpath),
                                error,
                            });
                            continue;
                        }
                    }
                }
                dirs.push((lpath, rpath, exists));
            } else if ft.is_file() {
                let meta = de.metadata().await.ok();
                jobs.push_back(Job {
                    remote: rpath,
                    local: lpath,
                    size: meta.as_ref().map(std::fs::Metadata::len),
                    remote_mtime: there.and_then(exact_mtime),
                    remote_size: there.filter(|e| e.is_file()).and_then(|e| e.size),
                    local_mtime: meta.and_then(|m| m.modified().ok()),
                });
            } else {
                report.skipped_other.push((
                    lpath.display().to_string(),
                    "symbolic link or special file: not followed".into(),
                ));
            }
        }
    }
    run_jobs(client, jobs, report, opts, Direction::Up).await
}

async fn run_jobs(
    client: &mut Client,
    jobs: VecDeque<Job>,
    report: MirrorReport,
    opts: &MirrorOptions,
    dir: Direction,
) -> Result<MirrorReport> {
    let n = opts.parallelism.max(1).min(jobs.len().max(1));
    let shared = Arc::new(Shared {
        jobs: Mutex::new(jobs),
        report: Mutex::new(report),
    });
    let config = client.config().clone();
    let mut workers = Vec::with_capacity(n);
    workers.push(worker(WorkerClient::Borrowed(client), &shared, opts, dir).boxed());
    for _ in 1..n {
        let shared = &shared;
        let config = config.clone();
        workers.push(
            async move {
                match Client::connect(config).await {
                    Ok(c) => worker(WorkerClient::Owned(Box::new(c)), shared, opts, dir).await,
                    Err(e) => shared.error("(extra session)".into(), e),
                }
            }
            .boxed(),
        );
    }
    futures::future::join_all(workers).await;
    let report = std::mem::take(&mut *shared.report());
    Ok(report)
}

enum WorkerClient<'a> {
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
            *wc.get() = c;
            true
        }
        Err(e) => {
            shared.error("(reconnect)".into(), e);
            false
        }
    }
}

/// One file, with [`MirrorOptions::retries`] resumed attempts.
async fn transfer_with_retries(
    wc: &mut WorkerClient<'_>,
    shared: &Shared,
    job: &Job,
    opts: &MirrorOptions,
    dir: Direction,
) -> Result<Option<u64>> {
    let mut attempt = 0u32;
    loop {
        let resume = attempt > 0;
        let r = match dir {
            Direction::Down => down_one(wc.get(), job, opts, resume).await,
            Direction::Up => up_one(wc.get(), job, opts, resume).await,
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

async fn worker(mut wc: WorkerClient<'_>, shared: &Shared, opts: &MirrorOptions, dir: Direction) {
    while let Some(job) = shared.next_job() {
        let path = shown(&job.remote);
        let r = transfer_with_retries(&mut wc, shared, &job, opts, dir).await;
        match r {
            Ok(Some(bytes)) => {
                let mut rep = shared.report();
                rep.files_transferred += 1;
                rep.bytes += bytes;
            }
            Ok(None) => shared.report().skipped_unchanged += 1,
            Err(e) => {
                tracing::warn!(%path, error = %e, "mirror: file failed");
                shared.error(path, e);
                if !reconnect_if_broken(&mut wc, shared).await {
                    return;
                }
            }
        }
    }
    if let WorkerClient::Owned(c) = wc {
        let _ = (*c).quit().await;
    }
}

/// The remote time: the listing's when exact, else MDTM if offered.
async fn remote_mtime(client: &mut Client, job: &Job) -> Option<SystemTime> {
    if job.remote_mtime.is_some() {
        return job.remote_mtime;
    }
    // Also tried when FEAT was refused: its first answer is kept.
    if client.support("MDTM") == Support::No {
        return None;
    }
    let m = client.modified(Arg::from(job.remote.clone())).await.ok()?;
    mtime_of(&m)
}

/// Downloads one file; `None` when skipped as unchanged.
async fn down_one(
    client: &mut Client,
    job: &Job,
    opts: &MirrorOptions,
    resume: bool,
) -> Result<Option<u64>> {
    let remote = Arg::from(job.remote.clone());
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
                None => client.size(remote.clone()).await.ok(),
            };
            let local_t = m.modified().ok().and_then(secs);
            if m.is_file() && Some(m.len()) == size && local_t.is_some() && local_t == secs(t) {
                return Ok(None);
            }
        }
    }
    // The listing's size is the expected one: a file that changed since it
    // was listed fails (and a later run fetches the new version).
    let fopts = FileOptions::new()
        .resume(resume)
        .verify(opts.verify)
        .expected_size(job.size)
        .progress(opts.progress.clone())
        .durable(opts.durable);
    let r = download_file(client, remote, &job.local, &fopts).await?;
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
    Ok(Some(r.transferred))
}

/// Uploads one file; `None` when skipped as unchanged.
async fn up_one(
    client: &mut Client,
    job: &Job,
    opts: &MirrorOptions,
    resume: bool,
) -> Result<Option<u64>> {
    let remote = Arg::from(job.remote.clone());
    let mfmt = client.support("MFMT") == Support::Yes;
    if opts.skip_unchanged && job.remote_size.is_some() && job.remote_size == job.size {
        if let (Some(rt), Some(lt)) = (
            remote_mtime(client, job).await.and_then(secs),
            job.local_mtime.and_then(secs),
        ) {
            let unchanged = if mfmt && opts.preserve_mtime {
                rt == lt
            } else {
                rt >= lt
            };
            if unchanged {
                return Ok(None);
            }
        }
    }
    let fopts = FileOptions::new()
        .resume(resume)
        .verify(opts.verify)
        .progress(opts.progress.clone());
    let r = upload_file(client, &job.local, remote.clone(), &fopts).await?;
    if let (true, true, Some(t)) = (opts.preserve_mtime, mfmt, job.local_mtime.and_then(secs)) {
        let at = time::OffsetDateTime::from_unix_timestamp(i64::try_from(t).unwrap_or(0))
            .map(|o| time::PrimitiveDateTime::new(o.date(), o.time()));
        if let Ok(at) = at {
            if let Err(e) = client.command_ok("MFMT", Command::Mfmt(at, remote)).await {
                tracing::warn!(path = %shown(&job.remote), error = %e, "MFMT failed");
            }
        }
    }
    Ok(Some(r.transferred))
}
