//! Downloads whose byte count or starting offset does not match what the
//! server itself said are errors, even when the server says `226`
//! (issue #12, the first two rows of its table and the REST rows).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use std::path::Path;

use crate::common::{self, finish, partial_target, temp_dir, ScriptExt};
use ftpkit::ops::{self, FileOptions, FileReport, Verify};
use ftpkit::{Client, Config, ErrorKind, Security, Timeouts};
use ftpkit_testkit::{Script, ScriptedServer, Transcript};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn plain(server: &ScriptedServer) -> Config {
    common::config(server, Security::None, Duration::from_secs(10))
}

fn login() -> Script {
    common::logged_in(" EPSV\r\n REST STREAM\r\n SIZE\r\n")
}

/// `RETR f.bin` (after `REST rest` when given) answered with `mark`, then
/// `data`, then `226`.
fn retr(rest: Option<(u64, &str)>, mark: &str, data: &[u8]) -> Script {
    retr_on(login(), rest, mark, data)
}

/// [`retr`] after the script `s`.
fn retr_on(s: Script, rest: Option<(u64, &str)>, mark: &str, data: &[u8]) -> Script {
    let mut s = s.epsv();
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

/// A server playing `script` and a client connected to it.
async fn start(script: Script) -> (ScriptedServer, Client) {
    common::start(script, plain).await
}

/// The mark of a server that announces `bytes` bytes.
fn announcing(bytes: u64) -> String {
    format!("150 Opening BINARY mode data connection for f.bin ({bytes} bytes).\r\n")
}

/// Downloads `f.bin` from `offset` from a server playing `script`: the
/// bytes or the error, and what the server saw once the client was gone.
async fn download(script: Script, offset: u64) -> (ftpkit::Result<Vec<u8>>, Transcript) {
    let (server, mut c) = start(script).await;
    let got = match c.retr_from("f.bin", offset).await {
        Ok(mut dl) => common::read_all(&mut dl).await,
        Err(e) => Err(e),
    };
    drop(c);
    (got, server.finish().await)
}

/// `ops::download_file` of `f.bin` to `target` with `opts`, from a server
/// playing `script`, which must run as written.
async fn download_file(
    script: Script,
    target: &Path,
    opts: &FileOptions,
) -> ftpkit::Result<FileReport> {
    common::download_file(script, plain, target, opts).await
}

#[tokio::test]
async fn fewer_bytes_than_announced_is_truncation_despite_226() {
    let (got, _) = download(retr(None, &announcing(3000), &[7u8; 1500]), 0).await;
    let e = got.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e:?}");
    assert!(e.to_string().contains("announced 3000 bytes"), "{e}");
    assert!(e.to_string().contains("sent 1500"), "{e}");
}

#[tokio::test]
async fn more_bytes_than_announced_is_an_error() {
    let (got, _) = download(retr(None, &announcing(1000), &[7u8; 1500]), 0).await;
    let e = got.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}");
}

#[tokio::test]
async fn the_announced_size_matches_whole_or_remaining_after_rest() {
    for announced in [3000, 2500] {
        let rest = Some((500, "350 Restarting at 500. Send STORE or RETRIEVE\r\n"));
        let script = retr(rest, &announcing(announced), &[1u8; 2500]);
        let (got, t) = download(script, 500).await;
        assert_eq!(got.unwrap().len(), 2500, "{announced} announced");
        t.assert_ok();
    }
}

#[tokio::test]
async fn a_mark_without_a_size_is_not_checked() {
    let script = retr(None, "150 Accepted data connection\r\n", b"hello");
    assert_eq!(download(script, 0).await.0.unwrap(), b"hello");
}

#[tokio::test]
async fn rest_answered_with_another_offset_is_refused_before_any_byte() {
    let script = login()
        .epsv()
        .expect_line("REST 500000")
        .reply("350 Restarting at 0\r\n")
        .expect_line("REST 0")
        .reply("350 Restarting at 0\r\n")
        .noop();
    let (server, mut c) = start(script).await;
    let e = c.retr_from("f.bin", 500_000).await.err().expect("refused");
    assert_eq!(e.kind(), ErrorKind::RestartRefused, "{e:?}");
    assert_eq!(e.reply().map(|r| r.code().as_u16()), Some(350));
    // No RETR was sent, the marker was cleared, and the session goes on.
    let t = common::finish_after_noop(server, c).await;
    assert!(!t.verbs().iter().any(|v| v == "RETR"), "{t}");
}

