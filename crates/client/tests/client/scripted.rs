//! The client against the scripted server: security rules, fallbacks,
//! refusals and faults, each asserting what was (and was not) sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use crate::common::{self, finish, ScriptExt};
use ftpkit::config::{ActiveConfig, DataMode};
use ftpkit::tls::Pin;
use ftpkit::{Client, Config, ErrorKind, Security};
use ftpkit_testkit::{Script, ScriptedServer, ServerTls, TestPki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(server: &ScriptedServer, security: Security) -> Config {
    common::config(server, security, Duration::from_secs(3))
}

fn trusting(mut c: Config, pki: &TestPki) -> Config {
    c.tls.ca_certificates = vec![pki.ca_cert_der()];
    c
}

/// Greeting, login without FEAT features, TYPE I.
fn plain_login() -> Script {
    common::logged_in(" EPSV\r\n REST STREAM\r\n")
}

fn tls_login() -> Script {
    common::tls_login()
}

#[tokio::test]
async fn passive_download_plain() {
    let script = plain_login()
        .epsv_send("RETR file.bin", b"hello world")
        .expect("QUIT")
        .reply("221 bye\r\n");
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    let mut dl = c.retr("file.bin").await.unwrap();
    let mut got = Vec::new();
    dl.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello world");
    assert_eq!(
        dl.info().completion.as_ref().map(|r| r.code().as_u16()),
        Some(226)
    );
    drop(dl);
    c.quit().await.unwrap();
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn epsv_refused_falls_back_to_pasv_and_remembers() {
    let script = plain_login()
        .expect("EPSV")
        .reply("500 EPSV not understood\r\n")
        .expect("PASV")
        .passive_listen()
        .reply_pasv()
        .expect_line("LIST")
        .reply("150 here\r\n")
        .data_accept()
        .data_send(b"-rw-r--r-- 1 u g 5 Jan 1 2020 a.txt\r\n")
        .data_close()
        .reply("226 done\r\n")
        // The second transfer goes straight to PASV.
        .expect("PASV")
        .passive_listen()
        .reply_pasv()
        .expect_line("NLST")
        .reply("150 here\r\n")
        .data_accept()
        .data_send(b"a.txt\r\n")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    assert_eq!(c.list(None).await.unwrap().len(), 1);
    assert_eq!(c.nlst(None).await.unwrap().len(), 1);
    let t = finish(server, c).await;
    assert_eq!(t.verbs().iter().filter(|v| *v == "EPSV").count(), 1);
}

#[tokio::test]
async fn pasv_to_a_foreign_host_connects_to_the_control_peer() {
    let script = plain_login()
        .expect("EPSV")
        .reply("502 no\r\n")
        .expect("PASV")
        .passive_listen()
        // Advertise 127.0.0.2 (loopback, nothing listens there): the client
        // must connect to the control peer, 127.0.0.1, instead.
        .reply_pasv_with_host([127, 0, 0, 2])
        .expect("RETR")
        .reply("150 here\r\n")
        .data_accept()
        .data_send(b"x")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    let mut v = Vec::new();
    c.retr("f")
        .await
        .unwrap()
        .read_to_end(&mut v)
        .await
        .unwrap();
    assert_eq!(v, b"x");
    let t = finish(server, c).await;
    assert_eq!(
        t.data_connections()[0].local.ip(),
        std::net::IpAddr::from([127, 0, 0, 1])
    );
}

#[tokio::test]
async fn missing_file_is_a_prompt_typed_550() {
    let script = plain_login()
        .epsv()
        .expect("RETR")
        .reply("550 No such file\r\n")
        .expect_line("NOOP")
        .reply("200 ok\r\n");
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    let e = c.retr("missing").await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ServerReply);
    assert_eq!(e.reply().unwrap().code().as_u16(), 550);
    c.noop().await.unwrap();
    finish(server, c).await;
}

#[tokio::test]
async fn active_mode_refusal_ends_at_once_and_silence_at_the_deadline() {
    let script = plain_login()
        .expect("EPRT")
        .reply("200 ok\r\n")
        .expect("RETR")
        // The server never connects and says so.
        .reply("425 Can't open data connection\r\n")
        .expect("EPRT")
        .reply("200 ok\r\n")
        .expect("RETR")
        .reply("150 connecting\r\n")
        // ... and now never connects nor replies: the accept deadline fires.
        .expect_any();
    let server = ScriptedServer::start(script).await;
    let mut cfg = config(&server, Security::None);
    cfg.data_mode = DataMode::Active(ActiveConfig::default());
    cfg.timeouts.accept = Duration::from_millis(500);
    let mut c = Client::connect(cfg).await.unwrap();
    let e = c.retr("f").await.err().unwrap();
    assert_eq!(e.reply().unwrap().code().as_u16(), 425);
    assert!(e.is_transient());
    let e = c.retr("f").await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
    drop(c);
    let _ = server.finish().await;
}

#[tokio::test]
async fn dropped_download_is_aborted_before_the_next_command() {
    let script = plain_login()
        .epsv()
        .expect("RETR")
        .reply("150 here\r\n")
        .data_accept()
        .data_send(vec![7u8; 256 * 1024])
        .expect_line("ABOR")
        .data_close()
        .reply("426 aborted\r\n226 ABOR ok\r\n")
        .expect_line("PWD")
        .reply("257 \"/\"\r\n")
        .expect_line("NOOP")
        .reply("200 ok\r\n");
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    {
        let mut dl = c.retr("big").await.unwrap();
        let mut buf = [0u8; 1000];
        dl.read_exact(&mut buf).await.unwrap();
    }
    c.noop().await.unwrap();
    assert!(!c.is_broken());
    finish(server, c).await;
}

#[tokio::test]
async fn control_characters_in_arguments_send_nothing() {
    let script = plain_login()
        .expect_line("NOOP")
        .reply("200 ok\r\n")
        .expect_eof();
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    for bad in ["a\r\nDELE x", "a\nb", "a\0b", "\r"] {
        assert_eq!(
            c.cwd(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            c.delete(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            c.retr(bad).await.err().unwrap().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            c.stor(bad).await.err().unwrap().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            c.rename("ok", bad).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            c.rename(bad, "ok").await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            c.quote(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            c.mkdir(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            c.size(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    c.noop().await.unwrap();
    let t = finish(server, c).await;
    assert!(t.command_lines().iter().all(|l| l.is_crlf_terminated()));
}

#[tokio::test]
async fn reply_421_mid_session_is_closed() {
    let script = plain_login()
        .expect("PWD")
        .reply("421 Timeout, closing\r\n")
        .close();
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    let e = c.pwd().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed);
    assert_eq!(e.reply().unwrap().code().as_u16(), 421);
    assert!(c.is_broken());
    assert_eq!(c.noop().await.unwrap_err().kind(), ErrorKind::Broken);
}

#[tokio::test]
async fn stalled_reply_hits_the_deadline() {
    let script = plain_login()
        .expect("PWD")
        .send_partial("257 \"/part")
        .stall();
    let server = ScriptedServer::start(script).await;
    let mut cfg = config(&server, Security::None);
    cfg.timeouts.reply = Duration::from_millis(300);
    let mut c = Client::connect(cfg).await.unwrap();
    assert_eq!(c.pwd().await.unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(c.noop().await.unwrap_err().kind(), ErrorKind::Broken);
}

#[tokio::test]
async fn explicit_tls_download_resumes_the_control_session() {
    let pki = TestPki::new();
    let script = tls_login()
        .epsv()
        .expect("RETR")
        .reply("150 here\r\n")
        .data_accept_require_resumption()
        .data_send(b"secret data")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let mut c = Client::connect(trusting(config(&server, Security::Explicit), &pki))
        .await
        .unwrap();
    let info = c.tls_info().unwrap();
    assert!(info.peer_certificates[0]
        .subject_alt_names
        .iter()
        .any(|n| n == "localhost"));
    let mut dl = c.retr("f").await.unwrap();
    let mut v = Vec::new();
    dl.read_to_end(&mut v).await.unwrap();
    assert_eq!(v, b"secret data");
    assert!(dl.info().tls.unwrap().resumed);
    drop(dl);
    let t = finish(server, c).await;
    assert!(t.data_connections()[0].tls.as_ref().unwrap().resumed());
}

#[tokio::test]
async fn bytes_after_234_are_refused_and_nothing_more_is_sent() {
    let pki = TestPki::new();
    let script = Script::new()
        .send("220 hi\r\n")
        .expect_line("AUTH TLS")
        .send_then_tls("234 go\r\n", "230 injected\r\n")
        .expect_eof();
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let e = Client::connect(trusting(config(&server, Security::Explicit), &pki))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}");
    let t = server.finish().await;
    assert_eq!(t.verbs(), ["AUTH"]);
}

#[tokio::test]
async fn refused_auth_is_a_downgrade_error() {
    let script = Script::new()
        .send("220 hi\r\n")
        .expect_line("AUTH TLS")
        .reply("500 AUTH not understood\r\n")
        .expect_eof();
    let server = ScriptedServer::start(script).await;
    let pki = TestPki::new();
    let e = Client::connect(trusting(config(&server, Security::Explicit), &pki))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Downgrade, "{e:?}");
    let t = server.finish().await;
    assert_eq!(
        t.verbs(),
        ["AUTH"],
        "nothing after the refusal, certainly no USER/PASS"
    );
}

#[tokio::test]
async fn greeting_230_is_a_downgrade_error() {
    let script = Script::new().send("230 logged in already\r\n").expect_eof();
    let server = ScriptedServer::start(script).await;
    let pki = TestPki::new();
    let e = Client::connect(trusting(config(&server, Security::Explicit), &pki))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Downgrade, "{e:?}");
    assert!(server.finish().await.verbs().is_empty());
}

#[tokio::test]
async fn refused_prot_p_is_a_downgrade_error() {
    let pki = TestPki::new();
    let script = Script::new()
        .send("220 hi\r\n")
        .expect_line("AUTH TLS")
        .reply("234 go\r\n")
        .start_tls()
        .expect("USER")
        .reply("331 pw\r\n")
        .expect("PASS")
        .reply("230 in\r\n")
        .expect_line("PBSZ 0")
        .reply("200 ok\r\n")
        .expect_line("PROT P")
        .reply("534 PROT P refused\r\n")
        .expect_eof();
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let e = Client::connect(trusting(config(&server, Security::Explicit), &pki))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Downgrade, "{e:?}");
    server.finish().await;
}

async fn tls_failure(server_tls: ServerTls, tweak: impl FnOnce(&mut Config)) -> ftpkit::Error {
    let script = Script::new()
        .send("220 hi\r\n")
        .expect_line("AUTH TLS")
        .reply("234 go\r\n")
        .start_tls_expect_failure();
    let server = ScriptedServer::start_tls(script, server_tls).await;
    let mut cfg = config(&server, Security::Explicit);
    tweak(&mut cfg);
    let e = Client::connect(cfg).await.unwrap_err();
    let t = server.finish().await;
    assert_eq!(t.verbs(), ["AUTH"], "no USER/PASS after a failed handshake");
    e
}

#[tokio::test]
async fn unknown_ca_is_refused() {
    let pki = TestPki::new();
    let other = TestPki::with_ca_name("other CA");
    let e = tls_failure(ServerTls::new(&pki), |c| {
        c.tls.ca_certificates = vec![other.ca_cert_der()];
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Certificate, "{e:?}");
}

#[tokio::test]
async fn wrong_host_name_is_refused() {
    let pki = TestPki::new();
    let cert = pki.issue_server_cert(&["ftp.other.example"]);
    let e = tls_failure(ServerTls::new(&pki).server_cert(cert), |c| {
        c.tls.ca_certificates = vec![pki.ca_cert_der()];
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Certificate, "{e:?}");
}

#[tokio::test]
async fn pin_mismatch_is_refused_and_a_matching_pin_works() {
    let pki = TestPki::new();
    let e = tls_failure(ServerTls::new(&pki), |c| {
        c.tls.ca_certificates = vec![pki.ca_cert_der()];
        c.tls.pin = Some(Pin::Certificate([0u8; 32]));
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Certificate, "{e:?}");

    let fingerprint = ftpkit::tls::CertificateInfo::parse(&pki.server_cert().cert_der())
        .unwrap()
        .sha256;
    let server = ScriptedServer::start_tls(tls_login(), ServerTls::new(&pki)).await;
    let mut cfg = trusting(config(&server, Security::Explicit), &pki);
    cfg.tls.pin = Some(Pin::Certificate(fingerprint));
    Client::connect(cfg).await.unwrap();
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn password_never_in_debug_output() {
    let script = plain_login();
    let server = ScriptedServer::start(script).await;
    let cfg = config(&server, Security::None);
    assert!(!format!("{cfg:?}").contains("s3cret"));
    let c = Client::connect(cfg).await.unwrap();
    assert!(!format!("{c:?}").contains("s3cret"));
}

/// Login without REST STREAM in FEAT (so upload resume uses APPE).
fn plain_login_no_rest() -> Script {
    Script::logged_in("alice", "s3cret", "211 no features\r\n")
}

#[tokio::test]
async fn ipv6_passive_and_active() {
    let script = plain_login()
        .expect("EPSV")
        .passive_listen_v6()
        .reply_epsv()
        .expect("RETR")
        .reply("150 here\r\n")
        .data_accept()
        .data_send(b"over v6")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::builder()
        .ipv6()
        .session(script)
        .start()
        .await;
    let mut cfg = config(&server, Security::None);
    cfg.host = "::1".into();
    let mut c = Client::connect(cfg).await.unwrap();
    let mut v = Vec::new();
    c.retr("f")
        .await
        .unwrap()
        .read_to_end(&mut v)
        .await
        .unwrap();
    assert_eq!(v, b"over v6");
    finish(server, c).await;

    let script = plain_login()
        .expect_matching("EPRT |2|::1|port|", |l| {
            l.text().starts_with("EPRT |2|::1|")
        })
        .reply("200 ok\r\n")
        .expect("RETR")
        .reply("150 connecting\r\n")
        .active_connect()
        .data_send(b"active v6")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::builder()
        .ipv6()
        .session(script)
        .start()
        .await;
    let mut cfg = config(&server, Security::None);
    cfg.host = "::1".into();
    cfg.data_mode = DataMode::Active(ActiveConfig::default());
    let mut c = Client::connect(cfg).await.unwrap();
    let mut v = Vec::new();
    c.retr("f")
        .await
        .unwrap()
        .read_to_end(&mut v)
        .await
        .unwrap();
    assert_eq!(v, b"active v6");
    finish(server, c).await;
}

#[tokio::test]
async fn eprt_refused_falls_back_to_port() {
    let script = plain_login()
        .expect("EPRT")
        .reply("500 EPRT not understood\r\n")
        .expect_matching("PORT 127,0,0,1,p1,p2", |l| {
            l.text().starts_with("PORT 127,0,0,1,")
        })
        .reply("200 ok\r\n")
        .expect("STOR")
        .reply("150 go\r\n")
        .active_connect()
        .data_recv_to_end()
        .reply("226 stored\r\n")
        // Remembered: PORT straight away.
        .expect("PORT")
        .reply("200 ok\r\n")
        .expect("RETR")
        .reply("550 nope\r\n");
    let server = ScriptedServer::start(script).await;
    let mut cfg = config(&server, Security::None);
    cfg.data_mode = DataMode::Active(ActiveConfig::default());
    let mut c = Client::connect(cfg).await.unwrap();
    let mut up = c.stor("up.bin").await.unwrap();
    up.write_all(b"payload").await.unwrap();
    up.shutdown().await.unwrap();
    drop(up);
    assert_eq!(
        c.retr("x")
            .await
            .err()
            .unwrap()
            .reply()
            .unwrap()
            .code()
            .as_u16(),
        550
    );
    let t = finish(server, c).await;
    assert_eq!(t.data_received(), [&b"payload"[..]]);
}

#[tokio::test]
async fn upload_resume_uses_appe_without_rest_stream() {
    let script = plain_login_no_rest().epsv_receive("APPE part.bin");
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    let mut up = c.stor_from("part.bin", 1000).await.unwrap();
    up.write_all(b"the rest").await.unwrap();
    up.shutdown().await.unwrap();
    drop(up);
    let t = finish(server, c).await;
    assert!(!t.verbs().contains(&"REST".to_owned()));
}

#[tokio::test]
async fn upload_resume_uses_rest_stor_with_rest_stream() {
    let script = plain_login()
        .epsv()
        .expect_line("REST 1000")
        .reply("350 restarting\r\n")
        .expect_line("STOR part.bin")
        .reply("150 storing\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 ok\r\n");
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    let mut up = c.stor_from("part.bin", 1000).await.unwrap();
    up.write_all(b"the rest").await.unwrap();
    up.shutdown().await.unwrap();
    drop(up);
    finish(server, c).await;
}

#[tokio::test]
async fn stou_reports_the_unique_name() {
    let script = plain_login()
        .epsv()
        .expect_line("STOU")
        .reply("150 FILE: ftp4711.tmp\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 Transfer complete\r\n");
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(config(&server, Security::None))
        .await
        .unwrap();
    let mut up = c.stou().await.unwrap();
    assert_eq!(up.unique_name(), Some(&b"ftp4711.tmp"[..]));
    up.write_all(b"unique").await.unwrap();
    up.shutdown().await.unwrap();
    drop(up);
    finish(server, c).await;
}

#[tokio::test]
async fn tls_download_without_close_notify_is_reported_as_truncated() {
    let pki = TestPki::new();
    let script = tls_login()
        .epsv()
        .expect("RETR")
        .reply("150 here\r\n")
        .data_accept()
        .data_send(vec![1u8; 100_000])
        .data_abort()
        .reply("226 done\r\n");
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let mut c = Client::connect(trusting(config(&server, Security::Explicit), &pki))
        .await
        .unwrap();
    let mut dl = c.retr("f").await.unwrap();
    let mut v = Vec::new();
    let e = dl.read_to_end(&mut v).await.unwrap_err();
    let e = ftpkit::Error::from_io_error(e);
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e:?}");
    drop(dl);
    drop(c);
    let _ = server.finish().await;
}

#[tokio::test]
async fn upload_sends_close_notify_before_reading_the_reply() {
    let pki = TestPki::new();
    let script = tls_login()
        .epsv()
        .expect("STOR")
        .reply("150 go\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 stored\r\n");
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let mut c = Client::connect(trusting(config(&server, Security::Explicit), &pki))
        .await
        .unwrap();
    let mut up = c.stor("f").await.unwrap();
    up.write_all(&vec![9u8; 300_000]).await.unwrap();
    up.shutdown().await.unwrap();
    drop(up);
    let t = finish(server, c).await;
    assert!(
        t.has(|e| matches!(
            e,
            ftpkit_testkit::Event::DataReceived {
                close: ftpkit_testkit::PeerClose::CloseNotify,
                ..
            }
        )),
        "{t}"
    );
}

/// A server that answers the TLS handshake with a plaintext reply (vsftpd
/// writes `500 OOPS: …` when it cannot load its certificate): the error
/// quotes it instead of rustls's "InvalidContentType".
#[tokio::test]
async fn plaintext_instead_of_a_handshake_is_quoted() {
    let pki = TestPki::new();
    let script = Script::new()
        .send("220 hi\r\n")
        .expect_line("AUTH TLS")
        .reply("234 go\r\n")
        // After the ClientHello has gone out.
        .delay(Duration::from_millis(200))
        .send("500 OOPS: SSL: cannot load RSA certificate\r\n");
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let e = Client::connect(trusting(config(&server, Security::Explicit), &pki))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(
            "the server sent plaintext instead of TLS: 500 OOPS: SSL: cannot load RSA certificate"
        ),
        "{text}"
    );
    assert!(!text.contains("InvalidContentType"), "{text}");
    drop(server);
}
