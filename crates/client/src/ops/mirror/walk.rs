//! Walking both sides of a mirror: listing directories, refusing unsafe
//! names, the limits and loop checks, deletions, and queuing one job per
//! file as it goes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ftpkit_control::listing::{Entry, EntryKind, ListLine, Modified, Precision, RawName};
use ftpkit_control::Arg;
use futures::StreamExt;
use tokio::task::JoinSet;

use super::jobs::{run_job, worker, Job, Shared, WorkerClient};
use super::rules::{DirId, Filter};
use super::{auto_parallelism, Direction, MirrorOptions};
use crate::client::Client;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::listing_stream::list_stream_arg;
use crate::ops::partial::PARTIAL_DIR;

pub(crate) fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn join_remote(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// The path relative to the mirror's root, for the filters.
fn join_rel(rel: &str, name: &RawName) -> String {
    let name = name.to_string_lossy();
    if rel.is_empty() {
        name.into_owned()
    } else {
        format!("{rel}/{name}")
    }
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

pub(crate) fn mtime_of(m: &Modified) -> Option<SystemTime> {
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

pub(crate) async fn is_symlink(p: &Path) -> bool {
    tokio::fs::symlink_metadata(p)
        .await
        .is_ok_and(|m| m.file_type().is_symlink())
}

/// A remote directory's listing: its entries (without `.`/`..`), the rows
/// no parser understood, and its own `unique` fact (MLSD `cdir` row).
struct Listed {
    entries: Vec<Entry>,
    unparsed: Vec<Vec<u8>>,
    own: Option<DirId>,
}

async fn list_dir(client: &mut Client, dir: &[u8]) -> Result<Listed> {
    let mut s = Box::pin(list_stream_arg(client, Some(Arg::from(dir.to_vec()))));
    let mut out = Listed {
        entries: Vec::new(),
        unparsed: Vec::new(),
        own: None,
    };
    while let Some(item) = s.next().await {
        match item? {
            ListLine::Entry(e) if e.kind == EntryKind::CurrentDir => {
                out.own = DirId::unique(&e);
            }
            ListLine::Entry(e) => {
                if e.kind == EntryKind::ParentDir
                    || (e.is_dir() && matches!(e.name.as_bytes(), b"." | b".."))
                {
                    continue;
                }
                out.entries.push(e);
            }
            ListLine::Unparsed(l) => out.unparsed.push(l),
            ListLine::Skip => {}
        }
    }
    Ok(out)
}

/// The extra sessions of a mirror, started as the queue fills (none for a
/// tree of one file), up to `parallelism - 1`. Dropping it (the mirror was
/// cancelled) aborts them.
pub(crate) struct Crew {
    tasks: JoinSet<()>,
    config: Config,
    opts: MirrorOptions,
    dir: Direction,
    max: usize,
    /// A server refused an extra session (too many connections): no more
    /// are asked for. (Sessions connect concurrently, so the ones already
    /// on their way when the first refusal comes still try.)
    refused: Arc<AtomicBool>,
}

impl Crew {
    /// The crew of a mirror on `client`: [`MirrorOptions::parallelism`]
    /// sessions, or as many as [`auto_parallelism`] chooses from the
    /// client's round-trip time (recorded in the report).
    pub(crate) fn new(
        client: &Client,
        opts: &MirrorOptions,
        dir: Direction,
        shared: &Shared,
    ) -> Self {
        let parallelism = match opts.parallelism {
            0 => auto_parallelism(client.round_trip_time()),
            n => n,
        };
        tracing::debug!(parallelism, rtt = ?client.round_trip_time(), "mirror sessions");
        shared.report().parallelism = parallelism;
        Self {
            tasks: JoinSet::new(),
            config: client.config().clone(),
            opts: opts.clone(),
            dir,
            max: parallelism - 1,
            refused: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts one more session when more jobs wait than sessions could
    /// take (the walker's own session counts: it takes the rest).
    fn grow(&mut self, shared: &Arc<Shared>) {
        if self.tasks.len() >= self.max
            || shared.queued() <= self.tasks.len() + 1
            || self.refused.load(Ordering::SeqCst)
        {
            return;
        }
        let (config, opts, dir, shared, refused) = (
            self.config.clone(),
            self.opts.clone(),
            self.dir,
            shared.clone(),
            self.refused.clone(),
        );
        self.tasks.spawn(async move {
            match Client::connect(config).await {
                Ok(c) => worker(WorkerClient::Owned(Box::new(c)), shared, &opts, dir).await,
                // The other sessions take its share (the caller's always
                // works): not a failure of the mirror. A server at its
                // connection limit is not asked again.
                Err(e) => {
                    if too_many_sessions(&e) {
                        refused.store(true, Ordering::SeqCst);
                    }
                    tracing::warn!(error = %e, "an extra mirror session could not connect");
                }
            }
        });
    }

    /// Waits for every session to finish.
    pub(crate) async fn join(mut self) {
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "a mirror session ended abnormally");
            }
        }
    }
}

/// Whether a refused connection says the server has too many: `421`
/// (vsftpd's `max_clients`, Pure-FTPd, ProFTPD's `MaxInstances`), or a
/// `530` that says so (ProFTPD's `MaxClientsPerUser`).
fn too_many_sessions(e: &Error) -> bool {
    let Some(r) = e.reply() else {
        return false;
    };
    match r.code().as_u16() {
        421 => true,
        530 => {
            let text = r.text().to_ascii_lowercase();
            text.contains("too many") || text.contains("maximum")
        }
        _ => false,
    }
}

/// What the walk tracks besides the stack.
pub(crate) struct Walk<'a> {
    pub(crate) shared: &'a Arc<Shared>,
    pub(crate) opts: &'a MirrorOptions,
    pub(crate) filter: &'a Filter,
    pub(crate) crew: &'a mut Crew,
    /// A limit stopped the walk.
    stopped: bool,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(
        shared: &'a Arc<Shared>,
        opts: &'a MirrorOptions,
        filter: &'a Filter,
        crew: &'a mut Crew,
    ) -> Self {
        Self {
            shared,
            opts,
            filter,
            crew,
            stopped: false,
        }
    }

    fn error(&self, path: impl Into<String>, kind: ErrorKind, msg: impl Into<String>) {
        self.shared.error(path.into(), Error::new(kind, msg));
    }

    /// `what` failed on the local `path`.
    fn local_failed(&self, path: &Path, what: &str, e: std::io::Error) {
        self.shared
            .error(path.display().to_string(), Error::from_io(what, e));
    }

    /// Listing rows no parser understood are errors: never files.
    fn unparsed(&self, dir: &[u8], rows: &[Vec<u8>]) {
        for l in rows {
            self.error(
                shown(dir),
                ErrorKind::Protocol,
                format!("listing row not understood: {}", shown(l)),
            );
        }
    }

    fn skipped(&self, what: String, why: String) {
        self.shared.report().skipped_other.push((what, why));
    }

    fn refused(&self, name: RawName, why: String) {
        self.shared.report().refused.push((name, why));
    }

    /// Queues a file unless a limit is reached (which stops the walk, once
    /// reported).
    fn queue(&mut self, job: Job) {
        let (files, bytes) = self.shared.totals();
        let size = job.size.unwrap_or(0);
        let over = if self.opts.max_files.is_some_and(|m| files >= m) {
            Some(format!("--max-files {files} reached"))
        } else if self.opts.max_bytes.is_some_and(|m| bytes + size > m) {
            Some(format!(
                "--max-bytes {} would be passed",
                self.opts.max_bytes.unwrap_or(0)
            ))
        } else {
            None
        };
        if let Some(why) = over {
            self.error(
                shown(&job.remote),
                ErrorKind::InvalidArgument,
                format!("limit: {why}; the mirror stopped queuing files here"),
            );
            self.stopped = true;
            return;
        }
        self.shared.push(job);
        self.crew.grow(self.shared);
    }

    /// When the queue is full, transfers files with the walker's own
    /// session until it is half empty.
    async fn drain(&mut self, client: &mut Client, dir: Direction) {
        let cap = self.opts.queue_cap.max(1);
        if self.shared.queued() < cap {
            return;
        }
        let mut wc = WorkerClient::Borrowed(client);
        while self.shared.queued() > cap / 2 {
            let Some(job) = self.shared.next_job() else {
                break;
            };
            if !run_job(&mut wc, self.shared, job, self.opts, dir).await {
                break;
            }
        }
    }

    /// Whether the walk goes into the directory at `rel`, `depth` levels
    /// below the root: not excluded, and not too deep (an error, named
    /// `path`).
    fn enters(&self, rel: &str, depth: usize, path: &str) -> bool {
        if !self.filter.walks(rel) {
            return false;
        }
        if depth > self.opts.max_depth {
            self.error(
                path,
                ErrorKind::InvalidArgument,
                format!(
                    "limit: --max-depth {} reached; not walked",
                    self.opts.max_depth
                ),
            );
            return false;
        }
        true
    }
}

/// Where a directory of the walk is, in both trees.
struct Place {
    remote: Vec<u8>,
    local: PathBuf,
    /// Its path from the mirror's root.
    rel: String,
    /// Levels below the root.
    depth: usize,
}

impl Place {
    fn root(remote: &[u8], local: &Path) -> Self {
        Place {
            remote: remote.to_vec(),
            local: local.to_path_buf(),
            rel: String::new(),
            depth: 0,
        }
    }

    /// Its subdirectory at these paths.
    fn child(&self, remote: Vec<u8>, local: PathBuf, rel: String) -> Self {
        Place {
            remote,
            local,
            rel,
            depth: self.depth + 1,
        }
    }
}

/// A remote directory to list (downloads).
struct RemoteDir {
    at: Place,
    /// Its `unique` fact from the parent's listing.
    unique: Option<DirId>,
    /// The identities of the directories above it.
    ancestors: Arc<Vec<DirId>>,
}

/// Walks the remote tree at `remote_root` (the local directory exists),
/// queuing downloads. Fails only when the top listing fails.
pub(crate) async fn walk_down(
    client: &mut Client,
    w: &mut Walk<'_>,
    remote_root: &[u8],
    local_root: &Path,
) -> Result<()> {
    let mut stack = vec![RemoteDir {
        at: Place::root(remote_root, local_root),
        unique: None,
        ancestors: Arc::new(Vec::new()),
    }];
    let mut seen: HashSet<DirId> = HashSet::new();
    let mut first = true;
    while let Some(RemoteDir {
        at: d,
        unique,
        ancestors,
    }) = stack.pop()
    {
        if w.stopped {
            break;
        }
        w.drain(client, Direction::Down).await;
        let listed = match list_dir(client, &d.remote).await {
            Ok(l) => l,
            Err(e) if first => return Err(e),
            Err(error) => {
                w.shared.error(shown(&d.remote), error);
                continue;
            }
        };
        first = false;
        let mut ids: Vec<DirId> = unique.or(listed.own).into_iter().collect();
        if !listed.entries.is_empty() {
            ids.push(DirId::listing(&listed.entries));
        }
        if ids.iter().any(|id| ancestors.contains(id)) {
            w.error(
                shown(&d.remote),
                ErrorKind::Protocol,
                "loop: this directory lists the same as one of its parents; not walked",
            );
            continue;
        }
        if let Some(u) = ids.iter().find(|id| matches!(id, DirId::Unique(_))) {
            if !seen.insert(u.clone()) {
                w.skipped(
                    shown(&d.remote),
                    "the same directory (MLSD unique) as one mirrored already".into(),
                );
                continue;
            }
        }
        w.unparsed(&d.remote, &listed.unparsed);
        if w.opts.delete {
            delete_local_extras(w, &d.local, &d.rel, &listed.entries).await;
        }
        let ancestors = {
            let mut a = (*ancestors).clone();
            a.extend(ids);
            Arc::new(a)
        };
        for e in listed.entries {
            if w.stopped {
                break;
            }
            let rpath = join_remote(&d.remote, e.name.as_bytes());
            if !e.name.is_safe_component() {
                let why = format!("{} (in {})", unsafe_reason(&e.name), shown(&d.remote));
                tracing::warn!(name = ?e.name, %why, "refusing an unsafe name from the server");
                w.refused(e.name, why);
                continue;
            }
            if e.name.as_bytes() == PARTIAL_DIR.as_bytes() {
                let why = format!(
                    "name reserved by ftpkit for partial downloads (in {})",
                    shown(&d.remote)
                );
                w.refused(e.name, why);
                continue;
            }
            let Some(comp) = local_component(&e.name) else {
                w.refused(e.name, "not representable as a local name".into());
                continue;
            };
            let lpath = d.local.join(comp);
            let rel = join_rel(&d.rel, &e.name);
            if is_symlink(&lpath).await {
                w.skipped(
                    lpath.display().to_string(),
                    "the local path is a symbolic link: not followed".into(),
                );
                continue;
            }
            match e.kind {
                EntryKind::Dir => {
                    if !w.enters(&rel, d.depth + 1, &shown(&rpath)) {
                        continue;
                    }
                    if !w.opts.dry_run && !ensure_local_dir(w, &lpath).await {
                        continue;
                    }
                    stack.push(RemoteDir {
                        at: d.child(rpath, lpath, rel),
                        unique: DirId::unique(&e),
                        ancestors: ancestors.clone(),
                    });
                }
                EntryKind::File => {
                    if w.filter.takes(&rel) {
                        w.queue(Job {
                            remote: rpath,
                            local: lpath,
                            size: e.size,
                            remote_mtime: exact_mtime(&e),
                            remote_size: e.size,
                            local_mtime: None,
                            index: 0,
                        });
                    }
                }
                ref k => w.skipped(
                    shown(&rpath),
                    format!("{k:?} entry not mirrored (links are not followed)"),
                ),
            }
        }
    }
    Ok(())
}

/// Creates a local directory for the tree; `false` (reported) when it
/// cannot be.
async fn ensure_local_dir(w: &Walk<'_>, path: &Path) -> bool {
    match tokio::fs::symlink_metadata(path).await {
        Ok(m) if m.is_dir() => true,
        Ok(_) => {
            w.error(
                path.display().to_string(),
                ErrorKind::InvalidArgument,
                "a local file is in the way of a directory",
            );
            false
        }
        Err(_) => match tokio::fs::create_dir(path).await {
            Ok(()) => {
                w.shared.report().dirs_created += 1;
                true
            }
            Err(e) => {
                w.local_failed(path, "creating directory", e);
                false
            }
        },
    }
}

/// `delete` on a download: what `local` holds that the remote listing does
/// not (and the filters would mirror) goes. Only names inside `local`, and
/// links are removed, never followed.
async fn delete_local_extras(w: &Walk<'_>, local: &Path, rel: &str, remote: &[Entry]) {
    let keep: HashSet<&[u8]> = remote.iter().map(|e| e.name.as_bytes()).collect();
    let Ok(mut rd) = tokio::fs::read_dir(local).await else {
        return;
    };
    while let Ok(Some(de)) = rd.next_entry().await {
        let name = RawName::from(os_name_bytes(&de.file_name()));
        if keep.contains(name.as_bytes()) || name.as_bytes() == PARTIAL_DIR.as_bytes() {
            continue;
        }
        let path = de.path();
        let Ok(ft) = de.file_type().await else {
            continue;
        };
        let rel = join_rel(rel, &name);
        if !w.filter.mirrors(&rel, ft.is_dir()) {
            continue;
        }
        if !w.opts.dry_run {
            // `remove_dir_all` does not follow links inside the tree.
            let r = if ft.is_dir() {
                tokio::fs::remove_dir_all(&path).await
            } else {
                tokio::fs::remove_file(&path).await
            };
            if let Err(e) = r {
                w.local_failed(&path, "deleting", e);
                continue;
            }
        }
        w.shared.report().deleted.push(path.display().to_string());
    }
}

/// A local directory to read (uploads).
struct LocalDir {
    at: Place,
    /// The remote directory exists (list it; else it was just created).
    exists: bool,
}

/// Walks the local tree at `local_root`, creating remote directories and
/// queuing uploads. Local links are not followed.
pub(crate) async fn walk_up(
    client: &mut Client,
    w: &mut Walk<'_>,
    local_root: &Path,
    remote_root: &[u8],
    root_exists: bool,
) {
    let mut stack = vec![LocalDir {
        at: Place::root(remote_root, local_root),
        exists: root_exists,
    }];
    while let Some(LocalDir { at: d, exists }) = stack.pop() {
        if w.stopped {
            break;
        }
        w.drain(client, Direction::Up).await;
        let remote: HashMap<Vec<u8>, Entry> = if exists {
            match list_dir(client, &d.remote).await {
                Ok(listed) => {
                    w.unparsed(&d.remote, &listed.unparsed);
                    listed
                        .entries
                        .into_iter()
                        .map(|e| (e.name.as_bytes().to_vec(), e))
                        .collect()
                }
                Err(error) => {
                    w.shared.error(shown(&d.remote), error);
                    continue;
                }
            }
        } else {
            HashMap::new()
        };
        let mut rd = match tokio::fs::read_dir(&d.local).await {
            Ok(rd) => rd,
            Err(e) => {
                w.local_failed(&d.local, "reading directory", e);
                continue;
            }
        };
        let mut here: HashSet<Vec<u8>> = HashSet::new();
        loop {
            let de = match rd.next_entry().await {
                Ok(Some(de)) => de,
                Ok(None) => break,
                Err(e) => {
                    w.local_failed(&d.local, "reading directory", e);
                    break;
                }
            };
            let name = RawName::from(os_name_bytes(&de.file_name()));
            here.insert(name.as_bytes().to_vec());
            if w.stopped || name.as_bytes() == PARTIAL_DIR.as_bytes() {
                // ftpkit's own partial downloads, never user data.
                continue;
            }
            if !name.is_safe_component() {
                let why = format!("{} (in {})", unsafe_reason(&name), d.local.display());
                w.refused(name, why);
                continue;
            }
            let lpath = de.path();
            // DirEntry::file_type does not follow symbolic links.
            let ft = match de.file_type().await {
                Ok(ft) => ft,
                Err(e) => {
                    w.local_failed(&lpath, "reading", e);
                    continue;
                }
            };
            let rpath = join_remote(&d.remote, name.as_bytes());
            let rel = join_rel(&d.rel, &name);
            let there = remote.get(name.as_bytes());
            if ft.is_dir() {
                if !w.enters(&rel, d.depth + 1, &rel) {
                    continue;
                }
                let exists = there.is_some_and(Entry::is_dir);
                if !exists && !w.opts.dry_run {
                    match client.mkdir(Arg::from(rpath.clone())).await {
                        Ok(_) => w.shared.report().dirs_created += 1,
                        Err(error) => {
                            w.shared.error(shown(&rpath), error);
                            continue;
                        }
                    }
                }
                stack.push(LocalDir {
                    at: d.child(rpath, lpath, rel),
                    exists,
                });
            } else if ft.is_file() {
                if !w.filter.takes(&rel) {
                    continue;
                }
                let meta = de.metadata().await.ok();
                w.queue(Job {
                    remote: rpath,
                    local: lpath,
                    size: meta.as_ref().map(std::fs::Metadata::len),
                    remote_mtime: there.and_then(exact_mtime),
                    remote_size: there.filter(|e| e.is_file()).and_then(|e| e.size),
                    local_mtime: meta.and_then(|m| m.modified().ok()),
                    index: 0,
                });
            } else {
                w.skipped(
                    lpath.display().to_string(),
                    "symbolic link or special file: not followed".into(),
                );
            }
        }
        if w.opts.delete && !w.stopped {
            for (name, e) in &remote {
                if here.contains(name) {
                    continue;
                }
                let rel = join_rel(&d.rel, &e.name);
                if w.filter.mirrors(&rel, e.is_dir()) && e.name.is_safe_component() {
                    let path = join_remote(&d.remote, name);
                    delete_remote(client, w, &path, e.is_dir(), d.depth + 1).await;
                }
            }
        }
    }
}

/// `delete` on an upload: a remote file, or a directory with everything
/// in it (as deep as `--max-depth` allows).
async fn delete_remote(client: &mut Client, w: &Walk<'_>, path: &[u8], is_dir: bool, depth: usize) {
    if w.opts.dry_run {
        w.shared.report().deleted.push(shown(path));
        return;
    }
    let r = if is_dir {
        Box::pin(remove_remote_tree(client, w, path, depth)).await
    } else {
        client.delete(Arg::from(path.to_vec())).await
    };
    match r {
        Ok(()) => w.shared.report().deleted.push(shown(path)),
        Err(e) => w.shared.error(shown(path), e),
    }
}

async fn remove_remote_tree(
    client: &mut Client,
    w: &Walk<'_>,
    path: &[u8],
    depth: usize,
) -> Result<()> {
    if depth > w.opts.max_depth {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("limit: --max-depth {} reached", w.opts.max_depth),
        ));
    }
    let listed = list_dir(client, path).await?;
    for e in listed.entries {
        if !e.name.is_safe_component() {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("unsafe name {:?} in {}", e.name, shown(path)),
            ));
        }
        let p = join_remote(path, e.name.as_bytes());
        if e.is_dir() {
            Box::pin(remove_remote_tree(client, w, &p, depth + 1)).await?;
        } else {
            client.delete(Arg::from(p)).await?;
        }
    }
    client.rmdir(Arg::from(path.to_vec())).await
}
