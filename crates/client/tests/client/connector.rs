//! The client through SOCKS5 and HTTP CONNECT proxies, against the scripted
//! server. The proxies are minimal in-test implementations on 127.0.0.1
//! (just enough of RFC 1928/1929 and HTTP CONNECT to tunnel), so the suite
//! needs nothing installed. Each proxy logs the target it was asked for and
//! the local address of its outbound socket, which the scripted server's
//! transcript must show as the client's address.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{self, ScriptExt};
use ftpkit::config::{ActiveConfig, DataMode};
use ftpkit::connector::{ProxyConnector, ProxyCredentials, ProxyError};
use ftpkit::{Client, Config, Connector, ErrorKind, Security, Timeouts};
use ftpkit_testkit::{Event, Script, ScriptedServer, ServerTls, TestPki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------
// Minimal proxies (test only).

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Socks5,
    Http,
}

/// One tunnel the proxy opened: the requested target and the local address
/// of the proxy's socket to it.
#[derive(Clone, Debug)]
struct Tunnel {
    target: String,
    outbound: SocketAddr,
}

struct Proxy {
    addr: SocketAddr,
    tunnels: Arc<Mutex<Vec<Tunnel>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1; `auth` makes it require these
    /// credentials.
    async fn start(kind: Kind, auth: Option<(&str, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let auth = auth.map(|(u, p)| (u.to_owned(), p.to_owned()));
        let log = Arc::clone(&tunnels);
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                let auth = auth.clone();
                tokio::spawn(async move {
                    let _ = match kind {
                        Kind::Socks5 => socks5_session(s, auth, log).await,
                        Kind::Http => http_session(s, auth, log).await,
                    };
                });
            }
        });
        Self {
            addr,
            tunnels,
            task,
        }
    }

    fn tunnels(&self) -> Vec<Tunnel> {
        self.tunnels.lock().unwrap().clone()
    }

    /// A SOCKS5 connector through this proxy.
    fn socks5(&self) -> ProxyConnector {
        ProxyConnector::socks5("127.0.0.1", self.addr.port())
    }

    /// An HTTP CONNECT connector through this proxy.
    fn http(&self) -> ProxyConnector {
        ProxyConnector::http_connect("127.0.0.1", self.addr.port())
    }
}

type Auth = Option<(String, String)>;
type Log = Arc<Mutex<Vec<Tunnel>>>;

/// Connects to the target (resolving names here, like a real proxy) and
/// logs the tunnel.
async fn open_tunnel(target: String, log: Log) -> std::io::Result<TcpStream> {
    let out = TcpStream::connect(target.as_str()).await?;
    log.lock().unwrap().push(Tunnel {
        target,
        outbound: out.local_addr()?,
    });
    Ok(out)
}

async fn socks5_session(mut s: TcpStream, auth: Auth, log: Log) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    assert_eq!(head[0], 5);
    let mut methods = vec![0u8; usize::from(head[1])];
    s.read_exact(&mut methods).await?;
    match &auth {
        None if methods.contains(&0) => s.write_all(&[5, 0]).await?,
        Some(_) if methods.contains(&2) => s.write_all(&[5, 2]).await?,
        _ => {
            s.write_all(&[5, 0xFF]).await?;
            return Ok(());
        }
    }
    if let Some((user, pass)) = &auth {
        let mut v = [0u8; 2];
        s.read_exact(&mut v).await?;
        let mut u = vec![0u8; usize::from(v[1])];
        s.read_exact(&mut u).await?;
        let mut pl = [0u8; 1];
        s.read_exact(&mut pl).await?;
        let mut p = vec![0u8; usize::from(pl[0])];
        s.read_exact(&mut p).await?;
        if u != user.as_bytes() || p != pass.as_bytes() {
            s.write_all(&[1, 1]).await?;
            return Ok(());
        }
        s.write_all(&[1, 0]).await?;
    }
    let mut req = [0u8; 4];
    s.read_exact(&mut req).await?;
    assert_eq!(&req[..3], &[5, 1, 0]);
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            s.read_exact(&mut a).await?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut l = [0u8; 1];
            s.read_exact(&mut l).await?;
            let mut name = vec![0u8; usize::from(l[0])];
            s.read_exact(&mut name).await?;
            String::from_utf8(name).unwrap()
        }
        t => panic!("address type {t} not used by these tests"),
    };
    let mut port = [0u8; 2];
    s.read_exact(&mut port).await?;
    let target = format!("{host}:{}", u16::from_be_bytes(port));
    let Ok(mut out) = open_tunnel(target, log).await else {
        s.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    };
    s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut s, &mut out).await?;
    Ok(())
}

