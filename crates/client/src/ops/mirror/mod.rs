//! Recursive mirroring in both directions over several sessions.
//!
//! Safety rules of [`mirror_down`]: every local path is the target
//! directory joined with names that passed
//! [`RawName::is_safe_component`]; any other name the server sends is
//! refused (and reported), and the mirror goes on. Local symbolic links are
//! never written through nor descended into, so a link planted in the
//! target cannot redirect a write outside it. Remote symbolic links are not
//! followed either.
//!
//! Trees that never end are stopped: a directory whose MLSD `unique` fact,
//! or whose whole listing, repeats one of its parents' is a loop (an
//! error, not walked), and [`MirrorOptions::max_depth`] bounds the depth.
//! [`MirrorOptions::max_files`] and [`MirrorOptions::max_bytes`] stop a
//! mirror that would take more than meant. Every limit hit is an entry of
//! [`MirrorReport::errors`].
//!
//! The walk and the transfers overlap: files are queued as directories are
//! listed, through a bounded queue (see `jobs.rs`).
//!
//! [`RawName::is_safe_component`]: ftpkit_control::listing::RawName::is_safe_component

mod jobs;
mod rules;
mod walk;

use std::path::{Path, PathBuf};

use ftpkit_control::listing::RawName;

use self::jobs::{worker, Shared, WorkerClient};
use self::rules::Filter;
use self::walk::{walk_down, walk_up, Crew, Walk};
use super::files::Verify;
use super::progress::Progress;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

/// Options of [`mirror_down`] and [`mirror_up`].
#[derive(Clone, Debug)]
pub struct MirrorOptions {
    /// Sessions transferring files at once. The caller's client is one of
    /// them (it lists the tree first, and transfers when the queue is
    /// full); the others are opened with
    /// `Client::connect(client.config().clone())` as the queue fills.
    ///
    /// 0, the default, lets the mirror choose from the session's measured
    /// round-trip time ([`auto_parallelism`]): each file costs the same
    /// few round trips whatever the link, so more sessions pay on slower
    /// links. Either way, a server that refuses an extra session (`421`,
    /// too many connections) is not asked for more.
    pub parallelism: usize,
    /// Skip files whose size and modification time (to the second) match.
    /// A file whose remote time is unknown is transferred again. For
    /// uploads to a server without `MFMT` (which cannot keep the local
    /// time), a remote file of the same size at least as new as the local
    /// one counts as unchanged.
    pub skip_unchanged: bool,
    /// Keep modification times: local files get the remote time; remote
    /// files get the local time with `MFMT` when the server has it.
    pub preserve_mtime: bool,
    /// The check after each file.
    pub verify: Verify,
    /// Progress of each file. Each event carries the file
    /// ([`ProgressEvent::file`](super::ProgressEvent::file): remote and
    /// local path, index) and the job's totals
    /// ([`ProgressEvent::job`](super::ProgressEvent::job)).
    pub progress: Option<Progress>,
    /// Further attempts at a file after a transient failure
    /// ([`Error::is_transient`]) or a dropped connection. Each retry
    /// reconnects the worker's session when it broke, waits a short backoff
    /// and resumes: a download continues its partial file with `REST`, an
    /// upload continues after the server's `SIZE`.
    pub retries: u32,
    /// `fsync` each downloaded file before it gets its final name
    /// ([`FileOptions::durable`](super::FileOptions::durable)); off by
    /// default.
    pub durable: bool,
    /// Globs of files to mirror (matched as `Filter` says: a pattern
    /// without `/` matches names anywhere, one with `/` the path from the
    /// mirror's root). Empty: every file. Directories are always walked.
    pub include: Vec<String>,
    /// Globs of files and directories not to mirror (nor to delete).
    pub exclude: Vec<String>,
    /// Plan only: list and compare as usual, create nothing, transfer
    /// nothing, delete nothing; [`MirrorReport::planned`] and
    /// [`MirrorReport::deleted`] say what would be done.
    pub dry_run: bool,
    /// Delete what the target has and the source does not (local files
    /// for [`mirror_down`], remote files for [`mirror_up`]), within the
    /// target only and as the filters allow. Off by default.
    pub delete: bool,
    /// Directories deeper than this below the root are not walked (an
    /// error each). Default 64.
    pub max_depth: usize,
    /// Stop queuing files after this many (an error). Default: no limit.
    pub max_files: Option<u64>,
    /// Stop queuing files before their listed sizes pass this (an error).
    /// Default: no limit.
    pub max_bytes: Option<u64>,
    /// Files queued at most (default 1024): beyond, the session that walks
    /// the tree transfers files itself before it lists further, so memory
    /// does not grow with the tree.
    pub queue_cap: usize,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        Self {
            parallelism: 0,
            skip_unchanged: true,
            preserve_mtime: true,
            verify: Verify::Size,
            progress: None,
            retries: 2,
            durable: false,
            include: Vec::new(),
            exclude: Vec::new(),
            dry_run: false,
            delete: false,
            max_depth: 64,
            max_files: None,
            max_bytes: None,
            queue_cap: 1024,
        }
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

/// A transfer a dry run would make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The remote path (lossy UTF-8).
    pub remote: String,
    /// The local path.
    pub local: PathBuf,
    /// The file's size, when known (listing or local file).
    pub size: Option<u64>,
}

