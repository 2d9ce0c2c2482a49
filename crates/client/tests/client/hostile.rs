//! The client against a hostile scripted server: malformed and oversized
//! replies, addresses pointing elsewhere, downgrade attempts, stalls, resets,
//! hostile listings and control characters in arguments.
//!
//! Every test asserts the exact typed error (kind and, where there is one,
//! the reply code) and what the server received: nothing unsafe, nothing
//! after a fatal error, every command line CRLF-terminated. Network use is
//! loopback only; a "foreign" address is `127.0.0.2`, where nothing listens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use crate::common::{self, finish, read_all, ScriptExt};
use ftpkit::config::{ActiveConfig, DataMode, PassiveAddress};
use ftpkit::{
    Client, Config, Credentials, Entry, EntryKind, ErrorKind, ListLine, RawName, Security,
};
use ftpkit_testkit::{Event, Script, ScriptedServer, ServerTls, TestPki, TlsExpect, Transcript};
use tokio::io::AsyncReadExt;

/// The default deadline of these tests; specific ones are shorter.
const DEADLINE: Duration = Duration::from_secs(2);
/// The short deadline used where a test waits for one to fire.
const SHORT: Duration = Duration::from_millis(300);
const FOREIGN: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn config(server: &ScriptedServer, security: Security) -> Config {
    common::config(server, security, DEADLINE)
}

fn plain(server: &ScriptedServer) -> Config {
    config(server, Security::None)
}

fn explicit(server: &ScriptedServer, pki: &TestPki) -> Config {
    common::explicit(server, pki, DEADLINE)
}

/// A server playing `script` and a client connected to it with [`plain`]'s
/// configuration, changed by `tweak`.
async fn start_with(script: Script, tweak: impl FnOnce(&mut Config)) -> (ScriptedServer, Client) {
    common::start(script, |server| {
        let mut cfg = plain(server);
        tweak(&mut cfg);
        cfg
    })
    .await
}

/// [`start_with`] the plain configuration as it is.
async fn start(script: Script) -> (ScriptedServer, Client) {
    start_with(script, |_| {}).await
}

/// Greeting, login, FEAT (EPSV, REST STREAM), TYPE I.
fn plain_login() -> Script {
    common::logged_in(" EPSV\r\n REST STREAM\r\n")
}

const LOGIN_VERBS: [&str; 4] = ["USER", "PASS", "FEAT", "TYPE"];

/// The verbs received after the login of [`plain_login`].
fn verbs_after_login(t: &Transcript) -> Vec<String> {
    let v = t.verbs();
    assert!(
        v.len() >= LOGIN_VERBS.len() && v[..LOGIN_VERBS.len()] == LOGIN_VERBS,
        "login not as scripted:\n{t}"
    );
    v[LOGIN_VERBS.len()..].to_vec()
}

/// [`finish`], then checks that the verbs after the login were `verbs` and
/// that every command line is clean.
async fn finish_sent(server: ScriptedServer, c: Client, verbs: &[&str]) -> Transcript {
    let t = finish(server, c).await;
    assert_eq!(verbs_after_login(&t), verbs, "{t}");
    assert_lines_clean(&t);
    t
}

/// Checks that `c` is broken for good, then [`finish_sent`]: a broken
/// client sends nothing more.
async fn finish_broken(server: ScriptedServer, mut c: Client, verbs: &[&str]) -> Transcript {
    common::assert_broken(&mut c).await;
    finish_sent(server, c, verbs).await
}

/// After a download that failed: the next call (a `NOOP`) aborts it and
/// works, and the session goes on.
async fn finish_recovered(server: ScriptedServer, mut c: Client) {
    c.noop().await.unwrap();
    assert!(!c.is_broken());
    finish_sent(server, c, &["EPSV", "RETR", "ABOR", "PWD", "NOOP"]).await;
}

/// Downloads `f` from a server playing `script`: it must bring `want` and
/// end in `226`, after which a `NOOP` works and nothing else is sent. What
/// is known about the download.
async fn download_then_noop(script: Script, want: &[u8]) -> ftpkit::TransferInfo {
    let (server, mut c) = start(script).await;
    let mut dl = c.retr("f").await.unwrap();
    assert_eq!(read_all(&mut dl).await.unwrap(), want);
    let info = dl.info().clone();
    assert_eq!(info.completion.as_ref().unwrap().code().as_u16(), 226);
    drop(dl);
    c.noop().await.unwrap();
    finish_sent(server, c, &["EPSV", "RETR", "NOOP"]).await;
    info
}

/// Every command line ends in CRLF and carries no other CR, LF or NUL.
#[track_caller]
fn assert_lines_clean(t: &Transcript) {
    for l in t.command_lines() {
        assert!(l.is_crlf_terminated(), "not CRLF-terminated: {l:?}\n{t}");
        let body = &l.raw()[..l.raw().len() - 2];
        assert!(
            !body.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
            "control byte inside a command line: {l:?}\n{t}"
        );
    }
}

