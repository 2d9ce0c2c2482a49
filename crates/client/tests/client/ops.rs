//! `ftpkit::ops`: progress, files with resume and verification, listing
//! streams, mirror (with hostile names) and segmented downloads — against
//! the scripted server, and against the real servers of `interop/` when
//! their env file exists (these are skipped otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{self, finish, one_session, temp_dir, ScriptExt};
use ftpkit::ops::{
    self, FileOptions, MirrorOptions, Progress, ProgressEvent, SegmentOptions, Verify,
};
use ftpkit::{Client, Config, ErrorKind, Security};
use ftpkit_testkit::{Script, ScriptedServer};
use futures::StreamExt;

// ----- helpers -----------------------------------------------------------

fn config(server: &ScriptedServer) -> Config {
    common::config(server, Security::None, Duration::from_secs(3))
}

fn login(feat: &str) -> Script {
    Script::logged_in("alice", "s3cret", Script::feat_reply(feat))
}

/// Options that resume, verify size and hash, report progress and make
/// the file durable; and the progress events, as they come.
fn resume_and_verify() -> (FileOptions, Arc<Mutex<Vec<ProgressEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let cb = Progress::new(move |e: &ProgressEvent| ev.lock().unwrap().push(e.clone()));
    let opts = FileOptions::new()
        .resume(true)
        .verify(Verify::SizeAndHash)
        .progress(Some(cb))
        .durable(true);
    (opts, events)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ----- files: resume, verification, progress ------------------------------

#[tokio::test]
async fn download_resumes_part_file_verifies_hash_and_reports_progress() {
    let sha = hex(&sha256(b"hello world"));
    let script = login(" EPSV\r\n REST STREAM\r\n XSHA256\r\n")
        .sized("f.bin", 11)
        .epsv()
        .rest(6)
        .send_data("RETR f.bin", b"world")
        .expect_line("XSHA256 f.bin")
        .reply(format!("250 {sha}\r\n"));
    let (dir, local) = common::partial_target("resume", b"hello ");
    let (opts, events) = resume_and_verify();
    let r = common::download_file(script, config, &local, &opts)
        .await
        .unwrap();
    assert_eq!(r.resumed_from, 6);
    assert_eq!(r.transferred, 5);
    assert!(r.size_verified);
    assert_eq!(r.hash_verified, Some(ops::HashAlgorithm::Sha256));
    assert_eq!(std::fs::read(&local).unwrap(), b"hello world");
    assert!(!ops::part_path(&local).exists());
    assert!(
        !dir.join(ops::PARTIAL_DIR).exists(),
        "the partial folder is removed"
    );
    let last = events.lock().unwrap().last().unwrap().clone();
    assert!(last.finished);
    assert_eq!((last.bytes_done, last.total), (11, Some(11)));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn download_with_wrong_hash_leaves_no_file() {
    let script = login(" EPSV\r\n XMD5\r\n")
        .sized("f.bin", 5)
        .epsv_send("RETR f.bin", b"hello")
        .expect_line("XMD5 f.bin")
        .reply("250 00000000000000000000000000000000\r\n");
    let dir = temp_dir("badhash");
    let local = dir.join("f.bin");
    let opts = FileOptions::new().verify(Verify::SizeAndHash);
    let e = common::download_file(script, config, &local, &opts)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}");
    assert!(e.to_string().contains("MD5 mismatch"), "{e}");
    assert!(!local.exists());
    assert!(!ops::part_path(&local).exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn short_download_keeps_only_the_part_file() {
    let script = login(" EPSV\r\n")
        .sized("f.bin", 10)
        .epsv_send("RETR f.bin", b"hello");
    let dir = temp_dir("short");
    let local = dir.join("f.bin");
    let e = common::download_file(script, config, &local, &FileOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e:?}");
    assert!(
        !local.exists(),
        "no file may claim success with partial content"
    );
    assert_eq!(std::fs::read(ops::part_path(&local)).unwrap(), b"hello");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn upload_resumes_after_remote_size_and_verifies() {
    let script = login(" EPSV\r\n REST STREAM\r\n")
        .sized("up.bin", 6)
        .epsv()
        .rest(6)
        .receive_data("STOR up.bin")
        .sized("up.bin", 11);
    let dir = temp_dir("upresume");
    let local = dir.join("up.bin");
    std::fs::write(&local, b"hello world").unwrap();
    let (server, mut c) = common::start(script, config).await;
    let (opts, events) = resume_and_verify();
    let r = ops::upload_file(&mut c, &local, "up.bin", &opts)
        .await
        .unwrap();
    assert_eq!((r.resumed_from, r.transferred, r.size), (6, 5, 11));
    assert!(r.size_verified);
    assert_eq!(r.hash_verified, None, "the server offers no hash");
    assert_eq!(events.lock().unwrap().last().unwrap().bytes_done, 11);
    let t = finish(server, c).await;
    assert_eq!(t.data_received(), vec![&b"world"[..]]);
    std::fs::remove_dir_all(dir).unwrap();
}

// ----- listing stream ------------------------------------------------------

#[tokio::test]
async fn list_stream_uses_mlsd_when_offered() {
    let script = login(" EPSV\r\n MLST type*;size*;modify*;\r\n")
        .epsv_send(
            "MLSD /d",
            b"type=cdir; /d\r\ntype=file;size=3; a\r\ntype=dir; b\r\n",
        )
        .epsv_send("NLST /d", b"a\r\nb\r\n");
    let (server, mut c) = common::start(script, config).await;

    let rows = common::list_rows(&mut c, Some("/d")).await;
    assert_eq!(common::entry_names(&rows), ["/d", "a", "b"]);
    let names: Vec<String> = ops::nlst_stream(&mut c, Some("/d"))
        .map(|r| r.unwrap().to_string())
        .collect()
        .await;
    assert_eq!(names, ["a", "b"]);
    finish(server, c).await;
}

// ----- mirror: hostile names -----------------------------------------------

/// `RETR path`: no `SIZE` first, since mirror checks the listing's size.
fn retr(script: Script, path: &str, data: &[u8]) -> Script {
    script.epsv_send(format!("RETR {path}"), data)
}

#[tokio::test]
async fn mirror_refuses_hostile_names_and_downloads_the_rest() {
    let root: &[u8] = b"type=cdir;modify=20240101000000; /\r\n\
type=pdir;modify=20240101000000; ..\r\n\
type=file;size=4;modify=20240101000000; good.txt\r\n\
type=file;size=4;modify=20240101000000; ../evil\r\n\
type=file;size=4;modify=20240101000000; /abs\r\n\
type=file;size=4;modify=20240101000000; C:\\x\r\n\
type=file;size=4;modify=20240101000000; a/b\r\n\
type=file;size=4;modify=20240101000000; bad\x01name\r\n\
type=dir;modify=20240101000000; ..\\up\r\n\
type=dir;modify=20240101000000; sub\r\n";
    let sub: &[u8] = b"type=file;size=5;modify=20240102030405; inner.txt\r\n\
type=dir;modify=20240101000000; ..\r\n";
    let script = login(" EPSV\r\n MLST type*;size*;modify*;\r\n")
        .epsv_send("MLSD /", root)
        .epsv_send("MLSD /sub", sub);
    let script = retr(script, "/good.txt", b"good");
    let script = retr(script, "/sub/inner.txt", b"inner");
    let (server, mut c) = common::start(script, config).await;
    let outer = temp_dir("hostile");
    let target = outer.join("target");

    let report = ops::mirror_down(&mut c, "/", &target, &one_session())
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.files_transferred, 2);
    assert_eq!(report.bytes, 9);
    let mut refused: Vec<Vec<u8>> = report
        .refused
        .iter()
        .map(|(n, _)| n.as_bytes().to_vec())
        .collect();
    refused.sort();
    let mut want: Vec<Vec<u8>> = [
        &b"../evil"[..],
        b"/abs",
        b"C:\\x",
        b"a/b",
        b"bad\x01name",
        b"..\\up",
    ]
    .iter()
    .map(|n| n.to_vec())
    .collect();
    want.sort();
    assert_eq!(refused, want, "{:?}", report.refused);
    assert_eq!(std::fs::read(target.join("good.txt")).unwrap(), b"good");
    assert_eq!(
        std::fs::read(target.join("sub/inner.txt")).unwrap(),
        b"inner"
    );
    // Nothing escaped the target, nothing else was written inside it.
    let mut outside: Vec<_> = std::fs::read_dir(&outer)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    outside.sort();
    assert_eq!(outside, ["target"]);
    let mut inside: Vec<_> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    inside.sort();
    assert_eq!(inside, ["good.txt", "sub"]);
    // The listing's UTC time was kept.
    let secs = common::mtime_secs(&target.join("sub/inner.txt"));
    assert_eq!(secs, 1_704_164_645); // 2024-01-02T03:04:05Z
    finish(server, c).await;
    std::fs::remove_dir_all(outer).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn mirror_does_not_write_through_a_local_symlink() {
    let listing: &[u8] = b"type=file;size=4;modify=20240101000000; link.txt\r\n\
type=file;size=2;modify=20240101000000; ok.txt\r\n";
    let script = login(" EPSV\r\n MLST type*;size*;modify*;\r\n").epsv_send("MLSD /", listing);
    let script = retr(script, "/ok.txt", b"ok");
    let outer = temp_dir("symlink");
    let target = outer.join("target");
    std::fs::create_dir_all(&target).unwrap();
    let victim = outer.join("victim.txt");
    std::fs::write(&victim, b"untouched").unwrap();
    std::os::unix::fs::symlink(&victim, target.join("link.txt")).unwrap();
    let (server, mut c) = common::start(script, config).await;
    let report = ops::mirror_down(&mut c, "/", &target, &one_session())
        .await
        .unwrap();
    assert_eq!(report.files_transferred, 1);
    assert_eq!(report.skipped_other.len(), 1, "{report:?}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
    assert_eq!(std::fs::read(target.join("ok.txt")).unwrap(), b"ok");
    finish(server, c).await;
    std::fs::remove_dir_all(outer).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn mirror_up_refuses_unsafe_local_names_and_skips_symlinks() {
    let script = login(" EPSV\r\n MLST type*;size*;modify*;\r\n")
        .expect_line("MKD /up")
        .reply("257 \"/up\" created\r\n")
        // Just created: nothing to list.
        .epsv_receive("STOR /up/good.txt")
        .sized("/up/good.txt", 4);
    let src = temp_dir("up-hostile");
    std::fs::write(src.join("good.txt"), b"good").unwrap();
    std::fs::write(src.join("back\\slash"), b"x").unwrap();
    std::fs::write(src.join("ctl\x01name"), b"x").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
    let (server, mut c) = common::start(script, config).await;
    let opts = MirrorOptions {
        parallelism: 2,
        ..MirrorOptions::default()
    };
    let report = ops::mirror_up(&mut c, &src, "/up", &opts).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!((report.files_transferred, report.bytes), (1, 4));
    assert_eq!(report.refused.len(), 2, "{report:?}");
    assert_eq!(report.skipped_other.len(), 1, "{report:?}");
    let t = finish(server, c).await;
    assert_eq!(t.data_received(), vec![&b"good"[..]]);
    std::fs::remove_dir_all(src).unwrap();
}

/// The operation futures can be spawned.
#[allow(dead_code)]
fn futures_are_send(c: &mut Client, p: &Path) {
    fn send<T: Send>(_: T) {}
    send(ops::download_file(c, "x", p, &FileOptions::default()));
    send(ops::mirror_down(c, "/", p, &MirrorOptions::default()));
    send(ops::segmented_download(
        c,
        "x",
        p,
        &SegmentOptions::default(),
    ));
}
