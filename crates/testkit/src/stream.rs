//! Byte streams: [`Conn`] (plain TCP or server-side TLS) and [`Rewind`], which
//! replays bytes already read before a TLS handshake started.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ftpkit_data::MaybeTls;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::transcript::{CloseKind, TlsInfo};

/// A stream that first yields `prefix`, then reads from `inner`.
pub(crate) struct Rewind<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A control or data connection, plain or TLS: the same stream type as
/// the client's ([`ftpkit_data::MaybeTls`]).
pub(crate) type Conn = MaybeTls<TcpStream, Box<TlsStream<Rewind<TcpStream>>>>;

/// What the scripted server does with a connection beyond reading and
/// writing.
pub(crate) trait ConnExt: Sized {
    /// The TCP socket under the connection.
    fn tcp(&self) -> &TcpStream;

    /// Closes the connection the given way. Graceful closes linger in a
    /// background task that drains the peer's remaining bytes (so that
    /// unread input does not turn our close into a RST) for at most
    /// `linger`.
    async fn close(self, kind: CloseKind, linger: Duration);
}

impl ConnExt for Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTls::Plain(s) => s,
            MaybeTls::Tls(s) => &s.get_ref().0.inner,
        }
    }

    async fn close(self, kind: CloseKind, linger: Duration) {
        match kind {
            CloseKind::Graceful => {
                let mut s = self;
                let _ = tokio::time::timeout(linger, s.shutdown()).await;
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(linger, drain(&mut s)).await;
                });
            }
            CloseKind::Abrupt => {
                let tcp = match self {
                    MaybeTls::Plain(s) => s,
                    MaybeTls::Tls(s) => s.into_inner().0.inner,
                };
                drop(tcp);
            }
            CloseKind::Reset => {
                let _ = self.tcp().set_zero_linger();
                drop(self);
            }
        }
    }
}

async fn drain(s: &mut Conn) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// Runs a server-side TLS handshake over `tcp`, replaying `prefix` first.
pub(crate) async fn accept_tls(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    prefix: Vec<u8>,
) -> io::Result<(Conn, TlsInfo)> {
    let tls = acceptor.accept(Rewind::new(prefix, tcp)).await?;
    let info = TlsInfo::from_connection(tls.get_ref().1);
    Ok((MaybeTls::Tls(Box::new(tls)), info))
}

pub(crate) fn acceptor(config: &Arc<rustls::ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(Arc::clone(config))
}