#[track_caller]
fn assert_error(e: &ftpkit::Error, kind: ErrorKind, code: Option<u16>) {
    assert_eq!(e.kind(), kind, "{e:?}");
    assert_eq!(e.reply().map(|r| r.code().as_u16()), code, "{e:?}");
}

// ----- 227 ---------------------------------------------------------------

/// EPSV refused so that PASV is used, then the 227 reply `pasv`.
fn pasv_script(pasv: &str) -> Script {
    plain_login().epsv_refused().reply(pasv)
}

/// A download from a server playing `script`, whose passive reply is
/// refused as a protocol error; then a `NOOP`. The client must send `sent`
/// after the login, and make no data connection.
async fn refused_passive_reply(script: Script, sent: &[&str]) {
    let (server, mut c) = start(script.noop().expect_eof()).await;
    let e = c.retr("f").await.err().unwrap();
    assert_error(&e, ErrorKind::Protocol, None);
    // The reply was well framed: the session is still usable.
    c.noop().await.unwrap();
    let t = finish_sent(server, c, sent).await;
    assert!(t.data_connections().is_empty());
}

#[tokio::test]
async fn pasv_number_above_255_is_a_protocol_error_and_retr_is_never_sent() {
    let script = pasv_script("227 Entering Passive Mode (256,0,0,1,4,1).\r\n");
    refused_passive_reply(script, &["EPSV", "PASV", "NOOP"]).await;
}

#[tokio::test]
async fn pasv_port_zero_is_a_protocol_error_and_retr_is_never_sent() {
    let script = pasv_script("227 Entering Passive Mode (127,0,0,1,0,0).\r\n");
    refused_passive_reply(script, &["EPSV", "PASV", "NOOP"]).await;
}

#[tokio::test]
async fn pasv_with_text_around_the_numbers_works() {
    let script = plain_login()
        .epsv_refused()
        .passive_listen()
        .send_with(|ctx| {
            let port = ctx.data_addr.unwrap().port();
            format!(
                "227 Data port is =127, 0, 0, 1 ,{} ,{}= (really) 1,2,3\r\n",
                port >> 8,
                port & 0xff
            )
            .into_bytes()
        })
        .send_data("RETR f", b"payload")
        .expect_eof();
    let (got, t) = common::download_from(script, plain).await;
    assert_eq!(got, b"payload");
    assert_lines_clean(&t);
}

#[tokio::test]
async fn pasv_to_a_foreign_host_connects_to_the_control_peer() {
    let script = plain_login()
        .foreign_pasv()
        .send_data("RETR f", b"from the control peer")
        .expect_eof();
    let (got, t) = common::download_from(script, plain).await;
    assert_eq!(got, b"from the control peer");
    let d = t.data_connections();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].local.ip(), IpAddr::from(Ipv4Addr::LOCALHOST));
    assert_eq!(d[0].peer.ip(), IpAddr::from(Ipv4Addr::LOCALHOST));
}

#[tokio::test]
async fn pasv_to_a_foreign_host_with_trust_reply_goes_there_and_fails_fast() {
    let script = plain_login()
        .foreign_pasv()
        .expect_line("RETR f")
        // Nobody connects to the real listener (127.0.0.1), and the server
        // says nothing: the client's failure is its own.
        .data_expect_none(Duration::from_millis(500))
        .expect_eof();
    let (server, mut c) = start_with(script, |cfg| {
        cfg.passive_address = PassiveAddress::TrustReply;
        cfg.timeouts.reply = SHORT;
        cfg.timeouts.data_connect = SHORT;
    })
    .await;
    let e = c.retr("f").await.err().unwrap();
    assert!(
        matches!(e.kind(), ErrorKind::Io | ErrorKind::Timeout),
        "{e:?}"
    );
    assert!(e.reply().is_none(), "{e:?}");
    let t = finish_sent(server, c, &["EPSV", "PASV", "RETR"]).await;
    assert!(t.data_connections().is_empty());
    assert!(t.has(|e| matches!(e, Event::NoDataConnection)));
}

// ----- 229 ---------------------------------------------------------------

#[tokio::test]
async fn epsv_port_above_65535_is_a_protocol_error() {
    let script = plain_login()
        .expect("EPSV")
        .reply("229 Entering Extended Passive Mode (|||65536|)\r\n");
    // No fallback to PASV, no RETR.
    refused_passive_reply(script, &["EPSV", "NOOP"]).await;
}

const EPSV_GARBAGE: [&str; 7] = [
    "229 Entering Extended Passive Mode (garbage)\r\n",
    "229 Entering Extended Passive Mode (|||)\r\n",
    "229 Entering Extended Passive Mode (|||-1|)\r\n",
    "229 Entering Extended Passive Mode (|||0|)\r\n",
    "229 Entering Extended Passive Mode (|||21\r\n",
    "229 Entering Extended Passive Mode |||2121|\r\n",
    "229 Entering Extended Passive Mode (1|||2121|)\r\n",
];

