//! Whole-file transfers with resume, verification and progress.

use std::path::{Path, PathBuf};

use ftpkit_control::command::HashAlgorithm;
use ftpkit_control::Arg;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};

use super::file_source::FileSource;
use super::hashes::local_file_hash;
use super::progress::{Meter, Progress, ProgressRead, ProgressWrite};
use super::COPY_BUFFER;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

/// How a finished transfer is checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verify {
    /// No check.
    None,
    /// The server's `SIZE` equals the local size.
    #[default]
    Size,
    /// The size, and the server's hash (when it offers one) equals the
    /// local file's hash.
    SizeAndHash,
}

/// Options of [`download_file`] and [`upload_file`].
#[derive(Clone, Default)]
pub struct FileOptions {
    /// Resume a partial transfer: downloads continue the local `.part`
    /// file, uploads continue after the server's `SIZE`.
    pub resume: bool,
    /// The check after the transfer.
    pub verify: Verify,
    /// Progress callback.
    pub progress: Option<Progress>,
    /// Downloads: `fsync` the `.part` file before renaming it, so the file
    /// survives a crash of the machine right after the call returns. Off by
    /// default (as in curl, wget, lftp and rsync): the rename alone already
    /// guarantees that no partial file ever stands at the final name while
    /// the machine runs, and an `fsync` per file costs more than the
    /// transfer of a small file.
    pub durable: bool,
    /// Uploads: store under a temporary name beside the target
    /// ([`atomic_upload_name`]), check it, then rename it onto the target
    /// (`RNFR`/`RNTO`), so that the target never holds a partial file.
    /// Not with `resume`. The temporary file is deleted when the upload
    /// fails.
    pub atomic: bool,
}

impl std::fmt::Debug for FileOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileOptions")
            .field("resume", &self.resume)
            .field("verify", &self.verify)
            .field("progress", &self.progress.is_some())
            .field("durable", &self.durable)
            .field("atomic", &self.atomic)
            .finish()
    }
}

/// What a file transfer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// Bytes moved by this call (excluding a resumed prefix).
    pub transferred: u64,
    /// The file's full size.
    pub size: u64,
    /// Where the transfer started (0 unless resumed).
    pub resumed_from: u64,
    /// Whether the size was compared (and matched).
    pub size_verified: bool,
    /// The hash algorithm compared (and matched), when the server offered
    /// one and [`Verify::SizeAndHash`] was asked.
    pub hash_verified: Option<HashAlgorithm>,
}

/// The folder beside a download's target that holds its partial file.
///
/// A partial file named after its target with a suffix (`a.bin.part`)
/// could be the name of another remote file, which a mirror would then
/// overwrite or take for a partial download. A folder of ftpkit's own
/// cannot: mirror refuses a remote entry of this one name (reported in
/// [`MirrorReport::refused`](super::MirrorReport::refused)) and never
/// uploads a local one.
pub const PARTIAL_DIR: &str = ".ftpkit-partial";

/// Where the partial download of `local` is kept until it is complete:
/// `DIR/.ftpkit-partial/NAME` for `local` = `DIR/NAME`. A failed download
/// leaves it there for a resume ([`FileOptions::resume`], `ftpkit get
/// --resume`, mirror); a finished one is renamed onto `local` (the same
/// file system), and the folder is removed once empty.
pub fn part_path(local: &Path) -> PathBuf {
    let dir = local.parent().unwrap_or_else(|| Path::new(""));
    dir.join(PARTIAL_DIR)
        .join(local.file_name().unwrap_or_default())
}

/// Makes sure the partial folder of `local` is a real directory (never a
/// link), and returns the partial file's path, itself no link.
pub(crate) async fn prepare_part(local: &Path) -> Result<PathBuf> {
    let part = part_path(local);
    if let Some(dir) = part.parent() {
        match tokio::fs::symlink_metadata(dir).await {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "{} is not a directory: ftpkit keeps partial downloads there",
                        dir.display()
                    ),
                ))
            }
            Err(_) => match tokio::fs::create_dir(dir).await {
                Ok(()) => {}
                // Another worker of the same mirror was first.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("creating", dir, e)),
            },
        }
    }
    refuse_symlink(&part).await?;
    Ok(part)
}

/// Renames a finished partial file onto its target, then removes the
/// partial folder if nothing else is in it.
pub(crate) async fn commit_part(part: &Path, local: &Path) -> Result<()> {
    tokio::fs::rename(part, local)
        .await
        .map_err(|e| io_err("renaming into", local, e))?;
    if let Some(dir) = part.parent() {
        let _ = tokio::fs::remove_dir(dir).await;
    }
    Ok(())
}

/// Refuses to write through `path` when it is a symlink (a planted link
/// could send the download anywhere).
pub(crate) async fn refuse_symlink(path: &Path) -> Result<()> {
    if tokio::fs::symlink_metadata(path)
        .await
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{} is a symlink: not writing through it", path.display()),
        ));
    }
    Ok(())
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::from_io(&format!("{what} {}", path.display()), e)
}

