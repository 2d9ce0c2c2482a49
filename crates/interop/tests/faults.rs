//! Faults on a real server: ftpkit against vsftpd (plain and explicit TLS)
//! through the TCP fault proxy of `ftpkit-testkit`, which cuts, stalls,
//! resets or delays the control or a data connection at a chosen byte.
//!
//! Each case asserts the typed error the client surfaces (within its
//! deadlines: every case also runs under an outer limit that fails the test
//! as a hang, which is not a timing assertion), and, with retries enabled,
//! that the download, upload or mirror resumes and ends byte-identical
//! (SHA-256), with no file claiming success while partial.
//!
//! Run with `just interop` (which starts the servers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ftpkit::ops::{self, FileOptions, MirrorOptions, MirrorReport, Verify};
use ftpkit::pool::{Pool, PoolConfig};
use ftpkit::{Client, Config, ErrorKind, Timeouts};
use ftpkit_interop::data::{hex, sha256, Pattern};
use ftpkit_interop::{report, unique_temp_dir, Env, Mode, Server};
use ftpkit_testkit::fault_proxy::{Channel, Direction, Fault, FaultProxy, Rule};
use Direction::{ToClient, ToServer};
use ErrorKind::{Closed, Io, ServerReply, Timeout, Tls, Truncated};

const MIB: u64 = 1 << 20;
/// A case that takes longer than this hangs (the client's own deadlines
/// below are a few seconds).
const HANG: Duration = Duration::from_secs(90);

/// A vsftpd instance, a directory of the test's own in its root, and a
/// fault proxy in front of it.
struct Rig {
    server: Server,
    proxy: FaultProxy,
    dir: String,
    name: String,
    /// The planned faults that strike: all but delays, which are a
    /// property of the link.
    planned: usize,
}

impl Rig {
    async fn new(instance: &str, test: &str, rules: Vec<Rule>) -> Self {
        ftpkit_interop::init_log();
        let env = Env::load();
        let server = env.server(instance);
        let pasv = env.get(&format!("FTPKIT_INTEROP_{instance}_PASV"));
        let (lo, hi) = pasv.split_once('-').expect("passive range lo-hi");
        let range = lo.parse().unwrap()..=hi.parse().unwrap();
        let upstream = SocketAddr::from(([127, 0, 0, 1], server.port));
        let planned = rules
            .iter()
            .filter(|r| !matches!(r.fault, Fault::Delay { .. }))
            .count();
        let proxy = FaultProxy::start(upstream, range, rules).await.unwrap();
        let dir = format!("f-{test}");
        let disk = server.root.join(&dir);
        let _ = std::fs::remove_dir_all(&disk);
        std::fs::create_dir(&disk).unwrap();
        chown_like_root(&server.root, &disk);
        Self {
            name: format!("{instance}/{test}"),
            server,
            proxy,
            dir,
            planned,
        }
    }

    /// The server's configuration, reached through the proxy; the
    /// certificate is still verified under its real name.
    fn config(&self) -> Config {
        let mut c = self.server.config(Mode::Passive);
        c.host = self.proxy.ip().to_string();
        c.port = self.proxy.control_port();
        c.tls.server_name = Some("localhost".into());
        c.timeouts = Timeouts {
            connect: Duration::from_secs(5),
            tls_handshake: Duration::from_secs(5),
            reply: Duration::from_secs(3),
            data_connect: Duration::from_secs(5),
            accept: Duration::from_secs(5),
            data_idle: Duration::from_secs(3),
            quit: Duration::from_secs(2),
        };
        c
    }

    /// A session through the proxy, which must open.
    async fn connect(&self) -> Client {
        within("connect", Client::connect(self.config()))
            .await
            .unwrap()
    }

    fn remote(&self, file: &str) -> String {
        format!("{}/{file}", self.dir)
    }

    fn disk(&self, file: &str) -> PathBuf {
        self.server.root.join(&self.dir).join(file)
    }

    /// A new local directory for this case (`tag`) on this server.
    fn local_dir(&self, tag: &str) -> PathBuf {
        unique_temp_dir(&format!("faults-{tag}-{}", self.server.name))
    }

