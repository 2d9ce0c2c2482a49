//! The `ftpkit` command-line client against the real servers: every command,
//! over plain FTP (vsftpd), explicit TLS (vsftpd, ProFTPD) and with a client
//! certificate. Run with `just interop` (which starts the servers); without
//! them every test fails, none is skipped.
//!
//! The binary is built once per test run (`cargo build -p ftpkit-cli`, in
//! the test's own profile) and found next to the test executable. Remote
//! files live only under `t-cli-*` directories of this run's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use ftpkit_interop::data::{hex, sha256, Pattern};
use ftpkit_interop::{unique_dir, Env};

// ----- the binary -------------------------------------------------------------

/// `target/<profile>/ftpkit`, built once.
fn ftpkit_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "-q", "-p", "ftpkit-cli", "--manifest-path"])
            .arg(&manifest);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "cargo build -p ftpkit-cli failed");
        // target/<profile>/deps/cli-HASH -> target/<profile>/ftpkit
        let exe = std::env::current_exe().expect("current_exe");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let bin = dir.join(format!("ftpkit{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "{} missing after the build", bin.display());
        bin
    })
}

/// What one run of the binary did.
#[derive(Debug)]
struct Out {
    args: Vec<String>,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("UTF-8 stdout")
    }

    /// Exit 0, or the test fails showing stderr.
    fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "ftpkit {:?} failed:\nstderr: {}\nstdout: {}",
            self.args,
            self.stderr,
            String::from_utf8_lossy(&self.stdout)
        );
        self
    }

    /// Exit 1 with exactly one line `ftpkit: ...` on stderr.
    fn fails(self) -> Self {
        assert_eq!(
            self.code,
            Some(1),
            "ftpkit {:?} should have failed with 1:\nstderr: {}\nstdout: {}",
            self.args,
            self.stderr,
            String::from_utf8_lossy(&self.stdout)
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "ftpkit {:?}: the error should be one line, got {:?}",
            self.args,
            self.stderr
        );
        assert!(
            lines[0].starts_with("ftpkit: "),
            "ftpkit {:?}: {:?}",
            self.args,
            lines[0]
        );
        self
    }
}

// ----- the servers ------------------------------------------------------------

/// A server as the CLI sees it: a URL prefix and the TLS options.
struct Target {
    name: &'static str,
    scheme: &'static str,
    port: u16,
    user: String,
    password: String,
    root: PathBuf,
    /// Global options given to every command (`--ca-file`, client cert).
    opts: Vec<String>,
}

fn target(name: &'static str) -> Target {
    let env = Env::load();
    let server = env.server(name);
    let scheme = match server.security {
        ftpkit::Security::None => "ftp",
        ftpkit::Security::Explicit => "ftpes",
        ftpkit::Security::Implicit => "ftps",
    };
    let ca = env.get("FTPKIT_INTEROP_CA");
    let mut opts = Vec::new();
    if scheme != "ftp" {
        opts.extend(["--ca-file".to_owned(), ca]);
    }
    Target {
        name,
        scheme,
        port: server.port,
        user: server.user,
        password: server.password,
        root: server.root,
        opts,
    }
}

impl Target {
    /// `SCHEME://USER@localhost:PORT/PATH`.
    fn url(&self, path: &str) -> String {
        format!(
            "{}://{}@localhost:{}/{path}",
            self.scheme, self.user, self.port
        )
    }

    /// Runs `ftpkit OPTS ARGS` with the password in `FTPKIT_PASSWORD`.
    fn run(&self, args: &[&str]) -> Out {
        self.run_with(&self.opts, args)
    }