#[tokio::test]
async fn epsv_garbage_is_a_protocol_error() {
    let mut script = plain_login();
    for reply in EPSV_GARBAGE {
        script = script.expect("EPSV").reply(reply);
    }
    let script = script.noop().expect_eof();
    let (server, mut c) = start(script).await;
    for reply in EPSV_GARBAGE {
        let e = c.list(None).await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{reply:?}: {e:?}");
    }
    c.noop().await.unwrap();
    let mut want = vec!["EPSV"; EPSV_GARBAGE.len()];
    want.push("NOOP");
    let t = finish_sent(server, c, &want).await;
    assert!(t.data_connections().is_empty());
}

#[tokio::test]
async fn epsv_address_field_pointing_elsewhere_is_ignored() {
    let script = plain_login()
        .expect("EPSV")
        .passive_listen()
        .send_with(|ctx| {
            format!(
                "229 Entering Extended Passive Mode (|1|127.0.0.2|{}|)\r\n",
                ctx.data_addr.unwrap().port()
            )
            .into_bytes()
        })
        .send_data("RETR f", b"x")
        .expect_eof();
    let (got, t) = common::download_from(script, |server| {
        let mut cfg = plain(server);
        // Even when 227 addresses are trusted, 229 carries only a port.
        cfg.passive_address = PassiveAddress::TrustReply;
        cfg
    })
    .await;
    assert_eq!(got, b"x");
    assert_eq!(t.data_connections().len(), 1);
}

// ----- reply framing ----------------------------------------------------

/// Replies that break the framing: after login, `PWD` answered with any of
/// them fails with a protocol error, and the client sends nothing more.
#[tokio::test]
async fn malformed_replies_are_fatal_protocol_errors() {
    let mut line_of_17_kb = b"257 \"/".to_vec();
    line_of_17_kb.extend(std::iter::repeat_n(b'a', 17 * 1024));
    line_of_17_kb.extend_from_slice(b"\"\r\n");
    let mut ten_thousand_lines = b"257-\"/\" is it\r\n".to_vec();
    for _ in 0..10_000 {
        ten_thousand_lines.extend_from_slice(b" more\r\n");
    }
    ten_thousand_lines.extend_from_slice(b"257 end\r\n");
    let cases = [
        ("a line of 17 KB", line_of_17_kb),
        ("10000 continuation lines", ten_thousand_lines),
        ("NUL", b"257 \"/a\0b\" is current\r\n".to_vec()),
        ("malformed code", b"25x \"/\"\r\n".to_vec()),
    ];
    for (name, reply) in cases {
        let script = plain_login().expect("PWD").send(reply).expect_eof();
        let (server, mut c) = start(script).await;
        let e = c.pwd().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{name}: {e:?}");
        assert!(e.reply().is_none(), "{name}: {e:?}");
        // Nothing after the error.
        finish_broken(server, c, &["PWD"]).await;
    }
}

#[tokio::test]
async fn an_extra_unsolicited_reply_is_a_protocol_error() {
    let script = plain_login()
        .expect("NOOP")
        .reply("200 ok\r\n200 and another\r\n")
        .expect_eof();
    let (server, mut c) = start(script).await;
    let e = c.noop().await.unwrap_err();
    assert_error(&e, ErrorKind::Protocol, None);
    finish_broken(server, c, &["NOOP"]).await;
}

#[tokio::test]
async fn lf_only_line_endings_work() {
    let script = Script::new()
        .send("220-scripted\n220 with bare LF\n")
        .expect_line("USER alice")
        .reply("331 pw\n")
        .expect_line("PASS s3cret")
        .reply("230 in\n")
        .expect("FEAT")
        .reply("211-Features:\n EPSV\n REST STREAM\n211 End\n")
        .expect_line("TYPE I")
        .reply("200 binary\n")
        .expect("PWD")
        .reply("257 \"/home/alice\" is current\n")
        .expect("EPSV")
        .passive_listen()
        .send_with(|ctx| {
            format!(
                "229 Entering Extended Passive Mode (|||{}|)\n",
                ctx.data_addr.unwrap().port()
            )
            .into_bytes()
        })
        .expect_line("LIST")
        .reply("150 here\n")
        .data_accept()
        .data_send(b"-rw-r--r-- 1 u g 5 Jan 1 2020 a.txt\n")
        .data_close()
        .reply("226 done\n")
        .expect_eof();
    let (server, mut c) = start(script).await;
    assert!(c.features().supports_rest_stream());
    assert_eq!(c.pwd().await.unwrap(), "/home/alice");
    let list = c.list(None).await.unwrap();
    assert_eq!(list.len(), 1);
    let ListLine::Entry(e) = &list[0] else {
        panic!("{list:?}")
    };
    assert_eq!(e.name.as_bytes(), b"a.txt");
    let t = finish(server, c).await;
    assert_lines_clean(&t);
}

