//! The connection pool: reuse and its key, broken and unhealthy connections,
//! idle expiry, the per-key bound, retries with resume (scripted server),
//! and concurrent transfers against the real vsftpd when the interop
//! servers run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{self, finish, ScriptExt};
use ftpkit::pool::{HealthCheck, Pool, PoolConfig};
use ftpkit::tls::{ClientIdentity, Pin, SystemRoots, Verification};
use ftpkit::{Config, Credentials, DataProtection, ErrorKind};
use ftpkit_testkit::{Script, ScriptedServer, TestPki};

fn config(server: &ScriptedServer) -> Config {
    let mut c = common::config(server, ftpkit::Security::None, Duration::from_secs(3));
    c.host = "127.0.0.1".into();
    // The default, which a case below changes.
    c.tls.system_roots = SystemRoots::Include;
    c
}

fn login(user: &str, pass: &str) -> Script {
    Script::logged_in(
        user,
        pass,
        Script::feat_reply(" EPSV\r\n REST STREAM\r\n SIZE\r\n"),
    )
}

fn alice() -> Script {
    login("alice", "s3cret")
}

fn pool(f: impl FnOnce(&mut PoolConfig)) -> Pool {
    let mut c = PoolConfig {
        keepalive: None,
        retry_backoff: Duration::from_millis(10),
        ..PoolConfig::default()
    };
    f(&mut c);
    Pool::new(c)
}

fn temp_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("ftpkit-pool-{}-{n}-{name}", std::process::id()))
}

/// A server playing `sessions`, one a connection, and the configuration
/// that reaches it.
async fn serve(sessions: impl IntoIterator<Item = Script>) -> (ScriptedServer, Config) {
    let server = ScriptedServer::builder().sessions(sessions).start().await;
    let cfg = config(&server);
    (server, cfg)
}

/// `RETR f.bin` answered on a data connection that sends `data` and
/// closes, and then the whole session is cut off before `226`.
fn cut_off(s: Script, data: &[u8]) -> Script {
    s.expect_line("RETR f.bin")
        .reply("150 opening\r\n")
        .data_accept()
        .data_send(data)
        .data_close()
        .disconnect()
}

/// `retry_download` of `f.bin` to a new local file with `retries`, which
/// must bring exactly `want`; the file is removed after.
async fn assert_retried(pool: &Pool, cfg: &Config, local: PathBuf, retries: u32, want: &[u8]) {
    let n = pool
        .retry_download(cfg, "f.bin", &local, retries)
        .await
        .unwrap();
    assert_eq!(n, want.len() as u64);
    assert_eq!(std::fs::read(&local).unwrap(), want);
    std::fs::remove_file(&local).unwrap();
}

/// `retry_download` of `f.bin` with `retries` from a server playing
/// `sessions`, which must fail after the scripts ran as written: the error,
/// and the local path it was for.
async fn failed_retry(
    sessions: impl IntoIterator<Item = Script>,
    tag: &str,
    retries: u32,
) -> (ftpkit::Error, PathBuf) {
    let (server, cfg) = serve(sessions).await;
    let pool = pool(|_| {});
    let local = temp_path(tag);
    let e = pool
        .retry_download(&cfg, "f.bin", &local, retries)
        .await
        .unwrap_err();
    server.finish().await.assert_ok();
    (e, local)
}

#[tokio::test]
async fn identical_config_reuses_the_connection() {
    let script = alice().pwd("/").noop().pwd("/");
    let (server, cfg) = serve([script]).await;
    let pool = pool(|_| {});
    {
        let mut c = pool.get(&cfg).await.unwrap();
        assert!(!c.is_reused());
        assert_eq!(c.pwd().await.unwrap(), "/");
    }
    assert_eq!(pool.idle_count(&cfg), 1);
    let same = cfg.clone();
    {
        let mut c = pool.get(&same).await.unwrap();
        assert!(c.is_reused());
        assert_eq!(pool.in_use_count(&cfg), 1);
        assert_eq!(c.pwd().await.unwrap(), "/");
    }
    server.finish().await.assert_ok();
}

