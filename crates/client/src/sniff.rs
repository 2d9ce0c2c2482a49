//! The TCP stream under a TLS control connection, keeping the last bytes
//! it read: when TLS fails because the server wrote plaintext (vsftpd's
//! `500 OOPS: …` after a failure, or in place of a handshake), the error
//! can say what the server said instead of rustls's "received corrupt
//! message of type InvalidContentType".

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::observe::poll_read_observed;

/// Bytes kept of the last read.
const KEPT: usize = 256;

/// A TCP stream that remembers the start of its last read.
#[derive(Debug)]
pub(crate) struct Sniffed {
    tcp: TcpStream,
    last: Vec<u8>,
}

impl Sniffed {
    pub(crate) fn new(tcp: TcpStream) -> Self {
        Self {
            tcp,
            last: Vec::new(),
        }
    }

    pub(crate) fn into_inner(self) -> TcpStream {
        self.tcp
    }

    /// The first line of the last read, when it looks like an FTP reply in
    /// plaintext (three digits, then a space or `-`), control characters
    /// shown as `?`.
    pub(crate) fn plaintext_reply(&self) -> Option<String> {
        let line = self.last.split(|&b| b == b'\n').next()?;
        let digits = line.get(..3)?;
        if !digits.iter().all(u8::is_ascii_digit) || !matches!(line.get(3), Some(b' ' | b'-')) {
            return None;
        }
        Some(
            String::from_utf8_lossy(line)
                .trim_end()
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect(),
        )
    }
}

/// Whether `e` is rustls refusing a record that is no TLS at all.
pub(crate) fn is_not_tls(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|s| s.downcast_ref::<rustls::Error>())
        .is_some_and(|t| {
            matches!(
                t,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
            )
        })
}

impl AsyncRead for Sniffed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Self { tcp, last } = self.get_mut();
        poll_read_observed(tcp, cx, buf, |got| {
            if !got.is_empty() {
                last.clear();
                last.extend_from_slice(got.get(..KEPT.min(got.len())).unwrap_or_default());
            }
        })
    }
}

impl AsyncWrite for Sniffed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