    /// Puts a pattern file of `len` bytes on the server's disk; returns its
    /// SHA-256.
    fn seed(&self, file: &str, seed: u64, len: u64) -> Vec<u8> {
        let data = pattern(seed, len);
        let p = self.disk(file);
        std::fs::write(&p, &data).unwrap();
        chown_like_root(&self.server.root, &p);
        sha256(&data)
    }

    /// Does `action` through the proxy, which must fail; returns the error.
    async fn failure(&self, action: Action) -> ftpkit::Error {
        let config = self.config();
        let done = match action {
            Action::Connect => within("connect", Client::connect(config)).await.map(drop),
            Action::Download(seed) => {
                self.seed("f.bin", seed, 8 * MIB);
                within("download", download(&config, &self.remote("f.bin")))
                    .await
                    .map(drop)
            }
            Action::Upload(seed) => {
                let data = pattern(seed, 32 * MIB);
                within("upload", upload(&config, &self.remote("up.bin"), &data)).await
            }
        };
        match done {
            Ok(()) => panic!("{}: {action:?} succeeded through the faults", self.name),
            Err(e) => e,
        }
    }

    /// Does `action`, which the faults must make fail: the error is one of
    /// `kinds` and transient (a TLS error aside: a cut can end the stream
    /// mid-record); then [`Rig::done`].
    async fn fails(&self, action: Action, kinds: &[ErrorKind]) {
        let e = self.failure(action).await;
        let name = &self.name;
        assert!(
            kinds.contains(&e.kind()),
            "{name}: expected one of {kinds:?}, got {:?}: {e}",
            e.kind()
        );
        assert!(e.is_transient() || e.kind() == Tls, "{name}: {e}");
        match e.reply() {
            Some(reply) => self.done(&format!("{:?} {:?}", e.kind(), reply.code())),
            None => self.done(&format!("{:?}", e.kind())),
        }
    }

    /// Records what struck and checks the planned faults all did.
    fn done(&self, outcome: &str) {
        self.done_with(outcome, self.planned);
    }

    /// Checks that between one and all of the planned faults struck (a
    /// fault planned for a connection that carries too few bytes never
    /// strikes), then records what did.
    fn done_with_some_struck(&self, outcome: &str) {
        let struck = self.proxy.log().struck.len();
        assert!((1..=self.planned).contains(&struck), "{struck}");
        self.done_with(outcome, struck);
    }

    fn done_with(&self, outcome: &str, expected_strikes: usize) {
        let log = self.proxy.log();
        report(&format!(
            "fault {}: {} control + {} data connections; struck: [{}]; {outcome}",
            self.name,
            log.control_connections,
            log.data_connections,
            log.struck.join("; ")
        ));
        assert_eq!(
            log.struck.len(),
            expected_strikes,
            "{}: faults struck {:?}",
            self.name,
            log.struck
        );
        let _ = std::fs::remove_dir_all(self.server.root.join(&self.dir));
    }
}

/// What a failing case has the client do, each on a fresh session.
#[derive(Clone, Copy, Debug)]
enum Action {
    /// Connect and log in.
    Connect,
    /// Download an 8 MiB pattern file of this seed.
    Download(u64),
    /// Upload 32 MiB of this seed: larger than every socket buffer on the
    /// way, so the client is still writing when the fault reaches it.
    Upload(u64),
}

fn chown_like_root(root: &Path, p: &Path) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(root).unwrap();
    std::os::unix::fs::chown(p, Some(m.uid()), Some(m.gid())).unwrap();
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung past every deadline"))
}

/// `len` pattern bytes of `seed`.
fn pattern(seed: u64, len: u64) -> Vec<u8> {
    Pattern::bytes(seed, usize::try_from(len).unwrap())
}

/// A fault on the first control connection.
fn on_control(direction: Direction, fault: Fault) -> Rule {
    Rule::new(Channel::Control, 0, direction, fault)
}

/// Faults on data connections, each on the `nth` one to open.
fn on_data(direction: Direction, faults: &[(usize, Fault)]) -> Vec<Rule> {
    faults
        .iter()
        .map(|&(nth, fault)| Rule::new(Channel::Data, nth, direction, fault))
        .collect()
}

