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

use ftpkit::ops::{self, FileOptions, MirrorOptions, Verify};
use ftpkit::pool::{Pool, PoolConfig};
use ftpkit::{Client, Config, ErrorKind, Timeouts};
use ftpkit_interop::data::{hex, sha256, Pattern};
use ftpkit_interop::{report, Env, Mode, Server};
use ftpkit_testkit::fault_proxy::{Channel, Direction, Fault, FaultProxy, Rule};

const MIB: u64 = 1 << 20;
/// A case that takes longer than this hangs (the client's own deadlines
/// below are a few seconds).
const HANG: Duration = Duration::from_secs(90);

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ftpkit-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A vsftpd instance, a directory of the test's own in its root, and a
/// fault proxy in front of it.
struct Rig {
    server: Server,
    proxy: FaultProxy,
    dir: String,
    name: String,
}

impl Rig {
    async fn new(instance: &str, test: &str, rules: Vec<Rule>) -> Self {
        if let Ok(filter) = std::env::var("FTPKIT_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let env = Env::load();
        let server = env.server(instance);
        let pasv = env.get(&format!("FTPKIT_INTEROP_{instance}_PASV"));
        let (lo, hi) = pasv.split_once('-').expect("passive range lo-hi");
        let range = lo.parse().unwrap()..=hi.parse().unwrap();
        let upstream = SocketAddr::from(([127, 0, 0, 1], server.port));
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
        }
    }

