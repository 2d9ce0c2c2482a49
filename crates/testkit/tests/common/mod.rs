//! Tiny client-side helpers shared by the test kit's own tests.

#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Finishes `server` and checks that its session failed with exactly one
/// error, which `is` accepts; returns the transcript.
pub async fn assert_fails_with(
    server: ftpkit_testkit::ScriptedServer,
    is: impl Fn(&ftpkit_testkit::ScriptError) -> bool,
) -> ftpkit_testkit::Transcript {
    let t = server.finish().await;
    assert!(matches!(t.errors()[..], [e] if is(e)), "{t}");
    t
}

/// Starts a server running `script` and connects to it, reading the
/// greeting line the script sends first.
pub async fn greeted(
    script: ftpkit_testkit::Script,
) -> (ftpkit_testkit::ScriptedServer, TcpStream) {
    let server = ftpkit_testkit::ScriptedServer::start(script).await;
    let mut c = connect(server.addr()).await;
    read_line(&mut c).await;
    (server, c)
}

/// Upper bound for any client-side wait in these tests.
pub const WAIT: Duration = Duration::from_secs(5);

/// Reads one line (through `\n`) byte by byte, so nothing after it is consumed.
pub async fn read_line<S: AsyncRead + Unpin>(s: &mut S) -> String {
    let mut out = Vec::new();
    let fut = async {
        loop {
            let mut b = [0u8; 1];
            let n = s.read(&mut b).await.expect("read");
            assert!(n == 1, "EOF after {:?}", String::from_utf8_lossy(&out));
            out.push(b[0]);
            if b[0] == b'\n' {
                break;
            }
        }
    };
    tokio::time::timeout(WAIT, fut).await.expect("line in time");
    String::from_utf8(out).expect("utf-8 line")
}

/// Writes a command line (adds `\r\n`).
pub async fn send_cmd<S: AsyncWrite + Unpin>(s: &mut S, line: &str) {
    s.write_all(format!("{line}\r\n").as_bytes())
        .await
        .expect("write");
    s.flush().await.expect("flush");
}

/// Sends `line` and returns the one-line reply.
pub async fn cmd<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, line: &str) -> String {
    send_cmd(s, line).await;
    read_line(s).await
}

/// Reads until EOF (bounded).
pub async fn read_to_end<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut v))
        .await
        .expect("EOF in time")?;
    Ok(v)
}

/// The port in a `229 ... (|||port|)` reply.
pub fn epsv_port(reply: &str) -> u16 {
    let start = reply.find("(|||").expect("EPSV format") + 4;
    let end = reply[start..].find('|').expect("EPSV end") + start;
    reply[start..end].parse().expect("port")
}

/// Host and port in a `227 ... (h1,h2,h3,h4,p1,p2)` reply.
pub fn pasv_addr(reply: &str) -> ([u8; 4], u16) {
    let start = reply.find('(').expect("PASV format") + 1;
    let end = reply.find(')').expect("PASV end");
    let n: Vec<u16> = reply[start..end]
        .split(',')
        .map(|x| x.parse().expect("number"))
        .collect();
    let h = [n[0], n[1], n[2], n[3]].map(|x| u8::try_from(x).expect("octet"));
    (h, n[4] * 256 + n[5])
}

/// Connects TCP to `addr`.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Runs a client TLS handshake over `tcp` for `name`.
pub async fn tls_connect(
    config: &Arc<rustls::ClientConfig>,
    name: &str,
    tcp: TcpStream,
) -> std::io::Result<TlsStream<TcpStream>> {
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned()).expect("name");
    tokio::time::timeout(
        WAIT,
        TlsConnector::from(Arc::clone(config)).connect(server_name, tcp),
    )
    .await
    .expect("handshake in time")
}

/// A client configuration for only the given TLS versions, trusting `roots`.
pub fn client_config_versions(
    roots: rustls::RootCertStore,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(ftpkit_testkit::provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}
