//! The client's error: opaque, with a kind, the server's reply when there
//! was one, and whether trying again may help.

use std::fmt;
use std::io;

use ftpkit_control::session::{Misbehaviour, SessionError};
use ftpkit_control::Reply;
use ftpkit_data::DataError;

/// What went wrong, grouped by cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A socket error (connect refused, reset...).
    Io,
    /// A deadline passed.
    Timeout,
    /// TLS failed (handshake, alert, missing close_notify...).
    Tls,
    /// The server's certificate or host name did not verify, or a pin did
    /// not match.
    Certificate,
    /// The server answered with a negative reply (see [`Error::reply`]).
    ServerReply,
    /// Login was refused.
    Auth,
    /// TLS was required and the server tried to avoid it.
    Downgrade,
    /// The server broke the protocol (undecodable or unexpected replies,
    /// bytes after 234...).
    Protocol,
    /// The server closed the session (421 or end of stream).
    Closed,
    /// A download ended without TLS close_notify: the data may be
    /// truncated.
    Truncated,
    /// An argument was invalid (CR, LF or NUL, empty path...). Nothing was
    /// sent.
    InvalidArgument,
    /// The API was used in a way the session's state does not allow.
    Misuse,
    /// The client is unusable after an earlier failure; reconnect.
    Broken,
    /// A feature the server does not offer.
    Unsupported,
    /// A data connection was refused because its TLS handshake did not
    /// resume the control connection's session, which the server requires
    /// (vsftpd `require_ssl_reuse`, ProFTPD), and renewing the session
    /// could not help or a retry was not safe. Transient: the client renews
    /// its session before the next data connection.
    TlsResumption,
    /// The server refused `REST` (5yz) or answered it with another offset:
    /// the transfer cannot start at the asked offset. Nothing was
    /// transferred. [`download_file`](crate::ops::download_file) and
    /// [`upload_file`](crate::ops::upload_file) then transfer the whole
    /// file from offset 0 instead.
    RestartRefused,
}

