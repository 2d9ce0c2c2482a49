//! TLS on the scripted server: explicit and implicit FTPS, version limits,
//! client certificates, rejected certificates, and resumption on data
//! connections, driven by tokio-rustls clients trusting the test CA.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    assert_fails_with, client_config_versions, cmd, connect, epsv_port, read_line, read_to_end,
    tls_connect, WAIT,
};
use ftpkit_testkit::{
    Event, Resumption, Script, ScriptError, ScriptedServer, ServerTls, TestPki, TlsExpect, Validity,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The greeting, then `AUTH TLS` (not answered yet).
fn until_auth_tls(script: Script) -> Script {
    script.send("220 hello\r\n").expect_line("AUTH TLS")
}

fn auth_tls(script: Script) -> Script {
    until_auth_tls(script).reply("234 go ahead\r\n")
}

/// A server running `script`, with the PKI's certificate and the default
/// TLS settings.
async fn start_with_pki_cert(pki: &TestPki, script: Script) -> ScriptedServer {
    ScriptedServer::start_tls(script, ServerTls::new(pki)).await
}

/// A server running [`auth_tls`], the handshake with `tls`, then `rest`.
async fn explicit_server(tls: ServerTls, rest: impl FnOnce(Script) -> Script) -> ScriptedServer {
    ScriptedServer::start_tls(rest(auth_tls(Script::new()).start_tls()), tls).await
}

/// The client's side of [`explicit_server`]: the control connection once
/// the handshake succeeded.
async fn explicit_client(
    client: &Arc<rustls::ClientConfig>,
    server: &ScriptedServer,
) -> TlsStream<TcpStream> {
    let c = after_auth_tls(server).await;
    tls_connect(client, "localhost", c).await.unwrap()
}

/// Connects to a server running [`auth_tls`], reads the greeting and sends
/// AUTH TLS; returns the connection, ready for the client's handshake.
async fn after_auth_tls(server: &ScriptedServer) -> TcpStream {
    let mut c = connect(server.addr()).await;
    assert_eq!(read_line(&mut c).await, "220 hello\r\n");
    assert_eq!(cmd(&mut c, "AUTH TLS").await, "234 go ahead\r\n");
    c
}

/// An implicit-TLS handshake with `server`, for `localhost`.
async fn implicit_tls(
    client: &Arc<rustls::ClientConfig>,
    server: &ScriptedServer,
) -> std::io::Result<TlsStream<TcpStream>> {
    tls_connect(client, "localhost", connect(server.addr()).await).await
}

/// Checks that the script ran as written and that the server's handshake
/// failed.
async fn assert_handshake_failed(server: ScriptedServer) {
    let t = server.finish().await;
    t.assert_ok();
    assert!(t.has(|e| matches!(e, Event::TlsFailed { .. })), "{t}");
}

#[test]
fn pki_exposes_pem_and_der() {
    let pki = TestPki::new();
    assert!(pki.ca_cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let server = pki.server_cert();
    assert!(server.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(server.key_pem().contains("PRIVATE KEY"));
    assert!(!server.cert_der().is_empty());
    assert!(!pki.ca_cert_der().is_empty());
    assert_eq!(pki.root_store().len(), 1);
    let other = TestPki::new();
    assert_ne!(pki.ca_cert_der(), other.ca_cert_der());
}

#[tokio::test]
async fn explicit_tls_handshake_trusting_the_test_ca() {
    let pki = TestPki::new();
    let server = explicit_server(ServerTls::new(&pki), |s| {
        s.expect("USER").reply("331 pw\r\n").expect_eof()
    })
    .await;
    let client = Arc::new(pki.client_config());
    let mut tls = explicit_client(&client, &server).await;
    assert_eq!(cmd(&mut tls, "USER anonymous").await, "331 pw\r\n");
    drop(tls);

    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.commands(), ["AUTH TLS", "USER anonymous"]);
    let info = t.control_tls()[0];
    assert_eq!(info.sni.as_deref(), Some("localhost"));
    assert!(!info.resumed());
    assert!(info.client_certificates.is_empty());
}

#[tokio::test]
async fn implicit_tls_from_the_first_byte() {
    let pki = TestPki::new();
    let server = start_with_pki_cert(
        &pki,
        Script::implicit_tls()
            .send("220 secure\r\n")
            .expect("QUIT")
            .reply("221 bye\r\n")
            .expect_eof(),
    )
    .await;
    let client = Arc::new(pki.client_config());
    let c = connect(server.addr()).await;
    // Certificate has an IP SAN for 127.0.0.1.
    let mut tls = tls_connect(&client, "127.0.0.1", c).await.unwrap();
    assert_eq!(read_line(&mut tls).await, "220 secure\r\n");
    assert_eq!(cmd(&mut tls, "QUIT").await, "221 bye\r\n");
    drop(tls);
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.control_tls().len(), 1);
}

#[tokio::test]
async fn version_limited_servers() {
    let pki = TestPki::new();
    for (tls, want13) in [
        (ServerTls::new(&pki).tls12_only(), false),
        (ServerTls::new(&pki).tls13_only(), true),
    ] {
        let server =
            ScriptedServer::start_tls(Script::implicit_tls().send("220 hi\r\n").expect_eof(), tls)
                .await;
        let client = Arc::new(pki.client_config());
        let mut s = implicit_tls(&client, &server).await.unwrap();
        read_line(&mut s).await;
        drop(s);
        let t = server.finish().await;
        t.assert_ok();
        assert_eq!(t.control_tls()[0].is_tls13(), want13);
        assert_eq!(t.control_tls()[0].is_tls12(), !want13);
    }

    // A TLS 1.3-only client cannot talk to a TLS 1.2-only server.
    let server = ScriptedServer::start_tls(
        Script::new().start_tls_expect_failure(),
        ServerTls::new(&pki).tls12_only(),
    )
    .await;
    let client13 = Arc::new(client_config_versions(
        pki.root_store(),
        &[&rustls::version::TLS13],
    ));
    assert!(implicit_tls(&client13, &server).await.is_err());
    assert_handshake_failed(server).await;
}

#[tokio::test]
async fn client_rejects_a_certificate_from_an_unrelated_ca() {
    let pki = TestPki::new();
    let unrelated = TestPki::new();
    let server = ScriptedServer::start_tls(
        auth_tls(Script::new()).start_tls_expect_failure(),
        ServerTls::new(&unrelated),
    )
    .await;
    let client = Arc::new(pki.client_config());
    let c = after_auth_tls(&server).await;
    let err = tls_connect(&client, "localhost", c).await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    assert_handshake_failed(server).await;
}

#[tokio::test]
async fn client_rejects_expired_and_wrong_name_certificates() {
    let pki = TestPki::new();
    for cert in [
        pki.issue_server_cert_with_validity(&["localhost"], Validity::Expired),
        pki.issue_server_cert(&["ftp.example.invalid"]),
        TestPki::self_signed_server_cert(&["localhost"]),
    ] {
        let server = ScriptedServer::start_tls(
            Script::new().start_tls_expect_failure(),
            ServerTls::new(&pki).server_cert(cert),
        )
        .await;
        let client = Arc::new(pki.client_config());
        assert!(implicit_tls(&client, &server).await.is_err());
        server.finish().await.assert_ok();
    }
}

#[tokio::test]
async fn client_certificates_required() {
    let pki = TestPki::new();
    let tls = ServerTls::new(&pki).require_client_cert();

    // With a certificate from the CA.
    let server = ScriptedServer::start_tls(
        Script::implicit_tls().send("220 hi\r\n").expect_eof(),
        tls.clone(),
    )
    .await;
    let client_cert = pki.issue_client_cert("alice");
    let client = Arc::new(pki.client_config_with_cert(&client_cert));
    let mut s = implicit_tls(&client, &server).await.unwrap();
    read_line(&mut s).await;
    drop(s);
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(
        t.control_tls()[0].client_certificates,
        vec![client_cert.cert_der()]
    );

    // Without one: the server's handshake fails.
    let server = ScriptedServer::start_tls(Script::new().start_tls_expect_failure(), tls).await;
    let client = Arc::new(pki.client_config());
    if let Ok(mut s) = implicit_tls(&client, &server).await {
        // TLS 1.3: the client finishes first, then reads the server's alert.
        let mut b = [0u8; 1];
        let _ = tokio::time::timeout(WAIT, s.read(&mut b)).await;
    }
    assert_handshake_failed(server).await;
}

/// AUTH TLS, login, PROT P, EPSV, RETR over a TLS data connection. Returns
/// whether the data handshake resumed, or `None` when `require` (resumption
/// required) made the server fail the step with `NotResumed`.
async fn tls_download(tls: ServerTls, client: rustls::ClientConfig, require: bool) -> Option<bool> {
    let server = explicit_server(tls, |s| {
        let s = s
            .expect("USER")
            .reply("230 in\r\n")
            .expect_line("PBSZ 0")
            .reply("200 ok\r\n")
            .expect_line("PROT P")
            .reply("200 ok\r\n")
            .expect("EPSV")
            .reply_epsv()
            .expect("RETR")
            .reply("150 here\r\n");
        let s = if require {
            s.data_accept_require_resumption()
        } else {
            s.data_accept()
        };
        s.data_send(b"secret payload")
            .data_close()
            .reply("226 done\r\n")
            .expect_eof()
    })
    .await;
    let client = Arc::new(client);
    let mut ctrl = explicit_client(&client, &server).await;
    cmd(&mut ctrl, "USER a").await;
    cmd(&mut ctrl, "PBSZ 0").await;
    cmd(&mut ctrl, "PROT P").await;
    let port = epsv_port(&cmd(&mut ctrl, "EPSV").await);
    assert_eq!(cmd(&mut ctrl, "RETR f").await, "150 here\r\n");
    let data_tcp = connect((std::net::Ipv4Addr::LOCALHOST, port).into()).await;
    let mut payload = Vec::new();
    if let Ok(mut data) = tls_connect(&client, "localhost", data_tcp).await {
        payload = read_to_end(&mut data).await.unwrap_or_default();
        let mut reply = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_millis(500), ctrl.read(&mut reply)).await;
    }
    drop(ctrl);
    let t = server.finish().await;
    let d = t.data_connections();
    if require {
        let resumed = d
            .first()
            .and_then(|d| d.tls.as_ref())
            .is_some_and(|i| i.resumed());
        if !resumed {
            assert!(
                matches!(t.errors()[..], [ScriptError::NotResumed { .. }]),
                "{t}"
            );
            return None;
        }
    }
    t.assert_ok();
    assert_eq!(payload, b"secret payload");
    Some(d[0].tls.as_ref().expect("data TLS").resumed())
}

