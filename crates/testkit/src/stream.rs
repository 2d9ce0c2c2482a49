//! Byte streams: [`Conn`] (plain TCP or server-side TLS over a
//! [`Rewound`] stream, which replays bytes already read before the
//! handshake started).

use std::io::{self, Cursor};
use std::sync::Arc;
use std::time::Duration;

use ftpkit_data::MaybeTls;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Chain, Join, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::transcript::{CloseKind, TlsInfo};

/// The TCP stream under a server-side TLS connection: reading first
/// yields the bytes read before the handshake began, then the socket's.
/// Its halves hold the one `TcpStream`, so that dropping them is dropping
/// the stream (no shutdown first).
pub(crate) type Rewound = Join<Chain<Cursor<Vec<u8>>, ReadHalf<TcpStream>>, WriteHalf<TcpStream>>;

/// `tcp`, with `prefix` to be read again first.
fn rewind(prefix: Vec<u8>, tcp: TcpStream) -> Rewound {
    let (read, write) = tokio::io::split(tcp);
    tokio::io::join(Cursor::new(prefix).chain(read), write)
}

/// A control or data connection, plain or TLS: the same stream type as
/// the client's ([`ftpkit_data::MaybeTls`]).
pub(crate) type Conn = MaybeTls<TcpStream, Box<TlsStream<Rewound>>>;

/// What the scripted server does with a connection beyond reading and
/// writing.
pub(crate) trait ConnExt: Sized {
    /// The TCP socket under the connection, its TLS layer (if any) dropped
    /// without a word.
    fn into_tcp(self) -> TcpStream;

    /// Closes the connection the given way. Graceful closes linger in a
    /// background task that drains the peer's remaining bytes (so that
    /// unread input does not turn our close into a RST) for at most
    /// `linger`.
    async fn close(self, kind: CloseKind, linger: Duration);
}

impl ConnExt for Conn {
    fn into_tcp(self) -> TcpStream {
        match self {
            MaybeTls::Plain(tcp) => tcp,
            MaybeTls::Tls(s) => {
                let (read, write) = s.into_inner().0.into_inner();
                read.into_inner().1.unsplit(write)
            }
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
            CloseKind::Abrupt => drop(self.into_tcp()),
            CloseKind::Reset => {
                let tcp = self.into_tcp();
                let _ = tcp.set_zero_linger();
                drop(tcp);
            }
        }
    }
}

async fn drain(s: &mut Conn) {
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
    let tls = acceptor.accept(rewind(prefix, tcp)).await?;
    let info = TlsInfo::from_connection(tls.get_ref().1);
    Ok((MaybeTls::Tls(Box::new(tls)), info))
}

pub(crate) fn acceptor(config: &Arc<rustls::ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(Arc::clone(config))
}
