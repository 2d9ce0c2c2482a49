//! The one listing routine (`ops::list_stream`) and capability probing on
//! servers without FEAT (issue #13, points 1 and 2), against the scripted
//! server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use crate::common::{self, entry_names, finish, list_rows, one_session, temp_dir, ScriptExt};
use ftpkit::ops;
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

/// The names in a listing of `path` by `ops::list_stream`.
async fn listed(c: &mut Client, path: &str) -> Vec<String> {
    entry_names(&list_rows(c, Some(path)).await)
}

/// `PWD` answered `home`, then `CWD dir`: the client enters a directory
/// to list it from inside.
fn enters(s: Script, home: &str, dir: &str) -> Script {
    s.expect("PWD")
        .reply(format!("257 \"{home}\" is the current directory\r\n"))
        .expect_line(format!("CWD {dir}"))
        .reply("250 ok\r\n")
}

/// `CWD home`: the client goes back where it was before the listing.
fn leaves(s: Script, home: &str) -> Script {
    s.expect_line(format!("CWD {home}")).reply("250 ok\r\n")
}

const LS: &[u8] = b"-rw-r--r--    1 0        0              5 Jan 02  2024 a.txt\r\n";

#[tokio::test]
async fn without_feat_mlsd_is_tried_once_then_list_is_remembered() {
    let s = no_feat()
        .epsv()
        .expect_line("MLSD /d")
        .reply("500 MLSD not understood\r\n");
    let s = s.epsv_send("LIST /d", LS).epsv_send("LIST /e", LS);
    let (server, mut c) = common::start(s, config).await;
    assert_eq!(c.support("MLSD"), Support::Unknown);
    assert_eq!(listed(&mut c, "/d").await, ["a.txt"]);
    assert_eq!(c.support("MLSD"), Support::No);
    // The second listing goes straight to LIST (here through the
    // collecting form).
    assert_eq!(
        entry_names(&c.list_dir(Some("/e")).await.unwrap()),
        ["a.txt"]
    );
    finish(server, c).await;
}

#[tokio::test]
async fn without_feat_a_working_mlsd_is_used() {
    let s = no_feat().epsv_send(
        "MLSD /d",
        b"type=file;size=5;modify=20240102030405; a.txt\r\n",
    );
    let (server, mut c) = common::start(s, config).await;
    assert_eq!(listed(&mut c, "/d").await, ["a.txt"]);
    assert_eq!(c.support("MLSD"), Support::Yes);
    finish(server, c).await;
}

/// Servers that run `ls` split `LIST c d` into two arguments: the folder
/// is listed from inside, and the next call comes back.
#[tokio::test]
async fn a_path_with_a_space_is_listed_from_inside_and_left_after() {
    let s = enters(with_feat(" EPSV\r\n SIZE\r\n"), "/home/alice", "dir/c d");
    let s = leaves(s.epsv_send("LIST", LS), "/home/alice").sized("a.txt", 5);
    let (server, mut c) = common::start(s, config).await;
    assert_eq!(listed(&mut c, "dir/c d").await, ["a.txt"]);
    // Relative paths mean what they meant before the listing.
    assert_eq!(c.size("a.txt").await.unwrap(), 5);
    finish(server, c).await;
}

#[tokio::test]
async fn a_listing_dropped_inside_its_directory_still_comes_back() {
    let s = enters(with_feat(" EPSV\r\n"), "/", "-odd")
        .epsv_open("LIST", "150 listing\r\n")
        .data_send(LS)
        .expect("ABOR")
        .reply("426 aborted\r\n226 ABOR ok\r\n")
        // The PWD that checks the session after the abort.
        .pwd("/");
    let s = leaves(s, "/").noop();
    let (server, mut c) = common::start(s, config).await;
    {
        let mut st = Box::pin(ops::list_stream(&mut c, Some("-odd")));
        assert!(matches!(st.next().await, Some(Ok(ListLine::Entry(_)))));
        // Dropped before its end.
    }
    common::finish_after_noop(server, c).await;
}

#[tokio::test]
async fn an_ls_error_message_is_unparsed_never_an_entry() {
    let s = with_feat(" EPSV\r\n").epsv_send(
        "LIST probe",
        b"/bin/ls: cannot access 'probe/c': No such file or directory\r\n",
    );
    let (server, mut c) = common::start(s, config).await;
    let got = list_rows(&mut c, Some("probe")).await;
    assert!(entry_names(&got).is_empty(), "{got:?}");
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
    let s = s.epsv_send(
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
    let (server, mut c) = common::start(s, config).await;
    let dir = temp_dir("listing-mdtm");
    let report = ops::mirror_down(&mut c, "/", &dir, &one_session())
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.files_transferred, 2);
    assert_eq!(c.support("MDTM"), Support::Yes);
    let secs = common::mtime_secs(&dir.join("a.txt"));
    assert_eq!(secs, 1_704_164_645); // 2024-01-02T03:04:05Z
    finish(server, c).await;
    std::fs::remove_dir_all(dir).unwrap();
}
