//! The `ftpkit` binary against the scripted loopback server: each test runs
//! the real executable and checks its output, its exit status and what the
//! server received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ftpkit_testkit::{CommandLine, Script, ScriptedServer, ServerTls, TestPki, Transcript};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ----- running the binary ----------------------------------------------------

/// Runs the binary with `args`, in `dir`, with a clean environment for
/// credentials (`HOME` is `dir`), stdin closed.
async fn ftpkit_in(dir: &Path, args: &[impl AsRef<OsStr>], env: &[(&str, &str)]) -> Output {
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

/// Runs the binary with `args` in a scratch directory.
async fn ftpkit(args: &[impl AsRef<OsStr>]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    ftpkit_in(dir.path(), args, &[]).await
}

/// `arg` with `{url}` standing for alice's `ftp://alice:s3cret@127.0.0.1:PORT`
/// and `{port}` for `port`.
fn at_port(arg: &str, port: u16) -> String {
    arg.replace("{url}", "ftp://alice:s3cret@127.0.0.1:{port}")
        .replace("{port}", &port.to_string())
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

/// Checks that `text` contains each of `parts`.
fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is missing from:\n{text}");
    }
}

/// The outcome of case `name`: success when `error` is empty, else exit
/// status 1 and one line on stderr containing each part of `error`.
fn assert_outcome(name: &str, o: &Output, error: &[&str]) {
    eprintln!("case: {name}");
    if error.is_empty() {
        assert_success(o);
    } else {
        let err = assert_one_line_error(o);
        for part in error {
            assert!(err.contains(part), "{name}: {err}");
        }
    }
}

/// A scripted server and a scratch directory for the binary (its working
/// directory and `HOME`). The arguments of a run name the server with
/// `{url}` and `{port}` (see `at_port`).
struct World {
    server: ScriptedServer,
    dir: tempfile::TempDir,
}

impl World {
    /// Serves `script` over plain FTP.
    async fn start(script: Script) -> Self {
        Self::serving(ScriptedServer::start(script).await)
    }

    /// Serves `script` with `pki`'s server certificate; `ca.pem` in the
    /// directory is `pki`'s CA.
    async fn start_tls(script: Script, pki: &TestPki) -> Self {
        Self::start_tls_with(script, pki, ServerTls::new(pki)).await
    }

    /// Like `start_tls`, with the server's TLS settings `tls`.
    async fn start_tls_with(script: Script, pki: &TestPki, tls: ServerTls) -> Self {
        let world = Self::serving(ScriptedServer::start_tls(script, tls).await);
        world.write("ca.pem", pki.ca_cert_pem());
        world
    }

    fn serving(server: ScriptedServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self { server, dir }
    }

    /// Where `name` is in the directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.path(name), contents).unwrap();
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// The names in the directory, sorted.
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// `arg` naming this server (see `at_port`).
    fn arg(&self, arg: &str) -> String {
        at_port(arg, self.server.port())
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[]).await
    }

    /// Runs the binary with `env` added to its environment.
    async fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let args: Vec<String> = args.iter().map(|a| self.arg(a)).collect();
        ftpkit_in(self.dir.path(), &args, env).await
    }

    /// Runs the binary, which must succeed.
    async fn succeeds(&self, args: &[&str]) -> Output {
        let out = self.run(args).await;
        assert_success(&out);
        out
    }

    /// Runs the binary, which must fail in one line; returns that line.
    async fn fails(&self, args: &[&str]) -> String {
        assert_one_line_error(&self.run(args).await)
    }

    /// Ends the server; its transcript.
    async fn finish(self) -> Transcript {
        self.server.finish().await
    }

    /// Ends the server, which must have kept to its script; what it
    /// received on each data connection.
    async fn received(self) -> Vec<Vec<u8>> {
        let t = self.finish().await;
        t.assert_ok();
        t.data_received().into_iter().map(<[u8]>::to_vec).collect()
    }
}

/// A loopback port that nobody may connect to: for what must be refused
/// before connecting.
struct Untouched(std::net::TcpListener);

impl Untouched {
    fn new() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self(listener)
    }

    /// Runs the binary with `args` naming this port (see `at_port`).
    async fn run(&self, args: &[&str]) -> Output {
        let port = self.0.local_addr().unwrap().port();
        let args: Vec<String> = args.iter().map(|a| at_port(a, port)).collect();
        ftpkit(&args).await
    }

    /// Nobody connected: nothing was sent.
    fn assert_untouched(&self) {
        assert_eq!(
            self.0.accept().unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
    }
}

// ----- scripts -----------------------------------------------------------------

/// The server's greeting, before any login.
fn greeting() -> Script {
    Script::new().send("220 scripted\r\n")
}

fn login_with_features(features: &str) -> Script {
    Script::logged_in("alice", "s3cret", Script::feat_reply(features))
}

/// Login; FEAT offers EPSV and REST STREAM, not MLST.
fn login() -> Script {
    login_with_features(" EPSV\r\n REST STREAM\r\n")
}

/// Login; FEAT offers EPSV and MLST.
fn login_mlst() -> Script {
    login_with_features(" EPSV\r\n MLST type*;size*;modify*;\r\n")
}