#[tokio::test]
async fn several_replies_in_one_packet_work() {
    let script = Script::new()
        // A 120 and the 220 together.
        .send("120 wait a moment\r\n220 ready\r\n")
        .expect_line("USER alice")
        .reply("331 pw\r\n")
        .expect_line("PASS s3cret")
        .reply("230 in\r\n")
        .expect("FEAT")
        .reply("211-Features:\r\n EPSV\r\n211 End\r\n")
        .expect_line("TYPE I")
        .reply("200 binary\r\n")
        .epsv()
        .expect_line("RETR f")
        .data_accept()
        .data_send(b"data")
        .data_close()
        // The mark and the completion in one write.
        .reply("150 here\r\n226 done\r\n")
        .noop()
        .expect_eof();
    let info = download_then_noop(script, b"data").await;
    assert_eq!(info.mark.as_ref().unwrap().code().as_u16(), 150);
}

// ----- TLS downgrades ----------------------------------------------------

/// Connects with explicit TLS to a server playing `script` to its end,
/// which must fail with `kind`: what the server saw.
async fn refused_with(script: Script, kind: ErrorKind) -> Transcript {
    let (e, t) = common::refused_explicit(script.expect_eof(), &TestPki::new()).await;
    assert_error(&e, kind, None);
    t
}

#[tokio::test]
async fn replies_sent_before_the_tls_handshake_are_refused() {
    let script = common::auth_tls()
        // Injected plaintext replies riding behind the 234 (CVE-2021-22947).
        .send_then_tls("234 go\r\n", "331 pw\r\n230 logged in\r\n");
    let t = refused_with(script, ErrorKind::Protocol).await;
    assert_eq!(t.verbs(), ["AUTH"], "no USER/PASS:\n{t}");
    assert!(t.control_tls().is_empty(), "no handshake either:\n{t}");
}

/// A server that skips TLS while it is required: logged in by the greeting
/// (nothing is sent at all), or refusing `AUTH` (no USER/PASS in the clear).
#[tokio::test]
async fn a_server_without_tls_is_a_downgrade() {
    let cases = [
        (
            "greeting 230",
            Script::new().send("230 welcome, no password needed\r\n"),
            &[][..],
        ),
        (
            "AUTH answered 500",
            common::auth_tls().reply("500 AUTH not understood\r\n"),
            &["AUTH"],
        ),
    ];
    for (name, script, verbs) in cases {
        let t = refused_with(script, ErrorKind::Downgrade).await;
        t.assert_ok();
        assert_eq!(t.verbs(), verbs, "{name}:\n{t}");
    }
}

#[tokio::test]
async fn prot_p_refused_is_a_downgrade() {
    let script = common::tls_login_to_prot("534 PROT P refused by policy\r\n");
    let t = refused_with(script, ErrorKind::Downgrade).await;
    t.assert_ok();
    assert_eq!(t.verbs(), ["AUTH", "USER", "PASS", "PBSZ", "PROT"]);
    // USER and PASS only travelled after the handshake.
    let events: Vec<&Event> = t.events().collect();
    let tls_at = events
        .iter()
        .position(|e| matches!(e, Event::TlsEstablished(_)))
        .unwrap();
    let user_at = events
        .iter()
        .position(|e| matches!(e, Event::Command(c) if c.verb() == "USER"))
        .unwrap();
    assert!(tls_at < user_at, "{t}");
    assert_lines_clean(&t);
}

// ----- PWD ---------------------------------------------------------------

/// `PWD` answered with `reply`, then a `NOOP` that must still work.
async fn pwd_reply(reply: &'static [u8]) -> ftpkit::Result<Vec<u8>> {
    let script = plain_login().expect("PWD").send(reply).noop().expect_eof();
    let (server, mut c) = start(script).await;
    let r = c.pwd_raw().await;
    // The reply itself was well framed: the session goes on.
    c.noop().await.unwrap();
    finish_sent(server, c, &["PWD", "NOOP"]).await;
    r
}

#[tokio::test]
async fn pwd_with_an_unterminated_quote_is_a_protocol_error() {
    let e = pwd_reply(b"257 \"/home/alice is current\r\n")
        .await
        .unwrap_err();
    assert_error(&e, ErrorKind::Protocol, None);
}

#[tokio::test]
async fn pwd_with_doubled_quotes_returns_the_unescaped_path() {
    let p = pwd_reply(b"257 \"/a \"\"quoted\"\" dir\" is current\r\n")
        .await
        .unwrap();
    assert_eq!(p, b"/a \"quoted\" dir");
}

#[tokio::test]
async fn pwd_with_control_bytes_is_a_protocol_error() {
    for reply in [
        &b"257 \"/a\x1b[31mred\" is current\r\n"[..],
        b"257 \"/a\x07b\" is current\r\n",
        b"257 \"/a\x7fb\" is current\r\n",
    ] {
        let e = pwd_reply(reply).await.unwrap_err();
        assert_error(&e, ErrorKind::Protocol, None);
    }
}