#[tokio::test]
async fn data_tls_resumes_the_control_session() {
    let pki = TestPki::new();
    for (name, tls) in [
        ("TLS 1.3, cache", ServerTls::new(&pki).tls13_only()),
        ("TLS 1.2, cache", ServerTls::new(&pki).tls12_only()),
        (
            "TLS 1.2, stateless tickets",
            ServerTls::new(&pki)
                .tls12_only()
                .resumption(Resumption::Tickets),
        ),
        (
            "TLS 1.3, stateless tickets",
            ServerTls::new(&pki)
                .tls13_only()
                .resumption(Resumption::Tickets),
        ),
    ] {
        let resumed = tls_download(tls, pki.client_config(), true).await;
        assert_eq!(resumed, Some(true), "{name}");
    }
}

#[tokio::test]
async fn non_resumed_data_handshake_is_recorded_and_can_be_required() {
    let pki = TestPki::new();
    let fresh = ServerTls::new(&pki).resumption(Resumption::Disabled);
    // Recorded: a fresh (non-resuming) server makes every handshake full.
    let resumed = tls_download(fresh.clone(), pki.client_config(), false).await;
    assert_eq!(resumed, Some(false));
    // Required: the step fails with NotResumed (checked inside).
    let resumed = tls_download(fresh, pki.client_config(), true).await;
    assert_eq!(resumed, None);
}

