//! The `ftpkit` binary against the scripted loopback server: each test runs
//! the real executable and checks its output, its exit status and what the
//! server received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::{Command, Output};

use ftpkit_testkit::{Script, ScriptedServer, ServerTls, TestPki};

/// Runs the binary with `args`, in `dir`, with a clean environment for
/// credentials (`HOME` is `dir`), stdin closed.
async fn ftpkit_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftpkit"));
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("NETRC")
        .env_remove("FTPKIT_PASSWORD")
        .env_remove("FTPKIT_PKCS12_PASSWORD")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn ftpkit(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    ftpkit_in(dir.path(), args, &[]).await
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_success(o: &Output) {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// Exit status 1 and exactly one line on stderr, `ftpkit: ...`.
fn assert_one_line_error(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "stderr: {err:?}");
    assert!(err.starts_with("ftpkit: "), "{err:?}");
    eprint!("{err}");
    err
}

fn url(server: &ScriptedServer, path: &str) -> String {
    format!("ftp://alice:s3cret@127.0.0.1:{}/{path}", server.port())
}

fn login_with_features(features: &str) -> Script {
    Script::logged_in("alice", "s3cret", Script::feat_reply(features))
}

/// Login; FEAT offers EPSV and REST STREAM, not MLST.
fn login() -> Script {
    login_with_features(" EPSV\r\n REST STREAM\r\n")
}

fn quit(s: Script) -> Script {
    s.expect("QUIT").reply("221 bye\r\n")
}

fn passive(s: Script) -> Script {
    s.expect("EPSV").passive_listen().reply_epsv()
}

const MLSD_LISTING: &[u8] = b"type=cdir;modify=20240101000000; .\r\n\
type=pdir;modify=20240101000000; ..\r\n\
type=file;size=11;modify=20240102030405; hello.txt\r\n\
type=dir;modify=20231231235959; sub dir\r\n\
type=OS.unix=slink:/etc;modify=20240102030405; link\r\n";

fn mlsd_script() -> Script {
    let s = passive(login_with_features(
        " EPSV\r\n MLST type*;size*;modify*;\r\n",
    ))
    .expect_line("MLSD pub")
    .reply("150 here\r\n")
    .data_accept()
    .data_send(MLSD_LISTING)
    .data_close()
    .reply("226 done\r\n");
    quit(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_names_with_mlsd() {
    let server = ScriptedServer::start(mlsd_script()).await;
    let out = ftpkit(&["ls", &url(&server, "pub")]).await;
    assert_success(&out);
    assert_eq!(stdout(&out), "hello.txt\nsub dir\nlink\n");
    assert_eq!(stderr(&out), "");
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_json_one_object_per_line() {
    let server = ScriptedServer::start(mlsd_script()).await;
    let out = ftpkit(&["ls", "--json", &url(&server, "pub")]).await;
    assert_success(&out);
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0],
        serde_json::json!({"name": "hello.txt", "type": "file", "size": 11, "modified": "2024-01-02T03:04:05Z"})
    );
    assert_eq!(
        rows[1],
        serde_json::json!({"name": "sub dir", "type": "dir", "size": null, "modified": "2023-12-31T23:59:59Z"})
    );
    assert_eq!(rows[2]["type"], "link");
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_long_falls_back_to_list() {
    let s = passive(login())
        .expect_line("LIST")
        .reply("150 here\r\n")
        .data_accept()
        .data_send(
            b"total 8\r\n\
drwxr-xr-x    2 0        0            4096 Jan 02  2020 docs\r\n\
-rw-r--r--    1 0        0              11 Mar 04  2021 a.txt\r\n\
lrwxrwxrwx    1 0        0               5 Mar 04  2021 l -> a.txt\r\n",
        )
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["ls", "--long", &url(&server, "")]).await;
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("drwxr-xr-x"), "{text}");
    assert!(lines[0].contains("4096") && lines[0].contains("2020-01-02"));
    assert!(lines[0].ends_with(" docs"));
    assert!(lines[1].starts_with("-rw-r--r--") && lines[1].ends_with(" a.txt"));
    assert!(lines[2].ends_with(" l -> a.txt"), "{text}");
    server.finish().await.assert_ok();
}

/// `SIZE path` (the CLI checks what arrives against it), then `RETR path`.
fn retr_script(path: &str, data: &[u8]) -> Script {
    let s = login()
        .expect_line(format!("SIZE {path}"))
        .reply(format!("213 {}\r\n", data.len()));
    let s = passive(s)
        .expect_line(format!("RETR {path}"))
        .reply("150 opening\r\n")
        .data_accept()
        .data_send(data)
        .data_close()
        .reply("226 done\r\n");
    quit(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn get_to_the_remote_name_and_to_a_named_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start(retr_script("pub/file.bin", b"hello world")).await;
    let out = ftpkit_in(dir.path(), &["get", &url(&server, "pub/file.bin")], &[]).await;
    assert_success(&out);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        std::fs::read(dir.path().join("file.bin")).unwrap(),
        b"hello world"
    );
    server.finish().await.assert_ok();

    let server = ScriptedServer::start(retr_script("file.bin", b"other")).await;
    let out = ftpkit_in(
        dir.path(),
        &["get", &url(&server, "file.bin"), "named.out"],
        &[],
    )
    .await;
    assert_success(&out);
    assert_eq!(
        std::fs::read(dir.path().join("named.out")).unwrap(),
        b"other"
    );
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_to_stdout() {
    let payload: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let server = ScriptedServer::start(retr_script("blob", &payload)).await;
    let out = ftpkit(&["get", &url(&server, "blob"), "-"]).await;
    assert_success(&out);
    assert_eq!(out.stdout, payload);
    assert_eq!(stderr(&out), "");
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_resume_continues_the_local_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"hello ").unwrap();
    let s = login().expect_line("SIZE f.txt").reply("213 11\r\n");
    let s = passive(s)
        .expect_line("REST 6")
        .reply("350 restarting\r\n")
        .expect_line("RETR f.txt")
        .reply("150 opening\r\n")
        .data_accept()
        .data_send(b"world")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["get", "--resume", &url(&server, "f.txt")],
        &[],
    )
    .await;
    assert_success(&out);
    assert_eq!(
        std::fs::read(dir.path().join("f.txt")).unwrap(),
        b"hello world"
    );
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_550_is_one_line_naming_the_reply_and_keeps_the_local_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("missing.txt"), b"precious").unwrap();
    let s = login()
        .expect_line("SIZE missing.txt")
        .reply("550 missing.txt: No such file or directory\r\n");
    let s = passive(s)
        .expect_line("RETR missing.txt")
        .reply("550 missing.txt: No such file or directory\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(dir.path(), &["get", &url(&server, "missing.txt")], &[]).await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("550"), "{err}");
    assert!(err.contains("No such file"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("missing.txt")).unwrap(),
        b"precious"
    );
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn put_uploads_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("up.bin"), b"upload payload").unwrap();
    let s = passive(login())
        .expect_line("STOR incoming/up.bin")
        .reply("150 go\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 stored\r\n")
        .expect_line("SIZE incoming/up.bin")
        .reply("213 14\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    // A URL ending in / gets the local file's name.
    let out = ftpkit_in(
        dir.path(),
        &["put", "up.bin", &url(&server, "incoming/")],
        &[],
    )
    .await;
    assert_success(&out);
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.data_received(), vec![&b"upload payload"[..]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn put_resume_sends_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("part.bin"), b"0123456789").unwrap();
    let s = login().expect_line("SIZE part.bin").reply("213 4\r\n");
    let s = passive(s)
        .expect_line("REST 4")
        .reply("350 ok\r\n")
        .expect_line("STOR part.bin")
        .reply("150 go\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 stored\r\n")
        .expect_line("SIZE part.bin")
        .reply("213 10\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["put", "--resume", "part.bin", &url(&server, "part.bin")],
        &[],
    )
    .await;
    assert_success(&out);
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.data_received(), vec![&b"456789"[..]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn put_resume_to_a_server_without_rest_sends_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("part.bin"), b"0123456789").unwrap();
    let s = login().expect_line("SIZE part.bin").reply("213 4\r\n");
    let s = passive(s)
        .expect_line("REST 4")
        .reply("502 Command 'REST' not implemented\r\n");
    let s = passive(s)
        .expect_line("STOR part.bin")
        .reply("150 go\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 stored\r\n")
        .expect_line("SIZE part.bin")
        .reply("213 10\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["put", "--resume", "part.bin", &url(&server, "part.bin")],
        &[],
    )
    .await;
    assert_success(&out);
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.data_received(), vec![&b"0123456789"[..]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn put_append_uses_appe() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("log.txt"), b"more\n").unwrap();
    let s = login().expect_line("SIZE log.txt").reply("213 100\r\n");
    let s = passive(s)
        .expect_line("APPE log.txt")
        .reply("150 go\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 appended\r\n")
        .expect_line("SIZE log.txt")
        .reply("213 105\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["put", "--append", "log.txt", &url(&server, "log.txt")],
        &[],
    )
    .await;
    assert_success(&out);
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.data_received(), vec![&b"more\n"[..]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rm_deletes() {
    let s = login()
        .expect_line("DELE old/file.txt")
        .reply("250 deleted\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["rm", &url(&server, "old/file.txt")]).await;
    assert_success(&out);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn mkdir_p_creates_parents_and_tolerates_existing() {
    let s = login()
        .expect_line("MKD a")
        .reply("550 a: File exists\r\n")
        .expect_line("PWD")
        .reply("257 \"/home/alice\" is the current directory\r\n")
        .expect_line("CWD a")
        .reply("250 ok\r\n")
        .expect_line("CWD /home/alice")
        .reply("250 ok\r\n")
        .expect_line("MKD a/b")
        .reply("257 \"/home/alice/a/b\" created\r\n")
        .expect_line("MKD a/b/c")
        .reply("257 \"/home/alice/a/b/c\" created\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["mkdir", "-p", &url(&server, "a/b/c")]).await;
    assert_success(&out);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn mkdir_p_fails_when_a_component_cannot_be_made() {
    let s = login()
        .expect_line("MKD /x")
        .reply("550 Permission denied\r\n")
        .expect_line("PWD")
        .reply("257 \"/\"\r\n")
        .expect_line("CWD /x")
        .reply("550 No such directory\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["mkdir", "-p", &url(&server, "%2Fx/y")]).await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("550 Permission denied"), "{err}");
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn mv_renames() {
    let s = login()
        .expect_line("RNFR old name.txt")
        .reply("350 ready\r\n")
        .expect_line("RNTO archive/new.txt")
        .reply("250 renamed\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["mv", &url(&server, "old%20name.txt"), "archive/new.txt"]).await;
    assert_success(&out);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn stat_prints_size_and_time() {
    let s = login()
        .expect_line("SIZE f.iso")
        .reply("213 1234567\r\n")
        .expect_line("MDTM f.iso")
        .reply("213 20240102030405\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["stat", &url(&server, "f.iso")]).await;
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "size: 1234567\nmodified: 2024-01-02T03:04:05Z\n"
    );
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn quote_prints_the_reply() {
    let s = login()
        .expect_line("SITE CHMOD 644 f.txt")
        .reply("200 SITE CHMOD command successful\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["quote", &url(&server, ""), "SITE CHMOD 644 f.txt"]).await;
    assert_success(&out);
    assert_eq!(stdout(&out), "200 SITE CHMOD command successful\n");
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn quote_negative_reply_is_printed_and_fails() {
    let s = login()
        .expect_line("SITE BOGUS")
        .reply("500 Unknown SITE command\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["quote", &url(&server, ""), "SITE BOGUS"]).await;
    assert_eq!(stdout(&out), "500 Unknown SITE command\n");
    let err = assert_one_line_error(&out);
    assert!(err.contains("500 Unknown SITE command"), "{err}");
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_over_explicit_tls_with_a_ca_file() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_cert_pem()).unwrap();
    let script = Script::new()
        .send("220 scripted\r\n")
        .expect_line("AUTH TLS")
        .reply("234 go\r\n")
        .start_tls()
        .expect("QUIT")
        .reply("221 bye\r\n");
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    // ftp:// with `cert` means explicit TLS; no login happens.
    let u = format!("ftp://127.0.0.1:{}/", server.port());
    let out = ftpkit_in(
        dir.path(),
        &["cert", "--ca-file", ca.to_str().unwrap(), &u],
        &[],
    )
    .await;
    assert_success(&out);
    let text = stdout(&out);
    eprint!("{text}");
    assert!(text.contains("certificate 0:"), "{text}");
    assert!(text.contains("subject:"), "{text}");
    assert!(text.contains("issuer:"), "{text}");
    assert!(text.contains("not after:"), "{text}");
    let fp = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256:"))
        .unwrap()
        .trim();
    assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
    assert!(text.contains("tls version:  TLS 1.3"), "{text}");
    assert!(text.contains("cipher suite: TLS13_"), "{text}");
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.verbs(), ["AUTH", "QUIT"]);

    // The fingerprint printed is a working pin.
    let script = Script::new()
        .send("220 scripted\r\n")
        .expect_line("AUTH TLS")
        .reply("234 go\r\n")
        .start_tls()
        .expect("QUIT")
        .reply("221 bye\r\n");
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let u = format!("ftp://127.0.0.1:{}/", server.port());
    let out = ftpkit_in(
        dir.path(),
        &[
            "cert",
            "--ca-file",
            ca.to_str().unwrap(),
            "--pin-sha256",
            fp,
            &u,
        ],
        &[],
    )
    .await;
    assert_success(&out);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn untrusted_certificate_fails_in_one_line() {
    let pki = TestPki::new();
    let other = TestPki::with_ca_name("someone else");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("other.pem");
    std::fs::write(&ca, other.ca_cert_pem()).unwrap();
    let script = Script::new()
        .send("220 scripted\r\n")
        .expect_line("AUTH TLS")
        .reply("234 go\r\n")
        .start_tls_expect_failure();
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let u = format!("ftpes://alice:s3cret@127.0.0.1:{}/", server.port());
    let out = ftpkit_in(
        dir.path(),
        &["ls", "--ca-file", ca.to_str().unwrap(), &u],
        &[],
    )
    .await;
    let err = assert_one_line_error(&out);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    let t = server.finish().await;
    assert!(!t.verbs().contains(&"USER".to_owned()));
}

/// Explicit TLS end to end: login over TLS, PROT P, a protected listing.
#[tokio::test(flavor = "multi_thread")]
async fn get_over_explicit_tls() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_cert_pem()).unwrap();
    let s = Script::logged_in_tls("alice", "s3cret", "211 none\r\n")
        .expect_line("SIZE secret.txt")
        .reply("213 9\r\n");
    let s = passive(s)
        .expect_line("RETR secret.txt")
        .reply("150 here\r\n")
        .data_accept()
        .data_send(b"protected")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start_tls(quit(s), ServerTls::new(&pki)).await;
    let u = format!(
        "ftpes://alice:s3cret@127.0.0.1:{}/secret.txt",
        server.port()
    );
    let out = ftpkit_in(
        dir.path(),
        &["get", "--ca-file", ca.to_str().unwrap(), &u, "-"],
        &[],
    )
    .await;
    assert_success(&out);
    assert_eq!(out.stdout, b"protected");
    let t = server.finish().await;
    t.assert_ok();
    assert!(t.data_connections()[0].tls.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn cr_lf_in_a_path_is_refused_before_connecting() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for args in [
        vec![
            "rm".to_owned(),
            format!("ftp://alice:s3cret@127.0.0.1:{port}/a%0D%0ADELE%20important"),
        ],
        vec![
            "get".to_owned(),
            format!("ftp://alice:s3cret@127.0.0.1:{port}/a%0Ab"),
            "-".to_owned(),
        ],
        vec![
            "ls".to_owned(),
            format!("ftp://alice:s3cret@127.0.0.1:{port}/a%00b"),
        ],
        vec![
            "mv".to_owned(),
            format!("ftp://alice:s3cret@127.0.0.1:{port}/a"),
            "b\r\nDELE important".to_owned(),
        ],
        // The user and the password, in the URL and through --user.
        vec![
            "ls".to_owned(),
            format!("ftp://alice%0D%0ASITE%20x:s3cret@127.0.0.1:{port}/"),
        ],
        vec![
            "ls".to_owned(),
            format!("ftp://alice:s3cret%0A@127.0.0.1:{port}/"),
        ],
        vec![
            "ls".to_owned(),
            "--user".to_owned(),
            "alice:s3cret\r\nDELE x".to_owned(),
            format!("ftp://127.0.0.1:{port}/"),
        ],
        // A raw command, a directory, an upload target, STAT's path.
        vec![
            "quote".to_owned(),
            format!("ftp://alice:s3cret@127.0.0.1:{port}"),
            "NOOP\r\nDELE important".to_owned(),
        ],
        vec![
            "mkdir".to_owned(),
            format!("ftp://alice:s3cret@127.0.0.1:{port}/d%00x"),
        ],
        vec![
            "put".to_owned(),
            "/dev/null".to_owned(),
            format!("ftp://alice:s3cret@127.0.0.1:{port}/up%0D.bin"),
        ],
        vec![
            "stat".to_owned(),
            format!("ftp://alice:s3cret@127.0.0.1:{port}/f%0A"),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ftpkit(&args).await;
        let err = assert_one_line_error(&out);
        assert!(
            err.contains("CR") || err.contains("LF") || err.contains("NUL"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }
    // Nobody connected: nothing was sent.
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_trace_redacts_the_password() {
    let s = login().expect_line("DELE f").reply("250 deleted\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["-v", "rm", &url(&server, "f")]).await;
    assert_success(&out);
    let err = stderr(&out);
    eprint!("{err}");
    assert!(err.contains("> USER alice"), "{err}");
    assert!(err.contains("PASS ****"), "{err}");
    assert!(err.contains("> DELE f"), "{err}");
    assert!(err.contains("< 250 deleted"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert!(!stdout(&out).contains("s3cret"));
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn login_refused_names_the_reply_never_the_password() {
    let s = Script::new()
        .send("220 scripted\r\n")
        .expect_line("USER alice")
        .reply("331 pw\r\n")
        .expect_line("PASS s3cret")
        .reply("530 Login incorrect\r\n");
    let server = ScriptedServer::start(s).await;
    let out = ftpkit(&["-v", "ls", &url(&server, "")]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("ftpkit: ") && last.contains("530"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn user_option_and_password_from_the_environment() {
    let s = login().expect_line("DELE f").reply("250 deleted\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let dir = tempfile::tempdir().unwrap();
    // The URL's user is overridden by --user; the password comes from
    // FTPKIT_PASSWORD.
    let u = format!("ftp://bob@127.0.0.1:{}/f", server.port());
    let out = ftpkit_in(
        dir.path(),
        &["rm", "--user", "alice", &u],
        &[("FTPKIT_PASSWORD", "s3cret")],
    )
    .await;
    assert_success(&out);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_from_netrc() {
    let s = login().expect_line("DELE f").reply("250 deleted\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let dir = tempfile::tempdir().unwrap();
    let netrc = dir.path().join("my-netrc");
    std::fs::write(
        &netrc,
        "# test\nmachine other.example login x password y\n\
         machine 127.0.0.1\n  login alice\n  password \"s3cret\"\n",
    )
    .unwrap();
    let u = format!("ftp://127.0.0.1:{}/f", server.port());
    let out = ftpkit_in(
        dir.path(),
        &["rm", "--netrc", &u],
        &[("NETRC", netrc.to_str().unwrap())],
    )
    .await;
    assert_success(&out);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_without_user() {
    let s = Script::new()
        .send("220 scripted\r\n")
        .expect_line("USER anonymous")
        .reply("331 pw\r\n")
        .expect_line("PASS anonymous@")
        .reply("230 in\r\n")
        .expect("FEAT")
        .reply("211 none\r\n")
        .expect_line("TYPE I")
        .reply("200 binary\r\n")
        .expect_line("SIZE pub/x")
        .reply("213 3\r\n")
        .expect_line("MDTM pub/x")
        .reply("213 20200101000000\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["stat", &format!("ftp://127.0.0.1:{}/pub/x", server.port())]).await;
    assert_success(&out);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn active_mode_and_no_epsv() {
    let s = login()
        .expect_line("SIZE f")
        .reply("213 12\r\n")
        .expect_matching("PORT 127,0,0,1,p1,p2", |l| {
            l.text().starts_with("PORT 127,0,0,1,")
        })
        .reply("200 ok\r\n")
        .expect_line("RETR f")
        .reply("150 here\r\n")
        .active_connect()
        .data_send(b"active bytes")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["get", "--active", "--no-epsv", &url(&server, "f"), "-"]).await;
    assert_success(&out);
    assert_eq!(out.stdout, b"active bytes");
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_warns() {
    let pki = TestPki::new();
    let script = Script::new()
        .send("220 scripted\r\n")
        .expect_line("AUTH TLS")
        .reply("234 go\r\n")
        .start_tls()
        .expect("QUIT")
        .reply("221 bye\r\n");
    let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
    let u = format!("ftpes://127.0.0.1:{}/", server.port());
    let out = ftpkit(&["cert", "--insecure", "--tls-max", "1.2", &u]).await;
    assert_success(&out);
    assert!(
        stderr(&out).contains("warning: --insecure"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("tls version:  TLS 1.2"));
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_refused_is_one_line() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = ftpkit(&[
        "--timeout",
        "5",
        "ls",
        &format!("ftp://alice:s3cret@127.0.0.1:{port}/"),
    ])
    .await;
    let err = assert_one_line_error(&out);
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_ftpkit"))
        .args(["put", "--resume", "--append", "a", "ftp://h/b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_ftpkit"))
        .args(["--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    for cmd in [
        "ls", "get", "put", "rm", "mkdir", "rmdir", "mv", "stat", "cert", "quote",
    ] {
        assert!(String::from_utf8_lossy(&out.stdout).contains(cmd), "{cmd}");
    }
}

/// On a terminal (a pty from util-linux `script`, skipped without it), a
/// progress bar with the rate and ETA is drawn on stderr; the SIZE it needs
/// is asked only then.
#[tokio::test(flavor = "multi_thread")]
async fn progress_bar_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to make a pty");
        return;
    }
    let payload = vec![7u8; 1_000_000];
    let s = login().expect_line("SIZE big").reply("213 1000000\r\n");
    let s = passive(s)
        .expect_line("RETR big")
        .reply("150 opening\r\n")
        .data_accept()
        .data_send_chunked(&payload, 100_000, std::time::Duration::from_millis(20))
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let dir = tempfile::tempdir().unwrap();
    let cmdline = format!(
        "{} get {} out.bin",
        env!("CARGO_BIN_EXE_ftpkit"),
        url(&server, "big")
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &cmdline, "/dev/null"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_success(&out);
    let screen = stdout(&out);
    assert!(
        screen.contains("/s") && screen.contains("ETA"),
        "{screen:?}"
    );
    assert!(screen.contains("976.56 KiB/976.56 KiB"), "{screen:?}");
    assert_eq!(std::fs::read(dir.path().join("out.bin")).unwrap(), payload);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_without_a_file_name_is_refused_before_connecting() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = ftpkit(&["get", &format!("ftp://127.0.0.1:{port}/dir/")]).await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("give LOCAL"), "{err}");
    let out = ftpkit(&["get", &format!("ftp://127.0.0.1:{port}/"), "x"]).await;
    assert_one_line_error(&out);
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}

/// Explicit TLS login on a server that requires a client certificate, then
/// NOOP (through `quote`) and QUIT.
fn client_cert_script() -> Script {
    Script::logged_in_tls("alice", "s3cret", "211 none\r\n")
        .expect_line("NOOP")
        .reply("200 fine\r\n")
        .expect("QUIT")
        .reply("221 bye\r\n")
}

async fn run_with_client_cert(args: impl FnOnce(&Path) -> Vec<String>) {
    let pki = TestPki::new();
    let client = pki.issue_client_cert("ftpkit-cli-client");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_cert_pem()).unwrap();
    std::fs::write(dir.path().join("client.pem"), client.cert_pem()).unwrap();
    std::fs::write(dir.path().join("client.key"), client.key_pem()).unwrap();
    let server = ScriptedServer::start_tls(
        client_cert_script(),
        ServerTls::new(&pki).require_client_cert(),
    )
    .await;
    let u = format!("ftpes://alice:s3cret@localhost:{}/", server.port());
    let mut argv: Vec<String> = vec![
        "quote".into(),
        "--ca-file".into(),
        ca.to_str().unwrap().into(),
    ];
    argv.extend(args(dir.path()));
    argv.push(u);
    argv.push("NOOP".into());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = ftpkit_in(dir.path(), &argv, &[]).await;
    assert_success(&out);
    assert!(stdout(&out).contains("200 fine"), "{}", stdout(&out));
    let t = server.finish().await;
    t.assert_ok();
    let seen = &t.control_tls()[0].client_certificates;
    assert_eq!(
        seen.first(),
        Some(&client.cert_der()),
        "the server saw another certificate"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificate_picked_from_a_store_by_name() {
    run_with_client_cert(|dir| {
        // The store holds the client's certificate and key, and the CA.
        vec![
            "--cert-store".into(),
            dir.to_str().unwrap().into(),
            "--cert-name".into(),
            "ftpkit-cli-client".into(),
        ]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificate_from_pkcs12() {
    run_with_client_cert(|dir| {
        let p12 = dir.join("client.p12");
        let status = Command::new("openssl")
            .args(["pkcs12", "-export", "-in"])
            .arg(dir.join("client.pem"))
            .arg("-inkey")
            .arg(dir.join("client.key"))
            .arg("-out")
            .arg(&p12)
            .args(["-passout", "pass:p12-secret"])
            .status()
            .expect("openssl must be installed to build a PKCS#12 bundle");
        assert!(status.success());
        vec![
            "--pkcs12".into(),
            p12.to_str().unwrap().into(),
            "--pkcs12-password".into(),
            "p12-secret".into(),
        ]
    })
    .await;
}

/// A minimal SOCKS5 proxy (no authentication, CONNECT only) on loopback,
/// counting the tunnels it opens.
async fn socks5_proxy() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 2];
                s.read_exact(&mut head).await?;
                let mut methods = vec![0u8; usize::from(head[1])];
                s.read_exact(&mut methods).await?;
                s.write_all(&[5, 0]).await?;
                let mut req = [0u8; 4];
                s.read_exact(&mut req).await?;
                let host = match req[3] {
                    1 => {
                        let mut a = [0u8; 4];
                        s.read_exact(&mut a).await?;
                        std::net::Ipv4Addr::from(a).to_string()
                    }
                    3 => {
                        let mut len = [0u8; 1];
                        s.read_exact(&mut len).await?;
                        let mut name = vec![0u8; usize::from(len[0])];
                        s.read_exact(&mut name).await?;
                        String::from_utf8_lossy(&name).into_owned()
                    }
                    _ => return Ok::<(), std::io::Error>(()),
                };
                let mut p = [0u8; 2];
                s.read_exact(&mut p).await?;
                // Loopback only, whatever the client asks.
                let host = if host == "localhost" {
                    "127.0.0.1".to_owned()
                } else {
                    host
                };
                assert!(host.starts_with("127."), "proxy asked for {host}");
                let mut up =
                    tokio::net::TcpStream::connect((host.as_str(), u16::from_be_bytes(p))).await?;
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
                tokio::io::copy_bidirectional(&mut s, &mut up).await?;
                Ok(())
            });
        }
    });
    (port, tunnels)
}

#[tokio::test(flavor = "multi_thread")]
async fn get_through_a_socks5_proxy() {
    let (proxy_port, tunnels) = socks5_proxy().await;
    let server = ScriptedServer::start(retr_script("f.txt", b"via the proxy")).await;
    let proxy = format!("socks5://127.0.0.1:{proxy_port}");
    let out = ftpkit(&["get", "--proxy", &proxy, &url(&server, "f.txt"), "-"]).await;
    assert_success(&out);
    assert_eq!(out.stdout, b"via the proxy");
    // Control and data connection both went through the proxy.
    assert_eq!(tunnels.load(std::sync::atomic::Ordering::SeqCst), 2);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn active_mode_through_a_proxy_is_refused_before_connecting() {
    let out = ftpkit(&[
        "get",
        "--proxy",
        "socks5://127.0.0.1:9",
        "--active",
        "ftp://u:p@127.0.0.1:21/f",
        "-",
    ])
    .await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("--active"), "{err}");
}

/// Names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn get_cut_by_426_leaves_the_existing_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.bin"), b"the old, complete file").unwrap();
    let s = login().expect_line("SIZE f.bin").reply("213 10000\r\n");
    let s = passive(s)
        .expect_line("RETR f.bin")
        .reply("150 opening\r\n")
        .data_accept()
        .data_send([9u8; 5000])
        .data_close()
        .reply("426 Connection closed; transfer aborted\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(dir.path(), &["get", &url(&server, "f.bin")], &[]).await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("426"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("f.bin")).unwrap(),
        b"the old, complete file"
    );
    // What arrived is kept aside for a resume, and the error says where.
    assert!(err.contains("5000 bytes kept in"), "{err}");
    assert!(err.contains("get --resume"), "{err}");
    assert_eq!(names_in(dir.path()), [".ftpkit-partial", "f.bin"]);
    assert_eq!(
        std::fs::read(dir.path().join(".ftpkit-partial/f.bin")).unwrap(),
        [9u8; 5000]
    );
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_of_fewer_bytes_than_announced_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // No SIZE command: the 150 reply's size is the only one known.
    let s = login()
        .expect_line("SIZE f.bin")
        .reply("502 SIZE not implemented\r\n");
    let s = passive(s)
        .expect_line("RETR f.bin")
        .reply("150 Opening BINARY mode data connection for f.bin (3000 bytes).\r\n")
        .data_accept()
        .data_send([9u8; 1500])
        .data_close()
        .reply("226 Transfer complete\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(dir.path(), &["get", &url(&server, "f.bin")], &[]).await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("announced 3000 bytes"), "{err}");
    // Nothing under the final name; what came is kept aside for a resume.
    assert_eq!(names_in(dir.path()), [".ftpkit-partial"]);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_resume_from_a_server_that_restarts_elsewhere_fetches_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"hello ").unwrap();
    let s = login().expect_line("SIZE f.txt").reply("213 11\r\n");
    let s = passive(s)
        .expect_line("REST 6")
        .reply("350 Restarting at 0\r\n")
        .expect_line("REST 0")
        .reply("350 Restarting at 0\r\n");
    // The whole file again, from 0, replacing the partial one.
    let s = passive(s)
        .expect_line("RETR f.txt")
        .reply("150 opening\r\n")
        .data_accept()
        .data_send(b"HELLO world")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["get", "--resume", &url(&server, "f.txt")],
        &[],
    )
    .await;
    assert_success(&out);
    assert_eq!(
        std::fs::read(dir.path().join("f.txt")).unwrap(),
        b"HELLO world"
    );
    assert_eq!(names_in(dir.path()), ["f.txt"]);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_resume_from_a_server_without_rest_fetches_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"hello ").unwrap();
    let s = login().expect_line("SIZE f.txt").reply("213 11\r\n");
    let s = passive(s)
        .expect_line("REST 6")
        .reply("502 Command 'REST' not implemented\r\n");
    let s = passive(s)
        .expect_line("RETR f.txt")
        .reply("150 opening\r\n")
        .data_accept()
        .data_send(b"HELLO world")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["get", "--resume", &url(&server, "f.txt")],
        &[],
    )
    .await;
    assert_success(&out);
    assert_eq!(
        std::fs::read(dir.path().join("f.txt")).unwrap(),
        b"HELLO world"
    );
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_without_any_size_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = login()
        .expect_line("SIZE f.bin")
        .reply("500 Unknown command\r\n");
    let s = passive(s)
        .expect_line("RETR f.bin")
        .reply("150 Accepted data connection\r\n")
        .data_accept()
        .data_send([5u8; 700])
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(dir.path(), &["get", &url(&server, "f.bin")], &[]).await;
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("received 700 bytes; the server gave no size"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.path().join("f.bin")).unwrap(), [5u8; 700]);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_resume_with_a_short_remainder_fails_against_size() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"hello ").unwrap();
    let s = login().expect_line("SIZE f.txt").reply("213 11\r\n");
    let s = passive(s)
        .expect_line("REST 6")
        .reply("350 Restarting at 6\r\n")
        .expect_line("RETR f.txt")
        .reply("150 opening\r\n")
        .data_accept()
        .data_send(b"wo")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["get", "--resume", &url(&server, "f.txt")],
        &[],
    )
    .await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("SIZE is 11"), "{err}");
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn put_resume_to_a_server_that_ignores_rest_fails_on_size() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("part.bin"), b"0123456789").unwrap();
    let s = login().expect_line("SIZE part.bin").reply("213 4\r\n");
    let s = passive(s)
        .expect_line("REST 4")
        .reply("350 ok\r\n")
        .expect_line("STOR part.bin")
        .reply("150 go\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 stored\r\n")
        // It stored the six bytes as the whole file.
        .expect_line("SIZE part.bin")
        .reply("213 6\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["put", "--resume", "part.bin", &url(&server, "part.bin")],
        &[],
    )
    .await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("SIZE is 6"), "{err}");
    assert!(err.contains("has 10 bytes"), "{err}");
    server.finish().await.assert_ok();
}

fn is_temp_upload(l: &ftpkit_testkit::CommandLine, verb: &str) -> bool {
    l.verb() == verb
        && l.argument()
            .is_some_and(|a| a.starts_with("in/.up.bin.ftpkit-upload-") && !a.contains(' '))
}

#[tokio::test(flavor = "multi_thread")]
async fn put_atomic_stores_under_a_temporary_name_then_renames() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("up.bin"), b"atomic payload").unwrap();
    let s = passive(login())
        .expect_matching("STOR of the temporary name", |l| is_temp_upload(l, "STOR"))
        .reply("150 go\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 stored\r\n")
        .expect_matching("SIZE of the temporary name", |l| is_temp_upload(l, "SIZE"))
        .reply("213 14\r\n")
        .expect_matching("RNFR of the temporary name", |l| is_temp_upload(l, "RNFR"))
        .reply("350 ready\r\n")
        .expect_line("RNTO in/up.bin")
        .reply("250 renamed\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["put", "--atomic", "up.bin", &url(&server, "in/up.bin")],
        &[],
    )
    .await;
    assert_success(&out);
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn put_atomic_that_fails_removes_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("up.bin"), b"atomic payload").unwrap();
    let s = passive(login())
        .expect_matching("STOR of the temporary name", |l| is_temp_upload(l, "STOR"))
        .reply("150 go\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 stored\r\n")
        // Short on the server: the target is never touched.
        .expect_matching("SIZE of the temporary name", |l| is_temp_upload(l, "SIZE"))
        .reply("213 7\r\n")
        .expect_matching("DELE of the temporary name", |l| is_temp_upload(l, "DELE"))
        .reply("250 deleted\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit_in(
        dir.path(),
        &["put", "--atomic", "up.bin", &url(&server, "in/up.bin")],
        &[],
    )
    .await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("SIZE is 7"), "{err}");
    let t = server.finish().await;
    t.assert_ok();
    assert!(!t.verbs().iter().any(|v| v == "RNTO"), "{t}");
}

/// An `ls` error message in a LIST (servers that run `/bin/ls`) is never
/// printed as a file: it goes to stderr, sanitised, and the exit is 1.
#[tokio::test(flavor = "multi_thread")]
async fn ls_never_shows_an_unparsed_row_as_a_file() {
    let s = passive(login())
        .expect_line("LIST probe")
        .reply("150 here\r\n")
        .data_accept()
        .data_send(
            b"-rw-r--r--    1 0        0              5 Jan 02  2024 a.txt\r\n\
/bin/ls: cannot access 'probe/c': No such file \x1b]0;owned\x07or directory\r\n",
        )
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["ls", &url(&server, "probe")]).await;
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "a.txt\n");
    let err = stderr(&out);
    assert!(err.contains("listing row not understood: /bin/ls"), "{err}");
    assert!(err.contains("1 listing row not understood"), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    server.finish().await.assert_ok();
}

/// Every path a server-supplied string takes to the terminal goes through
/// the one sanitiser: mirror's per-file notes, the `-v` trace (whose lines
/// carry the session's number), and listings.
#[tokio::test(flavor = "multi_thread")]
async fn terminal_escapes_from_the_server_never_reach_stderr() {
    let evil = "550 \x1b]0;owned\x07no \x1b[2Jway\r\n";
    let s = login_with_features(" EPSV\r\n MLST type*;size*;modify*;\r\n")
        .expect("EPSV")
        .passive_listen()
        .reply_epsv()
        .expect_line("MLSD .")
        .reply("150 go\r\n")
        .data_accept()
        .data_send(b"type=file;size=3;modify=20240101000000; f\r\n")
        .data_close()
        .reply("226 done\r\n")
        .expect("EPSV")
        .passive_listen()
        .reply_epsv()
        .expect_line("RETR ./f")
        .reply(evil);
    let server = ScriptedServer::start(quit(s)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = ftpkit_in(
        dir.path(),
        &[
            "-v",
            "mirror",
            "--parallel",
            "1",
            "--retries",
            "0",
            &url(&server, ""),
            "out",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("./f: "), "{err}");
    assert!(err.contains("1 error"), "{err}");
    assert!(!err.contains("1 errors"), "{err}");
    // The trace names its session.
    assert!(err.contains("[") && err.contains("] < 550"), "{err}");
    for c in ['\x1b', '\x07'] {
        assert!(!err.contains(c), "{err:?}");
    }
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn mirror_dry_run_prints_the_plan_and_writes_nothing() {
    let s = login_with_features(" EPSV\r\n MLST type*;size*;modify*;\r\n")
        .expect("EPSV")
        .passive_listen()
        .reply_epsv()
        .expect_line("MLSD pub")
        .reply("150 go\r\n")
        .data_accept()
        .data_send(
            b"type=file;size=3;modify=20240101000000; a.iso\r\n\
type=file;size=5;modify=20240101000000; b.txt\r\n",
        )
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = ftpkit_in(
        dir.path(),
        &[
            "mirror",
            "--dry-run",
            "--include",
            "*.iso",
            &url(&server, "pub"),
            "out",
        ],
        &[],
    )
    .await;
    assert_success(&out);
    assert_eq!(stdout(&out), "get pub/a.iso -> out/a.iso (3 bytes)\n");
    assert!(
        stderr(&out).contains("dry run: 1 file to transfer"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("out").exists());
    server.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_long_shows_unknown_permissions_as_unknown() {
    let s = login_with_features(" EPSV\r\n MLST type*;size*;modify*;\r\n")
        .expect("EPSV")
        .passive_listen()
        .reply_epsv()
        .expect("MLSD")
        .reply("150 go\r\n")
        .data_accept()
        .data_send(b"type=file;size=3;modify=20240101000000; a\r\n")
        .data_close()
        .reply("226 done\r\n");
    let server = ScriptedServer::start(quit(s)).await;
    let out = ftpkit(&["ls", "--long", &url(&server, "")]).await;
    assert_success(&out);
    assert!(stdout(&out).starts_with("-?????????"), "{}", stdout(&out));
    server.finish().await.assert_ok();
}
