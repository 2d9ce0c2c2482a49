//! Support for the interop suite: the servers' settings from
//! `$FTPKIT_INTEROP_DIR/env` (written by `interop/servers.sh start`), test
//! data streams and hashing.
//!
//! ## Layout
//!
//! | file | holds |
//! |---|---|
//! | `src/lib.rs` | [`Env`], [`Server`], [`Mode`], client construction |
//! | `src/data.rs` | [`data::Pattern`] (deterministic bytes) and [`data::HashSink`] |
//! | `tests/interop.rs` | the suite, one test per server × mode × scenario |
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod data;

/// The README's examples, compiled as doctests here: this crate is never
/// published, so the README's path outside the crate is always there (in
/// `ftpkit` it would break the published crate's doctests).
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use ftpkit::config::{ActiveConfig, DataMode};
use ftpkit::{Client, Config, Credentials, Security, Timeouts, TransferInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Tests that run one case on several servers: one test per
/// `test => "SERVER";` line, calling `case("SERVER")`, or
/// `case("SERVER", args…)` for `test => "SERVER", args…;`, under the test
/// attribute given first. `async` awaits the case.
///
/// ```text
/// ftpkit_interop::server_cases! {
///     #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
///     async auto_segments:
///     auto_segments_vsftpd => "VSFTPD", 1;
///     auto_segments_proftpd_tls => "PROFTPD_TLS", 4;
/// }
/// ```
#[macro_export]
macro_rules! server_cases {
    (#[$test:meta] async $case:ident: $($name:ident => $server:literal $(, $arg:expr)*;)*) => {$(
        #[$test]
        async fn $name() {
            $case($server $(, $arg)*).await;
        }
    )*};
    (#[$test:meta] $case:ident: $($name:ident => $server:literal $(, $arg:expr)*;)*) => {$(
        #[$test]
        fn $name() {
            $case($server $(, $arg)*);
        }
    )*};
}

/// Where `interop/servers.sh` keeps its state (the env file, certificates,
/// logs, results): `$FTPKIT_INTEROP_DIR`, by default `/tmp/ftpkit-interop`
/// as in the script. The one place the suite locates it.
pub fn interop_dir() -> PathBuf {
    std::env::var_os("FTPKIT_INTEROP_DIR")
        .map_or_else(|| PathBuf::from("/tmp/ftpkit-interop"), PathBuf::from)
}

/// Records a measurement: printed, and appended to
/// `$FTPKIT_INTEROP_DIR/results.txt`, which `scripts/interop.sh` shows at the
/// end (test output capture would hide it otherwise).
pub fn report(line: &str) {
    eprintln!("RESULT {line}");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(interop_dir().join("results.txt"))
    {
        use std::io::Write;
        let _ = writeln!(f, "{line}");
    }
}

/// `PID-NANOS`: the end of every name of this run's own, so that tests
/// sharing a server or a machine, and runs after one another, never meet.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// A remote directory name of this run's own: `t-TAG-PID-NANOS`.
pub fn unique_dir(tag: &str) -> String {
    format!("t-{tag}-{}", unique_suffix())
}

/// A local path of this run's own, not created:
/// `$TMPDIR/ftpkit-TAG-PID-NANOS`.
pub fn unique_temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ftpkit-{tag}-{}", unique_suffix()))
}

/// A new, empty local directory of this run's own (see
/// [`unique_temp_path`]).
pub fn unique_temp_dir(tag: &str) -> PathBuf {
    let d = unique_temp_path(tag);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("creating {}: {e}", d.display()));
    d
}