    /// Runs `ftpkit OPTS ARGS` with the given global options instead of
    /// this server's.
    fn run_with(&self, opts: &[String], args: &[&str]) -> Out {
        let all: Vec<String> = opts
            .iter()
            .cloned()
            .chain(args.iter().map(|a| (*a).to_owned()))
            .collect();
        let out = Command::new(ftpkit_bin())
            .args(&all)
            .env("FTPKIT_PASSWORD", &self.password)
            .env_remove("FTPKIT_PKCS12_PASSWORD")
            .env_remove("NETRC")
            .stdin(Stdio::null())
            .output()
            .expect("running ftpkit");
        Out {
            args: all,
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A fresh remote directory name of this run's own (`t-cli-*`).
    fn dir(&self, tag: &str) -> String {
        unique_dir(&format!("cli-{tag}-{}", self.name.to_ascii_lowercase()))
    }

    /// This server's global options followed by `extra`.
    fn with_opts(&self, extra: &[&str]) -> Vec<String> {
        let extra = extra.iter().map(|o| (*o).to_owned());
        self.opts.iter().cloned().chain(extra).collect()
    }

    /// Puts `data` as `name` into a new directory (`tag`) and gets it back
    /// to stdout, checking the bytes; every command with the global
    /// options `opts`, the put with `-v` too (its trace is kept).
    fn round_trip(&self, opts: &[String], tag: &str, name: &str, data: &[u8]) -> RoundTrip {
        let local = tempfile::tempdir().unwrap();
        let src = local.path().join(name);
        write(&src, data);
        let dir = self.dir(tag);
        self.run_with(opts, &["mkdir", &self.url(&dir)]).ok();
        let file = self.url(&format!("{dir}/{name}"));
        let put = self
            .run_with(opts, &["-v", "put", src.to_str().unwrap(), &file])
            .ok();
        let got = self.run_with(opts, &["get", &file, "-"]).ok();
        assert_same(&format!("{opts:?} get"), &got.stdout, data);
        RoundTrip { dir, file, put }
    }

    /// Removes the file and the directory of a [`Target::round_trip`].
    fn remove(&self, opts: &[String], trip: &RoundTrip) {
        self.run_with(opts, &["rm", &trip.file]).ok();
        self.run_with(opts, &["rmdir", &self.url(&trip.dir)]).ok();
    }
}

/// A file put into a new remote directory and got back, by
/// [`Target::round_trip`].
struct RoundTrip {
    /// The directory (a path from the login directory).
    dir: String,
    /// The file's URL.
    file: String,
    /// The put, run with `-v`.
    put: Out,
}

// ----- helpers ----------------------------------------------------------------

fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(
        hex(&sha256(got)),
        hex(&sha256(want)),
        "{what}: SHA-256 differs ({} bytes, want {})",
        got.len(),
        want.len()
    );
}

/// A directory tree: relative path -> SHA-256 of a file, or `None` for a
/// directory.
fn tree(root: &Path) -> BTreeMap<String, Option<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<String>>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if entry.file_type().unwrap().is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(hex(&sha256(&read(&path)))));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The SHA-256 fingerprint of the server certificate, from `ftpkit cert`.
fn leaf_fingerprint(cert_stdout: &str) -> String {
    let mut lines = cert_stdout.lines();
    assert_eq!(lines.next(), Some("certificate 0:"), "{cert_stdout}");
    lines
        .take_while(|l| !l.starts_with("certificate 1:"))
        .find_map(|l| l.trim().strip_prefix("sha256:"))
        .map(|f| f.trim().to_owned())
        .unwrap_or_else(|| panic!("no sha256 line in {cert_stdout}"))
}

// ----- the whole command set on one server ------------------------------------

