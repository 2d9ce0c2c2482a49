//! The client against the scripted server: security rules, fallbacks,
//! refusals and faults, each asserting what was (and was not) sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use crate::common::{self, finish, ScriptExt};
use ftpkit::config::{ActiveConfig, DataMode};
use ftpkit::tls::Pin;
use ftpkit::{Client, Config, ErrorKind, Security};
use ftpkit_testkit::{Script, ScriptedServer, ServerTls, TestPki, Transcript};
use tokio::io::AsyncReadExt;

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

/// A server playing `script` and a client connected to it in the clear.
async fn start(script: Script) -> (ScriptedServer, Client) {
    common::start(script, |server| config(server, Security::None)).await
}

/// A server playing `script` with the certificate of a new PKI, and a
/// client trusting that PKI connected with explicit TLS.
async fn start_tls(script: Script) -> (ScriptedServer, Client) {
    let pki = TestPki::new();
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let c = Client::connect(trusting(config(&server, Security::Explicit), &pki))
        .await
        .unwrap();
    (server, c)
}

/// The plain configuration in active mode.
fn active(server: &ScriptedServer) -> Config {
    let mut cfg = config(server, Security::None);
    cfg.data_mode = DataMode::Active(ActiveConfig::default());
    cfg
}

#[tokio::test]
async fn passive_download_plain() {
    let script = plain_login()
        .epsv_send("RETR file.bin", b"hello world")
        .quit();
    let (server, mut c) = start(script).await;
    let mut dl = c.retr("file.bin").await.unwrap();
    assert_eq!(common::read_all(&mut dl).await.unwrap(), b"hello world");
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
        .pasv()
        .send_data("LIST", b"-rw-r--r-- 1 u g 5 Jan 1 2020 a.txt\r\n")
        // The second transfer goes straight to PASV.
        .pasv()
        .send_data("NLST", b"a.txt\r\n");
    let (server, mut c) = start(script).await;
    assert_eq!(c.list(None).await.unwrap().len(), 1);
    assert_eq!(c.nlst(None).await.unwrap().len(), 1);
    let t = finish(server, c).await;
    assert_eq!(t.verbs().iter().filter(|v| *v == "EPSV").count(), 1);
}

#[tokio::test]
async fn pasv_to_a_foreign_host_connects_to_the_control_peer() {
    // Advertise 127.0.0.2 (loopback, nothing listens there): the client
    // must connect to the control peer, 127.0.0.1, instead.
    let script = plain_login().foreign_pasv().send_data("RETR f", b"x");
    let (got, t) = common::download_from(script, |server| config(server, Security::None)).await;
    assert_eq!(got, b"x");
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
        .noop();
    let (server, mut c) = start(script).await;
    let e = c.retr("missing").await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ServerReply);
    assert_eq!(e.reply().unwrap().code().as_u16(), 550);
    common::finish_after_noop(server, c).await;
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
    let (server, mut c) = common::start(script, |server| {
        let mut cfg = active(server);
        cfg.timeouts.accept = Duration::from_millis(500);
        cfg
    })
    .await;
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
        .after_abort_noop();
    let (server, mut c) = start(script).await;
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
    let script = plain_login().noop().expect_eof();
    let (server, mut c) = start(script).await;
    for bad in ["a\r\nDELE x", "a\nb", "a\0b", "\r"] {
        for (what, e) in common::errors_for_argument(&mut c, bad).await {
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}({bad:?})");
        }
    }
    let t = common::finish_after_noop(server, c).await;
    assert!(t.command_lines().iter().all(|l| l.is_crlf_terminated()));
}

/// A `PWD` that a 421 or a stalled reply fails leaves the client broken
/// for good.
#[tokio::test]
async fn reply_421_or_a_stall_breaks_the_session() {
    let cases = [
        (
            "421",
            plain_login()
                .expect("PWD")
                .reply("421 Timeout, closing\r\n")
                .close(),
            ErrorKind::Closed,
            Some(421),
        ),
        (
            "stalled reply",
            plain_login()
                .expect("PWD")
                .send_partial("257 \"/part")
                .stall(),
            ErrorKind::Timeout,
            None,
        ),
    ];
    for (name, script, kind, code) in cases {
        let (_server, mut c) = common::start(script, |server| {
            let mut cfg = config(server, Security::None);
            cfg.timeouts.reply = Duration::from_millis(300);
            cfg
        })
        .await;
        let e = c.pwd().await.unwrap_err();
        assert_eq!(e.kind(), kind, "{name}: {e:?}");
        assert_eq!(e.reply().map(|r| r.code().as_u16()), code, "{name}: {e:?}");
        common::assert_broken(&mut c).await;
    }
}