// ----- 421 ---------------------------------------------------------------

#[tokio::test]
async fn reply_421_mid_session_is_closed() {
    let script = plain_login()
        .expect("CWD")
        .reply("421 Service not available, closing control connection\r\n")
        .close();
    let (server, mut c) = start(script).await;
    let e = c.cwd("dir").await.unwrap_err();
    assert_error(&e, ErrorKind::Closed, Some(421));
    assert!(e.is_transient());
    // Nothing after the 421.
    finish_broken(server, c, &["CWD"]).await;
}

#[tokio::test]
async fn reply_421_mid_download_is_closed() {
    let script = plain_login()
        .epsv_open("RETR big", "150 here\r\n")
        .data_send(vec![1u8; 64 * 1024])
        .delay(Duration::from_millis(100))
        // The control connection says 421 while data still flows.
        .reply("421 Shutting down\r\n")
        .data_send(vec![2u8; 64 * 1024])
        .data_close()
        .close();
    let (server, mut c) = start(script).await;
    // Usually the 421 comes out of the download; if the 150 and the 421
    // arrive in one read, out of `retr` itself. Either way it is typed.
    let e = match c.retr("big").await {
        Ok(mut dl) => read_all(&mut dl).await.unwrap_err(),
        Err(e) => e,
    };
    assert_error(&e, ErrorKind::Closed, Some(421));
    // No ABOR after 421.
    finish_broken(server, c, &["EPSV", "RETR"]).await;
}

#[tokio::test]
async fn reply_421_while_the_data_connection_stalls() {
    let script = plain_login()
        .epsv_open("RETR big", "150 here\r\n")
        .data_send(b"some")
        .delay(Duration::from_millis(100))
        // 421 on the control connection; the data connection stays open
        // and silent.
        .reply("421 Shutting down\r\n")
        // The client cannot know of the 421 yet: its recovery sends ABOR,
        // and nothing after it.
        .expect_line("ABOR")
        .expect_eof();
    let (server, mut c) = start_with(script, |cfg| cfg.timeouts.data_idle = SHORT).await;
    // The download watches only the data connection: the idle deadline
    // ends it.
    let mut dl = c.retr("big").await.unwrap();
    let e = read_all(&mut dl).await.unwrap_err();
    assert_error(&e, ErrorKind::Timeout, None);
    drop(dl);
    // The next call aborts the transfer, reads the 421 and reports the
    // client unusable.
    let e = c.noop().await.unwrap_err();
    assert_error(&e, ErrorKind::Broken, None);
    finish_broken(server, c, &["EPSV", "RETR", "ABOR"]).await;
}

// ----- active mode -------------------------------------------------------

fn active(server: &ScriptedServer) -> Config {
    let mut cfg = plain(server);
    cfg.data_mode = DataMode::Active(ActiveConfig::default());
    cfg.timeouts.accept = SHORT;
    cfg.timeouts.reply = SHORT;
    cfg
}

#[tokio::test]
async fn active_server_that_never_connects_hits_the_accept_deadline() {
    let script = plain_login()
        .active_address("EPRT |1|127.0.0.1|")
        .expect_line("RETR f")
        .reply("150 connecting\r\n")
        .expect_eof();
    let (server, mut c) = common::start(script, active).await;
    let e = c.retr("f").await.err().unwrap();
    assert_error(&e, ErrorKind::Timeout, None);
    let t = finish_sent(server, c, &["EPRT", "RETR"]).await;
    assert!(t.data_connections().is_empty());
}

/// What a connection from the foreign address saw: the bytes it read before
/// the end, and whether the end was a close or reset (`true`) rather than
/// the test's own deadline (`false`).
type ForeignOutcome = (Vec<u8>, bool);

/// A script step that answers EPRT with 200 after connecting to the
/// client's listener from `127.0.0.2` (a foreign peer), reporting what
/// that connection saw on `tx`.
fn eprt_then_foreign_connect(script: Script, tx: mpsc::Sender<ForeignOutcome>) -> Script {
    let tx = Mutex::new(tx);
    script.expect("EPRT").send_with(move |ctx| {
        let line = ctx.last_command.clone().unwrap();
        let target = ftpkit_testkit::parse_eprt_argument(&line.argument().unwrap()).unwrap();
        let tx = tx.lock().unwrap().clone();
        tokio::spawn(async move {
            let outcome = foreign_connect(target).await;
            let _ = tx.send(outcome);
        });
        b"200 EPRT ok\r\n".to_vec()
    })
}

async fn foreign_connect(target: SocketAddr) -> ForeignOutcome {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(FOREIGN.into(), 0)).unwrap();
    let Ok(mut s) = sock.connect(target).await else {
        return (Vec::new(), true);
    };
    let mut got = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
    (got, r.is_ok())
}