/// mkdir -p, put (+ --resume, --append), ls (plain, --long, --json), stat,
/// get (file, stdout, --resume, --segments 4), mv, quote, a 550, -v,
/// mirror both ways, rm and rmdir.
fn every_command(name: &'static str) {
    let t = &target(name);
    let local = tempfile::tempdir().unwrap();
    let lp = |name: &str| local.path().join(name);
    let dir = t.dir("all");
    let url = |p: &str| t.url(&format!("{dir}/{p}"));
    let data = Pattern::bytes(0xC11, 300_000);

    // mkdir -p, twice: an existing directory is no error.
    t.run(&["mkdir", "-p", &url("a/b")]).ok();
    t.run(&["mkdir", "-p", &url("a/b")]).ok();
    assert!(t.root.join(&dir).join("a/b").is_dir());
    // Without -p an existing directory is an error.
    t.run(&["mkdir", &url("a")]).fails();

    // `ftpkit VERB FLAGS FROM TO`, which must succeed: put of a local
    // file, get of data.bin; and a file on the server.
    let transfer = |verb: &str, flags: &[&str], from: &str, to: &str| {
        let args: Vec<&str> = [verb]
            .into_iter()
            .chain(flags.iter().copied())
            .chain([from, to])
            .collect();
        t.run(&args).ok()
    };
    let put = |flags: &[&str], from: &str, to: &str| {
        transfer("put", flags, lp(from).to_str().unwrap(), &url(to))
    };
    let get = |flags: &[&str], to: &str| {
        transfer("get", flags, &url("data.bin"), lp(to).to_str().unwrap())
    };
    let on_server = |name: &str| read(&t.root.join(&dir).join(name));

    // put into a directory URL: the local name.
    write(&lp("data.bin"), &data);
    put(&[], "data.bin", "");
    assert_same("put", &on_server("data.bin"), &data);

    // put --resume after a cut: a prefix first, then the rest.
    write(&lp("prefix.bin"), &data[..111_111]);
    put(&[], "prefix.bin", "resumed.bin");
    assert_eq!(on_server("resumed.bin").len(), 111_111);
    put(&["--resume"], "data.bin", "resumed.bin");
    assert_same("put --resume", &on_server("resumed.bin"), &data);

    // put --append: two halves.
    write(&lp("head.bin"), &data[..150_000]);
    write(&lp("tail.bin"), &data[150_000..]);
    put(&[], "head.bin", "appended.bin");
    put(&["--append"], "tail.bin", "appended.bin");
    assert_same("put --append", &on_server("appended.bin"), &data);

    // ls: names only.
    let names = t.run(&["ls", &url("")]).ok().stdout_text();
    let mut got: Vec<&str> = names.lines().collect();
    got.sort_unstable();
    assert_eq!(
        got,
        ["a", "appended.bin", "data.bin", "resumed.bin"],
        "ls: {names}"
    );

    // ls --long: type, size, name.
    let long = t.run(&["ls", "--long", &url("")]).ok().stdout_text();
    let line = |name: &str| {
        long.lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("ls --long has no {name}: {long}"))
            .to_owned()
    };
    let data_line = line("data.bin");
    assert!(data_line.starts_with('-'), "{data_line}");
    assert!(
        data_line.split_whitespace().any(|w| w == "300000"),
        "{data_line}"
    );
    assert!(line("a").starts_with('d'), "{long}");
    assert_eq!(long.lines().count(), 4, "{long}");

    // ls --json: one object per line.
    let json = t.run(&["ls", "--json", &url("")]).ok().stdout_text();
    let mut seen = BTreeMap::new();
    for l in json.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("ls --json line {l:?}: {e}"));
        let name = v["name"].as_str().expect("name").to_owned();
        let modified = v["modified"].as_str().expect("modified");
        assert!(
            modified.len() >= 20 && modified.as_bytes()[4] == b'-' && modified.contains('T'),
            "modified of {name}: {modified}"
        );
        seen.insert(name, v);
    }
    assert_eq!(seen.len(), 4, "{json}");
    assert_eq!(seen["data.bin"]["type"], "file");
    assert_eq!(seen["data.bin"]["size"], 300_000);
    assert_eq!(seen["resumed.bin"]["size"], 300_000);
    assert_eq!(seen["appended.bin"]["size"], 300_000);
    assert_eq!(seen["a"]["type"], "dir");

    // stat.
    let stat = t.run(&["stat", &url("data.bin")]).ok().stdout_text();
    let mut stat_lines = stat.lines();
    assert_eq!(stat_lines.next(), Some("size: 300000"), "{stat}");
    let modified = stat_lines.next().unwrap_or_default();
    assert!(
        modified.starts_with("modified: 20") && modified.ends_with('Z'),
        "{stat}"
    );

    // get to a file, to a directory and to stdout.
    get(&[], "got.bin");
    assert_same("get", &read(&lp("got.bin")), &data);
    std::fs::create_dir(lp("into")).unwrap();
    get(&[], "into");
    assert_same("get into a directory", &read(&lp("into/data.bin")), &data);
    let stdout = t.run(&["get", &url("data.bin"), "-"]).ok().stdout;
    assert_same("get -", &stdout, &data);

    // get --resume of a truncated local copy.
    write(&lp("partial.bin"), &data[..123_457]);
    get(&["--resume"], "partial.bin");
    assert_same("get --resume", &read(&lp("partial.bin")), &data);

    // get --segments 4.
    let seg = get(&["--segments", "4"], "seg.bin");
    assert_same("get --segments 4", &read(&lp("seg.bin")), &data);
    assert!(seg.stderr.contains("300000 bytes in"), "{}", seg.stderr);

    // mv: NEWPATH is relative to the login directory.
    t.run(&["mv", &url("data.bin"), &format!("{dir}/a/moved.bin")])
        .ok();
    assert!(!t.root.join(&dir).join("data.bin").exists());
    assert_same("mv", &on_server("a/moved.bin"), &data);
    t.run(&["stat", &url("a/moved.bin")]).ok();

    // quote.
    let syst = t.run(&["quote", &t.url(""), "SYST"]).ok().stdout_text();
    assert!(syst.starts_with("215 "), "SYST: {syst}");

    // A 550: exit 1, one line naming it.
    let missing = t.run(&[
        "get",
        &url("missing.bin"),
        lp("missing.bin").to_str().unwrap(),
    ]);
    let missing = missing.fails();
    assert!(missing.stderr.contains("550"), "{}", missing.stderr);
    assert!(
        !lp("missing.bin").exists(),
        "a failed get left a local file"
    );
    t.run(&["stat", &url("data.bin")]).fails();

    // -v: the trace, password redacted.
    let verbose = t.run(&["-v", "ls", &url("")]).ok();
    assert!(verbose.stderr.contains("PASS ****"), "{}", verbose.stderr);
    assert!(
        !verbose.stderr.contains(&t.password),
        "-v shows the password"
    );
    if t.scheme != "ftp" {
        assert!(verbose.stderr.contains("AUTH TLS"), "{}", verbose.stderr);
        assert!(verbose.stderr.contains("PROT P"), "{}", verbose.stderr);
    }
    let mut verbose_names: Vec<String> = verbose.stdout_text().lines().map(str::to_owned).collect();
    verbose_names.sort_unstable();
    assert_eq!(verbose_names, ["a", "appended.bin", "resumed.bin"]);

    // mirror down: the tree as on the server, then nothing to do.
    let down = lp("down");
    let m = t.run(&["mirror", &url(""), down.to_str().unwrap()]).ok();
    assert!(m.stderr.contains("3 files ("), "mirror: {}", m.stderr);
    let remote_tree = tree(&t.root.join(&dir));
    assert_eq!(tree(&down), remote_tree, "mirror down");
    let again = t.run(&["mirror", &url(""), down.to_str().unwrap()]).ok();
    assert!(
        again.stderr.contains("0 files (0 bytes) transferred"),
        "second mirror down: {}",
        again.stderr
    );

    // mirror --reverse up into a new directory, then nothing to do.
    let up_dir = t.dir("up");
    let up_url = t.url(&up_dir);
    let m = t
        .run(&[
            "mirror",
            "--reverse",
            "--parallel",
            "2",
            down.to_str().unwrap(),
            &up_url,
        ])
        .ok();
    assert!(
        m.stderr.contains("3 files ("),
        "mirror --reverse: {}",
        m.stderr
    );
    assert_eq!(tree(&t.root.join(&up_dir)), remote_tree, "mirror --reverse");
    let again = t
        .run(&["mirror", "--reverse", down.to_str().unwrap(), &up_url])
        .ok();
    assert!(
        again.stderr.contains("0 files (0 bytes) transferred"),
        "second mirror --reverse: {}",
        again.stderr
    );

    // rm and rmdir, bottom up; rmdir of a non-empty directory fails.
    t.run(&["rmdir", &url("a")]).fails();
    for d in [&dir, &up_dir] {
        let u = |p: &str| t.url(&format!("{d}/{p}"));
        for f in ["a/moved.bin", "resumed.bin", "appended.bin"] {
            t.run(&["rm", &u(f)]).ok();
        }
        for sub in ["a/b", "a"] {
            t.run(&["rmdir", &u(sub)]).ok();
        }
        t.run(&["rmdir", &t.url(d)]).ok();
        assert!(!t.root.join(d).exists(), "{d} still there");
    }
    t.run(&["rm", &url("resumed.bin")]).fails();
}

