//! The scripted server's control connection, driven by a plain `TcpStream`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{assert_fails_with, cmd, connect, greeted, read_line, send_cmd, WAIT};
use ftpkit_testkit::{CloseKind, Event, PeerClose, Script, ScriptError, ScriptedServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn login_is_served_and_recorded() {
    let server = ScriptedServer::start(
        Script::new()
            .send("220 hello\r\n")
            .expect("user")
            .reply("331 pw\r\n")
            .expect_line("PASS secret")
            .reply("230 in\r\n")
            .expect("QUIT")
            .reply("221 bye\r\n")
            .expect_eof(),
    )
    .await;
    assert!(server.addr().ip().is_loopback());
    let mut c = connect(server.addr()).await;
    assert_eq!(read_line(&mut c).await, "220 hello\r\n");
    assert_eq!(cmd(&mut c, "USER anonymous").await, "331 pw\r\n");
    assert_eq!(cmd(&mut c, "PASS secret").await, "230 in\r\n");
    assert_eq!(cmd(&mut c, "QUIT").await, "221 bye\r\n");
    drop(c);

    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.commands(), ["USER anonymous", "PASS secret", "QUIT"]);
    assert_eq!(t.verbs(), ["USER", "PASS", "QUIT"]);
    assert_eq!(t.command_lines()[0].raw(), b"USER anonymous\r\n");
    assert!(t.has(|e| matches!(e, Event::ClientClosed(PeerClose::Fin))));
    assert!(matches!(t.events().last(), Some(Event::Finished)));
}

/// A greeting, then USER answered with `reply`.
fn user_answered(reply: &str) -> Script {
    Script::new()
        .send("220 hello\r\n")
        .expect("USER")
        .reply(reply)
}

#[tokio::test]
async fn unexpected_command_is_returned_not_panicked() {
    let (server, mut c) = greeted(user_answered("331 pw\r\n")).await;
    send_cmd(&mut c, "PASS early").await;
    // The server gives up on the session and drops the connection.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, c.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());

    let t = server.finish().await;
    assert!(!t.is_ok());
    assert_eq!(t.commands(), ["PASS early"]);
    match t.errors()[..] {
        [ScriptError::UnexpectedCommand { expected, got, .. }] => {
            assert!(expected.contains("USER"), "{expected}");
            assert_eq!(got.text(), "PASS early");
        }
        ref other => panic!("unexpected errors {other:?}"),
    }
}

#[tokio::test]
async fn expect_times_out_and_reports() {
    let (server, c) = greeted(
        Script::new()
            .timeout(Duration::from_millis(150))
            .send("220 hello\r\n")
            .expect("USER"),
    )
    .await;
    assert_fails_with(server, |e| matches!(e, ScriptError::Timeout { .. })).await;
    drop(c);
}

#[tokio::test]
async fn early_eof_and_partial_line_are_reported() {
    let (server, mut c) = greeted(Script::new().send("220 hi\r\n").expect("USER")).await;
    c.write_all(b"USE").await.unwrap();
    drop(c);
    let t = server.finish().await;
    assert!(t.has(|e| *e == Event::PartialLine(b"USE".to_vec())));
    assert!(
        matches!(
            t.errors()[..],
            [ScriptError::UnexpectedEof {
                close: PeerClose::Fin,
                ..
            }]
        ),
        "{t}"
    );
}

#[tokio::test]
async fn raw_bytes_are_sent_verbatim() {
    let long = format!("220-{}\r\n220 end\r\n", "x".repeat(17 * 1024));
    let server = ScriptedServer::start(
        Script::new()
            .send(b"220-nul\0here\n220 lf only\n")
            .send(&long)
            .send("331 one\r\n332 two in the same write\r\n")
            .send_split(&[b"2", b"30 split", b"\r\n"], Duration::from_millis(10)),
    )
    .await;
    let mut c = connect(server.addr()).await;
    let mut expected = b"220-nul\0here\n220 lf only\n".to_vec();
    expected.extend_from_slice(long.as_bytes());
    expected.extend_from_slice(b"331 one\r\n332 two in the same write\r\n230 split\r\n");
    let mut got = vec![0u8; expected.len()];
    tokio::time::timeout(WAIT, c.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, expected);
    drop(c);
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn bare_lf_commands_are_recorded_raw() {
    let server = ScriptedServer::start(Script::new().expect("NOOP").expect_any()).await;
    let mut c = connect(server.addr()).await;
    c.write_all(b"noop\nX\0Y\r\n").await.unwrap();
    drop(c);
    let t = server.finish().await;
    t.assert_ok();
    let lines = t.command_lines();
    assert!(!lines[0].is_crlf_terminated());
    assert_eq!(lines[0].verb(), "NOOP");
    assert_eq!(lines[1].raw(), b"X\0Y\r\n");
}

#[tokio::test]
async fn send_partial_stalls_until_the_client_gives_up() {
    let server = ScriptedServer::start(Script::new().send_partial("220 hel")).await;
    let mut c = connect(server.addr()).await;
    let mut buf = [0u8; 7];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"220 hel");
    // Nothing more comes.
    let more = tokio::time::timeout(Duration::from_millis(150), c.read(&mut buf)).await;
    assert!(more.is_err(), "server should stall");
    send_cmd(&mut c, "QUIT").await;
    drop(c);
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.commands(), ["QUIT"]);
    assert!(t.has(|e| matches!(e, Event::ClientClosed(_))));
}