/// The login, an `EPRT` answered after a foreign peer connected to the
/// client's listener, and `STOR up.bin` answered `150`; and where what that
/// peer saw arrives. `None` where `127.0.0.2` cannot be bound (then
/// ActiveListener's own unit test covers the check with a fake control
/// peer).
fn foreign_stor() -> Option<(Script, mpsc::Receiver<ForeignOutcome>)> {
    if std::net::TcpListener::bind((FOREIGN, 0)).is_err() {
        eprintln!("skipped: cannot bind 127.0.0.2");
        return None;
    }
    let (tx, rx) = mpsc::channel();
    let script = eprt_then_foreign_connect(plain_login(), tx)
        .expect_line("STOR up.bin")
        .reply("150 go\r\n");
    Some((script, rx))
}

/// The foreign peer of [`foreign_stor`] got nothing and was shut out.
fn assert_foreign_shut_out(rx: &mpsc::Receiver<ForeignOutcome>) {
    let (foreign_got, ended) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(foreign_got.is_empty(), "upload leaked to a foreign peer");
    assert!(ended, "the foreign connection was not closed");
}

#[tokio::test]
async fn active_connection_from_a_foreign_address_is_refused_and_the_real_one_used() {
    let Some((script, rx)) = foreign_stor() else {
        return;
    };
    let script = script
        .delay(Duration::from_millis(100))
        .active_connect()
        .data_recv_to_end()
        .reply("226 stored\r\n")
        .expect_eof();
    let (server, mut c) = common::start(script, |server| {
        let mut cfg = active(server);
        cfg.timeouts.accept = DEADLINE;
        cfg
    })
    .await;
    let mut up = c.stor("up.bin").await.unwrap();
    common::write_and_close(&mut up, b"for the server only").await;
    drop(up);
    let t = finish(server, c).await;
    assert_eq!(t.data_received(), [&b"for the server only"[..]]);
    assert_foreign_shut_out(&rx);
}

#[tokio::test]
async fn active_connection_only_from_a_foreign_address_hits_the_accept_deadline() {
    let Some((script, rx)) = foreign_stor() else {
        return;
    };
    let script = script.expect_eof();
    let (server, mut c) = common::start(script, active).await;
    let e = c.stor("up.bin").await.err().unwrap();
    assert_error(&e, ErrorKind::Timeout, None);
    finish_sent(server, c, &["EPRT", "STOR"]).await;
    assert_foreign_shut_out(&rx);
}

// ----- stalls ------------------------------------------------------------

#[tokio::test]
async fn stall_mid_reply_hits_the_reply_deadline() {
    let script = plain_login()
        .expect("PWD")
        .send_partial("257 \"/half a rep");
    let (server, mut c) = start_with(script, |cfg| cfg.timeouts.reply = SHORT).await;
    let e = c.pwd().await.unwrap_err();
    assert_error(&e, ErrorKind::Timeout, None);
    // Nothing after the time-out.
    finish_broken(server, c, &["PWD"]).await;
}

#[tokio::test]
async fn stall_mid_data_hits_the_idle_deadline_and_the_client_recovers() {
    let script = plain_login()
        .epsv_open("RETR f", "150 here\r\n")
        .data_send(b"first part")
        // ... and nothing more on either connection until ABOR.
        .expect_line("ABOR")
        .data_close()
        .reply("426 aborted\r\n226 ABOR ok\r\n")
        .after_abort_noop()
        .expect_eof();
    let (server, mut c) = start_with(script, |cfg| cfg.timeouts.data_idle = SHORT).await;
    let mut dl = c.retr("f").await.unwrap();
    let mut got = Vec::new();
    let e = dl.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(got, b"first part");
    let e = ftpkit::Error::from_io_error(e);
    assert_error(&e, ErrorKind::Timeout, None);
    drop(dl);
    finish_recovered(server, c).await;
}

// ----- hostile listings --------------------------------------------------

const HOSTILE_NAMES: [&[u8]; 9] = [
    b"../../etc/passwd",
    b"..",
    b"a/b",
    b"/etc/shadow",
    b"C:\\Windows\\evil.dll",
    b"..\\..\\boot.ini",
    b"bell\x07name",
    b"esc\x1b[31mred",
    b"del\x7fname",
];

fn listing(names: &[&[u8]], row: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut data = Vec::new();
    for n in names {
        data.extend(row(n));
        data.extend_from_slice(b"\r\n");
    }
    data.extend(row(b"ok.txt"));
    data.extend_from_slice(b"\r\n");
    data
}

fn listing_script(verb: &str, data: Vec<u8>) -> Script {
    plain_login().epsv_send(verb, data).expect_eof()
}

#[track_caller]
fn assert_names(names: &[RawName]) {
    let want: Vec<&[u8]> = HOSTILE_NAMES
        .iter()
        .copied()
        .chain([&b"ok.txt"[..]])
        .collect();
    let got: Vec<&[u8]> = names.iter().map(RawName::as_bytes).collect();
    assert_eq!(got, want);
    for n in &names[..HOSTILE_NAMES.len()] {
        assert!(!n.is_safe_component(), "{n:?} passed as safe");
    }
    assert!(names[HOSTILE_NAMES.len()].is_safe_component());
}