#[tokio::test]
async fn explicit_tls_download_resumes_the_control_session() {
    let script = tls_login()
        .epsv()
        .expect("RETR")
        .reply("150 here\r\n")
        .data_accept_require_resumption()
        .data_send(b"secret data")
        .data_close()
        .reply("226 done\r\n");
    let (server, mut c) = start_tls(script).await;
    let info = c.tls_info().unwrap();
    assert!(info.peer_certificates[0]
        .subject_alt_names
        .iter()
        .any(|n| n == "localhost"));
    let mut dl = c.retr("f").await.unwrap();
    assert_eq!(common::read_all(&mut dl).await.unwrap(), b"secret data");
    assert!(dl.info().tls.unwrap().resumed);
    drop(dl);
    let t = finish(server, c).await;
    assert!(t.data_connections()[0].tls.as_ref().unwrap().resumed());
}

/// Every way a server can keep explicit TLS from being set up is refused,
/// with nothing sent after the refusal.
#[tokio::test]
async fn tls_refusals_and_downgrades_send_nothing_more() {
    let pki = TestPki::new();
    let cases = [
        (
            "bytes after 234",
            common::auth_tls().send_then_tls("234 go\r\n", "230 injected\r\n"),
            ErrorKind::Protocol,
            &["AUTH"][..],
        ),
        (
            "AUTH refused",
            common::auth_tls().reply("500 AUTH not understood\r\n"),
            ErrorKind::Downgrade,
            &["AUTH"],
        ),
        (
            "greeting 230",
            Script::new().send("230 logged in already\r\n"),
            ErrorKind::Downgrade,
            &[],
        ),
        (
            "PROT P refused",
            common::tls_login_to_prot("534 PROT P refused\r\n"),
            ErrorKind::Downgrade,
            &["AUTH", "USER", "PASS", "PBSZ", "PROT"],
        ),
    ];
    for (name, script, kind, verbs) in cases {
        let (e, t) = common::refused_explicit(script.expect_eof(), &pki).await;
        assert_eq!(e.kind(), kind, "{name}: {e:?}");
        assert_eq!(t.verbs(), verbs, "{name}: nothing after the refusal");
    }
}

async fn tls_failure(server_tls: ServerTls, tweak: impl FnOnce(&mut Config)) -> ftpkit::Error {
    let server = ScriptedServer::start_tls(common::failed_handshake(), server_tls).await;
    let mut cfg = config(&server, Security::Explicit);
    tweak(&mut cfg);
    let e = Client::connect(cfg).await.unwrap_err();
    let t = server.finish().await;
    assert_eq!(t.verbs(), ["AUTH"], "no USER/PASS after a failed handshake");
    e
}

/// Certificates the client must refuse: from a CA it does not trust, for
/// another host name, and not matching its pin.
#[tokio::test]
async fn untrusted_certificates_are_refused() {
    let pki = TestPki::new();
    let other = TestPki::with_ca_name("other CA");
    let wrong_name = pki.issue_server_cert(&["ftp.other.example"]);
    let cases = [
        (
            "unknown CA",
            ServerTls::new(&pki),
            other.ca_cert_der(),
            None,
        ),
        (
            "wrong host name",
            ServerTls::new(&pki).server_cert(wrong_name),
            pki.ca_cert_der(),
            None,
        ),
        (
            "pin mismatch",
            ServerTls::new(&pki),
            pki.ca_cert_der(),
            Some(Pin::Certificate([0u8; 32])),
        ),
    ];
    for (name, server_tls, ca, pin) in cases {
        let e = tls_failure(server_tls, |c| {
            c.tls.ca_certificates = vec![ca];
            c.tls.pin = pin;
        })
        .await;
        assert_eq!(e.kind(), ErrorKind::Certificate, "{name}: {e:?}");
    }
}

