//! Pluggable transport: how the control and data connections are opened.
//!
//! By default ([`Config::connector`](crate::Config::connector) is `None`)
//! the client connects directly over TCP. A [`Connector`] replaces that: the
//! control connection and every passive data connection are opened through
//! it, for instance through a proxy. ftpkit ships [`ProxyConnector`], for
//! two proxy protocols ([`ProxyProtocol`]):
//!
//! - SOCKS5 (RFC 1928), no authentication or username/password (RFC 1929);
//!   the target is sent as a domain name, so the proxy resolves it;
//! - an HTTP `CONNECT` tunnel, with optional `Basic` proxy authentication.
//!
//! Through a connector:
//!
//! - the control connection goes to the configured host name and port
//!   (not a resolved address), and TLS still verifies the server's
//!   certificate against that name;
//! - passive data connections go to the configured host name with the port
//!   from the 227/229 reply (with [`PassiveAddress::TrustReply`], to the
//!   address in the 227 reply), through the same connector;
//! - active mode (`PORT`/`EPRT`) cannot work, since the server would have to
//!   connect back through the proxy: transfers fail with
//!   [`ErrorKind::Unsupported`] before anything is sent;
//! - [`Client::peer_addr`](crate::Client::peer_addr) is the address of the
//!   proxy.
//!
//! Connectors return an [`io::Error`]; the client turns it into an
//! [`Error`]. A [`ProxyError`] inside the `io::Error` becomes a typed error:
//! [`ErrorKind::Auth`] for rejected or missing proxy credentials,
//! [`ErrorKind::Protocol`] for a proxy that breaks its protocol and
//! [`ErrorKind::Io`] for a target the proxy could not reach; the
//! `ProxyError` is the error's [`source`](std::error::Error::source).
//!
//! Deadlines are the client's: each call is wrapped in
//! [`Timeouts::connect`](crate::Timeouts::connect) (control) or
//! [`Timeouts::data_connect`](crate::Timeouts::data_connect) (data).
//!
//! [`PassiveAddress::TrustReply`]: crate::config::PassiveAddress::TrustReply

use std::fmt;
use std::io;
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::TcpStream;

use crate::error::{Error, ErrorKind, Result};

mod http_connect;
mod socks5;

/// Which connection a [`Connector`] is asked to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// The control connection.
    Control,
    /// A passive data connection.
    Data,
}

/// Opens the TCP connections of a client.
///
/// `host` is a host name or an IP address literal (IPv6 without brackets),
/// exactly as configured or as taken from a 227 reply; resolving it is the
/// connector's business (a proxy connector lets the proxy resolve it). The
/// returned stream carries the FTP bytes (and TLS, when used) unchanged.
///
/// `Debug` is required because [`Config`](crate::Config) is `Debug`: an
/// implementation holding secrets must leave them out.
#[async_trait]
pub trait Connector: fmt::Debug + Send + Sync {
    /// Opens a connection to `host:port`.
    async fn connect(&self, host: &str, port: u16, purpose: Purpose) -> io::Result<TcpStream>;
}

/// Direct TCP, as without a connector: resolves `host` locally and tries
/// each address in turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectConnector;

#[async_trait]
impl Connector for DirectConnector {
    async fn connect(&self, host: &str, port: u16, _purpose: Purpose) -> io::Result<TcpStream> {
        TcpStream::connect((host, port)).await
    }
}

/// Username and password for a proxy. Never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyCredentials {
    username: String,
    password: String,
}

impl ProxyCredentials {
    /// Credentials from a username and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyCredentials(****)")
    }
}