fn quit(s: Script) -> Script {
    s.expect("QUIT").reply("221 bye\r\n")
}

fn passive(s: Script) -> Script {
    s.expect("EPSV").passive_listen().reply_epsv()
}

/// `s`, then PORT of a loopback address, accepted (active mode).
fn port(s: Script) -> Script {
    s.expect_matching("PORT 127,0,0,1,p1,p2", |l| {
        l.text().starts_with("PORT 127,0,0,1,")
    })
    .reply("200 ok\r\n")
}

/// `s`, then each command line answered with its reply (CRLF added).
fn dialogue(s: Script, exchanges: &[(&str, &str)]) -> Script {
    exchanges.iter().fold(s, |s, (command, reply)| {
        s.expect_line(*command).reply(format!("{reply}\r\n"))
    })
}

/// `s`, then `command` (RETR, LIST, MLSD) answered over the passive data
/// connection: 150, `data`, 226.
fn sends(s: Script, command: &str, data: impl AsRef<[u8]>) -> Script {
    sends_between(s, command, "150 opening", data, "226 done")
}

/// `s`, then `command` answered with `opening`, `data` over the passive
/// data connection, then `closing`.
fn sends_between(
    s: Script,
    command: &str,
    opening: &str,
    data: impl AsRef<[u8]>,
    closing: &str,
) -> Script {
    s.expect_line(command)
        .reply(format!("{opening}\r\n"))
        .data_accept()
        .data_send(data)
        .data_close()
        .reply(format!("{closing}\r\n"))
}

/// `s` after an upload command: 150, the bytes received over the passive
/// data connection, 226.
fn receives(s: Script) -> Script {
    s.reply("150 go\r\n")
        .data_accept()
        .data_recv_to_end()
        .reply("226 stored\r\n")
}

/// `s`, then `verb` (STOR, APPE) of `path` receiving the upload, then
/// SIZE of `path` answered with `size`.
fn stores(s: Script, verb: &str, path: &str, size: u64) -> Script {
    receives(s.expect_line(format!("{verb} {path}")))
        .expect_line(format!("SIZE {path}"))
        .reply(format!("213 {size}\r\n"))
}

// ----- ls ----------------------------------------------------------------------

const MLSD_LISTING: &[u8] = b"type=cdir;modify=20240101000000; .\r\n\
type=pdir;modify=20240101000000; ..\r\n\
type=file;size=11;modify=20240102030405; hello.txt\r\n\
type=dir;modify=20231231235959; sub dir\r\n\
type=OS.unix=slink:/etc;modify=20240102030405; link\r\n";

/// `login`, then `command` answered with `listing` over a passive data
/// connection, then QUIT.
fn lists(login: Script, command: &str, listing: &[u8]) -> Script {
    quit(sends(passive(login), command, listing))
}