async fn http_session(mut s: TcpStream, auth: Auth, log: Log) -> std::io::Result<()> {
    let mut header = Vec::new();
    while !header.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await?;
        header.push(b[0]);
    }
    let text = String::from_utf8(header).unwrap();
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap();
    let target = request
        .strip_prefix("CONNECT ")
        .and_then(|r| r.strip_suffix(" HTTP/1.1"))
        .unwrap()
        .to_owned();
    if let Some((user, pass)) = &auth {
        let want = format!(
            "Proxy-Authorization: Basic {}",
            b64(format!("{user}:{pass}").as_bytes())
        );
        if !lines.any(|l| l == want) {
            s.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n\r\n")
                .await?;
            return Ok(());
        }
    }
    let Ok(mut out) = open_tunnel(target, log).await else {
        s.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await?;
        return Ok(());
    };
    s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut s, &mut out).await?;
    Ok(())
}

/// Base64 for the expected header (independent of the client's encoder).
fn b64(input: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = String::new();
    for b in input {
        bits.push_str(&format!("{b:08b}"));
    }
    while bits.len() % 6 != 0 {
        bits.push('0');
    }
    let mut out: String = bits
        .as_bytes()
        .chunks(6)
        .map(|c| char::from(A[usize::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap()]))
        .collect();
    while out.len() % 4 != 0 {
        out.push('=');
    }
    out
}

// ---------------------------------------------------------------------------
// Tests.

fn config(server: &ScriptedServer, connector: impl Connector + 'static) -> Config {
    let mut c = common::config(server, Security::None, Duration::from_secs(3));
    c.connector = Some(Arc::new(connector));
    c
}

/// [`config`] with explicit TLS, trusting `pki`'s CA.
fn explicit(server: &ScriptedServer, connector: impl Connector + 'static, pki: &TestPki) -> Config {
    let mut c = config(server, connector);
    c.security = Security::Explicit;
    c.tls.ca_certificates = vec![pki.ca_cert_der()];
    c
}

fn plain_login() -> Script {
    common::logged_in(" EPSV\r\n")
}

fn client_addr(t: &ftpkit_testkit::Transcript) -> SocketAddr {
    t.events()
        .find_map(|e| match e {
            Event::Connected { peer } => Some(*peer),
            _ => None,
        })
        .expect("a control connection")
}

/// The control connection and the data connection both came out of the
/// proxy, which was asked for `localhost` by name.
fn assert_tunnelled(proxy: &Proxy, t: &ftpkit_testkit::Transcript, control_port: u16) {
    let tunnels = proxy.tunnels();
    assert_eq!(tunnels.len(), 2, "{tunnels:?}");
    assert_eq!(tunnels[0].target, format!("localhost:{control_port}"));
    assert_eq!(client_addr(t), tunnels[0].outbound);
    let data = t.data_connections();
    assert_eq!(data.len(), 1);
    assert!(tunnels[1].target.starts_with("localhost:"), "{tunnels:?}");
    assert_eq!(
        tunnels[1].target,
        format!("localhost:{}", data[0].local.port())
    );
    assert_eq!(data[0].peer, tunnels[1].outbound);
}

