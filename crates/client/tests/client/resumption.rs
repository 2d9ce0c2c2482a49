//! TLS 1.3 data-channel resumption with single-use tickets, against the
//! scripted server: the ticket supply, renewal when it runs out, and
//! recovery from a refused reuse.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use crate::common::{self, ScriptExt};
use ftpkit::{Client, Config, ErrorKind};
use ftpkit_testkit::{Script, ScriptedServer, ServerTls, TestPki};

const DEADLINE: Duration = Duration::from_secs(10);

fn explicit(server: &ScriptedServer, pki: &TestPki) -> Config {
    common::explicit(server, pki, DEADLINE)
}

fn login() -> Script {
    Script::logged_in_tls("alice", "s3cret", "211 no features\r\n")
}

/// One upload whose data connection must resume.
fn upload(script: Script, name: &str) -> Script {
    script
        .epsv()
        .expect_line(format!("STOR {name}"))
        .reply("150 go\r\n")
        .data_accept_require_resumption()
        .data_recv_to_end()
        .data_close()
        .reply("226 stored\r\n")
}

/// The end of a session the client leaves for a renewed one: `QUIT`.
fn renewed_away(script: Script) -> Script {
    script.quit()
}

/// A renewed session: the same login, then back into the directory the
/// client learned with `PWD` after its `CWD`.
fn renewed() -> Script {
    login().expect_line("CWD /in").reply("250 ok\r\n")
}

/// The first session: login, then `CWD in` (and the `PWD` that follows).
fn first() -> Script {
    login()
        .expect_line("CWD in")
        .reply("250 ok\r\n")
        .expect("PWD")
        .reply("257 \"/in\" is the current directory\r\n")
}

/// A server like ProFTPD on TLS 1.3: two tickets at login on the control
/// connection, none on data connections, and reuse required. The data side
/// shares the control side's session cache, so control tickets resume.
fn proftpd_like(pki: &TestPki) -> (ServerTls, ServerTls) {
    sharing_tickets(ServerTls::new(pki).tls13_only().build().unwrap())
}

/// The control side `control`, and a data side that shares its session
/// cache and ticketer but sends no tickets of its own.
fn sharing_tickets(control: Arc<rustls::ServerConfig>) -> (ServerTls, ServerTls) {
    let mut data = (*control).clone();
    data.send_tls13_tickets = 0;
    (
        ServerTls::from_config(control),
        ServerTls::from_config(Arc::new(data)),
    )
}

/// A server with `control` and `data` TLS playing `sessions`, and a client
/// logged in to it and moved to `in`.
async fn start_in(
    pki: &TestPki,
    control: ServerTls,
    data: ServerTls,
    sessions: impl IntoIterator<Item = Script>,
) -> (ScriptedServer, Client) {
    let server = ScriptedServer::builder()
        .tls(control)
        .data_tls(data)
        .sessions(sessions)
        .start()
        .await;
    let mut c = Client::connect(explicit(&server, pki)).await.unwrap();
    c.cwd("in").await.unwrap();
    (server, c)
}

/// Checks how often the client renewed its control session, retried a
/// refused data connection and made a full data handshake, so far.
#[track_caller]
fn assert_renewals(c: &Client, refreshes: u64, retries: u64, full_handshakes: u64) {
    let stats = c.tls_session_stats().unwrap();
    assert_eq!(
        (stats.refreshes, stats.retries, stats.full_handshakes),
        (refreshes, retries, full_handshakes),
        "refreshes, retries, full handshakes: {stats:?}"
    );
}

/// `RETR a.bin` whose data connection, without a resumed session, the
/// server refuses as ProFTPD does.
fn refused_reuse(s: Script) -> Script {
    s.epsv_open("RETR a.bin", "150 opening\r\n")
        .reply("425 Unable to build data connection: Operation not permitted\r\n")
}

#[tokio::test]
async fn uploads_renew_the_session_when_the_tickets_run_out() {
    let pki = TestPki::new();
    let (control, data) = proftpd_like(&pki);
    // Five uploads: two per control session (two tickets each), so the
    // client renews twice, each time before it has no ticket left.
    let s1 = renewed_away(upload(upload(first(), "f0"), "f1"));
    let s2 = renewed_away(upload(upload(renewed(), "f2"), "f3"));
    let s3 = upload(renewed(), "f4").quit();
    let (server, mut c) = start_in(&pki, control, data, [s1, s2, s3]).await;
    for i in 0..5 {
        let mut up = c.stor(format!("f{i}").as_str()).await.unwrap();
        common::write_and_close(&mut up, format!("file {i}").as_bytes()).await;
        assert!(!up.info().full_handshake(), "upload {i} did not resume");
    }
    assert_renewals(&c, 2, 0, 0);
    let stats = c.tls_session_stats().unwrap();
    assert_eq!(stats.resumed, 5, "{stats:?}");
    assert_eq!(stats.control_tickets_received, 6, "{stats:?}");
    assert_eq!(stats.tickets_offered, 5, "{stats:?}");
    c.quit().await.unwrap();
    let t = server.finish().await;
    t.assert_ok();
    let received: Vec<&[u8]> = t.data_received();
    assert_eq!(received.len(), 5);
    for (i, bytes) in received.iter().enumerate() {
        assert_eq!(*bytes, format!("file {i}").as_bytes());
    }
    // Every data connection resumed a ticket of its own control session.
    assert!(t
        .data_connections()
        .iter()
        .all(|d| d.tls.as_ref().is_some_and(|tls| tls.resumed())));
}