/// Why a proxy did not open a tunnel. Carried inside the `io::Error` a
/// connector returns, and the source of the client's [`Error`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy requires authentication and no acceptable credentials
    /// were configured.
    #[error("the proxy requires authentication: {0}")]
    AuthRequired(String),
    /// The proxy rejected the credentials.
    #[error("the proxy rejected the credentials: {0}")]
    AuthFailed(String),
    /// The proxy could not or would not reach the target.
    #[error("the proxy refused the connection to {target}: {reason}")]
    Refused {
        /// `host:port` asked for.
        target: String,
        /// The proxy's answer (SOCKS5 reply code, HTTP status line).
        reason: String,
    },
    /// The proxy's answer broke its protocol.
    #[error("the proxy broke its protocol: {0}")]
    Protocol(String),
}

impl ProxyError {
    /// The error kind the client reports for this proxy failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProxyError::AuthRequired(_) | ProxyError::AuthFailed(_) => ErrorKind::Auth,
            ProxyError::Refused { .. } => ErrorKind::Io,
            ProxyError::Protocol(_) => ErrorKind::Protocol,
        }
    }
}

impl From<ProxyError> for io::Error {
    fn from(e: ProxyError) -> Self {
        let kind = match e {
            ProxyError::AuthRequired(_) | ProxyError::AuthFailed(_) => {
                io::ErrorKind::PermissionDenied
            }
            ProxyError::Refused { .. } => io::ErrorKind::ConnectionRefused,
            ProxyError::Protocol(_) => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// The protocol a [`ProxyConnector`] speaks to its proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyProtocol {
    /// SOCKS5 (RFC 1928), with username/password (RFC 1929) when
    /// credentials are set. Only `CONNECT`; the target is sent by name (or
    /// as the IP literal it already is), so the proxy does the resolving.
    Socks5,
    /// HTTP `CONNECT` (RFC 9110 §9.3.6), with `Proxy-Authorization: Basic`
    /// (RFC 7617) when credentials are set.
    HttpConnect,
}

/// Connects through a proxy: SOCKS5 or HTTP `CONNECT`.
///
/// ```
/// use std::sync::Arc;
/// use ftpkit::connector::{ProxyConnector, ProxyCredentials};
///
/// let mut config = ftpkit::Config::new("ftp.example.com");
/// config.connector = Some(Arc::new(
///     ProxyConnector::socks5("127.0.0.1", 1080)
///         .credentials(ProxyCredentials::new("user", "secret")),
/// ));
/// ```
///
/// `Debug` shows the protocol, the proxy's address and whether credentials
/// are set, never the credentials.
#[derive(Clone)]
pub struct ProxyConnector {
    protocol: ProxyProtocol,
    host: String,
    port: u16,
    credentials: Option<ProxyCredentials>,
}

impl ProxyConnector {
    /// A proxy speaking `protocol` at `host:port`, without authentication.
    pub fn new(protocol: ProxyProtocol, host: impl Into<String>, port: u16) -> Self {
        Self {
            protocol,
            host: host.into(),
            port,
            credentials: None,
        }
    }

    /// A SOCKS5 proxy at `host:port`.
    pub fn socks5(host: impl Into<String>, port: u16) -> Self {
        Self::new(ProxyProtocol::Socks5, host, port)
    }

    /// An HTTP proxy at `host:port`, used with `CONNECT`.
    pub fn http_connect(host: impl Into<String>, port: u16) -> Self {
        Self::new(ProxyProtocol::HttpConnect, host, port)
    }

    /// Authenticates with these credentials: SOCKS5 offers
    /// username/password besides none, HTTP sends
    /// `Proxy-Authorization: Basic`.
    pub fn credentials(mut self, credentials: ProxyCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The protocol spoken to the proxy.
    pub fn protocol(&self) -> ProxyProtocol {
        self.protocol
    }

    /// The TCP connection to the proxy itself.
    async fn open(&self) -> io::Result<TcpStream> {
        let s = TcpStream::connect((self.host.as_str(), self.port)).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }
}

impl fmt::Debug for ProxyConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConnector")
            .field("protocol", &self.protocol)
            .field("proxy", &authority(&self.host, self.port))
            .field("credentials", &self.credentials.is_some())
            .finish()
    }
}

#[async_trait]
impl Connector for ProxyConnector {
    async fn connect(&self, host: &str, port: u16, _purpose: Purpose) -> io::Result<TcpStream> {
        match self.protocol {
            ProxyProtocol::Socks5 => socks5::connect(self, host, port).await,
            ProxyProtocol::HttpConnect => http_connect::connect(self, host, port).await,
        }
    }
}

/// Formats `host:port`, bracketing IPv6 literals.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Opens `host:port` through `connector` within `deadline`, with
/// `TCP_NODELAY`, turning failures into typed errors.
pub(crate) async fn connect_via(
    connector: &dyn Connector,
    host: &str,
    port: u16,
    purpose: Purpose,
    deadline: Duration,
) -> Result<TcpStream> {
    let what = match purpose {
        Purpose::Control => "the connection",
        Purpose::Data => "the data connection",
    };
    let stream = tokio::time::timeout(deadline, connector.connect(host, port, purpose))
        .await
        .map_err(|_| match purpose {
            Purpose::Control => Error::timeout("the connection through the connector"),
            Purpose::Data => Error::timeout("the data connection through the connector"),
        })?
        .map_err(|e| {
            connect_error(
                &format!(
                    "opening {what} to {} through {connector:?}",
                    authority(host, port)
                ),
                e,
            )
        })?;
    stream
        .set_nodelay(true)
        .map_err(|e| Error::from_io("TCP_NODELAY", e))?;
    Ok(stream)
}

/// An `io::Error` from a connector as a client error: a [`ProxyError`]
/// inside gives the kind and becomes the source.
fn connect_error(what: &str, e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<ProxyError>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(p) = inner.downcast::<ProxyError>() {
                return Error::new(p.kind(), what).with_source(*p);
            }
        }
        return Error::new(ErrorKind::Io, what.to_owned());
    }
    if e.kind() == io::ErrorKind::InvalidInput {
        return Error::new(ErrorKind::InvalidArgument, what).with_source(e);
    }
    Error::from_io(what, e)
}