/// An ftpkit error.
pub struct Error {
    kind: ErrorKind,
    reply: Option<Reply>,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            reply: None,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// A negative reply from the server to `what`.
    pub(crate) fn from_reply(what: impl Into<String>, reply: Reply) -> Self {
        let kind = ErrorKind::ServerReply;
        Self {
            kind,
            message: what.into(),
            reply: Some(reply),
            source: None,
        }
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// A data connection refused for want of TLS session reuse: `cause`
    /// says why, `refusal` is what the server or the handshake said.
    pub(crate) fn reuse_refused(
        cause: ftpkit_control::resumption::ReuseFailure,
        refusal: Error,
    ) -> Self {
        // The server's reply stays with the refusal (the source), so that
        // a chain printer shows it once.
        Self {
            kind: ErrorKind::TlsResumption,
            message: cause.to_string(),
            reply: None,
            source: Some(Box::new(refusal)),
        }
    }

    pub(crate) fn timeout(what: &'static str) -> Self {
        Self::new(ErrorKind::Timeout, format!("timed out waiting for {what}"))
    }

    pub(crate) fn broken(why: &str) -> Self {
        Self::new(ErrorKind::Broken, format!("client unusable: {why}"))
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The server's reply, when the error is the server's answer.
    pub fn reply(&self) -> Option<&Reply> {
        self.reply.as_ref()
    }

    /// Whether trying again (possibly on a new connection) may succeed: 4yz
    /// replies, timeouts, I/O errors, closed sessions.
    pub fn is_transient(&self) -> bool {
        match self.kind {
            ErrorKind::Io
            | ErrorKind::Timeout
            | ErrorKind::Closed
            | ErrorKind::Truncated
            | ErrorKind::TlsResumption => true,
            ErrorKind::ServerReply | ErrorKind::Auth => {
                self.reply.as_ref().is_some_and(|r| r.code().is_transient())
            }
            _ => false,
        }
    }

    /// An I/O error while doing `what`: the message says what was being
    /// done, the error is the source (a TLS error inside decides the kind).
    pub(crate) fn from_io(what: &str, e: io::Error) -> Self {
        let kind = match e.get_ref().and_then(|s| s.downcast_ref::<rustls::Error>()) {
            Some(tls) => tls_kind(tls),
            None => match e.kind() {
                io::ErrorKind::TimedOut => ErrorKind::Timeout,
                io::ErrorKind::UnexpectedEof => ErrorKind::Closed,
                _ => ErrorKind::Io,
            },
        };
        Self::new(kind, what).with_source(e)
    }
}

fn tls_kind(e: &rustls::Error) -> ErrorKind {
    match e {
        rustls::Error::InvalidCertificate(_) => ErrorKind::Certificate,
        _ => ErrorKind::Tls,
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(r) = &self.reply {
            d.field("reply", r);
        }
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

/// `{}` is this error's own message, with the server's reply when there
/// is one; it never repeats the text of its [`source`](std::error::Error::source),
/// so chain printers (anyhow's `{:#}`, `eyre`) show each cause once. `{:#}`
/// appends the causes itself: `connecting to h:21: Connection refused`.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(r) = &self.reply {
            write!(f, ": {r}")?;
        }
        if f.alternate() {
            let mut cause = std::error::Error::source(self);
            while let Some(c) = cause {
                write!(f, ": {c}")?;
                cause = c.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Self {
        let (kind, reply) = match &e {
            SessionError::Misuse(_) => (ErrorKind::Misuse, None),
            SessionError::InvalidCommand(_) => (ErrorKind::InvalidArgument, None),
            SessionError::ServerMisbehaved(Misbehaviour::UnexpectedReply { reply, .. }) => {
                (ErrorKind::Protocol, Some(reply.clone()))
            }
            SessionError::ServerMisbehaved(_) => (ErrorKind::Protocol, None),
            SessionError::Downgrade(_) => (ErrorKind::Downgrade, None),
            SessionError::ServerClosed(r) => (ErrorKind::Closed, r.clone()),
            SessionError::GreetingRefused(r) => (ErrorKind::ServerReply, Some(r.clone())),
            _ => (ErrorKind::Protocol, None),
        };
        // The session error's text is the message; it is not kept as a
        // source too, which would print it twice.
        Self {
            kind,
            message: e.to_string(),
            reply,
            source: None,
        }
    }
}

impl From<ftpkit_control::CommandError> for Error {
    fn from(e: ftpkit_control::CommandError) -> Self {
        Self::new(ErrorKind::InvalidArgument, e.to_string())
    }
}

impl From<DataError> for Error {
    fn from(e: DataError) -> Self {
        match e {
            DataError::TimedOut(what) => Self::timeout(what),
            DataError::Tls(io) => {
                let kind = io
                    .get_ref()
                    .and_then(|s| s.downcast_ref::<rustls::Error>())
                    .map_or(ErrorKind::Tls, tls_kind);
                Self::new(kind, "TLS handshake on the data connection failed").with_source(io)
            }
            DataError::Io(io) => Self::from_io("data connection", io),
            DataError::Connect { addr, source } => {
                Self::from_io(&format!("data connection to {addr} failed"), source)
            }
            DataError::Bind(io) => Self::from_io("cannot bind an active-mode listener", io),
            DataError::Accept(io) => Self::from_io("accepting the data connection failed", io),
            DataError::Protection(why) => Self::new(ErrorKind::Tls, why),
            other => Self::new(ErrorKind::Io, other.to_string()),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match e.kind {
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::Truncated | ErrorKind::Closed => io::ErrorKind::UnexpectedEof,
            ErrorKind::InvalidArgument => io::ErrorKind::InvalidInput,
            ErrorKind::ServerReply
                if e.reply.as_ref().is_some_and(|r| r.code().as_u16() == 550) =>
            {
                io::ErrorKind::NotFound
            }
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

impl Error {
    /// Recovers an ftpkit error carried inside an `io::Error` (as returned
    /// by the `AsyncRead`/`AsyncWrite` transfer types).
    pub fn from_io_error(e: io::Error) -> Self {
        match e.get_ref().and_then(|s| s.downcast_ref::<Error>()) {
            Some(_) => match e.into_inner().and_then(|b| b.downcast::<Error>().ok()) {
                Some(inner) => *inner,
                None => Self::new(ErrorKind::Io, "I/O error"),
            },
            None => Self::from_io("transfer", e),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Each cause's text, walking the chain the way a chain printer does.
    fn chain(e: &Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            out.push(c.to_string());
            cause = c.source();
        }
        out
    }

    #[test]
    fn display_never_repeats_the_source() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, tls);
        let e = Error::from_io("TLS handshake", io);
        assert_eq!(e.kind(), ErrorKind::Certificate);
        let printed = chain(&e);
        assert_eq!(printed[0], "TLS handshake");
        let all = printed.join(": ");
        assert_eq!(all.matches("UnknownIssuer").count(), 1, "{all}");
        // `{:#}` is the same chain on one line.
        assert_eq!(format!("{e:#}"), all);

        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let addr = "127.0.0.1:9".parse().unwrap();
        let e = Error::from(DataError::Connect {
            addr,
            source: refused,
        });
        let all = chain(&e).join(": ");
        assert_eq!(all.matches("refused").count(), 1, "{all}");
        assert!(all.starts_with("data connection to 127.0.0.1:9 failed: "));
    }
}