ftpkit_interop::server_cases! {
    #[test]
    every_command:
    vsftpd_every_command => "VSFTPD";
    vsftpd_tls_every_command => "VSFTPD_TLS";
    proftpd_tls_every_command => "PROFTPD_TLS";
}

// ----- data connection and TLS options ----------------------------------------

/// `--active`: the server connects back, for put, ls and get.
#[test]
fn vsftpd_active() {
    let t = target("VSFTPD");
    let active = t.with_opts(&["--active"]);
    let data = Pattern::bytes(0xAC7, 200_000);
    let trip = t.round_trip(&active, "active", "active.bin", &data);
    let put = &trip.put.stderr;
    assert!(
        put.contains("> EPRT ") || put.contains("> PORT "),
        "no EPRT/PORT in {put}"
    );
    assert!(!put.contains("> EPSV") && !put.contains("> PASV"), "{put}");
    let ls = t.run_with(&active, &["ls", &t.url(&trip.dir)]).ok();
    assert_eq!(ls.stdout_text().trim(), "active.bin");
    let no_epsv = t
        .run_with(&active, &["--no-epsv", "-v", "get", &trip.file, "-"])
        .ok();
    assert_same("--active --no-epsv get", &no_epsv.stdout, &data);
    assert!(no_epsv.stderr.contains("> PORT "), "{}", no_epsv.stderr);
    assert!(!no_epsv.stderr.contains("> EPRT"), "{}", no_epsv.stderr);
    t.remove(&active, &trip);
}