/// The size and modification time of a local file, taken before it is
/// uploaded, to tell afterwards whether it changed while it was read: the
/// server would then hold a copy that matches neither version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl LocalStamp {
    /// Reads the stamp of `path`.
    pub fn of(path: &Path) -> Result<Self> {
        let m = std::fs::metadata(path).map_err(|e| io_err("reading", path, e))?;
        Ok(Self {
            len: m.len(),
            modified: m.modified().ok(),
        })
    }

    /// The file's size when the stamp was taken.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file had no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fails, naming the file, when `path` no longer has this size and
    /// modification time, or when `sent` (the bytes read from `offset` on)
    /// does not reach the size.
    pub fn check_unchanged(&self, path: &Path, offset: u64, sent: u64) -> Result<()> {
        let now = Self::of(path)?;
        if now != *self || offset + sent != self.len {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{} changed while it was uploaded ({} bytes before, {} now, {} sent from offset {offset}): the server's copy matches neither version",
                    path.display(),
                    self.len,
                    now.len,
                    sent
                ),
            ));
        }
        Ok(())
    }
}

/// The temporary remote name of an atomic upload to `remote`: in the same
/// directory, hidden, and marked as ftpkit's own so that nobody takes it
/// for user data: `DIR/.NAME.ftpkit-upload-PID-NANOS`.
pub fn atomic_upload_name(remote: &[u8]) -> Vec<u8> {
    let (dir, name) = match remote.iter().rposition(|&b| b == b'/') {
        Some(i) => remote.split_at(i + 1),
        None => (&b""[..], remote),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut out = dir.to_vec();
    out.push(b'.');
    out.extend_from_slice(name);
    out.extend_from_slice(format!(".ftpkit-upload-{}-{nanos}", std::process::id()).as_bytes());
    out
}

/// `SIZE`, with "not found"/"not implemented" as `None`.
async fn remote_size(client: &mut Client, remote: &Arg) -> Result<Option<u64>> {
    match client.size(remote.clone()).await {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == ErrorKind::ServerReply && !e.is_transient() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Downloads `remote` to `local_path`.
///
/// The data goes to [`part_path`]`(local_path)`, renamed to `local_path`
/// only once complete and verified: a file at `local_path` is never
/// partial. With `resume`, an existing `.part` is continued with `REST`
/// (restarted if it is larger than the remote file). A size mismatch keeps
/// the `.part` (a later resume continues it); a hash mismatch deletes it.
/// The server's `SIZE` is asked first only when it is needed: to verify, to
/// resume, or to give the progress callback a total.
pub async fn download_file(
    client: &mut Client,
    remote: impl Into<Arg>,
    local_path: &Path,
    opts: &FileOptions,
) -> Result<FileReport> {
    let remote: Arg = remote.into();
    let shown = String::from_utf8_lossy(remote.as_bytes()).into_owned();
    let need_size = opts.verify != Verify::None || opts.resume || opts.progress.is_some();
    let total = if need_size {
        remote_size(client, &remote).await?
    } else {
        None
    };
    if total.is_none() && opts.verify != Verify::None {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("SIZE {shown} failed: cannot verify the download"),
        ));
    }
    let part = prepare_part(local_path).await?;
    let mut offset = 0;
    if opts.resume {
        if let Ok(m) = tokio::fs::metadata(&part).await {
            offset = m.len();
        }
        if total.is_some_and(|t| offset > t) {
            offset = 0;
        }
    }
    let mut file = if offset > 0 {
        tokio::fs::OpenOptions::new()
            .append(true)
            .open(&part)
            .await
            .map_err(|e| io_err("opening", &part, e))?
    } else {
        tokio::fs::File::create(&part)
            .await
            .map_err(|e| io_err("creating", &part, e))?
    };
    let meter = Meter::new(opts.progress.clone(), offset, total);
    let transferred = if total.is_some_and(|t| t == offset && offset > 0) {
        0
    } else {
        let dl = client.retr_from(remote.clone(), offset).await?;
        let mut reader =
            BufReader::with_capacity(COPY_BUFFER, ProgressRead::new(dl, meter.clone()));
        let mut writer = BufWriter::with_capacity(COPY_BUFFER, &mut file);
        let copied = tokio::io::copy_buf(&mut reader, &mut writer).await;
        // Also when the transfer failed: what arrived stays in the `.part`
        // file for a resume, and every write (tokio runs them in the
        // background) has landed before this returns.
        let flushed = writer.flush().await;
        let n = copied.map_err(Error::from_io_error)?;
        flushed.map_err(|e| io_err("writing", &part, e))?;
        n
    };
    if opts.durable {
        file.sync_all()
            .await
            .map_err(|e| io_err("syncing", &part, e))?;
    }
    drop(file);
    meter.finish();
    let local_len = tokio::fs::metadata(&part)
        .await
        .map_err(|e| io_err("reading", &part, e))?
        .len();
    let mut report = FileReport {
        transferred,
        size: local_len,
        resumed_from: offset,
        size_verified: false,
        hash_verified: None,
    };
    if opts.verify != Verify::None {
        let expect = total.unwrap_or_default();
        if local_len != expect {
            let kind = if local_len < expect {
                ErrorKind::Truncated
            } else {
                ErrorKind::Protocol
            };
            return Err(Error::new(
                kind,
                format!("download of {shown}: {local_len} bytes, the server's SIZE is {expect}"),
            ));
        }
        report.size_verified = true;
    }
    if opts.verify == Verify::SizeAndHash {
        if let Some((alg, theirs)) = client.server_hash(remote.clone()).await? {
            let ours = local_file_hash(&part, alg).await?;
            if ours != theirs {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "download of {shown}: {} mismatch (the partial file was removed)",
                        alg.hash_name()
                    ),
                ));
            }
            report.hash_verified = Some(alg);
        }
    }
    commit_part(&part, local_path).await?;
    Ok(report)
}