#[tokio::test]
async fn extra_bytes_after_234_reach_the_client_in_one_write() {
    let pki = TestPki::new();
    let script = until_auth_tls(Script::new()).send_then_tls("234 go\r\n", "220 injected\r\n");
    let server = start_with_pki_cert(&pki, script).await;
    let mut c = connect(server.addr()).await;
    read_line(&mut c).await;
    assert_eq!(cmd(&mut c, "AUTH TLS").await, "234 go\r\n");
    assert_eq!(read_line(&mut c).await, "220 injected\r\n");
    drop(c); // a careful client refuses to go on
    let t = server.finish().await;
    t.assert_ok();
    assert!(t.has(|e| matches!(e, Event::TlsFailed { .. })));
    assert!(t.has(|e| *e == Event::Sent(b"234 go\r\n220 injected\r\n".to_vec())));
}

#[tokio::test]
async fn tls_without_configuration_is_a_script_error() {
    let server = ScriptedServer::start(Script::new().start_tls_with(TlsExpect::Either)).await;
    let c = connect(server.addr()).await;
    assert_fails_with(server, |e| matches!(e, ScriptError::Setup { .. })).await;
    drop(c);
}

#[tokio::test]
async fn active_data_connection_with_tls_server_role() {
    let pki = TestPki::new();
    let server = explicit_server(ServerTls::new(&pki), |s| {
        s.expect_line("PROT P")
            .reply("200 ok\r\n")
            .expect("EPRT")
            .reply("200 ok\r\n")
            .expect("LIST")
            .reply("150 here\r\n")
            .active_connect()
            .data_send("listing\r\n")
            .data_close()
            .reply("226 done\r\n")
            .expect_eof()
    })
    .await;
    let client = Arc::new(pki.client_config());
    let mut ctrl = explicit_client(&client, &server).await;
    cmd(&mut ctrl, "PROT P").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    cmd(&mut ctrl, &format!("EPRT |1|127.0.0.1|{port}|")).await;
    common::send_cmd(&mut ctrl, "LIST").await;
    let (tcp, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    // RFC 4217: the FTP client is the TLS client, even in active mode.
    let mut data = tls_connect(&client, "localhost", tcp).await.unwrap();
    assert_eq!(read_to_end(&mut data).await.unwrap(), b"listing\r\n");
    assert_eq!(read_line(&mut ctrl).await, "150 here\r\n");
    assert_eq!(read_line(&mut ctrl).await, "226 done\r\n");
    drop(ctrl);
    let t = server.finish().await;
    t.assert_ok();
    let d = t.data_connections();
    assert!(d[0].active);
    assert!(d[0].tls.as_ref().is_some_and(|i| i.resumed()));
}

/// A client that sends its ClientHello in the same write as `AUTH TLS`:
/// the bytes read past the command are recorded and fed into the handshake,
/// which completes.
#[tokio::test]
async fn bytes_pipelined_after_auth_tls_start_the_handshake() {
    use std::io::{Read, Write};

    let pki = TestPki::new();
    let script = until_auth_tls(Script::new()).start_tls();
    let server = start_with_pki_cert(&pki, script.expect("NOOP").reply("200 ok\r\n")).await;
    let addr = server.addr();
    let config = Arc::new(pki.client_config());
    tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let mut greeting = [0u8; 11];
        tcp.read_exact(&mut greeting).unwrap();
        assert_eq!(&greeting, b"220 hello\r\n");
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        let mut first = b"AUTH TLS\r\n".to_vec();
        conn.write_tls(&mut first).unwrap();
        tcp.write_all(&first).unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        tls.write_all(b"NOOP\r\n").unwrap();
        let mut reply = [0u8; 8];
        tls.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"200 ok\r\n");
    })
    .await
    .unwrap();
    let t = server.finish().await;
    t.assert_ok();
    assert!(
        t.has(|e| matches!(e, Event::PipelinedBeforeTls(p) if !p.is_empty())),
        "{t}"
    );
    assert_eq!(t.control_tls().len(), 1);
}
