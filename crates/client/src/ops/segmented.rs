//! Segmented download: one file over several sessions at once, and the
//! number of segments chosen for the caller from the file's size and the
//! link's round-trip time ([`auto_segments`]).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
use crate::TransferType;

/// Options of [`segmented_download`].
#[derive(Clone, Debug)]
pub struct SegmentOptions {
    /// Sessions (and segments); 0 lets the library choose from the file's
    /// size and the round-trip time the session measured
    /// ([`auto_segments`]); 1 when the server's FEAT does not list `REST
    /// STREAM`. The caller's client fetches the last segment; the others
    /// are new sessions made with `Client::connect(client.config().clone())`,
    /// each with its own TLS session store (each data connection resumes
    /// its own control session). A session the server refuses (a
    /// connection limit, `421`) is not retried: the sessions that did open
    /// take its segment over.
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
    /// The file's size: the bytes now in the local file.
    pub size: u64,
    /// The size they were checked against (the server's `SIZE`); `None`
    /// when the server could not tell it and [`Verify::SizeWhenKnown`]
    /// was asked, or in ASCII mode: then the file came in one stream,
    /// unchecked.
    pub expected_size: Option<u64>,
    /// The segments, `(offset, length)`.
    pub segments: Vec<(u64, u64)>,
    /// The hash compared, when the server offered one and
    /// [`Verify::SizeAndHash`] was asked.
    pub hash_verified: Option<HashAlgorithm>,
}

/// Segments [`auto_segments`] makes are at least this long: a file under
/// twice this size comes in one stream.
pub const AUTO_SEGMENT_MIN: u64 = 32 * 1024 * 1024;

/// The most segments [`auto_segments`] chooses.
pub const AUTO_SEGMENTS_CAP: usize = 4;

/// Below this round-trip time [`auto_segments`] keeps one stream.
pub const AUTO_SEGMENTS_RTT: Duration = Duration::from_millis(20);

/// The segments a download uses when the caller leaves it to the library
/// ([`SegmentOptions::sessions`] 0, and `ftpkit get` to a file by
/// default), from the file's `size` and the round-trip time the session
/// measured ([`Client::round_trip_time`]).
///
/// One TCP connection moves at most what the path lets it have in flight
/// per round trip (a window, a router's queue, a per-flow shaper), so on a
/// long link one stream stays under the link's speed; several connections,
/// each fetching a range, add up. Each extra session costs a login (its
/// round trips overlap the others') and a connection slot at the server,
/// so segments are used only from [`AUTO_SEGMENTS_RTT`], for files of at
/// least two [`AUTO_SEGMENT_MIN`]: 2 from 20 ms, one more per 15 ms, at
/// most [`AUTO_SEGMENTS_CAP`] (from 45 ms). On a LAN or loopback one stream
/// already runs at the disk's or the cipher's speed.
///
/// ```
/// use std::time::Duration;
/// use ftpkit::ops::auto_segments;
///
/// const MIB: u64 = 1024 * 1024;
/// let ms = |n| Some(Duration::from_millis(n));
/// assert_eq!(auto_segments(256 * MIB, None), 1);
/// assert_eq!(auto_segments(256 * MIB, ms(1)), 1);
/// assert_eq!(auto_segments(256 * MIB, ms(20)), 2);
/// assert_eq!(auto_segments(256 * MIB, ms(50)), 4);
/// assert_eq!(auto_segments(64 * MIB, ms(50)), 2);
/// assert_eq!(auto_segments(63 * MIB, ms(50)), 1);
/// ```
pub fn auto_segments(size: u64, rtt: Option<Duration>) -> usize {
    let Some(rtt) = rtt.filter(|r| *r >= AUTO_SEGMENTS_RTT) else {
        return 1;
    };
    let by_rtt = 1 + rtt.as_millis() / 15;
    let by_size = u128::from(size / AUTO_SEGMENT_MIN);
    let n = by_rtt.min(by_size).clamp(1, AUTO_SEGMENTS_CAP as u128);
    usize::try_from(n).unwrap_or(1)
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
    meter: Arc<Meter>,
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
    // A non-final segment drops its download half-way: its session is
    // dropped with it, or aborts the transfer on its next call.
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
/// STREAM`, the file is smaller than two segments, [`auto_segments`]
/// chooses one, or the server refuses `REST`), the file comes in one
/// stream through [`download_file`], with the same checks.
pub async fn segmented_download(
    client: &mut Client,
    remote: impl Into<Arg>,
    local_path: &Path,
    opts: &SegmentOptions,
) -> Result<SegmentReport> {
    let remote: Arg = remote.into();
    // ASCII offsets are not byte offsets: one stream.
    let size = match client.transfer_type() {
        Some(TransferType::Ascii) => None,
        _ => client.size_if_known(remote.clone()).await?,
    };
    let Some(size) = size else {
        // `download_file` fails here when `opts.verify` needs the size.
        return whole(client, &remote, local_path, None, opts).await;
    };
    let sessions = match opts.sessions {
        _ if !client.features().supports_rest_stream() => 1,
        0 => auto_segments(size, client.round_trip_time()),
        n => n,
    };
    let segs = ranges(size, sessions, opts.min_segment);
    if segs.len() < 2 {
        return whole(client, &remote, local_path, Some(size), opts).await;
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
                expected_size: Some(size),
                segments: segs,
                hash_verified,
            })
        }
        Err(e) => {
            discard_part(&part, false).await;
            if e.kind() == ErrorKind::RestartRefused {
                tracing::warn!(error = %e, "no ranges: downloading in one stream");
                return whole(client, &remote, local_path, Some(size), opts).await;
            }
            Err(e)
        }
    }
}