/// `get` to a file without `--segments` over a 50 ms link (a delay proxy
/// in front of vsftpd, its control port and passive range): the file comes
/// in 2 segments, chosen for the user; `--segments 1` keeps one stream.
#[test]
fn vsftpd_get_chooses_segments_on_a_long_link() {
    let t = target("VSFTPD");
    let passive = Env::load()
        .server("VSFTPD")
        .passive
        .expect("a passive range");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ip = std::net::Ipv4Addr::new(127, 79, 61, 1);
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], t.port));
    let proxy = rt
        .block_on(ftpkit_testkit::delay_proxy::DelayProxy::start(
            ip,
            0,
            upstream,
            passive,
            std::time::Duration::from_millis(25),
        ))
        .unwrap();
    let local = tempfile::tempdir().unwrap();
    let lp = |name: &str| local.path().join(name);
    let size = usize::try_from(2 * ftpkit::ops::AUTO_SEGMENT_MIN).unwrap() + 5;
    let data = Pattern::bytes(0x5E6, size);
    write(&lp("big.bin"), &data);
    let dir = t.dir("auto-seg");
    t.run(&["mkdir", &t.url(&dir)]).ok();
    let file = t.url(&format!("{dir}/big.bin"));
    t.run(&["put", lp("big.bin").to_str().unwrap(), &file]).ok();
    let via = format!(
        "ftp://{}@{ip}:{}/{dir}/big.bin",
        t.user,
        proxy.control_port()
    );
    let auto = t.run(&["get", &via, lp("auto.bin").to_str().unwrap()]).ok();
    assert!(auto.stderr.contains("in 2 segments"), "{}", auto.stderr);
    assert_same("get, segments chosen", &read(&lp("auto.bin")), &data);
    let one = t
        .run(&[
            "--segments",
            "1",
            "get",
            &via,
            lp("one.bin").to_str().unwrap(),
        ])
        .ok();
    assert!(!one.stderr.contains("segment"), "{}", one.stderr);
    assert_same("get --segments 1", &read(&lp("one.bin")), &data);
    assert_eq!(rt.block_on(async { proxy.stats() }).control_connections, 3);
    t.run(&["rm", &file]).ok();
    t.run(&["rmdir", &t.url(&dir)]).ok();
}