/// Connects to `server` with `cfg`, which goes through `proxy`, downloads
/// `path` (which must be `want`) and quits; then checks that both
/// connections went through the proxy. What the server saw.
async fn download_through(
    proxy: &Proxy,
    server: ScriptedServer,
    cfg: Config,
    path: &str,
    want: &[u8],
) -> ftpkit_testkit::Transcript {
    let mut c = Client::connect(cfg).await.unwrap();
    assert_eq!(c.peer_addr(), proxy.addr, "the control peer is the proxy");
    assert_eq!(common::download(&mut c, path).await, want);
    c.quit().await.unwrap();
    let port = server.port();
    let t = server.finish().await;
    t.assert_ok();
    assert_tunnelled(proxy, &t, port);
    t
}

#[tokio::test]
async fn socks5_passive_download() {
    let proxy = Proxy::start(Kind::Socks5, None).await;
    let script = plain_login()
        .epsv_send("RETR file.bin", b"through socks")
        .quit();
    let server = ScriptedServer::start(script).await;
    let cfg = config(&server, proxy.socks5());
    download_through(&proxy, server, cfg, "file.bin", b"through socks").await;
}

/// HTTP CONNECT with Basic auth; EPSV refused, so PASV: the 227 address is
/// ignored and the data connection goes to the control host name.
#[tokio::test]
async fn http_connect_pasv_download_with_auth() {
    let proxy = Proxy::start(Kind::Http, Some(("proxyuser", "pr0xy:pw"))).await;
    let script = plain_login()
        .foreign_pasv()
        .send_data("RETR file.bin", b"through http")
        .quit();
    let server = ScriptedServer::start(script).await;
    let connector = proxy
        .http()
        .credentials(ProxyCredentials::new("proxyuser", "pr0xy:pw"));
    let cfg = config(&server, connector);
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("pr0xy"), "proxy password in Debug: {debug}");
    download_through(&proxy, server, cfg, "file.bin", b"through http").await;
}

/// Explicit TLS through an authenticating SOCKS5 proxy: the certificate
/// names only `localhost` (not the proxy's 127.0.0.1), so the handshakes
/// succeed only if verified against the control host name; the data
/// connection resumes the control session.
#[tokio::test]
async fn explicit_tls_through_socks5_with_auth() {
    let proxy = Proxy::start(Kind::Socks5, Some(("proxyuser", "pw"))).await;
    let pki = TestPki::new();
    let cert = pki.issue_server_cert(&["localhost"]);
    let script = Script::logged_in_tls("alice", "s3cret", "211 none\r\n")
        .epsv_send("RETR secret.bin", b"tls via socks")
        .quit();
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki).server_cert(cert)).await;
    let connector = proxy
        .socks5()
        .credentials(ProxyCredentials::new("proxyuser", "pw"));
    let cfg = explicit(&server, connector, &pki);
    let t = download_through(&proxy, server, cfg, "secret.bin", b"tls via socks").await;
    assert_eq!(t.control_tls()[0].sni.as_deref(), Some("localhost"));
    let data = t.data_connections();
    let data_tls = data[0].tls.as_ref().expect("TLS data connection");
    assert_eq!(data_tls.sni.as_deref(), Some("localhost"));
    assert!(
        data_tls.resumed(),
        "the data connection resumes the control session"
    );
}

/// Through the proxy, a certificate for another name is still refused.
#[tokio::test]
async fn tls_through_proxy_still_checks_the_host_name() {
    let proxy = Proxy::start(Kind::Socks5, None).await;
    let pki = TestPki::new();
    let cert = pki.issue_server_cert(&["ftp.other.example"]);
    let server_tls = ServerTls::new(&pki).server_cert(cert);
    let server = ScriptedServer::start_tls(common::failed_handshake(), server_tls).await;
    let cfg = explicit(&server, proxy.socks5(), &pki);
    let e = Client::connect(cfg).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Certificate, "{e:?}");
    let t = server.finish().await;
    assert_eq!(t.verbs(), ["AUTH"]);
    assert_eq!(proxy.tunnels().len(), 1);
}