    /// A rig with one fault on the first connection of `channel`.
    async fn one(
        instance: &str,
        test: &str,
        channel: Channel,
        direction: Direction,
        fault: Fault,
    ) -> Self {
        Self::new(
            instance,
            test,
            vec![Rule::new(channel, 0, direction, fault)],
        )
        .await
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

    fn remote(&self, file: &str) -> String {
        format!("{}/{file}", self.dir)
    }

    fn disk(&self, file: &str) -> PathBuf {
        self.server.root.join(&self.dir).join(file)
    }

    /// Puts a pattern file of `len` bytes on the server's disk; returns its
    /// SHA-256.
    fn seed(&self, file: &str, seed: u64, len: u64) -> Vec<u8> {
        let data = Pattern::bytes(seed, usize::try_from(len).unwrap());
        let p = self.disk(file);
        std::fs::write(&p, &data).unwrap();
        chown_like_root(&self.server.root, &p);
        sha256(&data)
    }

    /// Records what struck and checks the planned faults all did.
    fn done(&self, outcome: &str, expected_strikes: usize) {
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

fn rule(channel: Channel, nth: usize, direction: Direction, fault: Fault) -> Rule {
    Rule::new(channel, nth, direction, fault)
}

fn assert_kind(e: &ftpkit::Error, kinds: &[ErrorKind]) {
    assert!(
        kinds.contains(&e.kind()),
        "expected one of {kinds:?}, got {:?}: {e}",
        e.kind()
    );
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
    let rig = Rig::one(
        instance,
        "ctl-cut-greeting",
        Channel::Control,
        Direction::ToClient,
        Fault::Cut { at: 10 },
    )
    .await;
    let e = within("connect", Client::connect(rig.config()))
        .await
        .unwrap_err();
    assert_kind(&e, &[ErrorKind::Closed, ErrorKind::Io]);
    assert!(e.is_transient(), "{e}");
    rig.done(&format!("{:?}", e.kind()), 1);
}

async fn control_reset_during_login(instance: &str) {
    // After the client's first 12 bytes ("USER ftpkit\r", or part of the
    // TLS handshake on the TLS instance).
    let rig = Rig::one(
        instance,
        "ctl-reset-login",
        Channel::Control,
        Direction::ToServer,
        Fault::Reset { at: 12 },
    )
    .await;
    let e = within("connect", Client::connect(rig.config()))
        .await
        .unwrap_err();
    assert_kind(&e, &[ErrorKind::Io, ErrorKind::Closed, ErrorKind::Tls]);
    rig.done(&format!("{:?}", e.kind()), 1);
}

async fn control_stall_hits_the_reply_deadline(instance: &str) {
    // The greeting gets through, then nothing more ever arrives.
    let rig = Rig::one(
        instance,
        "ctl-stall",
        Channel::Control,
        Direction::ToClient,
        Fault::Stall { at: 20 },
    )
    .await;
    let e = within("connect", Client::connect(rig.config()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.is_transient());
    rig.done("Timeout", 1);
}

async fn control_delay_within_the_deadline_still_works(instance: &str) {
    let rig = Rig::new(
        instance,
        "ctl-delay",
        vec![
            rule(
                Channel::Control,
                0,
                Direction::ToClient,
                Fault::Delay {
                    by: Duration::from_millis(40),
                },
            ),
            rule(
                Channel::Control,
                0,
                Direction::ToServer,
                Fault::Delay {
                    by: Duration::from_millis(40),
                },
            ),
        ],
    )
    .await;
    let sum = rig.seed("f.bin", 1, 3 * MIB);
    let got = within("download", download(&rig.config(), &rig.remote("f.bin")))
        .await
        .unwrap();
    assert_eq!(hex(&sha256(&got)), hex(&sum));
    rig.done("ok, identical", 0);
}

async fn control_delay_beyond_the_deadline_times_out(instance: &str) {
    let rig = Rig::one(
        instance,
        "ctl-delay-long",
        Channel::Control,
        Direction::ToClient,
        Fault::Delay {
            by: Duration::from_secs(5),
        },
    )
    .await;
    let e = within("connect", Client::connect(rig.config()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // The delay is a property of the link, not a fault that "struck".
    rig.done("Timeout", 0);
}

async fn data_cut_mid_download(instance: &str) {
    let rig = Rig::one(
        instance,
        "data-cut-down",
        Channel::Data,
        Direction::ToClient,
        Fault::Cut { at: MIB },
    )
    .await;
    rig.seed("f.bin", 2, 8 * MIB);
    let e = within("download", download(&rig.config(), &rig.remote("f.bin")))
        .await
        .unwrap_err();
    // Plain: vsftpd's write fails and it answers 426; TLS: the stream ends
    // without close_notify.
    assert_kind(&e, &[ErrorKind::ServerReply, ErrorKind::Truncated]);
    assert!(e.is_transient(), "{e}");
    rig.done(
        &format!("{:?} {:?}", e.kind(), e.reply().map(|r| r.code())),
        1,
    );
}

async fn data_reset_mid_download(instance: &str) {
    let rig = Rig::one(
        instance,
        "data-reset-down",
        Channel::Data,
        Direction::ToClient,
        Fault::Reset { at: MIB + 7 },
    )
    .await;
    rig.seed("f.bin", 3, 8 * MIB);
    let e = within("download", download(&rig.config(), &rig.remote("f.bin")))
        .await
        .unwrap_err();
    assert_kind(
        &e,
        &[ErrorKind::Io, ErrorKind::Truncated, ErrorKind::ServerReply],
    );
    assert!(e.is_transient(), "{e}");
    rig.done(&format!("{:?}", e.kind()), 1);
}

async fn data_stall_mid_download_hits_the_idle_deadline(instance: &str) {
    let rig = Rig::one(
        instance,
        "data-stall-down",
        Channel::Data,
        Direction::ToClient,
        Fault::Stall { at: MIB },
    )
    .await;
    rig.seed("f.bin", 4, 8 * MIB);
    let e = within("download", download(&rig.config(), &rig.remote("f.bin")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    rig.done("Timeout", 1);
}

async fn data_cut_mid_upload(instance: &str) {
    let rig = Rig::one(
        instance,
        "data-cut-up",
        Channel::Data,
        Direction::ToServer,
        Fault::Cut { at: MIB },
    )
    .await;
    // Larger than every socket buffer on the way, so the client is still
    // writing when the cut reaches it.
    let data = Pattern::bytes(5, usize::try_from(32 * MIB).unwrap());
    let e = within(
        "upload",
        upload(&rig.config(), &rig.remote("up.bin"), &data),
    )
    .await
    .unwrap_err();
    assert_kind(&e, &[ErrorKind::Io, ErrorKind::Closed, ErrorKind::Tls]);
    assert!(e.is_transient() || e.kind() == ErrorKind::Tls, "{e}");
    rig.done(&format!("{:?}", e.kind()), 1);
}

async fn data_stall_mid_upload_hits_the_idle_deadline(instance: &str) {
    let rig = Rig::one(
        instance,
        "data-stall-up",
        Channel::Data,
        Direction::ToServer,
        Fault::Stall { at: MIB },
    )
    .await;
    let data = Pattern::bytes(6, usize::try_from(32 * MIB).unwrap());
    let e = within(
        "upload",
        upload(&rig.config(), &rig.remote("up.bin"), &data),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    rig.done("Timeout", 1);
}

async fn failed_download_leaves_only_the_part_file(instance: &str) {
    let rig = Rig::one(
        instance,
        "no-partial",
        Channel::Data,
        Direction::ToClient,
        Fault::Cut { at: 2 * MIB },
    )
    .await;
    rig.seed("f.bin", 7, 8 * MIB);
    let local_dir = temp_dir(&format!("nopartial-{}", rig.server.name));
    let local = local_dir.join("f.bin");
    let mut c = within("connect", Client::connect(rig.config()))
        .await
        .unwrap();
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
    let mut c = within("connect", Client::connect(rig.config()))
        .await
        .unwrap();
    let opts = FileOptions::new().resume(true).verify(Verify::Size);
    let r = within(
        "download_file",
        ops::download_file(&mut c, rig.remote("f.bin"), &local, &opts),
    )
    .await
    .unwrap();
    assert_eq!(r.resumed_from, part);
    assert_eq!(
        hex(&sha256(&std::fs::read(&local).unwrap())),
        hex(&sha256(&Pattern::bytes(
            7,
            usize::try_from(8 * MIB).unwrap()
        )))
    );
    let _ = c.quit().await;
    std::fs::remove_dir_all(&local_dir).unwrap();
    rig.done(&format!("{:?}, then resumed from {part}", e.kind()), 1);
}

async fn retry_download_resumes_through_faults(instance: &str) {
    // Attempt 1: the data connection is cut; attempt 2: reset; attempt 3:
    // stalls (idle deadline); attempt 4 gets the rest.
    let rig = Rig::new(
        instance,
        "retry-down",
        vec![
            rule(
                Channel::Data,
                0,
                Direction::ToClient,
                Fault::Cut { at: 3 * MIB },
            ),
            rule(
                Channel::Data,
                1,
                Direction::ToClient,
                Fault::Reset { at: 2 * MIB },
            ),
            rule(
                Channel::Data,
                2,
                Direction::ToClient,
                Fault::Stall { at: MIB },
            ),
        ],
    )
    .await;
    let sum = rig.seed("f.bin", 8, 16 * MIB);
    let local_dir = temp_dir(&format!("retrydown-{}", rig.server.name));
    let local = local_dir.join("f.bin");
    let pool = pool();
    let n = within(
        "retry_download",
        pool.retry_download(&rig.config(), &rig.remote("f.bin"), &local, 5),
    )
    .await
    .unwrap();
    assert_eq!(n, 16 * MIB);
    assert_eq!(hex(&sha256(&std::fs::read(&local).unwrap())), hex(&sum));
    assert!(!ops::part_path(&local).exists());
    std::fs::remove_dir_all(&local_dir).unwrap();
    rig.done("ok after 3 faults, identical", 3);
}

async fn retry_upload_resumes_through_faults(instance: &str) {
    let rig = Rig::new(
        instance,
        "retry-up",
        vec![
            rule(
                Channel::Data,
                0,
                Direction::ToServer,
                Fault::Cut { at: 3 * MIB },
            ),
            rule(
                Channel::Data,
                1,
                Direction::ToServer,
                Fault::Reset { at: 2 * MIB },
            ),
        ],
    )
    .await;
    let data = Pattern::bytes(9, usize::try_from(16 * MIB).unwrap());
    let local_dir = temp_dir(&format!("retryup-{}", rig.server.name));
    let local = local_dir.join("up.bin");
    std::fs::write(&local, &data).unwrap();
    let pool = pool();
    let n = within(
        "retry_upload",
        pool.retry_upload(&rig.config(), &local, &rig.remote("up.bin"), 5),
    )
    .await
    .unwrap();
    assert_eq!(n, 16 * MIB);
    assert_eq!(
        hex(&sha256(&std::fs::read(rig.disk("up.bin")).unwrap())),
        hex(&sha256(&data))
    );
    std::fs::remove_dir_all(&local_dir).unwrap();
    rig.done("ok after 2 faults, identical", 2);
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

async fn mirror_down_resumes_through_faults(instance: &str) {
    // Data connection 0 is the listing; later ones carry files (which file
    // gets which connection depends on the two workers' timing, so the
    // faults hit at offsets every file above 1 MiB passes, and a fault on a
    // smaller file simply never strikes: the count is checked as a range).
    let rig = Rig::new(
        instance,
        "mirror-down",
        vec![
            rule(
                Channel::Data,
                1,
                Direction::ToClient,
                Fault::Cut { at: 512 * 1024 },
            ),
            rule(
                Channel::Data,
                3,
                Direction::ToClient,
                Fault::Reset { at: 100 },
            ),
            rule(
                Channel::Data,
                5,
                Direction::ToClient,
                Fault::Stall { at: 1 },
            ),
        ],
    )
    .await;
    let sums: Vec<_> = TREE
        .iter()
        .map(|(n, seed, len)| (*n, rig.seed(n, *seed, *len)))
        .collect();
    let local = temp_dir(&format!("mirrordown-{}", rig.server.name));
    let mut c = within("connect", Client::connect(rig.config()))
        .await
        .unwrap();
    let rep = within(
        "mirror_down",
        ops::mirror_down(&mut c, &rig.dir, &local, &mirror_opts()),
    )
    .await
    .unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    assert_eq!(rep.files_transferred, TREE.len() as u64);
    for (n, sum) in &sums {
        assert_eq!(
            hex(&sha256(&std::fs::read(local.join(n)).unwrap())),
            hex(sum),
            "{n}"
        );
        assert!(!ops::part_path(&local.join(n)).exists());
    }
    let _ = c.quit().await;
    std::fs::remove_dir_all(&local).unwrap();
    let struck = rig.proxy.log().struck.len();
    assert!((1..=3).contains(&struck), "{struck}");
    rig.done("ok, every file identical", struck);
}

async fn mirror_up_resumes_through_faults(instance: &str) {
    let rig = Rig::new(
        instance,
        "mirror-up",
        vec![
            rule(
                Channel::Data,
                1,
                Direction::ToServer,
                Fault::Cut { at: 512 * 1024 },
            ),
            rule(
                Channel::Data,
                3,
                Direction::ToServer,
                Fault::Reset { at: 100 },
            ),
        ],
    )
    .await;
    let local = temp_dir(&format!("mirrorup-{}", rig.server.name));
    let mut sums = Vec::new();
    for (n, seed, len) in TREE {
        let data = Pattern::bytes(seed, usize::try_from(len).unwrap());
        std::fs::write(local.join(n), &data).unwrap();
        sums.push((n, sha256(&data)));
    }
    let mut c = within("connect", Client::connect(rig.config()))
        .await
        .unwrap();
    let target = format!("{}/up", rig.dir);
    let rep = within(
        "mirror_up",
        ops::mirror_up(&mut c, &local, &target, &mirror_opts()),
    )
    .await
    .unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    assert_eq!(rep.files_transferred, TREE.len() as u64);
    for (n, sum) in &sums {
        let remote = rig.server.root.join(&target).join(n);
        assert_eq!(
            hex(&sha256(&std::fs::read(remote).unwrap())),
            hex(sum),
            "{n}"
        );
    }
    let _ = c.quit().await;
    std::fs::remove_dir_all(&local).unwrap();
    let struck = rig.proxy.log().struck.len();
    assert!((1..=2).contains(&struck), "{struck}");
    rig.done("ok, every file identical", struck);
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