/// Checks that `got` has the SHA-256 `want`.
fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(hex(&sha256(got)), hex(want), "{what}");
}

/// Downloads `remote` into memory on a fresh session.
async fn download(config: &Config, remote: &str) -> ftpkit::Result<Vec<u8>> {
    let mut c = Client::connect(config.clone()).await?;
    let mut out = Vec::new();
    c.download_to(remote, 0, &mut out).await?;
    let _ = c.quit().await;
    Ok(out)
}

/// Uploads `data` to `remote` on a fresh session.
async fn upload(config: &Config, remote: &str, data: &[u8]) -> ftpkit::Result<()> {
    let mut c = Client::connect(config.clone()).await?;
    c.upload_from(remote, 0, data).await?;
    let _ = c.quit().await;
    Ok(())
}

fn pool() -> Pool {
    Pool::new(PoolConfig {
        retry_backoff: Duration::from_millis(50),
        ..PoolConfig::default()
    })
}

// ----- the cases, each on plain vsftpd and on vsftpd with explicit TLS -----

async fn control_cut_in_the_greeting(instance: &str) {
    let rules = vec![on_control(ToClient, Fault::Cut { at: 10 })];
    let rig = Rig::new(instance, "ctl-cut-greeting", rules).await;
    rig.fails(Action::Connect, &[Closed, Io]).await;
}

async fn control_reset_during_login(instance: &str) {
    // After the client's first 12 bytes ("USER ftpkit\r", or part of the
    // TLS handshake on the TLS instance).
    let rules = vec![on_control(ToServer, Fault::Reset { at: 12 })];
    let rig = Rig::new(instance, "ctl-reset-login", rules).await;
    rig.fails(Action::Connect, &[Io, Closed, Tls]).await;
}

async fn control_stall_hits_the_reply_deadline(instance: &str) {
    // The greeting gets through, then nothing more ever arrives.
    let rules = vec![on_control(ToClient, Fault::Stall { at: 20 })];
    let rig = Rig::new(instance, "ctl-stall", rules).await;
    rig.fails(Action::Connect, &[Timeout]).await;
}

async fn control_delay_within_the_deadline_still_works(instance: &str) {
    let delay = Fault::Delay {
        by: Duration::from_millis(40),
    };
    let rules = vec![on_control(ToClient, delay), on_control(ToServer, delay)];
    let rig = Rig::new(instance, "ctl-delay", rules).await;
    let sum = rig.seed("f.bin", 1, 3 * MIB);
    let got = within("download", download(&rig.config(), &rig.remote("f.bin")))
        .await
        .unwrap();
    assert_same("download", &got, &sum);
    rig.done("ok, identical");
}

async fn control_delay_beyond_the_deadline_times_out(instance: &str) {
    let delay = Fault::Delay {
        by: Duration::from_secs(5),
    };
    // The delay is a property of the link, not a fault that "struck".
    let rules = vec![on_control(ToClient, delay)];
    let rig = Rig::new(instance, "ctl-delay-long", rules).await;
    rig.fails(Action::Connect, &[Timeout]).await;
}

async fn data_cut_mid_download(instance: &str) {
    let rules = on_data(ToClient, &[(0, Fault::Cut { at: MIB })]);
    // Plain: vsftpd's write fails and it answers 426; TLS: the stream ends
    // without close_notify.
    let rig = Rig::new(instance, "data-cut-down", rules).await;
    rig.fails(Action::Download(2), &[ServerReply, Truncated])
        .await;
}

async fn data_reset_mid_download(instance: &str) {
    let rules = on_data(ToClient, &[(0, Fault::Reset { at: MIB + 7 })]);
    let rig = Rig::new(instance, "data-reset-down", rules).await;
    rig.fails(Action::Download(3), &[Io, Truncated, ServerReply])
        .await;
}

async fn data_stall_mid_download_hits_the_idle_deadline(instance: &str) {
    let rules = on_data(ToClient, &[(0, Fault::Stall { at: MIB })]);
    let rig = Rig::new(instance, "data-stall-down", rules).await;
    rig.fails(Action::Download(4), &[Timeout]).await;
}

