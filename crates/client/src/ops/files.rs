//! What whole-file transfers take and give: [`FileOptions`], [`Verify`],
//! [`FileReport`], and the one size check every download ends with.

use ftpkit_control::command::HashAlgorithm;

use super::progress::Progress;
use crate::error::{Error, ErrorKind, Result};

/// How a finished transfer is checked.
///
/// Whatever is chosen, a download whose byte count differs from a size
/// already known without asking (the caller's
/// [`FileOptions::expected_size`], or the size in the server's `150`
/// reply) is an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verify {
    /// No extra command.
    None,
    /// The size is compared with the caller's
    /// [`FileOptions::expected_size`], else with the server's `SIZE`. A
    /// server without `SIZE` makes the transfer fail
    /// ([`ErrorKind::Unsupported`]) before it starts.
    #[default]
    Size,
    /// Like [`Size`](Self::Size), but a server that cannot tell the size
    /// (`SIZE` not implemented) does not stop the transfer: the report's
    /// [`FileReport::expected_size`] is then `None`, and so the received
    /// byte count is unchecked. What `ftpkit get` and the pool's retries
    /// use.
    SizeWhenKnown,
    /// The size as with [`Size`](Self::Size), and the server's hash (when
    /// it offers one) equals the local file's hash.
    SizeAndHash,
}

impl Verify {
    /// Whether the server must be asked for the size when nobody gave it.
    pub(crate) fn asks_size(self) -> bool {
        self != Self::None
    }

    /// Whether a server that cannot tell the size fails the transfer.
    pub(crate) fn requires_size(self) -> bool {
        matches!(self, Self::Size | Self::SizeAndHash)
    }
}

/// Options of [`download_file`](super::download_file),
/// [`download_to_writer`](super::download_to_writer) and
/// [`upload_file`](super::upload_file).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct FileOptions {
    /// Resume a partial transfer: downloads continue their partial file
    /// ([`part_path`](super::part_path)), uploads continue after the
    /// server's `SIZE`. A server that refuses the offset (no `REST`, or
    /// `REST` answered with another offset) gets the whole file again from
    /// offset 0: never appended after the partial one.
    pub resume: bool,
    /// The check after the transfer.
    pub verify: Verify,
    /// Downloads: the size the file must have, when the caller knows it
    /// (from a listing, a manifest). It replaces the `SIZE` command of
    /// [`Verify::Size`], and a different byte count is an error whatever
    /// `verify` says.
    pub expected_size: Option<u64>,
    /// Progress callback.
    pub progress: Option<Progress>,
    /// Downloads: `fsync` the partial file before renaming it, so the file
    /// survives a crash of the machine right after the call returns. Off by
    /// default (as in curl, wget, lftp and rsync): the rename alone already
    /// guarantees that no partial file ever stands at the final name while
    /// the machine runs, and an `fsync` per file costs more than the
    /// transfer of a small file.
    pub durable: bool,
    /// Uploads: store under a temporary name beside the target
    /// ([`atomic_upload_name`](super::atomic_upload_name)), check it, then
    /// rename it onto the target (`RNFR`/`RNTO`), so that the target never
    /// holds a partial file. Not with `resume`. The temporary file is
    /// deleted when the upload fails.
    pub atomic: bool,
}

impl FileOptions {
    /// The defaults: no resume, [`Verify::Size`], no progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`resume`](Self::resume).
    #[must_use]
    pub fn resume(mut self, on: bool) -> Self {
        self.resume = on;
        self
    }

    /// Sets [`verify`](Self::verify).
    #[must_use]
    pub fn verify(mut self, verify: Verify) -> Self {
        self.verify = verify;
        self
    }

    /// Sets [`expected_size`](Self::expected_size).
    #[must_use]
    pub fn expected_size(mut self, size: Option<u64>) -> Self {
        self.expected_size = size;
        self
    }

    /// Sets [`progress`](Self::progress).
    #[must_use]
    pub fn progress(mut self, progress: Option<Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Sets [`durable`](Self::durable).
    #[must_use]
    pub fn durable(mut self, on: bool) -> Self {
        self.durable = on;
        self
    }

    /// Sets [`atomic`](Self::atomic).
    #[must_use]
    pub fn atomic(mut self, on: bool) -> Self {
        self.atomic = on;
        self
    }
}

/// What a file transfer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileReport {
    /// Bytes moved by this call (excluding a resumed prefix).
    pub transferred: u64,
    /// The file's full size.
    pub size: u64,
    /// Where the transfer started (0 unless resumed).
    pub resumed_from: u64,
    /// The size the result was checked against and matched: the caller's,
    /// the server's `SIZE`, or (downloads) the size in the server's `150`
    /// reply. `None` when nothing gave a size: the byte count is then only
    /// what arrived before the server said the transfer was complete.
    pub expected_size: Option<u64>,
    /// Whether the size was compared (and matched):
    /// `expected_size.is_some()`.
    pub size_verified: bool,
    /// The hash algorithm compared (and matched), when the server offered
    /// one and [`Verify::SizeAndHash`] was asked.
    pub hash_verified: Option<HashAlgorithm>,
}

/// A size the received bytes must match, and who said so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Known {
    pub(crate) size: u64,
    /// "the server's SIZE", "the expected size" ...
    pub(crate) from: &'static str,
}

impl Known {
    pub(crate) fn new(size: u64, from: &'static str) -> Self {
        Self { size, from }
    }
}

/// Fails when a download of `what` holds `got` bytes where `expected` says
/// otherwise: [`ErrorKind::Truncated`] when short, [`ErrorKind::Protocol`]
/// when long. Nothing to check when no size is known.
pub(crate) fn check_received(what: &str, expected: Option<Known>, got: u64) -> Result<()> {
    match expected {
        Some(k) if got != k.size => Err(Error::new(
            if got < k.size {
                ErrorKind::Truncated
            } else {
                ErrorKind::Protocol
            },
            format!("download of {what}: {got} bytes, {} is {}", k.from, k.size),
        )),
        _ => Ok(()),
    }
}
