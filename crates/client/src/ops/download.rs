//! The one download routine.
//!
//! Every download of a whole file goes through here: [`download_file`]
//! into a local file (atomically, through its partial file), or
//! [`download_to_writer`] into a stream such as stdout. `ftpkit get` (with
//! `--resume`, and `-`), mirror, the pool's retries and segmented downloads
//! that cannot use ranges all call these two, so that each download ends
//! with the same checks:
//! - the byte count against every size known: the caller's, `SIZE`, the
//!   size in the `150` reply;
//! - a server that refuses or misplaces `REST` gets the whole file again
//!   from 0, never appended after the partial one;
//! - a file at the target is only ever a complete, checked one.

use std::io;
use std::path::Path;

use ftpkit_control::command::TransferType;
use ftpkit_control::Arg;
use tokio::io::AsyncReadExt;

use super::files::{check_received, FileOptions, FileReport, Known, Verify};
use super::hashes::local_file_hash;
use super::partial::{commit_part, discard_part, io_err, prepare_part};
use super::progress::Meter;
use super::sink::ThreadSink;
use super::COPY_BUFFER;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

/// Downloads `remote` to `local_path`.
///
/// The data goes to [`part_path`](super::part_path)`(local_path)`, renamed
/// to `local_path` only once complete and checked: a file at `local_path`
/// is untouched until then, and never partial.
/// - The received bytes must match every size known: the caller's
///   [`FileOptions::expected_size`], the server's `SIZE` (asked when
///   [`FileOptions::verify`], `resume` or a progress callback wants it and
///   the caller gave none), and the size in the server's `150` reply.
///   Short is [`ErrorKind::Truncated`], long is [`ErrorKind::Protocol`],
///   even when the server said `226`. [`FileReport::expected_size`] tells
///   which size was checked, or that none was known.
/// - With `resume`, an existing partial file is continued with `REST`
///   (started over when it is longer than the remote file). A server that
///   refuses `REST`, or answers it with another offset, gets the whole file
///   from offset 0 into the partial file instead.
/// - On failure, the bytes received stay in the partial file for a later
///   resume; a partial file that received nothing is removed, and so is a
///   file whose hash did not match.
/// - In TYPE A the local size differs from the server's, so sizes are not
///   compared (and `resume` is refused).
pub async fn download_file(
    client: &mut Client,
    remote: impl Into<Arg>,
    local_path: &Path,
    opts: &FileOptions,
) -> Result<FileReport> {
    let remote: Arg = remote.into();
    let shown = String::from_utf8_lossy(remote.as_bytes()).into_owned();
    let expected = expected_size(client, &remote, &shown, opts).await?;
    let part = prepare_part(local_path).await?;
    match into_part(client, &remote, &shown, &part, expected, opts).await {
        Ok(report) => {
            commit_part(&part, local_path).await?;
            Ok(report)
        }
        Err(e) => {
            discard_part(&part, true).await;
            Err(e)
        }
    }
}

/// Downloads `remote` into `out`, a blocking writer (stdout, a pipe)
/// driven on a thread of its own. Not atomic: what arrived before a failure
/// has been written. The checks are those of [`download_file`], except the
/// hash ([`Verify::SizeAndHash`] checks the size only) and `resume`, which
/// is refused.
pub async fn download_to_writer(
    client: &mut Client,
    remote: impl Into<Arg>,
    out: Box<dyn io::Write + Send>,
    opts: &FileOptions,
) -> Result<FileReport> {
    if opts.resume {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "a download into a stream cannot resume",
        ));
    }
    let remote: Arg = remote.into();
    let shown = String::from_utf8_lossy(remote.as_bytes()).into_owned();
    let expected = expected_size(client, &remote, &shown, opts).await?;
    let write_err = |e: io::Error| Error::from_io("writing the output", e);
    let mut sink = ThreadSink::start(out, COPY_BUFFER).map_err(write_err)?;
    let meter = Meter::new(opts.progress.clone(), 0, expected.map(|k| k.size));
    let received = receive(client, &remote, 0, &mut sink, &meter, &write_err).await;
    let flushed = sink.finish().await;
    let received = received?;
    flushed.map_err(write_err)?;
    let checked = expected.or(received.announced(0));
    check_received(&shown, checked, received.bytes)?;
    meter.finish();
    Ok(FileReport {
        transferred: received.bytes,
        size: received.bytes,
        resumed_from: 0,
        expected_size: checked.map(|k| k.size),
        size_verified: checked.is_some(),
        hash_verified: None,
    })
}

