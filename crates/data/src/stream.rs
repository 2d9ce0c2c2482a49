//! The stream of one transfer: plain TCP or TLS over TCP.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::{CipherSuite, HandshakeKind, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::tls::TlsData;
use crate::{DataError, MaybeTls, Protection};

/// What the TLS handshake of a data connection did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// Whether the session was resumed (the control connection's session,
    /// as servers that require reuse demand) or a full handshake was made.
    pub resumed: bool,
    /// Negotiated protocol version.
    pub version: Option<ProtocolVersion>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<CipherSuite>,
}

/// A data connection, plain or TLS. Made only by [`DataStream::open`],
/// from the session's [`Protection`].
#[derive(Debug)]
pub struct DataStream {
    inner: MaybeTls<TcpStream, Box<TlsData>>,
}

/// Most bytes read while waiting for the peer to close after our
/// close_notify, so a server cannot keep us reading forever.
const CLOSE_DRAIN_LIMIT: usize = 1 << 20;

impl DataStream {
    /// Applies `protection` to a connected socket: nothing for clear data,
    /// a TLS handshake (resuming the control session) within `deadline`
    /// otherwise.
    pub async fn open(
        tcp: TcpStream,
        protection: &Protection,
        deadline: Duration,
    ) -> Result<Self, DataError> {
        match protection.tls() {
            None => Ok(DataStream {
                inner: MaybeTls::Plain(tcp),
            }),
            Some(p) => {
                let tls = tokio::time::timeout(
                    deadline,
                    TlsData::connect(tcp, p.config.clone(), p.server_name.clone()),
                )
                .await
                .map_err(|_| DataError::TimedOut("TLS handshake on the data connection"))?
                .map_err(DataError::Tls)?;
                let stream = DataStream {
                    inner: MaybeTls::Tls(Box::new(tls)),
                };
                if let Some(info) = stream.tls_info() {
                    if info.resumed {
                        tracing::debug!(version = ?info.version, "data connection resumed the TLS session");
                    } else {
                        tracing::warn!(version = ?info.version, "data connection made a full TLS handshake instead of resuming");
                    }
                }
                Ok(stream)
            }
        }
    }

    /// TLS details, for a TLS stream.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let conn = self.inner.as_tls()?.state();
        Some(TlsInfo {
            resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
            version: conn.protocol_version(),
            cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
        })
    }

    /// The underlying TCP socket.
    pub fn tcp(&self) -> &TcpStream {
        match &self.inner {
            MaybeTls::Plain(s) => s,
            MaybeTls::Tls(t) => t.tcp(),
        }
    }

    /// Whether the data is under TLS.
    pub fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }

    /// Ends our side cleanly, within `deadline`. Plain TCP: FIN. TLS:
    /// close_notify and FIN, then read until the server's close_notify or
    /// EOF. Waiting matters: vsftpd over TLS 1.3 loses the end of an upload
    /// when the client closes at once, because the unread session ticket
    /// makes the kernel reset the connection (`VSFTPD-TLS13-UPLOAD-CLOSE` in
    /// docs/server-quirks.md).
    pub async fn close(&mut self, deadline: Duration) -> Result<(), DataError> {
        tokio::time::timeout(deadline, async {
            self.shutdown().await?;
            if !self.is_tls() {
                return Ok(());
            }
            let mut scratch = [0u8; 4096];
            let mut drained = 0usize;
            loop {
                match self.read(&mut scratch).await {
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        drained += n;
                        if drained > CLOSE_DRAIN_LIMIT {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "server kept sending after the transfer ended",
                            ));
                        }
                    }
                    // The server may close without close_notify or reset
                    // once it has everything; our data is already flushed.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        return Ok(())
                    }
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .map_err(|_| DataError::TimedOut("closing the data connection"))?
        .map_err(DataError::Io)
    }
}

impl AsyncRead for DataStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DataStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