/// Each change of the configuration must make a new connection, even with
/// an idle one for the original configuration in the pool.
#[tokio::test]
async fn each_differing_key_field_gets_its_own_connection() {
    let pki = TestPki::new();
    let client_cert = pki.issue_client_cert("pool-client");
    let other_cert = pki.issue_client_cert("pool-other");
    let identity = |ck: &ftpkit_testkit::CertKey| ClientIdentity::new(ck.chain(), ck.key_der());
    type Change = Box<dyn Fn(&mut Config)>;
    let cases: Vec<(&str, Script, Change)> = vec![
        (
            "user",
            login("bob", "s3cret"),
            Box::new(|c| c.credentials = Some(Credentials::new("bob", "s3cret"))),
        ),
        (
            "password",
            login("alice", "other"),
            Box::new(|c| c.credentials = Some(Credentials::new("alice", "other"))),
        ),
        (
            "account",
            alice(),
            Box::new(|c| {
                c.credentials = Some(Credentials::new("alice", "s3cret").with_account("acct"));
            }),
        ),
        (
            "data protection",
            alice(),
            Box::new(|c| c.data_protection = DataProtection::Clear),
        ),
        (
            "system roots",
            alice(),
            Box::new(|c| c.tls.system_roots = SystemRoots::Exclude),
        ),
        (
            "CA certificate",
            alice(),
            Box::new(move |c| c.tls.ca_certificates = vec![pki.ca_cert_der()]),
        ),
        (
            "CA file",
            alice(),
            Box::new(|c| c.tls.ca_files = vec!["/nonexistent/ca.pem".into()]),
        ),
        (
            "verification",
            alice(),
            Box::new(|c| c.tls.verification = Verification::DangerAcceptInvalidCertificates),
        ),
        (
            "pin",
            alice(),
            Box::new(|c| c.tls.pin = Some(Pin::PublicKey([9; 32]))),
        ),
        (
            "TLS version",
            alice(),
            Box::new(|c| c.tls.min_version = Some(ftpkit::tls::TlsVersion::Tls13)),
        ),
        (
            "server name",
            alice(),
            Box::new(|c| c.tls.server_name = Some("other.example".into())),
        ),
        (
            "client certificate",
            alice(),
            Box::new({
                let id = identity(&client_cert);
                move |c| c.tls.client_identity = Some(id.clone())
            }),
        ),
        (
            "virtual host",
            login("alice", "s3cret"),
            Box::new(|c| c.virtual_host = None),
        ),
    ];
    for (name, second, change) in cases {
        // The original configuration has a client certificate and a
        // virtual host only for the cases that change them.
        let mut base_script = alice();
        let mut vhost = None;
        if name == "virtual host" {
            vhost = Some("files.example");
            base_script = Script::new()
                .send("220 scripted\r\n")
                .expect_line("HOST files.example")
                .reply("220 host ok\r\n")
                .expect_line("USER alice")
                .reply("331 pw\r\n")
                .expect_line("PASS s3cret")
                .reply("230 in\r\n")
                .expect("FEAT")
                .reply("211 none\r\n")
                .expect_line("TYPE I")
                .reply("200 binary\r\n");
        }
        let (server, mut a) = serve([base_script, second]).await;
        let pool = pool(|_| {});
        a.virtual_host = vhost.map(str::to_owned);
        if name == "client certificate" {
            a.tls.client_identity = Some(identity(&other_cert));
        }
        let mut b = a.clone();
        change(&mut b);
        drop(pool.get(&a).await.unwrap());
        assert_eq!(pool.idle_count(&a), 1, "{name}");
        let c = pool.get(&b).await.unwrap();
        assert!(!c.is_reused(), "{name}: connection shared");
        assert_eq!(pool.idle_count(&a), 1, "{name}");
        let t = finish(server, c).await;
        assert!(
            !t.verbs().iter().any(|v| v == "NOOP"),
            "{name}: the idle connection was checked out"
        );
    }
}

#[tokio::test]
async fn broken_connection_is_not_returned() {
    let first = alice().expect("PWD").disconnect();
    let second = alice().pwd("/");
    let (server, cfg) = serve([first, second]).await;
    let pool = pool(|_| {});
    {
        let mut c = pool.get(&cfg).await.unwrap();
        let e = c.pwd().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
        assert!(c.is_broken());
    }
    assert_eq!(pool.idle_count(&cfg), 0);
    assert_eq!(pool.in_use_count(&cfg), 0);
    assert_eq!(pool.stats().dropped_broken, 1);
    let mut c = pool.get(&cfg).await.unwrap();
    assert!(!c.is_reused());
    assert_eq!(c.pwd().await.unwrap(), "/");
    finish(server, c).await;
}