/// Uploads `local_path` to `remote`.
///
/// With `resume`, the server's `SIZE` of `remote` gives the offset
/// ([`Client::stor_from`]: `REST` + `STOR`, or `APPE`); a remote file larger
/// than the local one is replaced. Verification compares the server's
/// `SIZE` (and hash) with the local file after the upload.
pub async fn upload_file(
    client: &mut Client,
    local_path: &Path,
    remote: impl Into<Arg>,
    opts: &FileOptions,
) -> Result<FileReport> {
    let target: Arg = remote.into();
    if opts.atomic {
        if opts.resume {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "an atomic upload cannot resume",
            ));
        }
        let temp = Arg::from(atomic_upload_name(target.as_bytes()));
        let plain = FileOptions {
            atomic: false,
            ..opts.clone()
        };
        let r = match Box::pin(upload_file(client, local_path, temp.clone(), &plain)).await {
            Ok(r) => client.rename(temp.clone(), target).await.map(|()| r),
            Err(e) => Err(e),
        };
        if r.is_err() {
            // Best effort: the temporary file must not stay behind.
            let _ = client.delete(temp).await;
        }
        return r;
    }
    let remote = target;
    let shown = String::from_utf8_lossy(remote.as_bytes()).into_owned();
    let stamp = LocalStamp::of(local_path)?;
    let size = stamp.len();
    let mut offset = 0;
    if opts.resume {
        offset = remote_size(client, &remote).await?.unwrap_or(0);
        if offset > size {
            offset = 0;
        }
    }
    let meter = Meter::new(opts.progress.clone(), offset, Some(size));
    let transferred = if offset == size && offset > 0 {
        0
    } else {
        // Read ahead on a thread of its own (see `FileSource`), straight
        // from its buffers into the data connection.
        let source =
            FileSource::open(local_path, offset).map_err(|e| io_err("reading", local_path, e))?;
        let up = client.stor_from(remote.clone(), offset).await?;
        let mut writer = ProgressWrite::new(up, meter.clone());
        let mut reader = source.take(size - offset);
        let n = tokio::io::copy_buf(&mut reader, &mut writer)
            .await
            .map_err(Error::from_io_error)?;
        writer.shutdown().await.map_err(Error::from_io_error)?;
        n
    };
    meter.finish();
    if transferred > 0 {
        stamp.check_unchanged(local_path, offset, transferred)?;
    }
    let mut report = FileReport {
        transferred,
        size,
        resumed_from: offset,
        size_verified: false,
        hash_verified: None,
    };
    if opts.verify != Verify::None {
        let theirs = client.size(remote.clone()).await?;
        if theirs != size {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("upload to {shown}: the server's SIZE is {theirs}, the local file has {size} bytes"),
            ));
        }
        report.size_verified = true;
    }
    if opts.verify == Verify::SizeAndHash {
        if let Some((alg, theirs)) = client.server_hash(remote.clone()).await? {
            let ours = local_file_hash(local_path, alg).await?;
            if ours != theirs {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("upload to {shown}: {} mismatch", alg.hash_name()),
                ));
            }
            report.hash_verified = Some(alg);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_changes_while_uploaded_is_an_error_naming_it() {
        let path = std::env::temp_dir().join(format!("ftpkit-stamp-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap_or_else(|e| panic!("{e}"));
        let stamp = LocalStamp::of(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(stamp.check_unchanged(&path, 0, 10).is_ok());
        assert!(stamp.check_unchanged(&path, 4, 6).is_ok());
        // Fewer bytes sent than the file had: it shrank under the reader.
        let e = stamp.check_unchanged(&path, 0, 7).err();
        assert!(e.is_some_and(|e| e.to_string().contains(&path.display().to_string())));
        // Truncated on disk.
        std::fs::write(&path, b"01234").unwrap_or_else(|e| panic!("{e}"));
        assert!(stamp.check_unchanged(&path, 0, 10).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
