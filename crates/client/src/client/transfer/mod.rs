//! Transfers: opening data channels, the [`Download`] and [`Upload`]
//! streams, listings, and whole-file helpers.

mod api;
mod ascii;
mod channel;
mod download;
mod open;
mod upload;

pub use api::LIST_DIR_MAX_ROWS;
pub use download::Download;
pub(crate) use open::Opened;
pub use upload::Upload;

use ftpkit_control::Reply;

use crate::error::{Error, ErrorKind};
use ftpkit_data::TlsInfo;

/// What is known about a transfer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferInfo {
    /// The server's 1yz mark (`150 Opening BINARY mode data connection`).
    pub mark: Option<Reply>,
    /// TLS details of the data connection, when protected: whether it
    /// resumed the control connection's session or made a full handshake.
    pub tls: Option<TlsInfo>,
    /// The completion reply (226/250), once read.
    pub completion: Option<Reply>,
    /// Bytes moved over the data connection (before TYPE A conversion).
    pub bytes: u64,
    /// The `REST` offset the transfer started at (0 when none).
    pub offset: u64,
}

impl TransferInfo {
    /// The size the server announced in its mark (`150 … (N bytes)`), when
    /// it did (vsftpd, ProFTPD).
    pub fn announced_size(&self) -> Option<u64> {
        self.mark
            .as_ref()
            .and_then(ftpkit_control::parse::announced_size)
    }

    /// Checks a finished download's byte count against the size its mark
    /// announced: fewer bytes is [`ErrorKind::Truncated`], more is
    /// [`ErrorKind::Protocol`], even when the server said `226`. After
    /// `REST n`, servers announce either the whole size or what is left;
    /// both are accepted. Nothing to check when no size was announced.
    pub(crate) fn check_announced(&self) -> crate::Result<()> {
        let Some(size) = self.announced_size() else {
            return Ok(());
        };
        let rest = size.saturating_sub(self.offset);
        if self.bytes == size || (self.offset > 0 && self.bytes == rest) {
            return Ok(());
        }
        let kind = if self.bytes < rest {
            ErrorKind::Truncated
        } else {
            ErrorKind::Protocol
        };
        Err(Error::new(
            kind,
            format!(
                "the server announced {size} bytes{} and sent {}",
                if self.offset > 0 {
                    format!(" (from offset {})", self.offset)
                } else {
                    String::new()
                },
                self.bytes
            ),
        ))
    }

    /// Whether the data connection made a full TLS handshake instead of
    /// resuming the control connection's session.
    pub fn full_handshake(&self) -> bool {
        self.tls.is_some_and(|t| !t.resumed)
    }
}