#[tokio::test]
async fn connection_dropped_mid_transfer_is_not_returned() {
    let first = alice()
        .epsv_open("RETR big.bin", "150 opening\r\n")
        .data_send(b"first bytes")
        .expect_eof();
    let (server, cfg) = serve([first]).await;
    let pool = pool(|_| {});
    {
        let mut c = pool.get(&cfg).await.unwrap();
        let mut dl = c.retr("big.bin").await.unwrap();
        let mut buf = [0u8; 4];
        tokio::io::AsyncReadExt::read_exact(&mut dl, &mut buf)
            .await
            .unwrap();
        // The download and then the connection are dropped half-way.
    }
    assert_eq!(pool.idle_count(&cfg), 0);
    assert_eq!(pool.stats().dropped_broken, 1);
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn retries_need_binary_type() {
    let pool = pool(|_| {});
    let mut cfg = Config::new("127.0.0.1");
    cfg.transfer_type = ftpkit::TransferType::Ascii;
    let e = pool
        .retry_download(&cfg, "f.txt", temp_path("ascii"), 1)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(pool.stats().opened, 0);
}

#[tokio::test]
async fn already_complete_download_is_not_fetched_again() {
    // The data arrived in full but the connection dropped before 226.
    let first = cut_off(alice().sized("f.bin", 8).epsv(), b"complete");
    let (server, cfg) = serve([first, alice().sized("f.bin", 8)]).await;
    let pool = pool(|_| {});
    assert_retried(&pool, &cfg, temp_path("complete"), 1, b"complete").await;
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn failed_health_check_reconnects() {
    // The server closes the idle session: NOOP gets 421.
    let first = alice().expect("NOOP").reply("421 timeout\r\n").disconnect();
    let second = alice().pwd("/home");
    let (server, cfg) = serve([first, second]).await;
    let pool = pool(|_| {});
    drop(pool.get(&cfg).await.unwrap());
    let mut c = pool.get(&cfg).await.unwrap();
    assert!(!c.is_reused());
    assert_eq!(c.pwd().await.unwrap(), "/home");
    assert_eq!(pool.stats().closed_idle, 1);
    let t = finish(server, c).await;
    assert_eq!(
        t.session(0).verbs().last().map(String::as_str),
        Some("NOOP")
    );
}

#[tokio::test]
async fn no_health_check_hands_out_without_noop() {
    let script = alice().pwd("/");
    let (server, cfg) = serve([script]).await;
    let pool = pool(|c| c.health_check = HealthCheck::None);
    drop(pool.get(&cfg).await.unwrap());
    let mut c = pool.get(&cfg).await.unwrap();
    assert!(c.is_reused());
    c.pwd().await.unwrap();
    finish(server, c).await;
}

#[tokio::test]
async fn idle_timeout_closes_old_connections() {
    // The expired connection is closed with QUIT, and a new one made.
    let first = alice().quit();
    let second = alice();
    let (server, cfg) = serve([first, second]).await;
    let pool = pool(|c| c.idle_timeout = Duration::from_millis(50));
    drop(pool.get(&cfg).await.unwrap());
    tokio::time::sleep(Duration::from_millis(120)).await;
    let c = pool.get(&cfg).await.unwrap();
    assert!(!c.is_reused());
    finish(server, c).await;
}

#[tokio::test]
async fn max_per_key_bounds_checkouts() {
    let (server, cfg) = serve([alice(), alice()]).await;
    let pool = pool(|c| {
        c.max_per_key = 2;
        c.health_check = HealthCheck::None;
    });
    let a = pool.get(&cfg).await.unwrap();
    let b = pool.get(&cfg).await.unwrap();
    assert_eq!(pool.in_use_count(&cfg), 2);
    // A third checkout waits...
    let third = tokio::time::timeout(Duration::from_millis(200), pool.get(&cfg)).await;
    assert!(third.is_err(), "third checkout did not wait");
    // ...until one is returned, and then gets that one.
    let waiter = {
        let pool = pool.clone();
        let cfg = cfg.clone();
        tokio::spawn(async move { pool.get(&cfg).await.map(|c| c.is_reused()) })
    };
    tokio::task::yield_now().await;
    drop(a);
    let reused = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("third checkout still waiting after a return")
        .unwrap()
        .unwrap();
    assert!(reused);
    drop(b);
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn keepalive_pings_idle_connections() {
    let script = alice().noop().noop();
    let (server, cfg) = serve([script]).await;
    let pool = pool(|c| {
        c.keepalive = Some(Duration::from_millis(100));
        c.health_check = HealthCheck::None;
    });
    drop(pool.get(&cfg).await.unwrap());
    // Wait for the two NOOPs, then stop the keepalive before a third.
    tokio::time::timeout(Duration::from_secs(5), async {
        while server
            .transcript()
            .verbs()
            .iter()
            .filter(|v| *v == "NOOP")
            .count()
            < 2
            || pool.idle_count(&cfg) != 1
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("no keepalive NOOPs");
    drop(pool);
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn retry_download_resumes_after_a_dropped_connection() {
    let first = cut_off(alice().sized("f.bin", 11).epsv(), b"hello ");
    let second = alice()
        .sized("f.bin", 11)
        .epsv()
        .rest(6)
        .send_data("RETR f.bin", b"world");
    let (server, cfg) = serve([first, second]).await;
    let pool = pool(|_| {});
    let local = temp_path("download");
    std::fs::write(&local, b"stale content that must go").unwrap();
    assert_retried(&pool, &cfg, local, 2, b"hello world").await;
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn retry_download_gives_up_after_retries() {
    let first = cut_off(alice().sized("f.bin", 9).epsv(), b"x");
    let resumed = alice().sized("f.bin", 9).epsv().rest(1);
    let second = cut_off(resumed, b"x");
    let (e, local) = failed_retry([first, second], "giveup", 1).await;
    assert!(e.is_transient(), "{e}");
    // Nothing at `local` claims to be the file: the partial data is only in
    // the `.part` file, which a later call starts over.
    assert!(!local.exists());
    let part = ftpkit::ops::part_path(&local);
    assert_eq!(std::fs::read(&part).unwrap(), b"xx");
    std::fs::remove_file(&part).unwrap();
}

#[tokio::test]
async fn retry_download_does_not_retry_permanent_errors() {
    let script = alice()
        .expect_line("SIZE f.bin")
        .reply("550 no such file\r\n")
        .epsv()
        .expect("RETR")
        .reply("550 no such file\r\n");
    let (e, local) = failed_retry([script], "missing", 3).await;
    assert_eq!(e.reply().map(|r| r.code().as_u16()), Some(550));
    let _ = std::fs::remove_file(&local);
}

#[tokio::test]
async fn retry_upload_resumes_at_the_servers_size() {
    let first = alice()
        .epsv_open("STOR up.bin", "150 go\r\n")
        .data_recv_to_end()
        .disconnect();
    let second = alice()
        .sized("up.bin", 6)
        .epsv()
        .rest(6)
        .receive_data("STOR up.bin")
        .sized("up.bin", 11);
    let (server, cfg) = serve([first, second]).await;
    let pool = pool(|_| {});
    let local = temp_path("upload");
    std::fs::write(&local, b"hello world").unwrap();
    let n = pool.retry_upload(&cfg, &local, "up.bin", 2).await.unwrap();
    assert_eq!(n, 11);
    std::fs::remove_file(&local).unwrap();
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.session(1).data_received(), vec![&b"world"[..]]);
}

#[tokio::test]
async fn incomplete_result_is_retried() {
    // The transfer "succeeds" but SIZE said the server has more: resume.
    let script = alice()
        .sized("f.bin", 5)
        .epsv_send("RETR f.bin", b"abc")
        .noop()
        .sized("f.bin", 5)
        .epsv()
        .rest(3)
        .send_data("RETR f.bin", b"de");
    let (server, cfg) = serve([script]).await;
    let pool = pool(|_| {});
    assert_retried(&pool, &cfg, temp_path("short"), 1, b"abcde").await;
    server.finish().await.assert_ok();
}