#[tokio::test]
async fn a_matching_pin_works() {
    let pki = TestPki::new();
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

/// Downloads `f` over IPv6 from a server playing `script` on `::1`, with
/// the data mode `mode`.
async fn download_v6(script: Script, mode: DataMode) -> Vec<u8> {
    let server = ScriptedServer::builder()
        .ipv6()
        .session(script)
        .start()
        .await;
    let mut cfg = config(&server, Security::None);
    cfg.host = "::1".into();
    cfg.data_mode = mode;
    let mut c = Client::connect(cfg).await.unwrap();
    let got = common::download(&mut c, "f").await;
    finish(server, c).await;
    got
}

#[tokio::test]
async fn ipv6_passive_and_active() {
    let script = plain_login()
        .expect("EPSV")
        .passive_listen_v6()
        .reply_epsv()
        .send_data("RETR f", b"over v6");
    assert_eq!(download_v6(script, DataMode::Passive).await, b"over v6");

    let script = plain_login()
        .active_address("EPRT |2|::1|")
        .expect("RETR")
        .reply("150 connecting\r\n")
        .active_connect()
        .data_send(b"active v6")
        .data_close()
        .reply("226 done\r\n");
    let active = DataMode::Active(ActiveConfig::default());
    assert_eq!(download_v6(script, active).await, b"active v6");
}

#[tokio::test]
async fn eprt_refused_falls_back_to_port() {
    let script = plain_login()
        .expect("EPRT")
        .reply("500 EPRT not understood\r\n")
        .active_address("PORT 127,0,0,1,")
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
    let (server, mut c) = common::start(script, active).await;
    let mut up = c.stor("up.bin").await.unwrap();
    common::write_and_close(&mut up, b"payload").await;
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

/// Resumes the upload of `part.bin` at byte 1000 to a server playing
/// `script`, which must run as written: what the server saw.
async fn resume_upload(script: Script) -> Transcript {
    let (server, mut c) = start(script).await;
    let mut up = c.stor_from("part.bin", 1000).await.unwrap();
    common::write_and_close(&mut up, b"the rest").await;
    drop(up);
    finish(server, c).await
}

#[tokio::test]
async fn upload_resume_uses_appe_without_rest_stream() {
    let t = resume_upload(plain_login_no_rest().epsv_receive("APPE part.bin")).await;
    assert!(!t.verbs().contains(&"REST".to_owned()));
}

#[tokio::test]
async fn upload_resume_uses_rest_stor_with_rest_stream() {
    resume_upload(
        plain_login()
            .epsv()
            .rest(1000)
            .receive_data("STOR part.bin"),
    )
    .await;
}

#[tokio::test]
async fn stou_reports_the_unique_name() {
    let script = plain_login()
        .epsv_open("STOU", "150 FILE: ftp4711.tmp\r\n")
        .data_recv_to_end()
        .reply("226 Transfer complete\r\n");
    let (server, mut c) = start(script).await;
    let mut up = c.stou().await.unwrap();
    assert_eq!(up.unique_name(), Some(&b"ftp4711.tmp"[..]));
    common::write_and_close(&mut up, b"unique").await;
    drop(up);
    finish(server, c).await;
}

#[tokio::test]
async fn tls_download_without_close_notify_is_reported_as_truncated() {
    let script = tls_login()
        .epsv_open("RETR f", "150 here\r\n")
        .data_send(vec![1u8; 100_000])
        .data_abort()
        .reply("226 done\r\n");
    let (server, mut c) = start_tls(script).await;
    let mut dl = c.retr("f").await.unwrap();
    let e = common::read_all(&mut dl).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e:?}");
    drop(dl);
    drop(c);
    let _ = server.finish().await;
}

#[tokio::test]
async fn upload_sends_close_notify_before_reading_the_reply() {
    let script = tls_login().epsv_receive("STOR f");
    let (server, mut c) = start_tls(script).await;
    let mut up = c.stor("f").await.unwrap();
    common::write_and_close(&mut up, &vec![9u8; 300_000]).await;
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
    let script = common::auth_tls()
        .reply("234 go\r\n")
        // After the ClientHello has gone out.
        .delay(Duration::from_millis(200))
        .send("500 OOPS: SSL: cannot load RSA certificate\r\n");
    let (e, _) = common::refused_explicit(script, &TestPki::new()).await;
    assert_eq!(e.kind(), ErrorKind::Tls, "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(
            "the server sent plaintext instead of TLS: 500 OOPS: SSL: cannot load RSA certificate"
        ),
        "{text}"
    );
    assert!(!text.contains("InvalidContentType"), "{text}");
}

/// The plain configuration with pipelining forced on (the scripted server
/// does not greet as vsftpd).
fn pipelining(server: &ScriptedServer) -> Config {
    let mut cfg = config(server, Security::None);
    cfg.pipelining = ftpkit::Pipelining::On;
    cfg
}

/// `line` with `EPSV` pipelined behind it: the transfer, then the answer
/// on a new listener.
fn pipelined_send(script: Script, line: &str, data: &[u8]) -> Script {
    sent_then_ahead(script.expect_line(line).expect("EPSV"), data)
}