/// [`assert_names`] of `entries`, and `..` among them a parent directory.
#[track_caller]
fn assert_entries<'a>(entries: impl IntoIterator<Item = &'a Entry>) {
    let entries: Vec<&Entry> = entries.into_iter().collect();
    let names: Vec<RawName> = entries.iter().map(|e| e.name.clone()).collect();
    assert_names(&names);
    assert_eq!(entries[1].kind, EntryKind::ParentDir);
}

#[tokio::test]
async fn list_returns_hostile_names_as_unsafe_entries() {
    let data = listing(&HOSTILE_NAMES, |n| {
        let kind = if n == b".." { "d" } else { "-" };
        let mut row = format!("{kind}rw-r--r-- 1 u g 5 Jan  1  2020 ").into_bytes();
        row.extend_from_slice(n);
        row
    });
    let (server, mut c) = start(listing_script("LIST", data)).await;
    let list = c.list(None).await.unwrap();
    let entries: Vec<_> = list
        .iter()
        .map(|l| match l {
            ListLine::Entry(e) => e,
            other => panic!("not parsed: {other:?}"),
        })
        .collect();
    assert_entries(entries);
    finish(server, c).await;
}

#[tokio::test]
async fn mlsd_returns_hostile_names_as_unsafe_entries() {
    let data = listing(&HOSTILE_NAMES, |n| {
        let mut row = if n == b".." {
            b"type=pdir;modify=20200101000000; ".to_vec()
        } else {
            b"type=file;size=5;modify=20200101000000; ".to_vec()
        };
        row.extend_from_slice(n);
        row
    });
    let (server, mut c) = start(listing_script("MLSD", data)).await;
    assert_entries(&c.mlsd(None).await.unwrap());
    finish(server, c).await;
}

#[tokio::test]
async fn nlst_returns_hostile_names_as_unsafe() {
    let data = listing(&HOSTILE_NAMES, <[u8]>::to_vec);
    let (server, mut c) = start(listing_script("NLST", data)).await;
    let names = c.nlst(None).await.unwrap();
    assert_names(&names);
    finish(server, c).await;
}

// ----- control characters in arguments -----------------------------------

const BAD_ARGS: [&str; 6] = ["a\r\nDELE x", "a\nb", "a\rb", "a\0b", "\r\n", "x\r\nPASS y"];

#[tokio::test]
async fn cr_lf_nul_in_every_argument_are_refused_and_nothing_is_sent() {
    let script = plain_login().noop().expect_eof();
    let (server, mut c) = start(script).await;
    for bad in BAD_ARGS {
        for (what, e) in common::errors_for_argument(&mut c, bad).await {
            assert_eq!(
                e.kind(),
                ErrorKind::InvalidArgument,
                "{what}({bad:?}): {e:?}"
            );
            assert!(e.reply().is_none());
        }
        assert!(!c.is_broken());
    }
    c.noop().await.unwrap();
    // Nothing but NOOP.
    finish_sent(server, c, &["NOOP"]).await;
}

#[tokio::test]
async fn cr_lf_in_configured_credentials_or_host_refuse_before_connecting() {
    for tweak in [
        (|c: &mut Config| c.credentials = Some(Credentials::new("alice\r\nDELE x", "pw")))
            as fn(&mut Config),
        |c| c.credentials = Some(Credentials::new("alice", "pw\r\nDELE x")),
        |c| c.credentials = Some(Credentials::new("alice", "pw").with_account("a\nb")),
        |c| c.virtual_host = Some("ftp.example\r\nUSER x".into()),
    ] {
        let server = ScriptedServer::start(Script::new().timeout(SHORT)).await;
        let mut cfg = plain(&server);
        tweak(&mut cfg);
        let e = Client::connect(cfg).await.unwrap_err();
        assert_error(&e, ErrorKind::InvalidArgument, None);
        let t = server.finish().await;
        assert!(
            !t.has(|e| matches!(e, Event::Connected { .. })),
            "connected anyway:\n{t}"
        );
    }
}

// ----- data connection faults --------------------------------------------

#[tokio::test]
async fn data_after_the_226_is_harmless() {
    let script = plain_login()
        .epsv_open("RETR f", "150 here\r\n")
        .data_send(b"before")
        .reply("226 done\r\n")
        .delay(Duration::from_millis(50))
        .data_send(b" and after")
        .data_close()
        .noop()
        .expect_eof();
    // The client reads the data connection to its end: nothing is lost,
    // nothing is mistaken for a reply.
    download_then_noop(script, b"before and after").await;
}