fn mlsd_script() -> Script {
    lists(login_mlst(), "MLSD pub", MLSD_LISTING)
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_names_with_mlsd() {
    let w = World::start(mlsd_script()).await;
    let out = w.succeeds(&["ls", "{url}/pub"]).await;
    assert_eq!(stdout(&out), "hello.txt\nsub dir\nlink\n");
    assert_eq!(stderr(&out), "");
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_json_one_object_per_line() {
    let w = World::start(mlsd_script()).await;
    let out = w.succeeds(&["ls", "--json", "{url}/pub"]).await;
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
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_long_falls_back_to_list() {
    let listing = b"total 8\r\n\
drwxr-xr-x    2 0        0            4096 Jan 02  2020 docs\r\n\
-rw-r--r--    1 0        0              11 Mar 04  2021 a.txt\r\n\
lrwxrwxrwx    1 0        0               5 Mar 04  2021 l -> a.txt\r\n";
    let w = World::start(lists(login(), "LIST", listing)).await;
    let out = w.succeeds(&["ls", "--long", "{url}/"]).await;
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("drwxr-xr-x"), "{text}");
    assert!(lines[0].contains("4096") && lines[0].contains("2020-01-02"));
    assert!(lines[0].ends_with(" docs"));
    assert!(lines[1].starts_with("-rw-r--r--") && lines[1].ends_with(" a.txt"));
    assert!(lines[2].ends_with(" l -> a.txt"), "{text}");
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_long_shows_unknown_permissions_as_unknown() {
    let listing = b"type=file;size=3;modify=20240101000000; a\r\n";
    let w = World::start(lists(login_mlst(), "MLSD", listing)).await;
    let out = w.succeeds(&["ls", "--long", "{url}/"]).await;
    assert!(stdout(&out).starts_with("-?????????"), "{}", stdout(&out));
    w.finish().await.assert_ok();
}

/// An `ls` error message in a LIST (servers that run `/bin/ls`) is never
/// printed as a file: it goes to stderr, sanitised, and the exit is 1.
#[tokio::test(flavor = "multi_thread")]
async fn ls_never_shows_an_unparsed_row_as_a_file() {
    let listing = b"-rw-r--r--    1 0        0              5 Jan 02  2024 a.txt\r\n\
/bin/ls: cannot access 'probe/c': No such file \x1b]0;owned\x07or directory\r\n";
    let w = World::start(lists(login(), "LIST probe", listing)).await;
    let out = w.run(&["ls", "{url}/probe"]).await;
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "a.txt\n");
    let err = stderr(&out);
    assert!(err.contains("listing row not understood: /bin/ls"), "{err}");
    assert!(err.contains("1 listing row not understood"), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    w.finish().await.assert_ok();
}

// ----- get ---------------------------------------------------------------------

/// `SIZE path` (the CLI checks what arrives against it), then `RETR path`.
fn retr_script(path: &str, data: &[u8]) -> Script {
    let s = dialogue(
        login(),
        &[(&format!("SIZE {path}"), &format!("213 {}", data.len()))],
    );
    quit(sends(passive(s), &format!("RETR {path}"), data))
}

#[tokio::test(flavor = "multi_thread")]
async fn get_to_the_remote_name_and_to_a_named_file() {
    let w = World::start(retr_script("pub/file.bin", b"hello world")).await;
    let out = w.succeeds(&["get", "{url}/pub/file.bin"]).await;
    assert_eq!(stdout(&out), "");
    assert_eq!(w.read("file.bin"), b"hello world");
    w.finish().await.assert_ok();

    let w = World::start(retr_script("file.bin", b"other")).await;
    w.succeeds(&["get", "{url}/file.bin", "named.out"]).await;
    assert_eq!(w.read("named.out"), b"other");
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_to_stdout() {
    let payload: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let w = World::start(retr_script("blob", &payload)).await;
    let out = w.succeeds(&["get", "{url}/blob", "-"]).await;
    assert_eq!(out.stdout, payload);
    assert_eq!(stderr(&out), "");
    w.finish().await.assert_ok();
}

/// A `--resume` case: how the server answers REST (after SIZE and EPSV),
/// what it does then, and what comes of it.
struct Resume {
    name: &'static str,
    rest: &'static str,
    then: fn(Script) -> Script,
    /// When it succeeds: the local file after `get`, what the server
    /// received in `put`.
    result: &'static [u8],
    /// Parts of the one-line error; none: success.
    error: &'static [&'static str],
}

/// `get --resume` of f.txt, of which "hello " is here; the server's SIZE
/// is 11.
const GET_RESUME: &[Resume] = &[
    Resume {
        name: "continues the local file",
        rest: "350 restarting",
        then: |s| sends(s, "RETR f.txt", b"world"),
        result: b"hello world",
        error: &[],
    },
    Resume {
        name: "from a server that restarts elsewhere fetches it whole",
        rest: "350 Restarting at 0",
        then: |s| {
            let s = dialogue(s, &[("REST 0", "350 Restarting at 0")]);
            // The whole file again, from 0, replacing the partial one.
            sends(passive(s), "RETR f.txt", b"HELLO world")
        },
        result: b"HELLO world",
        error: &[],
    },
    Resume {
        name: "from a server without REST fetches it whole",
        rest: "502 Command 'REST' not implemented",
        then: |s| sends(passive(s), "RETR f.txt", b"HELLO world"),
        result: b"HELLO world",
        error: &[],
    },
    Resume {
        name: "with a short remainder fails against SIZE",
        rest: "350 Restarting at 6",
        then: |s| sends(s, "RETR f.txt", b"wo"),
        result: b"",
        error: &["SIZE is 11"],
    },
];

/// The server of a `--resume` case of `file`, `local` here and `size` bytes
/// on the server: SIZE, EPSV, REST `offset` answered as the case says, then
/// the case's steps.
async fn resume_world(case: &Resume, file: &str, local: &[u8], size: u64, offset: u64) -> World {
    let s = dialogue(
        login(),
        &[(&format!("SIZE {file}"), &format!("213 {size}"))],
    );
    let s = dialogue(passive(s), &[(&format!("REST {offset}"), case.rest)]);
    let w = World::start(quit((case.then)(s))).await;
    w.write(file, local);
    w
}

#[tokio::test(flavor = "multi_thread")]
async fn get_resume_continues_or_fetches_it_whole() {
    for case in GET_RESUME {
        let w = resume_world(case, "f.txt", b"hello ", 11, 6).await;
        let out = w.run(&["get", "--resume", "{url}/f.txt"]).await;
        assert_outcome(case.name, &out, case.error);
        if case.error.is_empty() {
            assert_eq!(w.read("f.txt"), case.result, "{}", case.name);
            assert_eq!(w.names(), ["f.txt"], "{}", case.name);
        }
        let t = w.finish().await;
        assert!(t.is_ok(), "{}: {t}", case.name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_550_is_one_line_naming_the_reply_and_keeps_the_local_file() {
    let missing = "550 missing.txt: No such file or directory";
    let s = dialogue(login(), &[("SIZE missing.txt", missing)]);
    let s = dialogue(passive(s), &[("RETR missing.txt", missing)]);
    let w = World::start(quit(s)).await;
    w.write("missing.txt", b"precious");
    let err = w.fails(&["get", "{url}/missing.txt"]).await;
    assert!(err.contains("550"), "{err}");
    assert!(err.contains("No such file"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(w.read("missing.txt"), b"precious");
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_cut_by_426_leaves_the_existing_file_untouched() {
    let s = login().expect_line("SIZE f.bin").reply("213 10000\r\n");
    let s = sends_between(
        passive(s),
        "RETR f.bin",
        "150 opening",
        [9u8; 5000],
        "426 Connection closed; transfer aborted",
    );
    let w = World::start(quit(s)).await;
    w.write("f.bin", b"the old, complete file");
    let err = w.fails(&["get", "{url}/f.bin"]).await;
    assert!(err.contains("426"), "{err}");
    assert_eq!(w.read("f.bin"), b"the old, complete file");
    // What arrived is kept aside for a resume, and the error says where.
    assert!(err.contains("5000 bytes kept in"), "{err}");
    assert!(err.contains("get --resume"), "{err}");
    assert_eq!(w.names(), [".ftpkit-partial", "f.bin"]);
    assert_eq!(w.read(".ftpkit-partial/f.bin"), [9u8; 5000]);
    w.finish().await.assert_ok();
}

/// `get f.bin` from a server that refuses `SIZE` with `refusal`, marks
/// `RETR` with `mark` and sends `data`.
fn get_without_size(refusal: &str, mark: &str, data: &[u8]) -> Script {
    let s = login()
        .expect_line("SIZE f.bin")
        .reply(format!("{refusal}\r\n"));
    quit(sends_between(
        passive(s),
        "RETR f.bin",
        mark,
        data,
        "226 done",
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn get_of_fewer_bytes_than_announced_fails_and_writes_nothing() {
    // No SIZE command: the 150 reply's size is the only one known.
    let s = get_without_size(
        "502 SIZE not implemented",
        "150 Opening BINARY mode data connection for f.bin (3000 bytes).",
        &[9u8; 1500],
    );
    let w = World::start(s).await;
    let err = w.fails(&["get", "{url}/f.bin"]).await;
    assert!(err.contains("announced 3000 bytes"), "{err}");
    // Nothing under the final name; what came is kept aside for a resume.
    assert_eq!(w.names(), [".ftpkit-partial"]);
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_without_any_size_says_so() {
    let s = get_without_size(
        "500 Unknown command",
        "150 Accepted data connection",
        &[5u8; 700],
    );
    let w = World::start(s).await;
    let out = w.succeeds(&["get", "{url}/f.bin"]).await;
    let err = stderr(&out);
    assert!(
        err.contains("received 700 bytes; the server gave no size"),
        "{err}"
    );
    assert_eq!(w.read("f.bin"), [5u8; 700]);
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn active_mode_and_no_epsv() {
    let s = port(dialogue(login(), &[("SIZE f", "213 12")]))
        .expect_line("RETR f")
        .reply("150 here\r\n")
        .active_connect()
        .data_send(b"active bytes")
        .data_close()
        .reply("226 done\r\n");
    let w = World::start(quit(s)).await;
    let out = w
        .succeeds(&["get", "--active", "--no-epsv", "{url}/f", "-"])
        .await;
    assert_eq!(out.stdout, b"active bytes");
    w.finish().await.assert_ok();
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
    let w = World::start(quit(s)).await;
    let cmdline = w.arg(&format!(
        "{} get {{url}}/big out.bin",
        env!("CARGO_BIN_EXE_ftpkit")
    ));
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &cmdline, "/dev/null"])
        .current_dir(w.dir.path())
        .env("HOME", w.dir.path())
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
    assert_eq!(w.read("out.bin"), payload);
    w.finish().await.assert_ok();
}

// ----- put ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn put_uploads_the_file() {
    let w = World::start(quit(stores(
        passive(login()),
        "STOR",
        "incoming/up.bin",
        14,
    )))
    .await;
    w.write("up.bin", b"upload payload");
    // A URL ending in / gets the local file's name.
    w.succeeds(&["put", "up.bin", "{url}/incoming/"]).await;
    assert_eq!(w.received().await, [b"upload payload"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn put_append_uses_appe() {
    let s = login().expect_line("SIZE log.txt").reply("213 100\r\n");
    let w = World::start(quit(stores(passive(s), "APPE", "log.txt", 105))).await;
    w.write("log.txt", b"more\n");
    w.succeeds(&["put", "--append", "log.txt", "{url}/log.txt"])
        .await;
    assert_eq!(w.received().await, [b"more\n"]);
}

/// `put --resume` of part.bin, "0123456789"; the server's SIZE is 4.
const PUT_RESUME: &[Resume] = &[
    Resume {
        name: "sends the rest",
        rest: "350 ok",
        then: |s| stores(s, "STOR", "part.bin", 10),
        result: b"456789",
        error: &[],
    },
    Resume {
        name: "to a server without REST sends it whole",
        rest: "502 Command 'REST' not implemented",
        then: |s| stores(passive(s), "STOR", "part.bin", 10),
        result: b"0123456789",
        error: &[],
    },
    Resume {
        name: "to a server that ignores REST fails on SIZE",
        rest: "350 ok",
        // It stored the six bytes as the whole file.
        then: |s| stores(s, "STOR", "part.bin", 6),
        result: b"",
        error: &["SIZE is 6", "has 10 bytes"],
    },
];

#[tokio::test(flavor = "multi_thread")]
async fn put_resume_sends_the_rest_or_the_whole_file() {
    for case in PUT_RESUME {
        let w = resume_world(case, "part.bin", b"0123456789", 4, 4).await;
        let out = w
            .run(&["put", "--resume", "part.bin", "{url}/part.bin"])
            .await;
        assert_outcome(case.name, &out, case.error);
        let t = w.finish().await;
        assert!(t.is_ok(), "{}: {t}", case.name);
        if case.error.is_empty() {
            assert_eq!(t.data_received(), [case.result], "{}", case.name);
        }
    }
}

/// `s`, then `verb` of the temporary name that `put --atomic` gives
/// in/up.bin.
fn expect_temp_upload(s: Script, verb: &'static str) -> Script {
    s.expect_matching(&format!("{verb} of the temporary name"), move |l| {
        is_temp_upload(l, verb)
    })
}

fn is_temp_upload(l: &CommandLine, verb: &str) -> bool {
    l.verb() == verb
        && l.argument()
            .is_some_and(|a| a.starts_with("in/.up.bin.ftpkit-upload-") && !a.contains(' '))
}

/// Runs `put --atomic` of `local` (up.bin, "atomic payload", or `-`,
/// stdin, empty) to in/up.bin against a server that takes the upload under
/// its temporary name, answers its SIZE with `size` and then does what
/// `then` adds.
async fn put_atomic_to_in_up_bin(
    local: &str,
    size: u64,
    then: impl FnOnce(Script) -> Script,
) -> (World, Output) {
    let s = receives(expect_temp_upload(passive(login()), "STOR"));
    let s = expect_temp_upload(s, "SIZE").reply(format!("213 {size}\r\n"));
    let w = World::start(quit(then(s))).await;
    w.write("up.bin", b"atomic payload");
    let out = w.run(&["put", "--atomic", local, "{url}/in/up.bin"]).await;
    (w, out)
}

/// `s`, then the temporary upload renamed onto in/up.bin.
fn renames_temp_upload(s: Script) -> Script {
    let s = expect_temp_upload(s, "RNFR").reply("350 ready\r\n");
    dialogue(s, &[("RNTO in/up.bin", "250 renamed")])
}

#[tokio::test(flavor = "multi_thread")]
async fn put_atomic_stores_under_a_temporary_name_then_renames() {
    let (w, out) = put_atomic_to_in_up_bin("up.bin", 14, renames_temp_upload).await;
    assert_success(&out);
    assert_eq!(w.received().await, [b"atomic payload"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn put_atomic_from_stdin_stores_under_a_temporary_name_too() {
    let (w, out) = put_atomic_to_in_up_bin("-", 0, renames_temp_upload).await;
    assert_success(&out);
    assert_eq!(w.received().await, [b""]);
}

#[tokio::test(flavor = "multi_thread")]
async fn put_atomic_that_fails_removes_the_temporary_file() {
    // Short on the server: the target is never touched.
    let (w, out) = put_atomic_to_in_up_bin("up.bin", 7, |s| {
        expect_temp_upload(s, "DELE").reply("250 deleted\r\n")
    })
    .await;
    let err = assert_one_line_error(&out);
    assert!(err.contains("SIZE is 7"), "{err}");
    let t = w.finish().await;
    t.assert_ok();
    assert!(!t.verbs().iter().any(|v| v == "RNTO"), "{t}");
}

// ----- the other commands -------------------------------------------------------

/// A command that takes a few exchanges after login.
struct Exchanges {
    /// What the case shows, for failure messages.
    name: &'static str,
    args: &'static [&'static str],
    /// The command lines the server expects, each with its reply.
    dialogue: &'static [(&'static str, &'static str)],
    stdout: &'static str,
    /// Parts of the one-line error; none: success.
    error: &'static [&'static str],
}

const EXCHANGES: &[Exchanges] = &[
    Exchanges {
        name: "rm deletes",
        args: &["rm", "{url}/old/file.txt"],
        dialogue: &[("DELE old/file.txt", "250 deleted")],
        stdout: "",
        error: &[],
    },
    Exchanges {
        name: "mkdir -p creates parents and tolerates existing",
        args: &["mkdir", "-p", "{url}/a/b/c"],
        dialogue: &[
            ("MKD a", "550 a: File exists"),
            ("PWD", "257 \"/home/alice\" is the current directory"),
            ("CWD a", "250 ok"),
            ("CWD /home/alice", "250 ok"),
            ("MKD a/b", "257 \"/home/alice/a/b\" created"),
            ("MKD a/b/c", "257 \"/home/alice/a/b/c\" created"),
        ],
        stdout: "",
        error: &[],
    },
    Exchanges {
        name: "mkdir -p fails when a component cannot be made",
        args: &["mkdir", "-p", "{url}/%2Fx/y"],
        dialogue: &[
            ("MKD /x", "550 Permission denied"),
            ("PWD", "257 \"/\""),
            ("CWD /x", "550 No such directory"),
        ],
        stdout: "",
        error: &["550 Permission denied"],
    },
    Exchanges {
        name: "mv renames",
        args: &["mv", "{url}/old%20name.txt", "archive/new.txt"],
        dialogue: &[
            ("RNFR old name.txt", "350 ready"),
            ("RNTO archive/new.txt", "250 renamed"),
        ],
        stdout: "",
        error: &[],
    },
    Exchanges {
        name: "stat prints size and time",
        args: &["stat", "{url}/f.iso"],
        dialogue: &[
            ("SIZE f.iso", "213 1234567"),
            ("MDTM f.iso", "213 20240102030405"),
        ],
        stdout: "size: 1234567\nmodified: 2024-01-02T03:04:05Z\n",
        error: &[],
    },
    Exchanges {
        name: "quote prints the reply",
        args: &["quote", "{url}/", "SITE CHMOD 644 f.txt"],
        dialogue: &[("SITE CHMOD 644 f.txt", "200 SITE CHMOD command successful")],
        stdout: "200 SITE CHMOD command successful\n",
        error: &[],
    },
    Exchanges {
        name: "quote's negative reply is printed and fails",
        args: &["quote", "{url}/", "SITE BOGUS"],
        dialogue: &[("SITE BOGUS", "500 Unknown SITE command")],
        stdout: "500 Unknown SITE command\n",
        error: &["500 Unknown SITE command"],
    },
];

#[tokio::test(flavor = "multi_thread")]
async fn commands_send_their_lines_and_report_the_replies() {
    for case in EXCHANGES {
        let w = World::start(quit(dialogue(login(), case.dialogue))).await;
        let out = w.run(case.args).await;
        assert_outcome(case.name, &out, case.error);
        assert_eq!(stdout(&out), case.stdout, "{}", case.name);
        let t = w.finish().await;
        assert!(t.is_ok(), "{}: {t}", case.name);
    }
}

// ----- credentials ---------------------------------------------------------------

/// Login, then DELE f: what `rm` of f does.
fn delete_f() -> Script {
    quit(dialogue(login(), &[("DELE f", "250 deleted")]))
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_trace_redacts_the_password() {
    let w = World::start(delete_f()).await;
    let out = w.succeeds(&["-v", "rm", "{url}/f"]).await;
    let err = stderr(&out);
    assert_contains_all(
        &err,
        &["> USER alice", "PASS ****", "> DELE f", "< 250 deleted"],
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert!(!stdout(&out).contains("s3cret"));
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn login_refused_names_the_reply_never_the_password() {
    let s = dialogue(
        greeting(),
        &[
            ("USER alice", "331 pw"),
            ("PASS s3cret", "530 Login incorrect"),
        ],
    );
    let w = World::start(s).await;
    let out = w.run(&["-v", "ls", "{url}/"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("ftpkit: ") && last.contains("530"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn user_option_and_password_from_the_environment() {
    let w = World::start(delete_f()).await;
    // The URL's user is overridden by --user; the password comes from
    // FTPKIT_PASSWORD.
    let out = w
        .run_with_env(
            &["rm", "--user", "alice", "ftp://bob@127.0.0.1:{port}/f"],
            &[("FTPKIT_PASSWORD", "s3cret")],
        )
        .await;
    assert_success(&out);
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_from_netrc() {
    let w = World::start(delete_f()).await;
    w.write(
        "my-netrc",
        "# test\nmachine other.example login x password y\n\
         machine 127.0.0.1\n  login alice\n  password \"s3cret\"\n",
    );
    let netrc = w.path("my-netrc");
    let out = w
        .run_with_env(
            &["rm", "--netrc", "ftp://127.0.0.1:{port}/f"],
            &[("NETRC", netrc.to_str().unwrap())],
        )
        .await;
    assert_success(&out);
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_without_user() {
    let s = Script::logged_in("anonymous", "anonymous@", "211 none\r\n");
    let s = dialogue(
        s,
        &[
            ("SIZE pub/x", "213 3"),
            ("MDTM pub/x", "213 20200101000000"),
        ],
    );
    let w = World::start(quit(s)).await;
    w.succeeds(&["stat", "ftp://127.0.0.1:{port}/pub/x"]).await;
    w.finish().await.assert_ok();
}

// ----- refused before connecting ---------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn cr_lf_in_a_path_is_refused_before_connecting() {
    let port = Untouched::new();
    for args in [
        &["rm", "{url}/a%0D%0ADELE%20important"][..],
        &["get", "{url}/a%0Ab", "-"],
        &["ls", "{url}/a%00b"],
        &["mv", "{url}/a", "b\r\nDELE important"],
        // The user and the password, in the URL and through --user.
        &["ls", "ftp://alice%0D%0ASITE%20x:s3cret@127.0.0.1:{port}/"],
        &["ls", "ftp://alice:s3cret%0A@127.0.0.1:{port}/"],
        &[
            "ls",
            "--user",
            "alice:s3cret\r\nDELE x",
            "ftp://127.0.0.1:{port}/",
        ],
        // A raw command, a directory, an upload target, STAT's path.
        &["quote", "{url}", "NOOP\r\nDELE important"],
        &["mkdir", "{url}/d%00x"],
        &["put", "/dev/null", "{url}/up%0D.bin"],
        &["stat", "{url}/f%0A"],
    ] {
        let err = assert_one_line_error(&port.run(args).await);
        assert!(
            err.contains("CR") || err.contains("LF") || err.contains("NUL"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }
    port.assert_untouched();
}

/// Arguments that cannot work, each with a part of its error.
#[tokio::test(flavor = "multi_thread")]
async fn impossible_arguments_are_refused_before_connecting() {
    let port = Untouched::new();
    for (args, error) in [
        (&["get", "ftp://127.0.0.1:{port}/dir/"][..], "give LOCAL"),
        (&["get", "ftp://127.0.0.1:{port}/", "x"], "names no file"),
        (
            &["get", "--segments", "2", "{url}/f", "-"],
            "--segments writes into a file",
        ),
        (
            &[
                "get",
                "--proxy",
                "socks5://127.0.0.1:{port}",
                "--active",
                "{url}/f",
                "-",
            ],
            "--active",
        ),
    ] {
        let name = args.join(" ");
        assert_outcome(&name, &port.run(args).await, &[error]);
    }
    port.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_refused_is_one_line() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = ftpkit(&["--timeout", "5", "ls", &at_port("{url}/", port)]).await;
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

// ----- TLS -----------------------------------------------------------------------

/// The greeting, then AUTH TLS accepted.
fn auth_tls() -> Script {
    dialogue(greeting(), &[("AUTH TLS", "234 go")])
}

/// What `cert` does: AUTH TLS, the handshake, QUIT.
fn cert_script() -> Script {
    quit(auth_tls().start_tls())
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_over_explicit_tls_with_a_ca_file() {
    let pki = TestPki::new();
    let w = World::start_tls(cert_script(), &pki).await;
    // ftp:// with `cert` means explicit TLS; no login happens.
    let out = w
        .succeeds(&["cert", "--ca-file", "ca.pem", "ftp://127.0.0.1:{port}/"])
        .await;
    let text = stdout(&out);
    assert_contains_all(
        &text,
        &["certificate 0:", "subject:", "issuer:", "not after:"],
    );
    let fp = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256:"))
        .unwrap()
        .trim();
    assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
    assert_contains_all(&text, &["tls version:  TLS 1.3", "cipher suite: TLS13_"]);
    let t = w.finish().await;
    t.assert_ok();
    assert_eq!(t.verbs(), ["AUTH", "QUIT"]);

    // The fingerprint printed is a working pin.
    let w = World::start_tls(cert_script(), &pki).await;
    w.succeeds(&[
        "cert",
        "--ca-file",
        "ca.pem",
        "--pin-sha256",
        fp,
        "ftp://127.0.0.1:{port}/",
    ])
    .await;
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_warns() {
    let pki = TestPki::new();
    let w = World::start_tls(cert_script(), &pki).await;
    let out = w
        .succeeds(&[
            "cert",
            "--insecure",
            "--tls-max",
            "1.2",
            "ftpes://127.0.0.1:{port}/",
        ])
        .await;
    assert!(
        stderr(&out).contains("warning: --insecure"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("tls version:  TLS 1.2"));
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn untrusted_certificate_fails_in_one_line() {
    let pki = TestPki::new();
    let other = TestPki::with_ca_name("someone else");
    let w = World::start_tls(auth_tls().start_tls_expect_failure(), &pki).await;
    w.write("other.pem", other.ca_cert_pem());
    let err = w
        .fails(&[
            "ls",
            "--ca-file",
            "other.pem",
            "ftpes://alice:s3cret@127.0.0.1:{port}/",
        ])
        .await;
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    let t = w.finish().await;
    assert!(!t.verbs().contains(&"USER".to_owned()));
}

/// Explicit TLS end to end: login over TLS, PROT P, a protected listing.
#[tokio::test(flavor = "multi_thread")]
async fn get_over_explicit_tls() {
    let pki = TestPki::new();
    let s = Script::logged_in_tls("alice", "s3cret", "211 none\r\n")
        .expect_line("SIZE secret.txt")
        .reply("213 9\r\n");
    let s = sends(passive(s), "RETR secret.txt", b"protected");
    let w = World::start_tls(quit(s), &pki).await;
    let out = w
        .succeeds(&[
            "get",
            "--ca-file",
            "ca.pem",
            "ftpes://alice:s3cret@127.0.0.1:{port}/secret.txt",
            "-",
        ])
        .await;
    assert_eq!(out.stdout, b"protected");
    let t = w.finish().await;
    t.assert_ok();
    assert!(t.data_connections()[0].tls.is_some());
}

/// Explicit TLS login on a server that requires a client certificate, then
/// NOOP (through `quote`) and QUIT.
fn client_cert_script() -> Script {
    let s = Script::logged_in_tls("alice", "s3cret", "211 none\r\n");
    quit(dialogue(s, &[("NOOP", "200 fine")]))
}

/// `quote NOOP` with the client certificate that `options` choose, after
/// `prepare` made what they need in the directory (which holds `ca.pem`,
/// and the client's `client.pem` and `client.key`).
async fn run_with_client_cert(options: &[&str], prepare: impl FnOnce(&Path)) {
    let pki = TestPki::new();
    let client = pki.issue_client_cert("ftpkit-cli-client");
    let tls = ServerTls::new(&pki).require_client_cert();
    let w = World::start_tls_with(client_cert_script(), &pki, tls).await;
    w.write("client.pem", client.cert_pem());
    w.write("client.key", client.key_pem());
    prepare(w.dir.path());
    let mut args = vec!["quote", "--ca-file", "ca.pem"];
    args.extend(options);
    args.extend(["ftpes://alice:s3cret@localhost:{port}/", "NOOP"]);
    let out = w.succeeds(&args).await;
    assert!(stdout(&out).contains("200 fine"), "{}", stdout(&out));
    let t = w.finish().await;
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
    // The store, the directory, holds the client's certificate and key, and
    // the CA.
    let options = ["--cert-store", ".", "--cert-name", "ftpkit-cli-client"];
    run_with_client_cert(&options, |_| {}).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificate_from_pkcs12() {
    let options = ["--pkcs12", "client.p12", "--pkcs12-password", "p12-secret"];
    run_with_client_cert(&options, |dir| {
        let status = Command::new("openssl")
            .args(["pkcs12", "-export", "-in", "client.pem"])
            .args(["-inkey", "client.key", "-out", "client.p12"])
            .args(["-passout", "pass:p12-secret"])
            .current_dir(dir)
            .status()
            .expect("openssl must be installed to build a PKCS#12 bundle");
        assert!(status.success());
    })
    .await;
}

// ----- proxy -----------------------------------------------------------------------

/// A minimal SOCKS5 proxy (no authentication, CONNECT only) on loopback,
/// counting the tunnels it opens.
async fn socks5_proxy() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&tunnels);
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(socks5_tunnel(s, Arc::clone(&count)));
        }
    });
    (port, tunnels)
}

/// One SOCKS5 client of `socks5_proxy`: the greeting, CONNECT to a
/// loopback address (counted in `tunnels`), then bytes both ways.
async fn socks5_tunnel(mut s: TcpStream, tunnels: Arc<AtomicUsize>) -> std::io::Result<()> {
    let [_version] = read_array(&mut s).await?;
    let _methods = read_counted(&mut s).await?;
    s.write_all(&[5, 0]).await?;
    let [_version, _command, _reserved, address_type] = read_array(&mut s).await?;
    let host = match address_type {
        1 => std::net::Ipv4Addr::from(read_array::<4>(&mut s).await?).to_string(),
        3 => String::from_utf8_lossy(&read_counted(&mut s).await?).into_owned(),
        _ => return Ok(()),
    };
    let port = u16::from_be_bytes(read_array(&mut s).await?);
    // Loopback only, whatever the client asks.
    let host = if host == "localhost" {
        "127.0.0.1".to_owned()
    } else {
        host
    };
    assert!(host.starts_with("127."), "proxy asked for {host}");
    let mut up = TcpStream::connect((host.as_str(), port)).await?;
    tunnels.fetch_add(1, Ordering::SeqCst);
    s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut s, &mut up).await?;
    Ok(())
}

/// The next `N` bytes.
async fn read_array<const N: usize>(s: &mut TcpStream) -> std::io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    s.read_exact(&mut bytes).await?;
    Ok(bytes)
}

/// A count byte, then that many bytes (SOCKS5's method list, a host name).
async fn read_counted(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let [count] = read_array(s).await?;
    let mut bytes = vec![0u8; usize::from(count)];
    s.read_exact(&mut bytes).await?;
    Ok(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn get_through_a_socks5_proxy() {
    let (proxy_port, tunnels) = socks5_proxy().await;
    let w = World::start(retr_script("f.txt", b"via the proxy")).await;
    let proxy = format!("socks5://127.0.0.1:{proxy_port}");
    let out = w
        .succeeds(&["get", "--proxy", &proxy, "{url}/f.txt", "-"])
        .await;
    assert_eq!(out.stdout, b"via the proxy");
    // Control and data connection both went through the proxy.
    assert_eq!(tunnels.load(Ordering::SeqCst), 2);
    w.finish().await.assert_ok();
}

// ----- mirror ----------------------------------------------------------------------

/// Every path a server-supplied string takes to the terminal goes through
/// the one sanitiser: mirror's per-file notes, the `-v` trace (whose lines
/// carry the session's number), and listings.
#[tokio::test(flavor = "multi_thread")]
async fn terminal_escapes_from_the_server_never_reach_stderr() {
    let evil = "550 \x1b]0;owned\x07no \x1b[2Jway";
    let s = sends(
        passive(login_mlst()),
        "MLSD .",
        b"type=file;size=3;modify=20240101000000; f\r\n",
    );
    let s = dialogue(passive(s), &[("RETR ./f", evil)]);
    let w = World::start(quit(s)).await;
    let out = w
        .run(&[
            "-v",
            "mirror",
            "--parallel",
            "1",
            "--retries",
            "0",
            "{url}/",
            "out",
        ])
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
    w.finish().await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn mirror_dry_run_prints_the_plan_and_writes_nothing() {
    let listing = b"type=file;size=3;modify=20240101000000; a.iso\r\n\
type=file;size=5;modify=20240101000000; b.txt\r\n";
    let w = World::start(lists(login_mlst(), "MLSD pub", listing)).await;
    let out = w
        .succeeds(&[
            "mirror",
            "--dry-run",
            "--include",
            "*.iso",
            "{url}/pub",
            "out",
        ])
        .await;
    assert_eq!(stdout(&out), "get pub/a.iso -> out/a.iso (3 bytes)\n");
    assert!(
        stderr(&out).contains("dry run: 1 file to transfer"),
        "{}",
        stderr(&out)
    );
    assert!(!w.path("out").exists());
    w.finish().await.assert_ok();
}
