//! The fault proxy itself, in front of a loopback echo-like upstream: each
//! fault strikes at exactly the chosen byte, in the chosen direction, on the
//! chosen connection only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use ftpkit_testkit::fault_proxy::{Channel, Direction, Fault, FaultProxy, Rule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An upstream that sends `greeting` on every connection, then echoes.
async fn upstream(greeting: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if s.write_all(greeting).await.is_err() {
                    return;
                }
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// What [`upstream`] sends first here.
const GREETING: &[u8; 10] = b"0123456789";

/// A proxy in front of an [`upstream`] sending [`GREETING`], with `rules`.
async fn proxy_with(rules: Vec<Rule>) -> FaultProxy {
    let up = upstream(GREETING).await;
    // No passive range: only the control channel is proxied here.
    #[allow(clippy::reversed_empty_ranges)]
    FaultProxy::start(up, 1..=0, rules).await.unwrap()
}

/// A proxy with `fault` on its first control connection, watching
/// `direction`; and that connection.
async fn proxy(direction: Direction, fault: Fault) -> (FaultProxy, TcpStream) {
    let p = proxy_with(vec![Rule::new(Channel::Control, 0, direction, fault)]).await;
    let s = connect(&p).await;
    (p, s)
}

async fn connect(p: &FaultProxy) -> TcpStream {
    TcpStream::connect((p.ip(), p.control_port()))
        .await
        .unwrap()
}

/// Reads the upstream's greeting whole.
async fn read_greeting(s: &mut TcpStream) {
    let mut g = [0u8; GREETING.len()];
    s.read_exact(&mut g).await.unwrap();
    assert_eq!(&g, GREETING);
}

/// Sends `bytes` and reads `n` bytes of the echo.
async fn echo(s: &mut TcpStream, bytes: &[u8], n: usize) -> Vec<u8> {
    s.write_all(bytes).await.unwrap();
    let mut e = vec![0u8; n];
    s.read_exact(&mut e).await.unwrap();
    e
}

/// Everything until EOF or error (with an outer limit against hangs).
async fn read_all(s: &mut TcpStream) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("hung")
        {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e.kind())),
        }
    }
}

#[tokio::test]
async fn untouched_connections_pass_everything_both_ways() {
    let p = proxy_with(vec![]).await;
    let mut s = connect(&p).await;
    read_greeting(&mut s).await;
    assert_eq!(echo(&mut s, b"hello", 5).await, b"hello");
    assert_eq!(p.log().control_connections, 1);
    assert!(p.log().struck.is_empty());
}

#[tokio::test]
async fn cut_toward_the_client_at_a_byte() {
    let (p, mut s) = proxy(Direction::ToClient, Fault::Cut { at: 4 }).await;
    let (got, err) = read_all(&mut s).await;
    assert_eq!(got, b"0123");
    assert_eq!(err, None, "a cut is a clean end of stream");
    assert_eq!(p.log().struck.len(), 1);
    // The second connection is not named by the rule: untouched.
    let mut s = connect(&p).await;
    read_greeting(&mut s).await;
    assert_eq!(p.log().control_connections, 2);
    assert_eq!(p.log().struck.len(), 1);
}

#[tokio::test]
async fn cut_at_zero_strikes_before_any_byte() {
    let (_proxy, mut s) = proxy(Direction::ToClient, Fault::Cut { at: 0 }).await;
    let (got, _) = read_all(&mut s).await;
    assert!(got.is_empty());
}

#[tokio::test]
async fn reset_is_a_connection_reset() {
    let (_proxy, mut s) = proxy(Direction::ToClient, Fault::Reset { at: 6 }).await;
    let (got, err) = read_all(&mut s).await;
    assert!(got.len() <= 6, "{got:?}");
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn stall_toward_the_server_keeps_the_connection_open() {
    let (p, mut s) = proxy(Direction::ToServer, Fault::Stall { at: 3 }).await;
    read_greeting(&mut s).await;
    assert_eq!(echo(&mut s, b"abcdef", 3).await, b"abc");
    // Nothing more comes back, and the connection stays open.
    let mut more = [0u8; 1];
    let r = tokio::time::timeout(Duration::from_millis(300), s.read(&mut more)).await;
    assert!(r.is_err(), "expected silence, got {r:?}");
    assert_eq!(p.log().struck.len(), 1);
}

#[tokio::test]
async fn delay_holds_each_chunk_but_delivers_everything() {
    let (p, mut s) = proxy(
        Direction::ToClient,
        Fault::Delay {
            by: Duration::from_millis(20),
        },
    )
    .await;
    read_greeting(&mut s).await;
    assert_eq!(echo(&mut s, b"ping", 4).await, b"ping");
    assert!(p.log().struck.is_empty(), "a delay never strikes");
}
