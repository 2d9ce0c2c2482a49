//! What protection a new data channel must use.

use std::fmt;

use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// The protection a data channel takes from the control session when it
/// opens: the session's `PROT` level decides between the two, and the TLS
/// parameters come from the control connection.
#[derive(Clone)]
pub enum Protection {
    /// Data in the clear (`PROT C`, or no TLS on the session).
    Clear,
    /// TLS (`PROT P`).
    Tls(TlsParams),
}

/// TLS settings of a data channel, derived from the control connection.
#[derive(Clone)]
pub struct TlsParams {
    /// A connector whose configuration shares the control connection's
    /// trust settings, client certificate and session store, so the
    /// handshake resumes the control session.
    pub connector: TlsConnector,
    /// The control connection's server name: the data connection's
    /// certificate is checked against it, never against an address from a
    /// PASV reply.
    pub server_name: ServerName<'static>,
}

impl fmt::Debug for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protection::Clear => f.write_str("Clear"),
            Protection::Tls(p) => f
                .debug_struct("Tls")
                .field("server_name", &p.server_name)
                .finish_non_exhaustive(),
        }
    }
}

impl Protection {
    /// Whether data is encrypted.
    pub fn is_private(&self) -> bool {
        matches!(self, Protection::Tls(_))
    }
}