/// Turns on the client's tracing when `FTPKIT_LOG` holds a filter
/// (`FTPKIT_LOG=debug` shows the protocol exchange of failing tests); the
/// first call in a test binary wins.
pub fn init_log() {
    if let Ok(filter) = std::env::var("FTPKIT_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// Uploads `data` to `path`; returns what its data connection was. A
/// failure panics naming the path and the TLS session counts before.
pub async fn upload_bytes(c: &mut Client, path: &str, data: &[u8]) -> TransferInfo {
    let before = c.tls_session_stats();
    let mut up = c
        .stor(path)
        .await
        .unwrap_or_else(|e| panic!("upload of {path}: {e:?}; TLS sessions before: {before:?}"));
    up.write_all(data)
        .await
        .unwrap_or_else(|e| panic!("upload of {path}: {e:?}"));
    up.shutdown()
        .await
        .unwrap_or_else(|e| panic!("upload of {path}, at the end: {e:?}"));
    up.info().clone()
}

/// Downloads `path`; returns its bytes and what its data connection was. A
/// failure panics naming the path, the connection and the TLS session
/// counts before and after.
pub async fn download_bytes(c: &mut Client, path: &str) -> (Vec<u8>, TransferInfo) {
    let before = c.tls_session_stats();
    let mut dl = c
        .retr(path)
        .await
        .unwrap_or_else(|e| panic!("download of {path}: {e:?}; TLS sessions before: {before:?}"));
    let mut got = Vec::new();
    if let Err(e) = dl.read_to_end(&mut got).await {
        let info = dl.info().clone();
        drop(dl);
        panic!(
            "download of {path}: {e:?}; {info:?}; TLS sessions before: {before:?}; after: {:?}",
            c.tls_session_stats()
        );
    }
    let info = dl.info().clone();
    (got, info)
}

/// The server instance `name` of [`Env::load`], with the log of
/// [`init_log`] turned on.
pub fn server(name: &str) -> Server {
    init_log();
    Env::load().server(name)
}

/// The settings `interop/servers.sh start` wrote.
#[derive(Debug, Clone)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// Reads the env file. Panics (failing the test, never skipping) when
    /// it is missing: the suite must not pass without its servers.
    pub fn load() -> Self {
        let path = interop_dir().join("env");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("interop servers are not running ({}: {e}); start them with `interop/servers.sh start`", path.display())
        });
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Self { vars }
    }

    /// A variable; panics when absent.
    pub fn get(&self, key: &str) -> String {
        self.vars
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} missing from the interop env file"))
    }

    /// `key`, else `fallback`; panics when both are absent.
    pub fn get_or(&self, key: &str, fallback: &str) -> String {
        self.vars
            .get(key)
            .cloned()
            .unwrap_or_else(|| self.get(fallback))
    }

    /// A server instance by name (`VSFTPD`, `PROFTPD_TLS`, ...).
    pub fn server(&self, name: &str) -> Server {
        let port = self
            .get(&format!("FTPKIT_INTEROP_{name}_PORT"))
            .parse()
            .expect("port");
        let tls = match self.get(&format!("FTPKIT_INTEROP_{name}_TLS")).as_str() {
            "none" => Security::None,
            "explicit" => Security::Explicit,
            "implicit" => Security::Implicit,
            other => panic!("unknown TLS mode {other}"),
        };
        // Instances that require a client certificate: the file one.
        let client_cert = name.ends_with("CLIENTCERT").then(|| {
            (
                PathBuf::from(self.get("FTPKIT_INTEROP_CLIENT_CERT")),
                PathBuf::from(self.get("FTPKIT_INTEROP_CLIENT_KEY")),
            )
        });
        let passive = self
            .vars
            .get(&format!("FTPKIT_INTEROP_{name}_PASV"))
            .and_then(|r| r.split_once('-'))
            .and_then(|(lo, hi)| Some(lo.parse().ok()?..=hi.parse().ok()?));
        Server {
            client_cert,
            name: name.to_owned(),
            port,
            passive,
            root: PathBuf::from(self.get(&format!("FTPKIT_INTEROP_{name}_ROOT"))),
            security: tls,
            // Per instance (inetutils-ftpd logs in a system user of its
            // own), else the shared one.
            user: self.get_or(
                &format!("FTPKIT_INTEROP_{name}_USER"),
                "FTPKIT_INTEROP_USER",
            ),
            password: self.get_or(
                &format!("FTPKIT_INTEROP_{name}_PASS"),
                "FTPKIT_INTEROP_PASS",
            ),
            ca: PathBuf::from(self.get("FTPKIT_INTEROP_CA")),
        }
    }
}

/// One server instance.
#[derive(Debug, Clone)]
pub struct Server {
    /// Instance name.
    pub name: String,
    /// Control port on 127.0.0.1.
    pub port: u16,
    /// The ports its data connections come from in passive mode (what a
    /// proxy in front of it must forward).
    pub passive: Option<std::ops::RangeInclusive<u16>>,
    /// The directory on disk the test user sees.
    pub root: PathBuf,
    /// TLS mode.
    pub security: Security,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
    /// Test CA (PEM).
    pub ca: PathBuf,
    /// Client certificate and key (PEM) for servers that require one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Data connection mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// PASV/EPSV.
    Passive,
    /// PORT/EPRT.
    Active,
}

impl Server {
    /// A configuration for this server: host `localhost` (the name in the
    /// test certificate), trusting only the test CA.
    pub fn config(&self, mode: Mode) -> Config {
        let mut c = Config::new("localhost");
        c.port = self.port;
        c.security = self.security;
        c.credentials = Some(Credentials::new(self.user.as_str(), self.password.as_str()));
        c.timeouts = Timeouts {
            data_idle: Duration::from_secs(120),
            ..Timeouts::default()
        };
        c.data_mode = match mode {
            Mode::Passive => DataMode::Passive,
            Mode::Active => DataMode::Active(ActiveConfig::default()),
        };
        c.tls.system_roots = ftpkit::tls::SystemRoots::Exclude;
        c.tls.ca_files = vec![self.ca.clone()];
        if let Some((cert, key)) = &self.client_cert {
            c.tls.client_identity = Some(
                ftpkit::tls::ClientIdentity::from_pem_files(cert, key).expect("client certificate"),
            );
        }
        c
    }

    /// Connects and logs in.
    pub async fn connect(&self, mode: Mode) -> Client {
        Client::connect(self.config(mode))
            .await
            .unwrap_or_else(|e| panic!("connecting to {} ({mode:?}): {e:?}", self.name))
    }
}
