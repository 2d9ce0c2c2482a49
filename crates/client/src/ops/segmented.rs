//! Segmented download: one file over several sessions at once.

use std::path::Path;

use ftpkit_control::command::HashAlgorithm;
use ftpkit_control::Arg;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::download::download_file;
use super::files::{check_received, FileOptions, Known, Verify};
use super::hashes::local_file_hash;
use super::partial::{commit_part, discard_part, prepare_part};
use super::progress::{Meter, Metered, Progress};
use super::COPY_BUFFER;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

/// Options of [`segmented_download`].
#[derive(Clone, Debug)]
pub struct SegmentOptions {
    /// Sessions (and segments), at least 1; 1 when the server's FEAT does
    /// not list `REST STREAM`. The caller's client fetches the
    /// last segment; the others are new sessions made with
    /// `Client::connect(client.config().clone())`, each with its own TLS
    /// session store (each data connection resumes its own control
    /// session).
    pub sessions: usize,
    /// Segments are at least this long (default 1 MiB): small files use
    /// fewer sessions.
    pub min_segment: u64,
    /// The check at the end ([`Verify::None`] still checks the size).
    pub verify: Verify,
    /// Progress of the whole file, all segments together.
    pub progress: Option<Progress>,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        Self {
            sessions: 4,
            min_segment: 1024 * 1024,
            verify: Verify::Size,
            progress: None,
        }
    }
}

/// What a segmented download did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentReport {
    /// The file's size.
    pub size: u64,
    /// The segments, `(offset, length)`.
    pub segments: Vec<(u64, u64)>,
    /// The hash compared, when the server offered one and
    /// [`Verify::SizeAndHash`] was asked.
    pub hash_verified: Option<HashAlgorithm>,
}

/// Splits `size` into at most `k` ranges of at least `min` bytes.
fn ranges(size: u64, k: usize, min: u64) -> Vec<(u64, u64)> {
    let k = u64::try_from(k.max(1)).unwrap_or(1);
    let k = k.min((size / min.max(1)).max(1));
    let len = size.div_ceil(k).max(1);
    let mut v = Vec::new();
    let mut off = 0;
    while off < size {
        let l = len.min(size - off);
        v.push((off, l));
        off += l;
    }
    if v.is_empty() {
        v.push((0, 0));
    }
    v
}

/// Fetches `[offset, offset + len)` into `part`. `to_end`: read to the end
/// of the data (the last segment), so the transfer completes normally.
async fn fetch(
    client: &mut Client,
    remote: Arg,
    part: &Path,
    (offset, len): (u64, u64),
    to_end: bool,
    meter: std::sync::Arc<Meter>,
) -> Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(part)
        .await
        .map_err(|e| Error::from_io(&format!("opening {}", part.display()), e))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| Error::from_io("seeking in the local file", e))?;
    let dl = client.retr_from(remote, offset).await?;
    let mut reader = Metered::new(dl, meter);
    let mut writer = BufWriter::with_capacity(COPY_BUFFER, &mut file);
    let copied = if to_end {
        tokio::io::copy(&mut reader, &mut writer).await
    } else {
        tokio::io::copy(&mut (&mut reader).take(len), &mut writer).await
    };
    // Flushed also on failure, so no background write lands after return.
    let flushed = writer.flush().await;
    let n = copied.map_err(Error::from_io_error)?;
    flushed.map_err(|e| Error::from_io("writing the local file", e))?;
    if n != len {
        return Err(Error::new(
            if n < len {
                ErrorKind::Truncated
            } else {
                ErrorKind::Protocol
            },
            format!("segment at {offset}: {n} bytes instead of {len}"),
        ));
    }
    // A non-final segment drops its download half-way; its session is
    // dropped with it (or aborts on its next call).
    Ok(())
}