/// `STOR up.bin` whose data connection the client ends without finishing:
/// the server must see a reset, not an end of file, then `ABOR`.
fn abandoned_upload() -> Script {
    login()
        .epsv_open("STOR up.bin", "150 go\r\n")
        .data_recv_to_end()
        .expect_line("ABOR")
        .reply("426 Transfer aborted\r\n226 ABOR ok\r\n")
        .after_abort_noop()
}

fn assert_reset(t: &Transcript) {
    let closes: Vec<_> = t
        .events()
        .filter_map(|e| match e {
            ftpkit_testkit::Event::DataReceived { close, bytes } => Some((*close, bytes.len())),
            _ => None,
        })
        .collect();
    assert_eq!(closes.len(), 1, "{t}");
    assert_eq!(closes[0].0, ftpkit_testkit::PeerClose::Reset, "{t}");
}

#[tokio::test]
async fn a_dropped_upload_is_reset_and_aborted_never_completed() {
    let (server, mut c) = start(abandoned_upload()).await;
    let mut up = c.stor("up.bin").await.unwrap();
    up.write_all(&vec![5u8; 256 * 1024]).await.unwrap();
    drop(up);
    // The next call aborts first, and is itself a plain success.
    let t = common::finish_after_noop(server, c).await;
    assert_reset(&t);
}

#[tokio::test]
async fn upload_abort_resets_and_waits_for_the_abort() {
    let (server, mut c) = start(abandoned_upload()).await;
    let mut up = c.stor("up.bin").await.unwrap();
    up.write_all(b"half a file").await.unwrap();
    up.abort().await.unwrap();
    let t = common::finish_after_noop(server, c).await;
    assert_reset(&t);
}

#[tokio::test]
async fn upload_finish_returns_the_completion() {
    let script = login().epsv_receive("STOR up.bin");
    let (server, mut c) = start(script).await;
    let mut up = c.stor("up.bin").await.unwrap();
    up.write_all(b"all of it").await.unwrap();
    let info = up.finish().await.unwrap();
    assert_eq!(info.bytes, 9);
    assert_eq!(info.completion.map(|r| r.code().as_u16()), Some(226));
    let t = finish(server, c).await;
    assert_eq!(t.data_received(), [b"all of it"]);
}

#[tokio::test]
async fn a_download_dropped_after_its_226_leaves_the_session_in_step() {
    // The mark and the completion in one read: the session has the 226
    // before the data is read. Dropping the download then must not leave
    // that reply for the next command.
    let script = login()
        .epsv_open("RETR f.bin", "150 Opening\r\n226 Transfer complete\r\n")
        .data_send([3u8; 100_000])
        .data_close()
        .noop();
    let (server, mut c) = start(script).await;
    let mut dl = c.retr("f.bin").await.unwrap();
    let mut first = [0u8; 10];
    dl.read_exact(&mut first).await.unwrap();
    drop(dl);
    common::finish_after_noop(server, c).await;
}

#[tokio::test]
async fn type_a_downloads_are_not_held_to_the_announced_size() {
    // ProFTPD announces the file's size on disk; in TYPE A the wire carries
    // CRLF line ends, more bytes than that.
    let script = login()
        .expect_line("TYPE A")
        .reply("200 ascii\r\n")
        .epsv_open(
            "RETR t.txt",
            "150 Opening ASCII mode data connection for t.txt (4 bytes)\r\n",
        )
        .data_send(b"a\r\nb\r\n")
        .data_close()
        .reply("226 Transfer complete\r\n");
    let (server, mut c) = start(script).await;
    c.set_type(ftpkit::TransferType::Ascii).await.unwrap();
    assert_eq!(common::download(&mut c, "t.txt").await, b"a\nb\n");
    finish(server, c).await;
}

// ----- the one download routine (`ops::download_file`, `download_to_writer`)

/// `SIZE f.bin` answered with `size`, then [`retr`].
fn size_then_retr(size: &str, rest: Option<(u64, &str)>, data: &[u8]) -> Script {
    retr_on(
        login().expect_line("SIZE f.bin").reply(size),
        rest,
        "150 opening\r\n",
        data,
    )
}