async fn data_cut_mid_upload(instance: &str) {
    let rules = on_data(ToServer, &[(0, Fault::Cut { at: MIB })]);
    let rig = Rig::new(instance, "data-cut-up", rules).await;
    rig.fails(Action::Upload(5), &[Io, Closed, Tls]).await;
}

async fn data_stall_mid_upload_hits_the_idle_deadline(instance: &str) {
    let rules = on_data(ToServer, &[(0, Fault::Stall { at: MIB })]);
    let rig = Rig::new(instance, "data-stall-up", rules).await;
    rig.fails(Action::Upload(6), &[Timeout]).await;
}

async fn failed_download_leaves_only_the_part_file(instance: &str) {
    let rules = on_data(ToClient, &[(0, Fault::Cut { at: 2 * MIB })]);
    let rig = Rig::new(instance, "no-partial", rules).await;
    let sum = rig.seed("f.bin", 7, 8 * MIB);
    let local_dir = rig.local_dir("nopartial");
    let local = local_dir.join("f.bin");
    let mut c = rig.connect().await;
    let e = within(
        "download_file",
        ops::download_file(&mut c, rig.remote("f.bin"), &local, &FileOptions::default()),
    )
    .await
    .unwrap_err();
    assert!(!local.exists(), "a partial file claims to be the download");
    let part = std::fs::metadata(ops::part_path(&local)).unwrap().len();
    assert!(part < 8 * MIB, "{part}");
    // The same call with `resume` continues the `.part` file.
    drop(c);
    let mut c = rig.connect().await;
    let opts = FileOptions::new().resume(true).verify(Verify::Size);
    let r = within(
        "download_file",
        ops::download_file(&mut c, rig.remote("f.bin"), &local, &opts),
    )
    .await
    .unwrap();
    assert_eq!(r.resumed_from, part);
    assert_same("resumed", &std::fs::read(&local).unwrap(), &sum);
    let _ = c.quit().await;
    std::fs::remove_dir_all(&local_dir).unwrap();
    rig.done(&format!("{:?}, then resumed from {part}", e.kind()));
}

async fn retry_download_resumes_through_faults(instance: &str) {
    // Attempt 1: the data connection is cut; attempt 2: reset; attempt 3:
    // stalls (idle deadline); attempt 4 gets the rest.
    let faults = [
        (0, Fault::Cut { at: 3 * MIB }),
        (1, Fault::Reset { at: 2 * MIB }),
        (2, Fault::Stall { at: MIB }),
    ];
    let rig = Rig::new(instance, "retry-down", on_data(ToClient, &faults)).await;
    let sum = rig.seed("f.bin", 8, 16 * MIB);
    let local_dir = rig.local_dir("retrydown");
    let local = local_dir.join("f.bin");
    let (pool, config, remote) = (pool(), rig.config(), rig.remote("f.bin"));
    let retried = pool.retry_download(&config, &remote, &local, 5);
    assert_eq!(within("retry_download", retried).await.unwrap(), 16 * MIB);
    assert_same("retry_download", &std::fs::read(&local).unwrap(), &sum);
    assert!(!ops::part_path(&local).exists());
    std::fs::remove_dir_all(&local_dir).unwrap();
    rig.done("ok after 3 faults, identical");
}

async fn retry_upload_resumes_through_faults(instance: &str) {
    let faults = [
        (0, Fault::Cut { at: 3 * MIB }),
        (1, Fault::Reset { at: 2 * MIB }),
    ];
    let rig = Rig::new(instance, "retry-up", on_data(ToServer, &faults)).await;
    let data = pattern(9, 16 * MIB);
    let local_dir = rig.local_dir("retryup");
    let local = local_dir.join("up.bin");
    std::fs::write(&local, &data).unwrap();
    let (pool, config, remote) = (pool(), rig.config(), rig.remote("up.bin"));
    let retried = pool.retry_upload(&config, &local, &remote, 5);
    assert_eq!(within("retry_upload", retried).await.unwrap(), 16 * MIB);
    let on_server = std::fs::read(rig.disk("up.bin")).unwrap();
    assert_same("retry_upload", &on_server, &sha256(&data));
    std::fs::remove_dir_all(&local_dir).unwrap();
    rig.done("ok after 2 faults, identical");
}

