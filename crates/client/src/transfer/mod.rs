//! Transfers: opening data channels, the [`Download`] and [`Upload`]
//! streams, listings, and whole-file helpers.

mod api;
mod ascii;
mod download;
mod open;
mod upload;

pub use download::Download;
pub use upload::Upload;

use ftpkit_control::Reply;
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
}

impl TransferInfo {
    /// Whether the data connection made a full TLS handshake instead of
    /// resuming the control connection's session.
    pub fn full_handshake(&self) -> bool {
        self.tls.is_some_and(|t| !t.resumed)
    }
}
