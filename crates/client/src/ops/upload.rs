//! Whole-file uploads: resume, the check that the local file did not
//! change while it was read, the server's size afterwards, and atomic
//! uploads under a temporary name.

use std::path::Path;

use ftpkit_control::Arg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::file_source::FileSource;
use super::files::{FileOptions, FileReport, Verify};
use super::hashes::local_file_hash;
use super::partial::io_err;
use super::progress::{Meter, Metered};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

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

/// Uploads `local_path` to `remote`.
///
/// With `resume`, the server's `SIZE` of `remote` gives the offset
/// ([`Client::stor_from`]: `REST` + `STOR`, or `APPE`); a remote file larger
/// than the local one is replaced, and so is one the server cannot tell
/// the size of or cannot restart (`REST` refused): the whole file is sent
/// from offset 0. A local file that changes while it is read is an error
/// naming it ([`LocalStamp`]). Verification compares the server's `SIZE`
/// (and hash) with the local file after the upload
/// ([`Verify::SizeWhenKnown`]: when the server implements `SIZE`).
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
        offset = client.size_if_known(remote.clone()).await?.unwrap_or(0);
        if offset > size {
            offset = 0;
        }
    }
    let mut meter = Meter::new(opts.progress.clone(), offset, Some(size));
    let transferred = if offset == size && offset > 0 {
        0
    } else {
        let mut sent = send(client, local_path, &remote, offset, size, &meter).await;
        if offset > 0
            && sent
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::RestartRefused)
        {
            tracing::warn!(remote = %shown, offset,
                "the server cannot restart at its file's end: uploading the whole file");
            offset = 0;
            meter = Meter::new(opts.progress.clone(), 0, Some(size));
            sent = send(client, local_path, &remote, 0, size, &meter).await;
        }
        sent?
    };
    meter.finish();
    if transferred > 0 {
        stamp.check_unchanged(local_path, offset, transferred)?;
    }
    let mut report = FileReport {
        transferred,
        size,
        resumed_from: offset,
        expected_size: None,
        size_verified: false,
        hash_verified: None,
    };
    // The server's word (226) is not the only evidence.
    let theirs = if opts.verify.requires_size() {
        Some(client.size(remote.clone()).await?)
    } else if opts.verify.asks_size() {
        client.size_if_known(remote.clone()).await?
    } else {
        None
    };
    if let Some(theirs) = theirs {
        if theirs != size {
            // Fewer bytes on the server: a resume can complete them (and
            // the error is transient). More: something else wrote there.
            let kind = if theirs < size {
                ErrorKind::Truncated
            } else {
                ErrorKind::Protocol
            };
            return Err(Error::new(
                kind,
                format!("upload to {shown}: the server's SIZE is {theirs}, the local file has {size} bytes"),
            ));
        }
        report.expected_size = Some(size);
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

/// `REST offset` + `STOR` (or `APPE`) of `local_path` from `offset` to
/// `size`; returns the bytes sent.
async fn send(
    client: &mut Client,
    local_path: &Path,
    remote: &Arg,
    offset: u64,
    size: u64,
    meter: &std::sync::Arc<Meter>,
) -> Result<u64> {
    // Read ahead on a thread of its own (see `FileSource`), straight from
    // its buffers into the data connection.
    let source =
        FileSource::open(local_path, offset).map_err(|e| io_err("reading", local_path, e))?;
    let up = client.stor_from(remote.clone(), offset).await?;
    let mut writer = Metered::new(up, meter.clone());
    let mut reader = source.take(size - offset);
    let n = tokio::io::copy_buf(&mut reader, &mut writer)
        .await
        .map_err(Error::from_io_error)?;
    writer.shutdown().await.map_err(Error::from_io_error)?;
    Ok(n)
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