/// Files of a small tree: (name, seed, size).
const TREE: [(&str, u64, u64); 6] = [
    ("a.bin", 11, 4 * MIB),
    ("b.bin", 12, 3 * MIB),
    ("c.bin", 13, 1000),
    ("d.bin", 14, 5 * MIB),
    ("e.bin", 15, 0),
    ("f.bin", 16, 2 * MIB + 1),
];

fn mirror_opts() -> MirrorOptions {
    MirrorOptions {
        parallelism: 2,
        retries: 4,
        ..MirrorOptions::default()
    }
}

/// Checks a mirror of [`TREE`] through faults: no errors, every file
/// transferred, and each of `copies` identical to its original.
fn check_mirror(rep: &MirrorReport, copies: &Path) {
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    assert_eq!(rep.files_transferred, TREE.len() as u64);
    for (n, seed, len) in TREE {
        let copy = copies.join(n);
        assert_same(
            n,
            &std::fs::read(&copy).unwrap(),
            &sha256(&pattern(seed, len)),
        );
        assert!(!ops::part_path(&copy).exists(), "{n}");
    }
}

async fn mirror_down_resumes_through_faults(instance: &str) {
    // Data connection 0 is the listing; later ones carry files (which file
    // gets which connection depends on the two workers' timing, so the
    // faults hit at offsets every file above 1 MiB passes, and a fault on a
    // smaller file simply never strikes: the count is checked as a range).
    let faults = [
        (1, Fault::Cut { at: 512 * 1024 }),
        (3, Fault::Reset { at: 100 }),
        (5, Fault::Stall { at: 1 }),
    ];
    let rig = Rig::new(instance, "mirror-down", on_data(ToClient, &faults)).await;
    for (n, seed, len) in TREE {
        rig.seed(n, seed, len);
    }
    let local = rig.local_dir("mirrordown");
    let mut c = rig.connect().await;
    let opts = mirror_opts();
    let mirrored = ops::mirror_down(&mut c, &rig.dir, &local, &opts);
    check_mirror(&within("mirror_down", mirrored).await.unwrap(), &local);
    let _ = c.quit().await;
    std::fs::remove_dir_all(&local).unwrap();
    rig.done_with_some_struck("ok, every file identical");
}

async fn mirror_up_resumes_through_faults(instance: &str) {
    let faults = [
        (1, Fault::Cut { at: 512 * 1024 }),
        (3, Fault::Reset { at: 100 }),
    ];
    let rig = Rig::new(instance, "mirror-up", on_data(ToServer, &faults)).await;
    let local = rig.local_dir("mirrorup");
    for (n, seed, len) in TREE {
        std::fs::write(local.join(n), pattern(seed, len)).unwrap();
    }
    let mut c = rig.connect().await;
    let target = rig.remote("up");
    let opts = mirror_opts();
    let mirrored = ops::mirror_up(&mut c, &local, &target, &opts);
    check_mirror(
        &within("mirror_up", mirrored).await.unwrap(),
        &rig.server.root.join(&target),
    );
    let _ = c.quit().await;
    std::fs::remove_dir_all(&local).unwrap();
    rig.done_with_some_struck("ok, every file identical");
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        mod fault_plain {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case("VSFTPD").await;
                }
            )*
        }
        mod fault_tls {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case("VSFTPD_TLS").await;
                }
            )*
        }
    };
}

cases!(
    control_cut_in_the_greeting,
    control_reset_during_login,
    control_stall_hits_the_reply_deadline,
    control_delay_within_the_deadline_still_works,
    control_delay_beyond_the_deadline_times_out,
    data_cut_mid_download,
    data_reset_mid_download,
    data_stall_mid_download_hits_the_idle_deadline,
    data_cut_mid_upload,
    data_stall_mid_upload_hits_the_idle_deadline,
    failed_download_leaves_only_the_part_file,
    retry_download_resumes_through_faults,
    retry_upload_resumes_through_faults,
    mirror_down_resumes_through_faults,
    mirror_up_resumes_through_faults,
);