/// The size known before the transfer: the caller's, else the server's
/// `SIZE` when something wants it. `None` in TYPE A, where sizes differ.
async fn expected_size(
    client: &mut Client,
    remote: &Arg,
    shown: &str,
    opts: &FileOptions,
) -> Result<Option<Known>> {
    if client.transfer_type() == Some(TransferType::Ascii) {
        if opts.resume {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a resume needs TYPE I (binary): offsets are bytes of the file",
            ));
        }
        return Ok(None);
    }
    if let Some(n) = opts.expected_size {
        return Ok(Some(Known::new(n, "the expected size")));
    }
    if !(opts.verify.asks_size() || opts.resume || opts.progress.is_some()) {
        return Ok(None);
    }
    match client.size_if_known(remote.clone()).await? {
        Some(n) => Ok(Some(Known::new(n, "the server's SIZE"))),
        None if opts.verify.requires_size() => Err(Error::new(
            ErrorKind::Unsupported,
            format!("SIZE {shown} failed: cannot verify the download"),
        )),
        None => Ok(None),
    }
}

/// Fills the partial file `part` and checks it; the caller publishes it.
async fn into_part(
    client: &mut Client,
    remote: &Arg,
    shown: &str,
    part: &Path,
    expected: Option<Known>,
    opts: &FileOptions,
) -> Result<FileReport> {
    let mut offset = 0;
    if opts.resume {
        offset = tokio::fs::metadata(part).await.map_or(0, |m| m.len());
        if let Some(k) = expected.filter(|k| offset > k.size) {
            tracing::warn!(
                remote = shown,
                partial = offset,
                size = k.size,
                "the partial file is longer than the remote file: starting over"
            );
            offset = 0;
        }
    }
    // A fresh download starts from a new file (`create_new`: never through
    // a link planted since `prepare_part` looked); a resume continues the
    // file there, itself checked to be no link.
    if offset == 0 {
        match tokio::fs::remove_file(part).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_err("removing", part, e))
            }
            _ => {}
        }
    }
    let file = open_part(part, offset == 0).await?;
    // A fresh download starts empty; a resume keeps what is there.
    file.set_len(offset)
        .await
        .map_err(|e| io_err("truncating", part, e))?;
    let writer = file
        .try_clone()
        .await
        .map_err(|e| io_err("opening", part, e))?
        .into_std()
        .await;
    let write_err = |e: io::Error| io_err("writing", part, e);
    let mut sink = ThreadSink::start(Box::new(writer), COPY_BUFFER).map_err(write_err)?;
    let complete = offset > 0 && expected.is_some_and(|k| k.size == offset);
    let mut start = offset;
    let mut meter = Meter::new(opts.progress.clone(), start, expected.map(|k| k.size));
    let received = if complete {
        Ok(Received::default())
    } else {
        let mut r = receive(client, remote, start, &mut sink, &meter, &write_err).await;
        if start > 0
            && r.as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::RestartRefused)
        {
            // Nothing was sent yet: the whole file, from 0, replaces the
            // partial one instead of being appended to it.
            tracing::warn!(
                remote = shown,
                offset = start,
                "the server cannot restart at the partial file's end: downloading it whole"
            );
            file.set_len(0)
                .await
                .map_err(|e| io_err("truncating", part, e))?;
            start = 0;
            meter = Meter::new(opts.progress.clone(), 0, expected.map(|k| k.size));
            r = receive(client, remote, 0, &mut sink, &meter, &write_err).await;
        }
        r
    };
    // Also after a failure: every byte that arrived is in the file (for a
    // resume) before this returns.
    let flushed = sink.finish().await;
    let received = received?;
    flushed.map_err(write_err)?;
    if opts.durable {
        file.sync_all()
            .await
            .map_err(|e| io_err("syncing", part, e))?;
    }
    drop(file);
    let local_len = tokio::fs::metadata(part)
        .await
        .map_err(|e| io_err("reading", part, e))?
        .len();
    let checked = expected.or(received.announced(start));
    check_received(shown, checked, local_len)?;
    meter.finish();
    let mut report = FileReport {
        transferred: received.bytes,
        size: local_len,
        resumed_from: start,
        expected_size: checked.map(|k| k.size),
        size_verified: checked.is_some(),
        hash_verified: None,
    };
    if opts.verify == Verify::SizeAndHash {
        if let Some((alg, theirs)) = client.server_hash(remote.clone()).await? {
            let ours = local_file_hash(part, alg).await?;
            if ours != theirs {
                let _ = tokio::fs::remove_file(part).await;
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
    Ok(report)
}

/// Opens the partial file for appending (`fresh`: a new file). Another
/// download into the same folder (a mirror's other worker) removes the
/// folder when it finishes and the folder looks empty: it is made again.
async fn open_part(part: &Path, fresh: bool) -> Result<tokio::fs::File> {
    let mut attempts = 0;
    loop {
        let opened = tokio::fs::OpenOptions::new()
            .create_new(fresh)
            .append(true)
            .open(part)
            .await;
        match opened {
            Err(e) if e.kind() == io::ErrorKind::NotFound && fresh && attempts < 8 => {
                attempts += 1;
                if let Some(dir) = part.parent() {
                    match tokio::fs::create_dir(dir).await {
                        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                            return Err(io_err("creating", dir, e))
                        }
                        _ => {}
                    }
                }
            }
            r => return r.map_err(|e| io_err("opening", part, e)),
        }
    }
}

/// What one `RETR` delivered.
#[derive(Default)]
struct Received {
    bytes: u64,
    /// The size in the server's `150` reply (`(N bytes)`), when given.
    announced: Option<u64>,
}

impl Received {
    /// The announced size as the whole file's, for a transfer from
    /// `start`: after `REST` servers announce either the whole size or
    /// what is left (the download itself accepts both), so it only tells
    /// the file's size from offset 0.
    fn announced(&self, start: u64) -> Option<Known> {
        self.announced
            .filter(|_| start == 0)
            .map(|n| Known::new(n, "the server's 150 reply"))
    }
}

/// `REST start` (when not 0) + `RETR remote`, copied into `sink`. The
/// download checks its byte count against the `150` reply's size itself.
/// On a failure, what was read is still handed to `sink`.
async fn receive(
    client: &mut Client,
    remote: &Arg,
    start: u64,
    sink: &mut ThreadSink,
    meter: &Meter,
    write_err: &(dyn Fn(io::Error) -> Error + Sync),
) -> Result<Received> {
    let mut dl = client.retr_from(remote.clone(), start).await?;
    let mut bytes = 0u64;
    loop {
        // Fill most of a buffer (TLS hands over one 16 KiB record per
        // read), then pass it to the writer thread.
        let mut buf = sink.buffer();
        let mut eof = false;
        let mut failed = None;
        while buf.len() < COPY_BUFFER / 2 {
            match dl.read_buf(&mut buf).await {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    bytes += n as u64;
                    meter.add(n as u64);
                }
                Err(e) => {
                    failed = Some(Error::from_io_error(e));
                    break;
                }
            }
        }
        if !buf.is_empty() {
            sink.send(buf).await.map_err(write_err)?;
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if eof {
            break;
        }
    }
    Ok(Received {
        bytes,
        announced: dl.info().announced_size(),
    })
}