/// What a mirror did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct MirrorReport {
    /// Sessions the mirror allowed itself (the caller's included): the
    /// option's, or the one chosen from the round-trip time.
    pub parallelism: usize,
    /// Files transferred (and verified as asked).
    pub files_transferred: u64,
    /// Control-connection round trips of the whole mirror, every session
    /// counted (logins, listings, `SIZE`/`MDTM`, transfers; see
    /// [`Client::round_trips`]): per file, what latency multiplies.
    pub round_trips: u64,
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
    /// (never followed), devices, a directory met twice.
    pub skipped_other: Vec<(String, String)>,
    /// Transfers a dry run would make.
    pub planned: Vec<Planned>,
    /// Paths deleted by [`MirrorOptions::delete`] (or that a dry run would
    /// delete).
    pub deleted: Vec<String>,
    /// Per-path failures, listing rows not understood, loops and limits
    /// reached.
    pub errors: Vec<MirrorError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Down,
    Up,
}

/// The most sessions [`auto_parallelism`] chooses.
pub const AUTO_PARALLELISM_CAP: usize = 16;

/// The sessions a mirror opens when the caller leaves it to the library
/// ([`MirrorOptions::parallelism`] 0), from the round-trip time a session
/// measured ([`Client::round_trip_time`]). A small file costs two to four
/// round trips (more under TLS, whose data connections resume with one)
/// whatever the link, while the server's own work per file, a few
/// milliseconds, stays the same; so sessions pay in proportion to the RTT:
/// 4 on a LAN, one more per 2 ms of RTT, at most [`AUTO_PARALLELISM_CAP`]
/// (from 24 ms). With one more per 4 ms, 10 ms got 4 sessions, and TLS
/// uploads there reached only 1.24x `lftp mirror -P4` (docs/performance.md).
/// The sessions still start only as the queue fills, and a server that
/// refuses one is not asked for more.
///
/// ```
/// use std::time::Duration;
/// use ftpkit::ops::auto_parallelism;
///
/// assert_eq!(auto_parallelism(None), 4);
/// assert_eq!(auto_parallelism(Some(Duration::from_micros(80))), 4);
/// assert_eq!(auto_parallelism(Some(Duration::from_millis(10))), 9);
/// assert_eq!(auto_parallelism(Some(Duration::from_millis(50))), 16);
/// ```
pub fn auto_parallelism(rtt: Option<std::time::Duration>) -> usize {
    let ms = rtt.map_or(0, |d| d.as_millis());
    usize::try_from(ms / 2 + 4)
        .unwrap_or(AUTO_PARALLELISM_CAP)
        .clamp(4, AUTO_PARALLELISM_CAP)
}

/// Mirrors the remote directory `remote_dir` into `local_dir` (created if
/// missing). Returns an error only when nothing could be done (bad
/// options, the target cannot be created, the top listing fails);
/// per-path failures are in [`MirrorReport::errors`].
pub async fn mirror_down(
    client: &mut Client,
    remote_dir: &str,
    local_dir: &Path,
    opts: &MirrorOptions,
) -> Result<MirrorReport> {
    let filter = Filter::new(&opts.include, &opts.exclude)?;
    if !opts.dry_run {
        tokio::fs::create_dir_all(local_dir)
            .await
            .map_err(|e| Error::from_io(&format!("creating {}", local_dir.display()), e))?;
    }
    let base = client.round_trips();
    let shared = Shared::new();
    let mut crew = Crew::new(client, opts, Direction::Down, &shared);
    let walked = {
        let mut w = Walk::new(&shared, opts, &filter, &mut crew);
        walk_down(client, &mut w, remote_dir.as_bytes(), local_dir).await
    };
    finish(client, base, shared, crew, opts, Direction::Down, walked).await
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
    let filter = Filter::new(&opts.include, &opts.exclude)?;
    let meta = tokio::fs::metadata(local_dir)
        .await
        .map_err(|e| Error::from_io(&format!("reading {}", local_dir.display()), e))?;
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{} is not a directory", local_dir.display()),
        ));
    }
    let base = client.round_trips();
    let shared = Shared::new();
    // The top directory: created unless it exists (then it is listed).
    let created = !opts.dry_run && client.mkdir(remote_dir).await.is_ok();
    if created {
        shared.report().dirs_created += 1;
    }
    let mut crew = Crew::new(client, opts, Direction::Up, &shared);
    {
        let mut w = Walk::new(&shared, opts, &filter, &mut crew);
        walk_up(client, &mut w, local_dir, remote_dir.as_bytes(), !created).await;
    }
    finish(client, base, shared, crew, opts, Direction::Up, Ok(())).await
}

/// After the walk: the caller's session joins the workers until the queue
/// is empty; then the report.
///
/// `base`: the round trips `client` had made before the mirror.
async fn finish(
    client: &mut Client,
    base: u64,
    shared: std::sync::Arc<Shared>,
    crew: Crew,
    opts: &MirrorOptions,
    dir: Direction,
    walked: Result<()>,
) -> Result<MirrorReport> {
    shared.walk_done();
    if let Err(e) = walked {
        // The top listing failed: nothing was queued.
        crew.join().await;
        return Err(e);
    }
    worker(WorkerClient::Borrowed(client), shared.clone(), opts, dir).await;
    crew.join().await;
    let mut report = std::mem::take(&mut *shared.report());
    report.round_trips += client.round_trips().saturating_sub(base);
    Ok(report)
}