/// Downloads `remote` into `local_path` over `opts.sessions` sessions, each
/// fetching one range with `REST` + `RETR` and positioned writes into
/// [`part_path`](super::part_path)`(local_path)`, which is renamed once all
/// segments are in and the size (and hash, if asked and offered) is
/// checked. On failure the partial file is removed: it has holes, and must
/// not be resumed.
///
/// When ranges are impossible or pointless (the server's FEAT has no `REST
/// STREAM`, the file is smaller than two segments, or the server refuses
/// `REST`), the file comes in one stream through [`download_file`], with
/// the same checks.
pub async fn segmented_download(
    client: &mut Client,
    remote: impl Into<Arg>,
    local_path: &Path,
    opts: &SegmentOptions,
) -> Result<SegmentReport> {
    let remote: Arg = remote.into();
    let size = client.size(remote.clone()).await?;
    let sessions = if client.features().supports_rest_stream() {
        opts.sessions
    } else {
        1
    };
    let segs = ranges(size, sessions, opts.min_segment);
    if segs.len() < 2 {
        return whole(client, &remote, local_path, size, opts).await;
    }
    let part = prepare_part(local_path).await?;
    let f = tokio::fs::File::create(&part)
        .await
        .map_err(|e| Error::from_io(&format!("creating {}", part.display()), e))?;
    f.set_len(size)
        .await
        .map_err(|e| Error::from_io("sizing the local file", e))?;
    drop(f);
    let meter = Meter::new(opts.progress.clone(), 0, Some(size));
    let r = run(client, &remote, &part, &segs, &meter).await;
    let r = match r {
        Ok(()) => {
            meter.finish();
            verify(client, &remote, &part, size, opts).await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok(hash_verified) => {
            commit_part(&part, local_path).await?;
            Ok(SegmentReport {
                size,
                segments: segs,
                hash_verified,
            })
        }
        Err(e) => {
            discard_part(&part, false).await;
            if e.kind() == ErrorKind::RestartRefused {
                tracing::warn!(error = %e, "no ranges: downloading in one stream");
                return whole(client, &remote, local_path, size, opts).await;
            }
            Err(e)
        }
    }
}

/// The file in one stream, checked against `size`.
async fn whole(
    client: &mut Client,
    remote: &Arg,
    local_path: &Path,
    size: u64,
    opts: &SegmentOptions,
) -> Result<SegmentReport> {
    let fo = FileOptions::new()
        .verify(opts.verify)
        .expected_size(Some(size))
        .progress(opts.progress.clone());
    let r = download_file(client, remote.clone(), local_path, &fo).await?;
    Ok(SegmentReport {
        size: r.size,
        segments: vec![(0, r.size)],
        hash_verified: r.hash_verified,
    })
}

async fn run(
    client: &mut Client,
    remote: &Arg,
    part: &Path,
    segs: &[(u64, u64)],
    meter: &std::sync::Arc<Meter>,
) -> Result<()> {
    let Some((&last, others)) = segs.split_last() else {
        return Ok(());
    };
    let config = client.config().clone();
    let mut futs = Vec::with_capacity(segs.len());
    for &seg in others {
        let (config, remote, meter) = (config.clone(), remote.clone(), meter.clone());
        futs.push(futures::FutureExt::boxed(async move {
            let mut c = Client::connect(config).await?;
            fetch(&mut c, remote, part, seg, false, meter).await
            // `c` is dropped here: closing the session ends its transfer.
        }));
    }
    futs.push(futures::FutureExt::boxed(fetch(
        client,
        remote.clone(),
        part,
        last,
        true,
        meter.clone(),
    )));
    let results = futures::future::join_all(futs).await;
    results.into_iter().collect::<Result<Vec<()>>>().map(drop)
}

async fn verify(
    client: &mut Client,
    remote: &Arg,
    part: &Path,
    size: u64,
    opts: &SegmentOptions,
) -> Result<Option<HashAlgorithm>> {
    let len = tokio::fs::metadata(part)
        .await
        .map_err(|e| Error::from_io("reading the local file", e))?
        .len();
    let what = String::from_utf8_lossy(remote.as_bytes());
    check_received(&what, Some(Known::new(size, "the server's SIZE")), len)?;
    if opts.verify != Verify::SizeAndHash {
        return Ok(None);
    }
    let Some((alg, theirs)) = client.server_hash(remote.clone()).await? else {
        return Ok(None);
    };
    if local_file_hash(part, alg).await? != theirs {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("segmented download: {} mismatch", alg.hash_name()),
        ));
    }
    Ok(Some(alg))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges_cover_the_file() {
        let r = super::ranges(10, 4, 1);
        assert_eq!(r, vec![(0, 3), (3, 3), (6, 3), (9, 1)]);
        assert_eq!(super::ranges(100, 4, 60), vec![(0, 100)]);
        assert_eq!(super::ranges(0, 4, 1), vec![(0, 0)]);
    }
}