fn proxy_error(e: &ftpkit::Error) -> Option<&ProxyError> {
    std::error::Error::source(e).and_then(|s| s.downcast_ref::<ProxyError>())
}

/// Wrong or missing proxy credentials: `ErrorKind::Auth` with the
/// `ProxyError` as source, and no connection reaches the server.
#[tokio::test]
async fn proxy_auth_failures_are_typed() {
    let server = ScriptedServer::start(Script::new().timeout(Duration::from_millis(500))).await;
    let socks = Proxy::start(Kind::Socks5, Some(("proxyuser", "right"))).await;
    let http = Proxy::start(Kind::Http, Some(("proxyuser", "right"))).await;
    let wrong = ProxyCredentials::new("proxyuser", "wrong");

    type Case = (Arc<dyn Connector>, fn(&ProxyError) -> bool);
    let cases: Vec<Case> = vec![
        (Arc::new(socks.socks5().credentials(wrong.clone())), |p| {
            matches!(p, ProxyError::AuthFailed(_))
        }),
        (Arc::new(socks.socks5()), |p| {
            matches!(p, ProxyError::AuthRequired(_))
        }),
        (Arc::new(http.http().credentials(wrong)), |p| {
            matches!(p, ProxyError::AuthFailed(_))
        }),
        (Arc::new(http.http()), |p| {
            matches!(p, ProxyError::AuthRequired(_))
        }),
    ];
    for (connector, expected) in cases {
        let mut cfg = Config::new("localhost");
        cfg.port = server.port();
        cfg.timeouts = Timeouts::all(Duration::from_secs(3));
        cfg.connector = Some(connector);
        let e = Client::connect(cfg).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{e:?}");
        let p = proxy_error(&e).expect("ProxyError source");
        assert!(expected(p), "{p:?}");
        assert!(!e.to_string().contains("wrong"), "{e}");
    }
    assert!(socks.tunnels().is_empty() && http.tunnels().is_empty());
    let t = server.finish().await;
    assert!(!t.has(|e| matches!(e, Event::Connected { .. })));
}

/// A target the proxy cannot reach is an I/O error naming it.
#[tokio::test]
async fn unreachable_target_is_an_io_error() {
    let proxy = Proxy::start(Kind::Socks5, None).await;
    // A port nothing listens on: bind and drop.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = Config::new("127.0.0.1");
    cfg.port = port;
    cfg.timeouts = Timeouts::all(Duration::from_secs(3));
    cfg.connector = Some(Arc::new(ProxyConnector::socks5(
        "127.0.0.1",
        proxy.addr.port(),
    )));
    let e = Client::connect(cfg).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e:?}");
    assert!(
        matches!(proxy_error(&e), Some(ProxyError::Refused { .. })),
        "{e:?}"
    );
}

/// Active mode cannot go through a proxy: refused with `Unsupported`
/// before anything is sent (no PORT/EPRT, no data command).
#[tokio::test]
async fn active_mode_is_refused_through_a_connector() {
    let proxy = Proxy::start(Kind::Socks5, None).await;
    let script = plain_login().quit();
    let server = ScriptedServer::start(script).await;
    let mut cfg = config(&server, proxy.socks5());
    cfg.data_mode = DataMode::Active(ActiveConfig::default());
    let mut c = Client::connect(cfg).await.unwrap();
    let e = c.retr("file.bin").await.map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e:?}");
    assert!(e.to_string().contains("active mode"), "{e}");
    c.quit().await.unwrap();
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.verbs(), ["USER", "PASS", "FEAT", "TYPE", "QUIT"]);
    assert_eq!(proxy.tunnels().len(), 1, "only the control connection");
}