#[tokio::test]
async fn data_connection_reset_mid_transfer_is_an_io_error_and_the_client_recovers() {
    let script = plain_login()
        .epsv_open("RETR f", "150 here\r\n")
        .data_send(vec![3u8; 100_000])
        .data_reset()
        // The reply comes once the client has seen the reset (as from a
        // server that notices the broken connection a moment later), so
        // that it still has a transfer to abort.
        .delay(Duration::from_millis(200))
        .reply("426 Connection reset; transfer aborted\r\n")
        .expect_line("ABOR")
        .reply("226 ABOR ok\r\n")
        .after_abort_noop()
        .expect_eof();
    let (server, mut c) = start(script).await;
    let mut dl = c.retr("f").await.unwrap();
    let e = read_all(&mut dl).await.unwrap_err();
    assert_error(&e, ErrorKind::Io, None);
    drop(dl);
    finish_recovered(server, c).await;
}

/// A server that skips the 1yz mark and answers 226 once the data is sent.
#[tokio::test]
async fn completion_without_a_mark_after_data() {
    let script = plain_login()
        .epsv()
        .expect_line("RETR f")
        .data_accept()
        .data_send(b"no mark")
        .data_close()
        // No 1yz mark, straight to 226.
        .reply("226 done\r\n")
        .noop()
        .expect_eof();
    download_then_noop(script, b"no mark").await;
}

// ----- slow servers ------------------------------------------------------

/// `Timeouts::reply` is "each reply from the server"; a server that drips
/// one byte at a time, each well inside the deadline, must still hit it.
#[tokio::test]
async fn reply_dripped_byte_by_byte_hits_the_reply_deadline() {
    let reply = b"257 \"/slow\" is current\r\n";
    let parts: Vec<&[u8]> = reply.chunks(1).collect();
    let script = plain_login()
        .expect("PWD")
        .send_split(&parts, Duration::from_millis(150))
        .expect_eof();
    let (server, mut c) = start_with(script, |cfg| {
        cfg.timeouts.reply = Duration::from_millis(400);
    })
    .await;
    let e = c.pwd().await.unwrap_err();
    assert_error(&e, ErrorKind::Timeout, None);
    assert!(c.is_broken());
    drop(c);
    let _ = server.finish().await;
}

/// 1yz replies to a command that never completes: each is well inside the
/// deadline, but the final reply is not.
#[tokio::test]
async fn endless_preliminary_replies_hit_the_reply_deadline() {
    let mut script = plain_login().expect("NOOP");
    for _ in 0..20 {
        script = script
            .reply("110 still thinking\r\n")
            .delay(Duration::from_millis(100));
    }
    let script = script.reply("200 ok\r\n").expect_eof();
    let (server, mut c) = start_with(script, |cfg| {
        cfg.timeouts.reply = Duration::from_millis(400);
    })
    .await;
    let e = c.noop().await.unwrap_err();
    assert_error(&e, ErrorKind::Timeout, None);
    drop(c);
    let _ = server.finish().await;
}

// ----- the data connection's certificate ------------------------------------

/// A TLS login whose control connection presents the good certificate and
/// whose first data connection presents `data_cert`: the client must refuse
/// the data handshake, read nothing from it, and report a certificate error.
async fn bad_data_certificate(pki: &TestPki, data_tls: ServerTls) {
    let script = Script::logged_in_tls("alice", "s3cret", "211 no features\r\n")
        .epsv()
        .expect_line("RETR secret.bin")
        .reply("150 here\r\n")
        .data_accept_with(TlsExpect::Failure)
        .reply("426 data connection failed\r\n");
    let server = ScriptedServer::builder()
        .session(script)
        .tls(ServerTls::new(pki))
        .data_tls(data_tls)
        .start()
        .await;
    let mut c = Client::connect(explicit(&server, pki)).await.unwrap();
    let e = match c.retr("secret.bin").await {
        Err(e) => e,
        Ok(mut dl) => read_all(&mut dl).await.unwrap_err(),
    };
    // The server's reply to the failed data connection is attached.
    assert_error(&e, ErrorKind::Certificate, Some(426));
    drop(c);
    let t = server.finish().await;
    // The control connection was verified and worked; the data handshake
    // failed on the client's side.
    assert!(
        t.events().any(|e| matches!(e, Event::DataTlsFailed { .. })),
        "{t}"
    );
    assert_lines_clean(&t);
}

#[tokio::test]
async fn data_connection_with_a_certificate_from_another_ca_is_refused() {
    let rogue = TestPki::with_ca_name("rogue CA");
    bad_data_certificate(&TestPki::new(), ServerTls::new(&rogue)).await;
}

#[tokio::test]
async fn data_connection_with_a_certificate_for_another_host_is_refused() {
    let pki = TestPki::new();
    // The same CA signs it, but for a name the client did not connect to:
    // the data connection is checked against the control host name.
    let wrong = pki.issue_server_cert(&["evil.example"]);
    bad_data_certificate(&pki, ServerTls::new(&pki).server_cert(wrong)).await;
}
