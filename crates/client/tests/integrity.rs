//! Downloads whose byte count or starting offset does not match what the
//! server itself said are errors, even when the server says `226`
//! (issue #12, the first two rows of its table and the REST rows).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ftpkit::{Client, Config, Credentials, ErrorKind, Security, Timeouts};
use ftpkit_testkit::{Script, ScriptedServer};
use tokio::io::AsyncReadExt;

fn plain(server: &ScriptedServer) -> Config {
    let mut c = Config::new("localhost");
    c.port = server.port();
    c.security = Security::None;
    c.credentials = Some(Credentials::new("alice", "s3cret"));
    c.timeouts = Timeouts::all(Duration::from_secs(10));
    c
}

fn login() -> Script {
    Script::logged_in(
        "alice",
        "s3cret",
        Script::feat_reply(" EPSV\r\n REST STREAM\r\n SIZE\r\n"),
    )
}

/// `RETR f.bin` (after `REST rest` when given) answered with `mark`, then
/// `data`, then `226`.
fn retr(rest: Option<(u64, &str)>, mark: &str, data: &[u8]) -> Script {
    let mut s = login().expect("EPSV").passive_listen().reply_epsv();
    if let Some((offset, reply)) = rest {
        s = s.expect_line(format!("REST {offset}")).reply(reply);
    }
    s.expect_line("RETR f.bin")
        .reply(mark)
        .data_accept()
        .data_send(data)
        .data_close()
        .reply("226 Transfer complete\r\n")
}

async fn download(server: &ScriptedServer, offset: u64) -> Result<Vec<u8>, ftpkit::Error> {
    let mut c = Client::connect(plain(server)).await.unwrap();
    let mut dl = c.retr_from("f.bin", offset).await?;
    let mut got = Vec::new();
    dl.read_to_end(&mut got)
        .await
        .map_err(ftpkit::Error::from_io_error)?;
    Ok(got)
}

#[tokio::test]
async fn fewer_bytes_than_announced_is_truncation_despite_226() {
    let server = ScriptedServer::start(retr(
        None,
        "150 Opening BINARY mode data connection for f.bin (3000 bytes).\r\n",
        &[7u8; 1500],
    ))
    .await;
    let e = download(&server, 0).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e:?}");
    assert!(e.to_string().contains("announced 3000 bytes"), "{e}");
    assert!(e.to_string().contains("sent 1500"), "{e}");
}

#[tokio::test]
async fn more_bytes_than_announced_is_an_error() {
    let server = ScriptedServer::start(retr(
        None,
        "150 Opening BINARY mode data connection for f.bin (1000 bytes).\r\n",
        &[7u8; 1500],
    ))
    .await;
    let e = download(&server, 0).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}");
}

#[tokio::test]
async fn the_announced_size_matches_whole_or_remaining_after_rest() {
    for announced in [3000, 2500] {
        let server = ScriptedServer::start(retr(
            Some((500, "350 Restarting at 500. Send STORE or RETRIEVE\r\n")),
            &format!("150 Opening BINARY mode data connection for f.bin ({announced} bytes)\r\n"),
            &[1u8; 2500],
        ))
        .await;
        let got = download(&server, 500).await.unwrap();
        assert_eq!(got.len(), 2500);
        server.finish().await.assert_ok();
    }
}

#[tokio::test]
async fn a_mark_without_a_size_is_not_checked() {
    let server =
        ScriptedServer::start(retr(None, "150 Accepted data connection\r\n", b"hello")).await;
    assert_eq!(download(&server, 0).await.unwrap(), b"hello");
}

#[tokio::test]
async fn rest_answered_with_another_offset_is_refused_before_any_byte() {
    let script = login()
        .expect("EPSV")
        .passive_listen()
        .reply_epsv()
        .expect_line("REST 500000")
        .reply("350 Restarting at 0\r\n")
        .expect_line("REST 0")
        .reply("350 Restarting at 0\r\n")
        .expect("NOOP")
        .reply("200 ok\r\n");
    let server = ScriptedServer::start(script).await;
    let mut c = Client::connect(plain(&server)).await.unwrap();
    let e = c.retr_from("f.bin", 500_000).await.err().expect("refused");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}");
    assert_eq!(e.reply().map(|r| r.code().as_u16()), Some(350));
    // No RETR was sent, the marker was cleared, and the session goes on.
    c.noop().await.unwrap();
    drop(c);
    let t = server.finish().await;
    t.assert_ok();
    assert!(!t.verbs().iter().any(|v| v == "RETR"), "{t}");
}
