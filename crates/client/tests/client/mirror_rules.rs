//! Mirror limits, loops, filters, dry runs, deletions, progress and the
//! bounded queue (issue #13 points 4 to 6): trees that never end against
//! the scripted server, the rest against an in-process libunftp server;
//! and a tree holding `x` and `x.part` side by side at parallel 1 and 4
//! (issue #12: partial downloads never collide with remote names).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{self, finish, one_session, temp_dir, ScriptExt};
use ftpkit::ops::{self, MirrorOptions, Progress, ProgressEvent};
use ftpkit::{Client, Config, Security};
use ftpkit_testkit::{Script, ScriptedServer};

// ----- trees that never end (scripted) ---------------------------------------

fn scripted_config(server: &ScriptedServer) -> Config {
    common::config(server, Security::None, Duration::from_secs(5))
}

fn mlsd(s: Script, path: &str, rows: &[u8]) -> Script {
    s.epsv_send(format!("MLSD {path}"), rows)
}

/// Mirrors `/` with `opts` from a server playing `sessions` (one a
/// connection) into a new local directory, which must end within 20 s, and
/// checks that the server's scripts ran as written: the report, and the
/// round trip the client measured at login.
async fn mirror_scripted(
    sessions: impl IntoIterator<Item = Script>,
    opts: &MirrorOptions,
) -> (ops::MirrorReport, Option<Duration>) {
    let server = ScriptedServer::builder().sessions(sessions).start().await;
    let mut c = Client::connect(scripted_config(&server)).await.unwrap();
    let dir = temp_dir("mirror-scripted");
    let report = tokio::time::timeout(
        Duration::from_secs(20),
        ops::mirror_down(&mut c, "/", &dir, opts),
    )
    .await
    .expect("the mirror ends")
    .unwrap();
    let rtt = c.round_trip_time();
    finish(server, c).await;
    std::fs::remove_dir_all(dir).unwrap();
    (report, rtt)
}

fn login() -> Script {
    common::logged_in(" EPSV\r\n MLST type*;size*;modify*;unique*;\r\n")
}

#[tokio::test]
async fn a_directory_that_lists_itself_is_a_loop() {
    // The root also holds a file, so only the `unique` fact can tell.
    let s = mlsd(
        login(),
        "/",
        b"type=dir;unique=801g2;modify=20240101000000; self\r\n\
type=file;size=0;modify=20240101000000; f\r\n",
    );
    let s = mlsd(
        s,
        "/self",
        b"type=cdir;unique=801g2;modify=20240101000000; .\r\n\
type=dir;unique=801g2;modify=20240101000000; self\r\n",
    );
    let s = mlsd(
        s,
        "/self/self",
        b"type=cdir;unique=801g2;modify=20240101000000; .\r\n\
type=dir;unique=801g2;modify=20240101000000; self\r\n",
    )
    .epsv_send("RETR /f", b"");
    let (r, _) = mirror_scripted([s], &one_session()).await;
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(
        r.errors[0].error.to_string().contains("loop"),
        "{:?}",
        r.errors
    );
}

#[tokio::test]
async fn an_endless_tree_without_unique_facts_stops_at_the_first_repeat() {
    // Every directory lists the same two subdirectories.
    let rows: &[u8] = b"type=dir;modify=20240101000000; a\r\ntype=dir;modify=20240101000000; b\r\n";
    let s = mlsd(login(), "/", rows);
    // The walk takes the last pushed first.
    let s = mlsd(s, "/b", rows);
    let s = mlsd(s, "/a", rows);
    let (r, _) = mirror_scripted([s], &one_session()).await;
    assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
    assert!(r
        .errors
        .iter()
        .all(|e| e.error.to_string().contains("loop")));
}

#[tokio::test]
async fn max_depth_stops_the_walk_with_an_error() {
    let s = mlsd(login(), "/", b"type=dir;unique=1; d1\r\n");
    let s = mlsd(s, "/d1", b"type=dir;unique=2; d2\r\n");
    let s = mlsd(s, "/d1/d2", b"type=dir;unique=3; d3\r\n");
    let opts = MirrorOptions {
        max_depth: 2,
        ..one_session()
    };
    let (r, _) = mirror_scripted([s], &opts).await;
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(r.errors[0].error.to_string().contains("--max-depth 2"));
    assert_eq!(r.errors[0].path, "/d1/d2/d3");
}

// ----- on libunftp ---------------------------------------------------------------

async fn start_server(root: &Path) -> SocketAddr {
    common::libunftp(root, None).await
}