#[tokio::test]
async fn stall_is_bounded_by_the_timeout() {
    let server =
        ScriptedServer::start(Script::new().timeout(Duration::from_millis(100)).stall()).await;
    let c = connect(server.addr()).await;
    assert_fails_with(server, |e| matches!(e, ScriptError::Timeout { .. })).await;
    drop(c);
}

#[tokio::test]
async fn commands_after_the_script_are_errors() {
    let (server, mut c) = greeted(user_answered("530 no\r\n")).await;
    assert_eq!(cmd(&mut c, "USER bob").await, "530 no\r\n");
    send_cmd(&mut c, "QUIT").await;
    drop(c);
    let t = server.finish().await;
    assert_eq!(t.commands(), ["USER bob", "QUIT"]);
    match t.errors()[..] {
        [ScriptError::CommandAfterScript { got }] => assert_eq!(got.text(), "QUIT"),
        ref other => panic!("unexpected errors {other:?}"),
    }
}

#[tokio::test]
async fn expect_silence_passes_and_fails() {
    let quiet =
        ScriptedServer::start(Script::new().expect_silence(Duration::from_millis(100))).await;
    let c = connect(quiet.addr()).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(c);
    let t = quiet.finish().await;
    t.assert_ok();

    let chatty = ScriptedServer::start(Script::new().expect_silence(Duration::from_secs(5))).await;
    let mut c = connect(chatty.addr()).await;
    send_cmd(&mut c, "NOOP").await;
    assert_fails_with(chatty, |e| {
        matches!(e, ScriptError::UnexpectedCommand { .. })
    })
    .await;
}

#[tokio::test]
async fn sequential_sessions_get_their_own_scripts() {
    let server = ScriptedServer::builder()
        .session(Script::new().send("421 busy\r\n").disconnect())
        .session(
            Script::new()
                .send("220 ok\r\n")
                .expect("USER")
                .reply("331 pw\r\n")
                .expect_eof(),
        )
        .start()
        .await;
    let mut c = connect(server.addr()).await;
    assert_eq!(read_line(&mut c).await, "421 busy\r\n");
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, c.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty());

    let mut c = connect(server.addr()).await;
    assert_eq!(read_line(&mut c).await, "220 ok\r\n");
    assert_eq!(cmd(&mut c, "USER x").await, "331 pw\r\n");
    drop(c);

    let t = server.finish().await;
    t.assert_ok();
    assert!(t.session(0).commands().is_empty());
    assert!(t
        .session(0)
        .has(|e| *e == Event::ServerClosed(CloseKind::Abrupt)));
    assert_eq!(t.session(1).commands(), ["USER x"]);
}

#[tokio::test]
async fn reset_is_seen_by_the_client() {
    let (server, mut c) = greeted(Script::new().send("220 hi\r\n").expect("USER").reset()).await;
    send_cmd(&mut c, "USER x").await;
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(WAIT, c.read(&mut buf)).await.unwrap();
    let err = r.expect_err("RST expected");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn nobody_connecting_is_reported() {
    let server = ScriptedServer::start(
        Script::new()
            .timeout(Duration::from_millis(100))
            .send("220\r\n"),
    )
    .await;
    assert_fails_with(server, |e| matches!(e, ScriptError::NoClient { .. })).await;
}

#[tokio::test]
async fn ipv6_loopback_listener() {
    let Ok(server) = ScriptedServer::builder()
        .ipv6()
        .session(Script::new().send("220 v6\r\n").expect_eof())
        .try_start()
        .await
    else {
        return; // no IPv6 loopback on this machine
    };
    assert_eq!(server.addr().ip(), std::net::Ipv6Addr::LOCALHOST);
    let mut c = connect(server.addr()).await;
    assert_eq!(read_line(&mut c).await, "220 v6\r\n");
    drop(c);
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn send_with_sees_the_last_command() {
    let server = ScriptedServer::start(Script::new().expect("SITE").send_with(|ctx| {
        let arg = ctx
            .last_command
            .as_ref()
            .and_then(|c| c.argument())
            .unwrap_or_default();
        format!("200 you said {arg}\r\n").into_bytes()
    }))
    .await;
    let mut c = connect(server.addr()).await;
    assert_eq!(cmd(&mut c, "SITE hello").await, "200 you said hello\r\n");
    drop(c);
    server.finish().await.assert_ok();
}