/// The file in one stream, checked against `size` when known.
async fn whole(
    client: &mut Client,
    remote: &Arg,
    local_path: &Path,
    size: Option<u64>,
    opts: &SegmentOptions,
) -> Result<SegmentReport> {
    let fo = FileOptions::new()
        .verify(opts.verify)
        .expected_size(size)
        .progress(opts.progress.clone());
    let r = download_file(client, remote.clone(), local_path, &fo).await?;
    Ok(SegmentReport {
        size: r.size,
        expected_size: r.expected_size,
        segments: vec![(0, r.size)],
        hash_verified: r.hash_verified,
    })
}

/// Fetches every range: the caller's client the last one (to the end of
/// the data, so its transfer completes normally), new sessions the others
/// from a shared queue. A session that cannot be opened (a server's
/// connection limit) leaves its ranges to the sessions that did open, the
/// caller's included; one that has not opened when the work is done is
/// given up. Any failure of a fetch ends the whole download.
async fn run(
    client: &mut Client,
    remote: &Arg,
    part: &Path,
    segs: &[(u64, u64)],
    meter: &Arc<Meter>,
) -> Result<()> {
    let Some((&last, others)) = segs.split_last() else {
        return Ok(());
    };
    let queue = Mutex::new(others.iter().copied().collect::<VecDeque<_>>());
    // A poisoned lock still hands out its ranges: a range left in the
    // queue would leave a hole that the size check (the partial file is
    // sized beforehand) cannot see.
    let next = || {
        queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    };
    let (done, done_rx) = tokio::sync::watch::channel(false);
    let config = client.config().clone();
    let helpers = others.iter().map(|_| {
        let (config, mut done_rx) = (config.clone(), done_rx.clone());
        async move {
            let opened = tokio::select! {
                c = Client::connect(config) => c,
                _ = done_rx.wait_for(|d| *d) => return Ok(()),
            };
            let mut c = match opened {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "a segment's session was refused: the others take its range");
                    return Ok(());
                }
            };
            while let Some(seg) = next() {
                fetch(&mut c, remote.clone(), part, seg, false, meter.clone()).await?;
            }
            // `c` is dropped here: closing the session ends its transfer.
            Ok(())
        }
    });
    let own = async {
        fetch(client, remote.clone(), part, last, true, meter.clone()).await?;
        while let Some(seg) = next() {
            fetch(client, remote.clone(), part, seg, false, meter.clone()).await?;
        }
        // Nothing is left to fetch: sessions still opening are not needed.
        let _ = done.send(true);
        Ok::<(), Error>(())
    };
    futures::future::try_join(own, futures::future::try_join_all(helpers))
        .await
        .map(drop)
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