async fn connect(addr: SocketAddr) -> Client {
    Client::connect(common::libunftp_config(addr))
        .await
        .unwrap()
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// The paths of the regular files under `root`, relative to it, sorted.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Relative paths of the files under `root`, sorted.
fn files(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = walk(root)
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_limits_dry_run_and_delete() {
    let remote = temp_dir("remote");
    write(&remote, "a.bin", b"aaaa");
    write(&remote, "b.txt", b"bb");
    write(&remote, "sub/c.bin", b"cccccc");
    write(&remote, "skip/d.bin", b"d");
    let addr = start_server(&remote).await;
    let mut c = connect(addr).await;

    // Include *.bin, exclude the folder `skip`.
    let local = temp_dir("filtered");
    let opts = MirrorOptions {
        include: vec!["*.bin".into()],
        exclude: vec!["skip".into()],
        ..one_session()
    };
    let r = ops::mirror_down(&mut c, "/", &local, &opts).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(files(&local), ["a.bin", "sub/c.bin"]);

    // A dry run plans, and writes nothing.
    let dry = temp_dir("dry").join("target");
    let opts = MirrorOptions {
        dry_run: true,
        ..one_session()
    };
    let r = ops::mirror_down(&mut c, "/", &dry, &opts).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(!dry.exists());
    let mut planned: Vec<String> = r.planned.iter().map(|p| p.remote.clone()).collect();
    planned.sort();
    assert_eq!(planned, ["/a.bin", "/b.txt", "/skip/d.bin", "/sub/c.bin"]);
    assert_eq!(r.files_transferred, 0);

    // --max-files 2: two files, then an error.
    let limited = temp_dir("limited");
    let opts = MirrorOptions {
        max_files: Some(2),
        ..one_session()
    };
    let r = ops::mirror_down(&mut c, "/", &limited, &opts)
        .await
        .unwrap();
    assert_eq!(r.files_transferred, 2);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(r.errors[0].error.to_string().contains("--max-files 2"));

    // --delete removes the local extras, keeps excluded ones, and nothing
    // outside the target.
    let outer = temp_dir("delete");
    let target = outer.join("t");
    write(&target, "old.bin", b"gone");
    write(&target, "olddir/x.bin", b"gone too");
    write(&target, "keep.log", b"excluded");
    write(&outer, "outside.bin", b"untouched");
    let opts = MirrorOptions {
        delete: true,
        exclude: vec!["*.log".into()],
        ..one_session()
    };
    let r = ops::mirror_down(&mut c, "/", &target, &opts).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(
        files(&target),
        ["a.bin", "b.txt", "keep.log", "skip/d.bin", "sub/c.bin"]
    );
    assert_eq!(r.deleted.len(), 2, "{:?}", r.deleted);
    assert_eq!(
        std::fs::read(outer.join("outside.bin")).unwrap(),
        b"untouched"
    );

    // Upload side: --delete removes the remote extras.
    let up = temp_dir("up");
    write(&up, "a.bin", b"aaaa");
    let r = ops::mirror_up(
        &mut c,
        &up,
        "/",
        &MirrorOptions {
            delete: true,
            ..one_session()
        },
    )
    .await
    .unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(files(&remote), ["a.bin"]);

    let _ = c.quit().await;
    for d in [remote, local, limited, outer, up] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Progress events name their file and carry the job's totals; with a
/// tree larger than the queue, the first transfer ends before the walk
/// (a queue of 16 here; 1024 by default).
#[tokio::test(flavor = "multi_thread")]
async fn progress_names_files_and_transfers_start_before_the_walk_ends() {
    let remote = temp_dir("big");
    for d in 0..4 {
        for f in 0..10 {
            write(&remote, &format!("d{d}/f{f}.bin"), &[d as u8; 3]);
        }
    }
    let addr = start_server(&remote).await;
    let mut c = connect(addr).await;
    let events: Arc<Mutex<Vec<ProgressEvent>>> = Arc::default();
    let ev = events.clone();
    let cb = Progress::new(move |e: &ProgressEvent| {
        if e.finished {
            ev.lock().unwrap().push(e.clone());
        }
    });
    let local = temp_dir("big-local");
    let opts = MirrorOptions {
        progress: Some(cb),
        queue_cap: 16,
        ..one_session()
    };
    let r = ops::mirror_down(&mut c, "/", &local, &opts).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.files_transferred, 40);
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 40);
    let first = &events[0];
    let file = first.file.as_ref().unwrap();
    assert!(file.remote.ends_with(".bin") && !file.upload);
    assert!(file.local.starts_with(&local));
    let job = first.job.unwrap();
    assert!(!job.listing_done, "the first file finished after the walk");
    let last = events.last().unwrap().job.unwrap();
    assert!(last.listing_done);
    assert_eq!(last.files_queued, 40);
    let mut indexes: Vec<u64> = events
        .iter()
        .map(|e| e.file.as_ref().unwrap().index)
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (1..=40).collect::<Vec<u64>>());
    let _ = c.quit().await;
    std::fs::remove_dir_all(remote).unwrap();
    std::fs::remove_dir_all(local).unwrap();
}

// ----- x and x.part (issue #12) ----------------------------------------------

/// Every regular file under `root`, relative, with its bytes, sorted.
fn tree_bytes(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    walk(root)
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(root.join(&rel)).unwrap();
            (rel, bytes)
        })
        .collect()
}