/// A download of `data` on the listener already announced, then the
/// answer to the `EPSV` pipelined behind it on a new listener.
fn sent_then_ahead(script: Script, data: &[u8]) -> Script {
    script
        .reply("150 go\r\n")
        .data_accept()
        .data_send(data)
        .data_close()
        .reply("226 done\r\n")
        .passive_listen()
        .reply_epsv()
}

/// `EPSV`, `RETR a` and `EPSV`, read before anything is answered: sent in
/// one write.
fn epsv_retr_epsv(script: Script) -> Script {
    script.expect("EPSV").expect_line("RETR a").expect("EPSV")
}

#[tokio::test]
async fn the_next_epsv_rides_behind_each_transfer() {
    let script = plain_login().epsv();
    let script = pipelined_send(script, "RETR a", b"first");
    let script = pipelined_send(script, "RETR b", b"second");
    // A command between transfers leaves the answer for the next one.
    let script = pipelined_send(script.noop(), "RETR c", b"third");
    let (server, mut c) = common::start(script, pipelining).await;
    assert_eq!(fetch(&mut c, "a").await, b"first");
    assert_eq!(fetch(&mut c, "b").await, b"second");
    c.noop().await.unwrap();
    assert_eq!(fetch(&mut c, "c").await, b"third");
    let t = finish(server, c).await;
    assert_eq!(t.verbs().iter().filter(|v| *v == "EPSV").count(), 4);
    assert_eq!(t.data_connections().len(), 3);
}

#[tokio::test]
async fn the_first_transfer_rides_behind_its_own_epsv() {
    // The server reads EPSV, RETR and the next EPSV before it answers
    // anything: the client sent them in one write, without waiting for the
    // first 229. That is one round trip for the transfer's setup.
    let script = sent_then_ahead(
        epsv_retr_epsv(plain_login()).passive_listen().reply_epsv(),
        b"first",
    );
    let (server, mut c) = common::start(script, pipelining).await;
    let before = c.round_trips();
    assert_eq!(fetch(&mut c, "a").await, b"first");
    assert_eq!(c.round_trips() - before, 1);
    let t = finish(server, c).await;
    assert_eq!(t.data_connections().len(), 1);
}

#[tokio::test]
async fn an_epsv_refused_in_one_write_falls_back_to_pasv() {
    // A server without EPSV answers the three commands of the write: the
    // client waits for all of them, then asks PASV alone, and the transfer
    // command goes again behind its answer. The file arrives whole.
    let script = epsv_retr_epsv(plain_login())
        .reply("500 EPSV not understood\r\n")
        .reply("425 Use PORT or PASV first.\r\n")
        .reply("500 EPSV not understood\r\n")
        .expect("PASV")
        .passive_listen()
        .reply_pasv()
        .expect_line("RETR a")
        .expect("PASV")
        .reply("150 go\r\n")
        .data_accept()
        .data_send(b"whole")
        .data_close()
        .reply("226 done\r\n")
        .passive_listen()
        .reply_pasv();
    let (server, mut c) = common::start(script, pipelining).await;
    assert_eq!(fetch(&mut c, "a").await, b"whole");
    finish(server, c).await;
}

/// `RETR name`, read to its end.
async fn fetch(c: &mut Client, name: &str) -> Vec<u8> {
    let mut dl = c.retr(name).await.unwrap();
    common::read_all(&mut dl).await.unwrap()
}

#[tokio::test]
async fn a_server_that_answers_ahead_mid_transfer_gets_no_more_pipelining() {
    let script = plain_login()
        .epsv()
        .expect_line("RETR a")
        .expect("EPSV")
        .reply("150 go\r\n")
        // The server took EPSV during the transfer, as pyftpdlib would.
        .reply("229 Entering Extended Passive Mode (|||1|)\r\n")
        .data_accept()
        .data_send(b"whole file")
        .data_close()
        .reply("226 done\r\n")
        // The next transfer asks for its own port, and nothing rides.
        .epsv_send("RETR b", b"next")
        .noop();
    let (server, mut c) = common::start(script, pipelining).await;
    assert_eq!(fetch(&mut c, "a").await, b"whole file");
    assert_eq!(fetch(&mut c, "b").await, b"next");
    c.noop().await.unwrap();
    let commands = finish(server, c).await.commands();
    let after_b = commands.iter().skip_while(|c| *c != "RETR b").nth(1);
    assert_eq!(after_b.map(String::as_str), Some("NOOP"), "{commands:?}");
}
