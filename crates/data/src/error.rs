//! Errors of data channels.

use std::io;
use std::net::SocketAddr;

/// A data channel could not be opened or used. `Display` never repeats the
/// [`source`](std::error::Error::source)'s text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A deadline passed.
    #[error("timed out: {0}")]
    TimedOut(&'static str),
    /// Connecting to the passive address failed.
    #[error("data connection to {addr} failed")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// No port of the configured range could be bound.
    #[error("cannot bind an active-mode listener")]
    Bind(#[source] io::Error),
    /// Accepting failed.
    #[error("accepting the data connection failed")]
    Accept(#[source] io::Error),
    /// The TLS handshake on the data connection failed.
    #[error("TLS handshake on the data connection failed")]
    Tls(#[source] io::Error),
    /// The session's protection cannot be given to a data channel.
    #[error("{0}")]
    Protection(&'static str),
    /// Another I/O error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl DataError {
    /// The `rustls::Error` behind a TLS failure, if there is one.
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        match self {
            DataError::Tls(e) | DataError::Io(e) => e.get_ref()?.downcast_ref::<rustls::Error>(),
            _ => None,
        }
    }
}
