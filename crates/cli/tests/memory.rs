//! `ftpkit ls` of a huge listing holds one buffer, not the listing (issue
//! #13 point 4): a 60 MB MLSD listing of one-byte names (four million
//! rows) with a peak RSS of at most 64 MB, measured by `getrusage`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};

use ftpkit_testkit::{Script, ScriptedServer};

/// Runs the CLI with `args`, stdout into a file; returns (success, peak
/// RSS in bytes, stdout's lines). The peak is the largest of this test
/// process's waited children: this binary starts no other. It counts the
/// child's image before `exec` too (this process's), so the scripted
/// server writes the listing without holding it.
fn run_measured(args: &[&str]) -> (bool, u64, usize) {
    use nix::sys::resource::{getrusage, UsageWho};
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("stdout");
    let out = std::fs::File::create(&out_path).unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ftpkit"))
        .args(args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .status()
        .unwrap();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    let lines = BufReader::new(std::fs::File::open(&out_path).unwrap())
        .lines()
        .count();
    // ru_maxrss is in KiB on Linux.
    let peak = u64::try_from(usage.max_rss()).unwrap() * 1024;
    eprint!(
        "{}",
        std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
    );
    (status.success(), peak, lines)
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_of_a_60_mb_listing_of_one_byte_names_stays_under_64_mb() {
    const ROW: &[u8] = b"type=file;size=1; a\r\n";
    let rows = std::env::var("FTPKIT_TEST_LS_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000_000)
        / ROW.len();
    let script = Script::logged_in(
        "alice",
        "s3cret",
        Script::feat_reply(" EPSV\r\n MLST type*;size*;\r\n"),
    )
    .expect("EPSV")
    .passive_listen()
    .reply_epsv()
    .expect_line("MLSD big")
    .reply("150 here\r\n")
    .data_accept()
    .data_send_repeated(ROW, rows)
    .data_close()
    .reply("226 done\r\n")
    .expect("QUIT")
    .reply("221 bye\r\n")
    // A debug build takes its time over four million rows.
    .timeout(std::time::Duration::from_secs(300));
    let server = ScriptedServer::start(script).await;
    let url = format!("ftp://alice:s3cret@127.0.0.1:{}/big", server.port());
    let (ok, peak, lines) = tokio::task::spawn_blocking(move || run_measured(&["ls", &url]))
        .await
        .unwrap();
    eprintln!(
        "ls of {rows} rows ({} bytes): peak RSS {} KiB",
        rows * ROW.len(),
        peak / 1024
    );
    assert!(ok);
    assert_eq!(lines, rows);
    assert!(peak <= 64 * 1024 * 1024, "peak RSS {peak} bytes");
    server.finish().await.assert_ok();
}