/// `--tls-max 1.2`: the session, data connections included, uses TLS 1.2.
#[test]
fn vsftpd_tls_max_12() {
    let t = target("VSFTPD_TLS");
    let tls12 = t.with_opts(&["--tls-max", "1.2"]);
    let cert = t.run_with(&tls12, &["cert", &t.url("")]).ok();
    assert!(
        cert.stdout_text().contains("tls version:  TLS 1.2"),
        "{}",
        cert.stdout_text()
    );
    let data = Pattern::bytes(0x712, 100_000);
    let trip = t.round_trip(&tls12, "tls12", "t12.bin", &data);
    t.remove(&tls12, &trip);
}

/// `cert` prints the chain signed by the test CA; `--pin-sha256` with that
/// fingerprint works, a wrong one fails with one line.
fn cert_and_pin(name: &'static str) {
    let t = &target(name);
    let cert = t.run(&["cert", &t.url("")]).ok().stdout_text();
    assert!(
        cert.contains("subject:     O=ftpkit interop, CN=localhost"),
        "{cert}"
    );
    assert!(
        cert.contains("issuer:      O=ftpkit interop, CN=ftpkit interop test CA"),
        "{cert}"
    );
    assert!(cert.contains("localhost"), "{cert}");
    assert!(cert.contains("tls version:  TLS 1."), "{cert}");
    assert!(cert.contains("cipher suite: "), "{cert}");
    let pin = leaf_fingerprint(&cert);
    assert_eq!(pin.len(), 32 * 3 - 1, "fingerprint {pin}");
    assert!(pin
        .split(':')
        .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit())));

    // The right pin, with and without colons.
    t.run(&["--pin-sha256", &pin, "ls", &t.url("")]).ok();
    t.run(&[
        "--pin-sha256",
        &pin.replace(':', ""),
        "quote",
        &t.url(""),
        "NOOP",
    ])
    .ok();
    // A pin also stands without CA verification.
    t.run_with(&[], &["--insecure", "--pin-sha256", &pin, "ls", &t.url("")])
        .ok();

    // A wrong pin.
    let wrong = vec!["00"; 32].join(":");
    let out = t.run(&["--pin-sha256", &wrong, "ls", &t.url("")]).fails();
    // The message is rustls's generic `ApplicationVerificationFailure`
    // (crates/client/src/tls/verify.rs), which does not say "pin".
    assert!(
        out.stderr.contains("certificate"),
        "wrong pin: {}",
        out.stderr
    );
    // With --insecure the pin is still checked. The --insecure warning
    // comes first (printed even with -q), then the one error line.
    let out = t.run_with(
        &[],
        &["-q", "--insecure", "--pin-sha256", &wrong, "ls", &t.url("")],
    );
    assert_eq!(out.code, Some(1), "--insecure with a wrong pin: {out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(
        lines[0].starts_with("ftpkit: warning: --insecure"),
        "{}",
        out.stderr
    );
    assert!(
        lines[1].starts_with("ftpkit: ") && lines[1].contains("certificate"),
        "{}",
        out.stderr
    );
    // Without the test CA the certificate is not trusted.
    t.run_with(&[], &["ls", &t.url("")]).fails();
}

ftpkit_interop::server_cases! {
    #[test]
    cert_and_pin:
    vsftpd_tls_cert_and_pin => "VSFTPD_TLS";
    proftpd_tls_cert_and_pin => "PROFTPD_TLS";
}

/// A server requiring a client certificate: `--cert/--key` works, without
/// them the login fails.
#[test]
fn vsftpd_clientcert() {
    let t = target("VSFTPD_CLIENTCERT");
    let env = Env::load();
    let (cert, key) = (
        env.get("FTPKIT_INTEROP_CLIENT_CERT"),
        env.get("FTPKIT_INTEROP_CLIENT_KEY"),
    );
    let with_cert = t.with_opts(&["--cert", &cert, "--key", &key]);
    let data = Pattern::bytes(0xCE7, 50_000);
    let trip = t.round_trip(&with_cert, "clientcert", "cc.bin", &data);
    let ls = t.run_with(&with_cert, &["ls", &t.url(&trip.dir)]).ok();
    assert_eq!(ls.stdout_text().trim(), "cc.bin");

    // Without a client certificate: refused, one line.
    t.run(&["ls", &t.url(&trip.dir)]).fails();
    t.run(&["get", &trip.file, "-"]).fails();

    t.remove(&with_cert, &trip);
}

