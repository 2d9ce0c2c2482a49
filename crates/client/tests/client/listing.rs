//! The one listing routine (`ops::list_stream`) and capability probing on
//! servers without FEAT (issue #13, points 1 and 2), against the scripted
//! server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use crate::common::{self, finish, ScriptExt};
use ftpkit::ops::{self, MirrorOptions};
use ftpkit::{Client, Config, ListLine, Security, Support};
use ftpkit_testkit::{Script, ScriptedServer};
use futures::StreamExt;

fn config(server: &ScriptedServer) -> Config {
    common::config(server, Security::None, Duration::from_secs(5))
}

/// Login on a server that refuses FEAT.
fn no_feat() -> Script {
    Script::logged_in("alice", "s3cret", "500 FEAT not understood\r\n")
}

fn with_feat(lines: &str) -> Script {
    Script::logged_in("alice", "s3cret", Script::feat_reply(lines))
}

/// `verb` over a passive data connection, answered with `rows`.
fn listing(s: Script, line: &str, rows: &[u8]) -> Script {
    s.epsv_send(line, rows)
}

async fn rows(c: &mut Client, path: Option<&str>) -> Vec<ListLine> {
    ops::list_stream(c, path)
        .map(|r| r.unwrap())
        .collect()
        .await
}

fn names(rows: &[ListLine]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| match r {
            ListLine::Entry(e) => Some(e.name.to_string()),
            _ => None,
        })
        .collect()
}

const LS: &[u8] = b"-rw-r--r--    1 0        0              5 Jan 02  2024 a.txt\r\n";

#[tokio::test]
async fn without_feat_mlsd_is_tried_once_then_list_is_remembered() {
    let s = no_feat()
        .epsv()
        .expect_line("MLSD /d")
        .reply("500 MLSD not understood\r\n");
    let s = listing(s, "LIST /d", LS);
    let s = listing(s, "LIST /e", LS);
    let server = ScriptedServer::start(s).await;
    let mut c = Client::connect(config(&server)).await.unwrap();
    assert_eq!(c.support("MLSD"), Support::Unknown);
    assert_eq!(names(&rows(&mut c, Some("/d")).await), ["a.txt"]);
    assert_eq!(c.support("MLSD"), Support::No);
    // The second listing goes straight to LIST (here through the
    // collecting form).
    assert_eq!(names(&c.list_dir(Some("/e")).await.unwrap()), ["a.txt"]);
    finish(server, c).await;
}

#[tokio::test]
async fn without_feat_a_working_mlsd_is_used() {
    let s = listing(
        no_feat(),
        "MLSD /d",
        b"type=file;size=5;modify=20240102030405; a.txt\r\n",
    );
    let server = ScriptedServer::start(s).await;
    let mut c = Client::connect(config(&server)).await.unwrap();
    assert_eq!(names(&rows(&mut c, Some("/d")).await), ["a.txt"]);
    assert_eq!(c.support("MLSD"), Support::Yes);
    finish(server, c).await;
}

/// Servers that run `ls` split `LIST c d` into two arguments: the folder
/// is listed from inside, and the next call comes back.
#[tokio::test]
async fn a_path_with_a_space_is_listed_from_inside_and_left_after() {
    let s = with_feat(" EPSV\r\n SIZE\r\n")
        .expect("PWD")
        .reply("257 \"/home/alice\" is the current directory\r\n")
        .expect_line("CWD dir/c d")
        .reply("250 ok\r\n");
    let s = listing(s, "LIST", LS)
        .expect_line("CWD /home/alice")
        .reply("250 ok\r\n")
        .expect_line("SIZE a.txt")
        .reply("213 5\r\n");
    let server = ScriptedServer::start(s).await;
    let mut c = Client::connect(config(&server)).await.unwrap();
    assert_eq!(names(&rows(&mut c, Some("dir/c d")).await), ["a.txt"]);
    // Relative paths mean what they meant before the listing.
    assert_eq!(c.size("a.txt").await.unwrap(), 5);
    finish(server, c).await;
}

#[tokio::test]
async fn a_listing_dropped_inside_its_directory_still_comes_back() {
    let s = with_feat(" EPSV\r\n")
        .expect("PWD")
        .reply("257 \"/\"\r\n")
        .expect_line("CWD -odd")
        .reply("250 ok\r\n")
        .epsv()
        .expect_line("LIST")
        .reply("150 listing\r\n")
        .data_accept()
        .data_send(LS)
        .expect("ABOR")
        .reply("426 aborted\r\n226 ABOR ok\r\n")
        .expect("PWD")
        .reply("257 \"/\"\r\n")
        .expect_line("CWD /")
        .reply("250 ok\r\n")
        .expect("NOOP")
        .reply("200 ok\r\n");
    let server = ScriptedServer::start(s).await;
    let mut c = Client::connect(config(&server)).await.unwrap();
    {
        let mut st = Box::pin(ops::list_stream(&mut c, Some("-odd")));
        assert!(matches!(st.next().await, Some(Ok(ListLine::Entry(_)))));
        // Dropped before its end.
    }
    c.noop().await.unwrap();
    finish(server, c).await;
}

#[tokio::test]
async fn an_ls_error_message_is_unparsed_never_an_entry() {
    let s = listing(
        with_feat(" EPSV\r\n"),
        "LIST probe",
        b"/bin/ls: cannot access 'probe/c': No such file or directory\r\n",
    );
    let server = ScriptedServer::start(s).await;
    let mut c = Client::connect(config(&server)).await.unwrap();
    let got = rows(&mut c, Some("probe")).await;
    assert!(names(&got).is_empty(), "{got:?}");
    assert!(matches!(got.as_slice(), [ListLine::Unparsed(_)]), "{got:?}");
    finish(server, c).await;
}

/// A server without FEAT that has MDTM: mirror asks it, keeps the answer,
/// and sets the local time (so a second run can skip the file).
#[tokio::test]
async fn mirror_without_feat_probes_mdtm_and_keeps_times() {
    let s = no_feat()
        .epsv()
        .expect_line("MLSD /")
        .reply("502 not implemented\r\n");
    let s = listing(
        s,
        "LIST /",
        b"-rw-r--r--    1 0        0              5 Jan 02 10:00 a.txt\r\n\
-rw-r--r--    1 0        0              3 Jan 02 10:00 b.txt\r\n",
    );
    let file = |s: Script, name: &str, data: &[u8]| {
        s.expect_line(format!("MDTM /{name}"))
            .reply("213 20240102030405\r\n")
            .epsv_send(format!("RETR /{name}"), data)
    };
    let s = file(s, "a.txt", b"hello");
    let s = file(s, "b.txt", b"abc");
    let server = ScriptedServer::start(s).await;
    let dir = std::env::temp_dir().join(format!(
        "ftpkit-listing-mdtm-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut c = Client::connect(config(&server)).await.unwrap();
    let opts = MirrorOptions {
        parallelism: 1,
        ..MirrorOptions::default()
    };
    let report = ops::mirror_down(&mut c, "/", &dir, &opts).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.files_transferred, 2);
    assert_eq!(c.support("MDTM"), Support::Yes);
    let t = std::fs::metadata(dir.join("a.txt"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(t, 1_704_164_645); // 2024-01-02T03:04:05Z
    finish(server, c).await;
    std::fs::remove_dir_all(dir).unwrap();
}