/// Reads exactly `buf.len()` bytes; end of stream is a proxy protocol error.
pub(crate) async fn read_exact_or_proxy_error<S>(
    stream: &mut S,
    buf: &mut [u8],
    what: &str,
) -> io::Result<()>
where
    S: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ProxyError::Protocol(format!(
            "the proxy closed the connection during {what}"
        ))
        .into()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_brackets_ipv6() {
        assert_eq!(authority("ftp.example", 21), "ftp.example:21");
        assert_eq!(authority("192.0.2.1", 21), "192.0.2.1:21");
        assert_eq!(authority("2001:db8::1", 21), "[2001:db8::1]:21");
    }

    #[test]
    fn credentials_are_not_in_debug() {
        let c = ProxyCredentials::new("bob", "hunter2");
        let socks = ProxyConnector::socks5("127.0.0.1", 1080).credentials(c.clone());
        let http = ProxyConnector::http_connect("::1", 3128).credentials(c.clone());
        for (d, proxy) in [
            (format!("{c:?}"), ""),
            (format!("{socks:?}"), "127.0.0.1:1080"),
            (format!("{http:?}"), "[::1]:3128"),
        ] {
            assert!(!d.contains("hunter2") && !d.contains("bob"), "{d}");
            assert!(d.contains(proxy), "{d}");
        }
    }

    #[test]
    fn proxy_errors_keep_their_kind() {
        let io: io::Error = ProxyError::AuthFailed("status 1".into()).into();
        let e = connect_error("x", io);
        assert_eq!(e.kind(), ErrorKind::Auth);
        let src = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<ProxyError>());
        assert!(matches!(src, Some(ProxyError::AuthFailed(_))));
        let e = connect_error(
            "x",
            io::Error::new(io::ErrorKind::ConnectionRefused, "nope"),
        );
        assert_eq!(e.kind(), ErrorKind::Io);
    }
}