#[tokio::test]
async fn the_callers_expected_size_catches_a_short_file_and_keeps_the_old_one() {
    let dir = temp_dir("expected");
    let target = dir.join("f.bin");
    std::fs::write(&target, b"the old, complete file").unwrap();
    // No SIZE is asked (the caller knows the size), no size in the 150.
    let script = retr(None, "150 go\r\n", &[3u8; 1500]);
    let opts = FileOptions::new()
        .verify(Verify::Size)
        .expected_size(Some(3000));
    let e = download_file(script, &target, &opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e:?}");
    assert!(
        e.to_string()
            .contains("1500 bytes, the expected size is 3000"),
        "{e}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"the old, complete file");
    // What arrived waits in the partial file, for a resume.
    let part = ops::part_path(&target);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 1500);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_stream_shorter_than_size_is_an_error() {
    let (server, mut c) = start(size_then_retr("213 3000\r\n", None, &[1u8; 1000])).await;
    let opts = FileOptions::new();
    let e = ops::download_to_writer(&mut c, "f.bin", Box::new(std::io::sink()), &opts)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e:?}");
    assert!(e.to_string().contains("the server's SIZE is 3000"), "{e}");
    finish(server, c).await;
}

#[tokio::test]
async fn a_file_longer_than_size_is_an_error() {
    let dir = temp_dir("long");
    let target = dir.join("f.bin");
    let script = size_then_retr("213 10\r\n", None, &[1u8; 15]);
    let e = download_file(script, &target, &FileOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}");
    assert!(!target.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn without_any_size_the_report_says_unverified() {
    let dir = temp_dir("unknown");
    let target = dir.join("f.bin");
    let script = size_then_retr("502 SIZE not implemented\r\n", None, b"hello");
    let opts = FileOptions::new().verify(Verify::SizeWhenKnown);
    let r = download_file(script, &target, &opts).await.unwrap();
    assert_eq!(r.expected_size, None);
    assert!(!r.size_verified);
    assert_eq!(r.transferred, 5);
    assert_eq!(std::fs::read(&target).unwrap(), b"hello");
    // `Verify::Size` refuses to start without a size.
    let script = login()
        .expect_line("SIZE f.bin")
        .reply("502 SIZE not implemented\r\n");
    let e = download_file(script, &target, &FileOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"hello");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `REST 5`, which the server does not implement.
fn rest_refused(s: Script) -> Script {
    s.expect_line("REST 5")
        .reply("502 Command 'REST' not implemented\r\n")
}

/// Resumes `f.bin` from a partial `HELLO`, connected with the configuration
/// `config` makes to a server playing `script`, which cannot serve the
/// resume: the whole `hello world` must come again.
async fn assert_fetched_again(
    script: Script,
    config: impl FnOnce(&ScriptedServer) -> Config,
) -> FileReport {
    let (dir, target) = partial_target("norest", b"HELLO");
    let opts = FileOptions::new().resume(true);
    let r = common::download_file(script, config, &target, &opts)
        .await
        .unwrap();
    assert_eq!(r.resumed_from, 0);
    assert_eq!(std::fs::read(&target).unwrap(), b"hello world");
    assert!(!ops::part_path(&target).exists());
    std::fs::remove_dir_all(dir).unwrap();
    r
}

#[tokio::test]
async fn a_resume_that_rest_cannot_serve_fetches_the_whole_file_again() {
    // REST refused outright, then the whole file from 0.
    let s = rest_refused(login().sized("f.bin", 11).epsv());
    let script = retr_on(s, None, "150 go\r\n", b"hello world");
    let r = assert_fetched_again(script, plain).await;
    assert_eq!(r.expected_size, Some(11));
}

/// A server that reads no command after EPSV until the data connection is
/// open (Twisted) and has no REST: the resume sees the 502 at once and
/// fetches the whole file, instead of stalling until a deadline.
#[tokio::test]
async fn rest_on_a_server_that_waits_for_the_data_connection_does_not_stall() {
    // Nothing is read before the data connection is there.
    let s = rest_refused(login().sized("f.bin", 11).epsv().data_accept())
        .epsv()
        .data_accept()
        .expect_line("RETR f.bin")
        .reply("150 go\r\n")
        .data_send(b"hello world")
        .data_close()
        .reply("226 done\r\n");
    assert_fetched_again(s, |server| {
        let mut cfg = plain(server);
        // A stall would hit this deadline (and fail the download).
        cfg.timeouts = Timeouts::all(Duration::from_secs(3));
        cfg
    })
    .await;
}