/// Pairs `fN.bin` / `fN.bin.part` of different contents and sizes, at the
/// top and in a subfolder.
fn populate(root: &Path) {
    std::fs::create_dir_all(root.join("sub")).unwrap();
    for n in 0..8u8 {
        let dir = if n % 2 == 0 {
            root.to_path_buf()
        } else {
            root.join("sub")
        };
        let whole: Vec<u8> = (0..5000 + u32::from(n) * 777)
            .map(|i| (i as u8) ^ n)
            .collect();
        let part: Vec<u8> = vec![0xA0 | n; 1000 + usize::from(n) * 13];
        std::fs::write(dir.join(format!("f{n}.bin")), whole).unwrap();
        std::fs::write(dir.join(format!("f{n}.bin.part")), part).unwrap();
    }
}

async fn mirror_pairs(parallelism: usize) {
    let remote = temp_dir("remote");
    populate(&remote);
    let addr = start_server(&remote).await;
    let local = temp_dir("local");
    let mut c = connect(addr).await;
    let opts = MirrorOptions {
        parallelism,
        ..MirrorOptions::default()
    };
    let report = ops::mirror_down(&mut c, "/", &local, &opts).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.files_transferred, 16, "{report:?}");
    let want = tree_bytes(&remote);
    let got = tree_bytes(&local);
    assert_eq!(
        got.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        want.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>()
    );
    assert!(got == want, "the local tree differs from the remote one");
    // No partial folder is left behind.
    assert!(!local.join(ops::PARTIAL_DIR).exists());
    assert!(!local.join("sub").join(ops::PARTIAL_DIR).exists());
    let _ = c.quit().await;
    std::fs::remove_dir_all(remote).unwrap();
    std::fs::remove_dir_all(local).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn x_and_x_part_both_arrive_at_parallel_1() {
    mirror_pairs(1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn x_and_x_part_both_arrive_at_parallel_4() {
    mirror_pairs(4).await;
}

// ----- sessions chosen for the user ------------------------------------------

#[tokio::test]
async fn a_server_at_its_connection_limit_refuses_a_session_and_the_mirror_goes_on() {
    // The caller's session lists five files and fetches them all; the
    // extra session is refused with 421. (With parallelism 2 there is one
    // extra session to ask for: sessions connect concurrently, so a larger
    // number would race the refusal.)
    let names = ["a", "b", "c", "d", "e"];
    let mut rows = Vec::new();
    for n in names {
        rows.extend_from_slice(
            format!("type=file;size=1;modify=20240101000000; {n}\r\n").as_bytes(),
        );
    }
    let mut s = mlsd(login(), "/", &rows);
    for n in names {
        s = s.epsv_send(format!("RETR /{n}"), b"x");
    }
    let refusal = Script::new().send("421 Too many connections (1) from this IP\r\n");
    let opts = MirrorOptions {
        parallelism: 2,
        queue_cap: 1,
        ..MirrorOptions::default()
    };
    let (r, rtt) = mirror_scripted([s, refusal], &opts).await;
    assert!(rtt.is_some(), "login measured the round trip");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.files_transferred, 5);
    assert_eq!(r.parallelism, 2);
}

#[tokio::test]
async fn the_default_chooses_the_sessions_from_the_round_trip() {
    let s = mlsd(
        login(),
        "/",
        b"type=file;size=1;modify=20240101000000; only\r\n",
    )
    .epsv_send("RETR /only", b"x");
    let (r, rtt) = mirror_scripted([s], &MirrorOptions::default()).await;
    // Loopback: the floor of the choice.
    assert_eq!(r.parallelism, ops::auto_parallelism(rtt));
    assert_eq!(r.parallelism, 4);
}

#[tokio::test]
async fn an_empty_directory_mirrors_to_nothing() {
    let s = mlsd(login(), "/", b"");
    // The mirror of an empty directory ends.
    let (r, _) = mirror_scripted([s], &MirrorOptions::default()).await;
    assert_eq!(r.files_transferred, 0);
}

/// Issue #15: the report counts the mirror's control round trips. With the
/// listing's exact size and time, each file costs two (`EPSV`, then `RETR`
/// answered by its mark; the `226` comes without a new command), the
/// listing two (`EPSV`, `MLSD`).
#[tokio::test]
async fn the_report_counts_round_trips() {
    let s = mlsd(
        login(),
        "/",
        b"type=file;size=3;modify=20240101000000; a\r\n\
type=file;size=3;modify=20240101000000; b\r\n",
    )
    .epsv_send("RETR /a", b"aaa")
    .epsv_send("RETR /b", b"bbb");
    let (r, _) = mirror_scripted([s], &one_session()).await;
    assert_eq!((r.files_transferred, r.errors.len()), (2, 0), "{r:?}");
    assert_eq!(r.round_trips, 2 + 2 * 2, "{r:?}");
}