#[tokio::test]
async fn a_refused_reuse_is_retried_once_on_a_renewed_session() {
    let pki = TestPki::new();
    // The data side has a cache of its own: no ticket of the control
    // connection resumes there, every data handshake is full. The first
    // session refuses that as ProFTPD does; the renewed one accepts it.
    let s1 = refused_reuse(first()).quit();
    let s2 = renewed().epsv_send("RETR a.bin", "the bytes").quit();
    let tls = ServerTls::new(&pki).tls13_only();
    let (server, mut c) = start_in(&pki, tls.clone(), tls, [s1, s2]).await;
    assert_eq!(common::download(&mut c, "a.bin").await, b"the bytes");
    assert_renewals(&c, 1, 1, 2);
    c.quit().await.unwrap();
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn a_second_refusal_is_a_typed_error_naming_the_cause() {
    let pki = TestPki::new();
    let s1 = refused_reuse(first()).quit();
    let s2 = refused_reuse(renewed()).noop();
    let tls = ServerTls::new(&pki).tls13_only();
    let (server, mut c) = start_in(&pki, tls.clone(), tls, [s1, s2]).await;
    let e = c.retr("a.bin").await.err().expect("refused twice");
    assert_eq!(e.kind(), ErrorKind::TlsResumption, "{e:?}");
    assert!(e.is_transient());
    assert!(e.to_string().contains("did not resume"), "{e}");
    // The server's words are in the source, once.
    let source = std::error::Error::source(&e).expect("source").to_string();
    assert!(source.contains("425"), "{source}");
    assert!(!e.to_string().contains("425"), "{e}");
    // The session is still usable.
    common::finish_after_noop(server, c).await;
}

#[tokio::test]
async fn a_server_without_tickets_is_never_renewed() {
    // Pure-FTPd on TLS 1.3: no tickets, no reuse required. Every data
    // connection makes a full handshake, and that is fine.
    let pki = TestPki::new();
    let mut script = login();
    for i in 0..3 {
        script = script
            .epsv_open(format!("STOR f{i}"), "150 go\r\n")
            .data_recv_to_end()
            .data_close()
            .reply("226 stored\r\n");
    }
    let server = ScriptedServer::builder()
        .tls(
            ServerTls::new(&pki)
                .tls13_only()
                .resumption(ftpkit_testkit::Resumption::Disabled),
        )
        .session(script.quit())
        .start()
        .await;
    let mut c = Client::connect(explicit(&server, &pki)).await.unwrap();
    for i in 0..3 {
        let mut up = c.stor(format!("f{i}").as_str()).await.unwrap();
        common::write_and_close(&mut up, b"x").await;
        assert!(up.info().full_handshake());
    }
    assert_renewals(&c, 0, 0, 3);
    c.quit().await.unwrap();
    server.finish().await.assert_ok();
}

/// Stateless tickets with a lifetime of a few seconds, like a server
/// configured with a short session lifetime.
#[derive(Debug)]
struct ShortLived(Arc<dyn rustls::server::ProducesTickets>);

impl rustls::server::ProducesTickets for ShortLived {
    fn enabled(&self) -> bool {
        true
    }
    fn lifetime(&self) -> u32 {
        3
    }
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.0.encrypt(plain)
    }
    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.0.decrypt(cipher)
    }
}

#[tokio::test]
async fn expired_tickets_are_dropped_and_the_session_renewed() {
    let pki = TestPki::new();
    let mut config = (*ServerTls::new(&pki).tls13_only().build().unwrap()).clone();
    config.ticketer = Arc::new(ShortLived(rustls::crypto::ring::Ticketer::new().unwrap()));
    let (control, data) = sharing_tickets(Arc::new(config));
    let s1 = renewed_away(first());
    let s2 = upload(renewed(), "late").quit();
    let (server, mut c) = start_in(&pki, control, data, [s1, s2]).await;
    let fresh = c.tls_session_stats().unwrap();
    assert_eq!(fresh.control_tickets_held, 2, "{fresh:?}");
    // The server gave the tickets 3 s; the client stops offering them a
    // second before that (ticket_lifetime reads rustls's record of it).
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let mut up = c.stor("late").await.unwrap();
    common::write_and_close(&mut up, b"after the idle gap").await;
    assert!(!up.info().full_handshake());
    drop(up);
    let stats = c.tls_session_stats().unwrap();
    assert_eq!(stats.tickets_expired, 2, "{stats:?}");
    assert_renewals(&c, 1, 0, 0);
    c.quit().await.unwrap();
    server.finish().await.assert_ok();
}