/// The client key on a PKCS#11 token (issue #16): `--pkcs11-module --token
/// --cert-name --pin-env` gets through ProFTPD's `TLSVerifyClient on`,
/// `ftpkit cert` names the token and key, and a wrong PIN is said so.
#[test]
fn proftpd_clientcert_with_a_token_key() {
    let t = target("PROFTPD_CLIENTCERT");
    let env = Env::load();
    // Inherited by the ftpkit processes; only this test reads them.
    std::env::set_var("SOFTHSM2_CONF", env.get("FTPKIT_INTEROP_SOFTHSM2_CONF"));
    std::env::set_var(
        "FTPKIT_TEST_TOKEN_PIN",
        env.get("FTPKIT_INTEROP_PKCS11_PIN"),
    );
    std::env::set_var("FTPKIT_TEST_WRONG_PIN", "000000");
    let (module, token) = (
        env.get("FTPKIT_INTEROP_PKCS11_MODULE"),
        env.get("FTPKIT_INTEROP_PKCS11_TOKEN"),
    );
    let token_opts = |pin_var: &str| {
        t.with_opts(&[
            "--pkcs11-module",
            &module,
            "--token",
            &token,
            "--cert-name",
            "ftpkit-token-ec",
            "--pin-env",
            pin_var,
        ])
    };
    let with_token = token_opts("FTPKIT_TEST_TOKEN_PIN");
    let data = Pattern::bytes(0x70C, 50_000);
    let trip = t.round_trip(&with_token, "token", "tk.bin", &data);
    let cert = t.run_with(&with_token, &["cert", &t.url(&trip.dir)]).ok();
    let text = cert.stdout_text();
    for want in [
        "client certificate:",
        "CN=ftpkit-token-ec",
        &format!("token:       {token} (serial"),
        "EC P-256 \"client-ec\" (id 01)",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let wrong = t
        .run_with(
            &token_opts("FTPKIT_TEST_WRONG_PIN"),
            &["ls", &t.url(&trip.dir)],
        )
        .fails();
    assert!(
        wrong.stderr.contains("rejected the PIN"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("000000"), "{}", wrong.stderr);
    t.remove(&with_token, &trip);
}

/// Issue #11: 200 files up to ProFTPD over TLS 1.3 on one session
/// (`--parallel 1`), where the two tickets of each login run out every two
/// uploads and the client renews its session, then the tree back down.
#[test]
fn proftpd_tls13_mirror_200_files_both_ways() {
    let t = target("PROFTPD_TLS");
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for i in 0..200u64 {
        let rel = if i % 10 == 0 {
            format!("sub/f{i}.bin")
        } else {
            format!("f{i}.bin")
        };
        write(&src.join(rel), &Pattern::bytes(i, 1000 + i as usize * 7));
    }
    let dir = t.dir("mirror13");
    let up = t
        .run(&[
            "--tls-max",
            "1.3",
            "mirror",
            "--reverse",
            "--parallel",
            "1",
            src.to_str().unwrap(),
            &t.url(&dir),
        ])
        .ok();
    assert!(
        up.stderr.contains("200 files ("),
        "mirror --reverse: {}",
        up.stderr
    );
    assert_eq!(tree(&t.root.join(&dir)), tree(&src), "remote tree");
    let down = local.path().join("down");
    let back = t
        .run(&["mirror", &t.url(&dir), down.to_str().unwrap()])
        .ok();
    assert!(
        back.stderr.contains("200 files ("),
        "mirror: {}",
        back.stderr
    );
    assert_eq!(tree(&down), tree(&src), "local tree");
}
