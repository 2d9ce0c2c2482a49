//! ftpkit against real servers. Run with `just interop` (which starts the
//! servers); without them every test fails, none is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Instant;

use ftpkit::{Client, ErrorKind, ListLine, TransferType};
use ftpkit_interop::data::{hex, sha256, HashSink, Pattern};
use ftpkit_interop::{report, Env, Mode, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// One large transfer at a time: the machine has two cores.
static BIG: Semaphore = Semaphore::const_new(1);

/// Large transfers run alone on their server: other tests hold a read lock,
/// a 1 GiB round trip the write lock. Single-threaded servers (pyftpdlib)
/// would otherwise starve other sessions' handshakes.
fn server_lock(name: &str) -> &'static tokio::sync::RwLock<()> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static LOCKS: OnceLock<Mutex<HashMap<String, &'static tokio::sync::RwLock<()>>>> =
        OnceLock::new();
    let mut map = LOCKS.get_or_init(Default::default).lock().unwrap();
    map.entry(name.to_owned())
        .or_insert_with(|| Box::leak(Box::new(tokio::sync::RwLock::new(()))))
}

const GIB: u64 = 1 << 30;

fn server(name: &str) -> Server {
    // FTPKIT_LOG=debug shows the protocol exchange of failing tests.
    if let Ok(filter) = std::env::var("FTPKIT_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    Env::load().server(name)
}

/// A directory name of this test's own, so tests sharing a server never
/// touch each other's files.
fn dir_for(test: &str, mode: Mode) -> String {
    format!(
        "t-{test}-{}",
        if mode == Mode::Passive {
            "pasv"
        } else {
            "actv"
        }
    )
}

async fn fresh_dir(c: &mut Client, dir: &str) {
    // Left over from an earlier run: remove what is there.
    if c.cwd(dir).await.is_ok() {
        for name in c.nlst(None).await.unwrap_or_default() {
            let n = name.to_string_lossy().into_owned();
            let base = n.rsplit('/').next().unwrap_or(&n).to_owned();
            let _ = c.delete(base.as_str()).await;
        }
        c.cdup().await.unwrap();
        let _ = c.rmdir(dir).await;
    }
    c.mkdir(dir).await.unwrap();
    c.cwd(dir).await.unwrap();
}

async fn upload_bytes(c: &mut Client, path: &str, data: &[u8]) {
    let mut up = c.stor(path).await.unwrap();
    up.write_all(data).await.unwrap();
    up.shutdown().await.unwrap();
}

async fn download_bytes(c: &mut Client, path: &str) -> Vec<u8> {
    let mut dl = c.retr(path).await.unwrap();
    let mut v = Vec::new();
    dl.read_to_end(&mut v).await.unwrap();
    v
}

/// login, pwd/cwd, mkdir, upload, list, download, rename, delete, rmdir.
async fn basic(name: &str, mode: Mode) {
    let _shared = server_lock(name).read().await;
    let s = server(name);
    let mut c = s.connect(mode).await;
    let home = c.pwd().await.unwrap();
    assert!(home.starts_with('/'), "{home}");
    let dir = dir_for("basic", mode);
    fresh_dir(&mut c, &dir).await;
    let cwd = c.pwd().await.unwrap();
    assert!(cwd.ends_with(&dir), "{cwd}");

    let data = Pattern::bytes(7, 300_000);
    upload_bytes(&mut c, "a file.bin", &data).await;
    assert_eq!(c.size("a file.bin").await.unwrap(), data.len() as u64);

    let list = c.list(None).await.unwrap();
    let names: Vec<String> = list
        .iter()
        .filter_map(|l| match l {
            ListLine::Entry(e) => Some(e.name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    assert!(names.iter().any(|n| n == "a file.bin"), "LIST: {list:?}");
    let entry = list
        .iter()
        .find_map(|l| match l {
            ListLine::Entry(e) if e.name.as_bytes() == b"a file.bin" => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(entry.size, Some(data.len() as u64));
    if c.features().supports_mlsx() {
        let entries = c.mlsd(None).await.unwrap();
        let e = entries
            .iter()
            .find(|e| e.name.as_bytes() == b"a file.bin")
            .unwrap();
        assert_eq!(e.size, Some(data.len() as u64));
        assert!(e.is_file());
    }
    assert_eq!(download_bytes(&mut c, "a file.bin").await, data);
    // The server's disk holds the same bytes.
    let on_disk = std::fs::read(s.root.join(&dir).join("a file.bin")).unwrap();
    assert_eq!(sha256(&on_disk), sha256(&data));

    c.rename("a file.bin", "renamed.bin").await.unwrap();
    assert!(c.size("a file.bin").await.is_err());
    assert_eq!(c.size("renamed.bin").await.unwrap(), data.len() as u64);
    c.delete("renamed.bin").await.unwrap();
    c.cdup().await.unwrap();
    c.rmdir(dir.as_str()).await.unwrap();
    assert!(c.cwd(dir.as_str()).await.is_err());
    c.quit().await.unwrap();
}

/// 1 GiB up and down, SHA-256 equal on both ends.
async fn gib_round_trip(name: &str, mode: Mode) {
    let _permit = BIG.acquire().await.unwrap();
    let _alone = server_lock(name).write().await;
    let s = server(name);
    let mut c = s.connect(mode).await;
    let dir = dir_for("gib", mode);
    fresh_dir(&mut c, &dir).await;

    let mut src = Pattern::new(42, GIB);
    let t = Instant::now();
    let (sent, info) = {
        let mut up = c.stor("big.bin").await.unwrap();
        let n = tokio::io::copy_buf(
            &mut tokio::io::BufReader::with_capacity(256 * 1024, &mut src),
            &mut up,
        )
        .await
        .unwrap();
        up.shutdown().await.unwrap();
        (n, up.info().clone())
    };
    let up_secs = t.elapsed().as_secs_f64();
    let want = src.sha256();
    assert_eq!(sent, GIB);
    assert_eq!(c.size("big.bin").await.unwrap(), GIB);

    let mut sink = HashSink::default();
    let t = Instant::now();
    let (got, dinfo) = c.download_to("big.bin", 0, &mut sink).await.unwrap();
    let down_secs = t.elapsed().as_secs_f64();
    assert_eq!(got, GIB);
    assert_eq!(
        hex(&sink.sha256()),
        hex(&want),
        "downloaded SHA-256 differs"
    );
    report(&format!(
        "{name} {mode:?} 1GiB upload {:.0} MB/s download {:.0} MB/s (tls resumed: up {:?} down {:?})",
        GIB as f64 / 1e6 / up_secs,
        GIB as f64 / 1e6 / down_secs,
        info.tls.map(|t| t.resumed),
        dinfo.tls.map(|t| t.resumed)
    ));
    c.delete("big.bin").await.unwrap();
    c.cdup().await.unwrap();
    c.rmdir(dir.as_str()).await.unwrap();
}

/// A download cut part-way, then resumed with REST: byte-identical.
async fn download_resume(name: &str, mode: Mode) {
    let _shared = server_lock(name).read().await;
    let s = server(name);
    let mut c = s.connect(mode).await;
    let dir = dir_for("dlresume", mode);
    fresh_dir(&mut c, &dir).await;
    let data = Pattern::bytes(3, 8 * 1024 * 1024 + 123);
    upload_bytes(&mut c, "f.bin", &data).await;

    let mut part = vec![0u8; 3 * 1024 * 1024 + 7];
    {
        let mut dl = c.retr("f.bin").await.unwrap();
        dl.read_exact(&mut part).await.unwrap();
        // Dropped half-way: the client aborts it on its next call.
    }
    c.noop().await.unwrap();
    let mut rest = Vec::new();
    {
        let mut dl = c.retr_from("f.bin", part.len() as u64).await.unwrap();
        dl.read_to_end(&mut rest).await.unwrap();
    }
    part.extend_from_slice(&rest);
    assert_eq!(part.len(), data.len());
    assert!(part == data, "resumed download differs");
    c.delete("f.bin").await.unwrap();
    c.cdup().await.unwrap();
    c.rmdir(dir.as_str()).await.unwrap();
}

/// An upload cut part-way, then resumed from the size the server has.
async fn upload_resume(name: &str, mode: Mode) {
    let _shared = server_lock(name).read().await;
    let s = server(name);
    let mut c = s.connect(mode).await;
    let dir = dir_for("upresume", mode);
    fresh_dir(&mut c, &dir).await;
    let data = Pattern::bytes(5, 6 * 1024 * 1024 + 11);
    let cut = 2 * 1024 * 1024 + 5;
    {
        let mut up = c.stor("u.bin").await.unwrap();
        up.write_all(&data[..cut]).await.unwrap();
        up.flush().await.unwrap();
        // Dropped without shutdown.
    }
    c.noop().await.unwrap();
    let have = c.size("u.bin").await.unwrap();
    assert!(have <= cut as u64, "server has {have} of {cut}");
    {
        let mut up = c.stor_from("u.bin", have).await.unwrap();
        up.write_all(&data[have as usize..]).await.unwrap();
        up.shutdown().await.unwrap();
    }
    assert_eq!(c.size("u.bin").await.unwrap(), data.len() as u64);
    assert!(
        download_bytes(&mut c, "u.bin").await == data,
        "resumed upload differs"
    );
    c.delete("u.bin").await.unwrap();
    c.cdup().await.unwrap();
    c.rmdir(dir.as_str()).await.unwrap();
}

/// TYPE A: local LF text round-trips; the wire carries CRLF.
async fn type_ascii(name: &str, mode: Mode) {
    let _shared = server_lock(name).read().await;
    let s = server(name);
    let mut c = s.connect(mode).await;
    let dir = dir_for("ascii", mode);
    fresh_dir(&mut c, &dir).await;
    let text = b"first line\nsecond line\n\nlast line without newline";
    c.set_type(TransferType::Ascii).await.unwrap();
    upload_bytes(&mut c, "t.txt", text).await;
    assert_eq!(download_bytes(&mut c, "t.txt").await, text);
    c.set_type(TransferType::Binary).await.unwrap();
    c.delete("t.txt").await.unwrap();
    c.cdup().await.unwrap();
    c.rmdir(dir.as_str()).await.unwrap();
}

/// RETR of a missing file: a typed 550 error, and the session goes on.
async fn missing_file(name: &str, mode: Mode) {
    let _shared = server_lock(name).read().await;
    let s = server(name);
    let mut c = s.connect(mode).await;
    let e = c
        .retr("no-such-file-here.bin")
        .await
        .err()
        .expect("RETR of a missing file must fail");
    assert_eq!(e.kind(), ErrorKind::ServerReply, "{e:?}");
    assert_eq!(e.reply().map(|r| r.code().as_u16()), Some(550), "{e:?}");
    assert!(!e.is_transient());
    c.noop().await.unwrap();
    assert!(c.pwd().await.is_ok());
}

/// Many transfers on one login, every data connection resuming the
/// control connection's TLS session (TLS 1.3 tickets are single-use).
async fn many_resumed(name: &str, mode: Mode, max: ftpkit::tls::TlsVersion) {
    let _shared = server_lock(name).read().await;
    let s = server(name);
    let mut cfg = s.config(mode);
    cfg.tls.max_version = Some(max);
    let mut c = Client::connect(cfg).await.unwrap();
    let negotiated = c.tls_info().unwrap().version;
    let dir = format!("{}-{max:?}", dir_for("resumed", mode));
    fresh_dir(&mut c, &dir).await;
    let mut full = Vec::new();
    const PAIRS: usize = 30;
    for i in 0..PAIRS {
        let data = Pattern::bytes(i as u64, 64 * 1024 + i);
        let name = format!("f{i}.bin");
        let stats = c.tls_session_stats();
        let mut up = c
            .stor(name.as_str())
            .await
            .unwrap_or_else(|e| panic!("upload {i}: {e:?} {stats:?}"));
        up.write_all(&data).await.unwrap();
        up.shutdown()
            .await
            .unwrap_or_else(|e| panic!("upload {i} end: {e:?}"));
        if up.info().full_handshake() {
            full.push(format!("upload {i}"));
        }
        drop(up);
        let stats = c.tls_session_stats();
        let mut dl = c
            .retr(name.as_str())
            .await
            .unwrap_or_else(|e| panic!("download {i}: {e:?} {stats:?}"));
        let mut got = Vec::new();
        let info = dl.info().clone();
        if let Err(e) = dl.read_to_end(&mut got).await {
            drop(dl);
            panic!(
                "download {i}: {e:?}; {info:?}; before: {stats:?}; after: {:?}",
                c.tls_session_stats()
            );
        }
        assert!(got == data, "transfer {i} differs");
        if dl.info().full_handshake() {
            full.push(format!("download {i}"));
        }
    }
    let stats = c.tls_session_stats().unwrap();
    report(&format!(
        "{name} {mode:?} max {max:?} negotiated {negotiated:?}: {} transfers, {} resumed, {} full handshakes, tickets from control {} / data {}, refreshes {}",
        2 * PAIRS,
        2 * PAIRS - full.len(),
        full.len(),
        stats.control_tickets_received,
        stats.data_tickets_received,
        stats.refreshes
    ));
    let server_offers_resumption = negotiated != Some(ftpkit::tls::ProtocolVersion::TLSv1_3)
        || stats.control_tickets_received + stats.data_tickets_received > 0;
    if server_offers_resumption {
        assert!(
            full.is_empty(),
            "data connections that did not resume: {full:?}"
        );
    } else {
        // Pure-FTPd issues no TLS 1.3 tickets at all (and does not require
        // reuse): nothing can be resumed. docs/server-quirks.md.
        report(&format!(
            "{name} {mode:?}: the server issued no TLS 1.3 session tickets; resumption impossible"
        ));
    }
    for i in 0..PAIRS {
        c.delete(format!("f{i}.bin").as_str()).await.unwrap();
    }
    c.cdup().await.unwrap();
    c.rmdir(dir.as_str()).await.unwrap();
}

macro_rules! tls_suite {
    ($($server:ident => $name:literal;)*) => {
        $(
            mod $server {
                use super::*;
                use ftpkit::tls::TlsVersion;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn resumed_tls13_passive() { many_resumed($name, Mode::Passive, TlsVersion::Tls13).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn resumed_tls13_active() { many_resumed($name, Mode::Active, TlsVersion::Tls13).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn resumed_tls12_passive() { many_resumed($name, Mode::Passive, TlsVersion::Tls12).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn resumed_tls12_active() { many_resumed($name, Mode::Active, TlsVersion::Tls12).await }
            }
        )*
    };
}

tls_suite! {
    vsftpd_tls_resume => "VSFTPD_TLS";
    vsftpd_implicit_resume => "VSFTPD_IMPLICIT";
    vsftpd_clientcert_resume => "VSFTPD_CLIENTCERT";
    proftpd_tls_resume => "PROFTPD_TLS";
    pureftpd_tls_resume => "PUREFTPD_TLS";
    pyftpdlib_tls_resume => "PYFTPDLIB_TLS";
}

macro_rules! gib_suite {
    ($($server:ident => $name:literal;)*) => {
        $(
            mod $server {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn gib_round_trip_passive() { gib_round_trip($name, Mode::Passive).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn gib_round_trip_active() { gib_round_trip($name, Mode::Active).await }
            }
        )*
    };
}

gib_suite! {
    vsftpd_gib => "VSFTPD";
    proftpd_gib => "PROFTPD";
    pureftpd_gib => "PUREFTPD";
    pyftpdlib_gib => "PYFTPDLIB";
    vsftpd_tls_gib => "VSFTPD_TLS";
}

macro_rules! suite {
    ($($server:ident => $name:literal;)*) => {
        $(
            mod $server {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn basic_passive() { basic($name, Mode::Passive).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn basic_active() { basic($name, Mode::Active).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn download_resume_passive() { download_resume($name, Mode::Passive).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn download_resume_active() { download_resume($name, Mode::Active).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn upload_resume_passive() { upload_resume($name, Mode::Passive).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn upload_resume_active() { upload_resume($name, Mode::Active).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn type_ascii_passive() { type_ascii($name, Mode::Passive).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn type_ascii_active() { type_ascii($name, Mode::Active).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn missing_file_passive() { missing_file($name, Mode::Passive).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn missing_file_active() { missing_file($name, Mode::Active).await }
            }
        )*
    };
}

suite! {
    vsftpd => "VSFTPD";
    proftpd => "PROFTPD";
    pureftpd => "PUREFTPD";
    pyftpdlib => "PYFTPDLIB";
    vsftpd_tls => "VSFTPD_TLS";
    vsftpd_implicit => "VSFTPD_IMPLICIT";
    vsftpd_clientcert => "VSFTPD_CLIENTCERT";
    proftpd_tls => "PROFTPD_TLS";
    pureftpd_tls => "PUREFTPD_TLS";
    pyftpdlib_tls => "PYFTPDLIB_TLS";
}

/// Negative TLS cases against real servers: each must fail to connect, with
/// the right kind of error.
mod tls_negative {
    use super::*;
    use ftpkit::tls::{ClientIdentity, Pin, SystemRoots};
    use ftpkit::{Config, Security};

    async fn refused(mut cfg: Config, tweak: impl FnOnce(&mut Config)) -> ftpkit::Error {
        tweak(&mut cfg);
        match Client::connect(cfg).await {
            Ok(_) => panic!("the client connected where it must not"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn unknown_ca() {
        let env = Env::load();
        let s = env.server("VSFTPD_TLS");
        let _shared = server_lock(&s.name).read().await;
        let e = refused(s.config(Mode::Passive), |c| {
            c.tls.system_roots = SystemRoots::Include;
            c.tls.ca_files = vec![env.get("FTPKIT_INTEROP_ROGUE_CA").into()];
        })
        .await;
        assert_eq!(e.kind(), ErrorKind::Certificate, "{e:?}");
    }

    #[tokio::test]
    async fn wrong_host_name() {
        let s = server("PROFTPD_TLS");
        let _shared = server_lock(&s.name).read().await;
        let e = refused(s.config(Mode::Passive), |c| {
            c.tls.server_name = Some("ftp.example.org".into());
        })
        .await;
        assert_eq!(e.kind(), ErrorKind::Certificate, "{e:?}");
    }

    #[tokio::test]
    async fn pin_mismatch() {
        let s = server("PUREFTPD_TLS");
        let _shared = server_lock(&s.name).read().await;
        let e = refused(s.config(Mode::Passive), |c| {
            c.tls.pin = Some(Pin::PublicKey([7u8; 32]));
        })
        .await;
        assert_eq!(e.kind(), ErrorKind::Certificate, "{e:?}");
    }

    #[tokio::test]
    async fn matching_pin_connects() {
        let s = server("PUREFTPD_TLS");
        let _shared = server_lock(&s.name).read().await;
        let c = s.connect(Mode::Passive).await;
        let fp = c.tls_info().unwrap().peer_certificates[0].sha256;
        let mut cfg = s.config(Mode::Passive);
        cfg.tls.pin = Some(Pin::Certificate(fp));
        Client::connect(cfg).await.unwrap();
    }

    #[tokio::test]
    async fn client_certificate_missing() {
        let s = server("VSFTPD_CLIENTCERT");
        let _shared = server_lock(&s.name).read().await;
        let e = refused(s.config(Mode::Passive), |c| c.tls.client_identity = None).await;
        assert!(
            matches!(e.kind(), ErrorKind::Tls | ErrorKind::Closed | ErrorKind::Io),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn client_certificate_from_another_ca() {
        let env = Env::load();
        let s = env.server("VSFTPD_CLIENTCERT");
        let _shared = server_lock(&s.name).read().await;
        let rogue = ClientIdentity::from_pem_files(
            env.get("FTPKIT_INTEROP_ROGUE_CLIENT_CERT"),
            env.get("FTPKIT_INTEROP_ROGUE_CLIENT_KEY"),
        )
        .unwrap();
        let e = refused(s.config(Mode::Passive), |c| {
            c.tls.client_identity = Some(rogue);
        })
        .await;
        assert!(
            matches!(e.kind(), ErrorKind::Tls | ErrorKind::Closed | ErrorKind::Io),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn auth_refused_while_tls_required() {
        // Plain vsftpd has TLS off and answers AUTH TLS with a refusal.
        let s = server("VSFTPD");
        let _shared = server_lock(&s.name).read().await;
        let e = refused(s.config(Mode::Passive), |c| c.security = Security::Explicit).await;
        assert_eq!(e.kind(), ErrorKind::Downgrade, "{e:?}");
    }

    #[tokio::test]
    async fn plain_login_refused_by_tls_server() {
        let s = server("PROFTPD_TLS");
        let _shared = server_lock(&s.name).read().await;
        let e = refused(s.config(Mode::Passive), |c| c.security = Security::None).await;
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Auth | ErrorKind::ServerReply | ErrorKind::Closed
            ),
            "{e:?}"
        );
    }

    /// `secure()` on a session connected in plain: AUTH TLS then, before
    /// login, and the transfers that follow are protected and resumed.
    #[tokio::test]
    async fn secure_an_open_session() {
        let s = server("VSFTPD_TLS");
        let _shared = server_lock(&s.name).read().await;
        let mut cfg = s.config(Mode::Passive);
        cfg.security = Security::None;
        cfg.credentials = None;
        let mut c = Client::connect(cfg).await.unwrap();
        assert!(c.tls_info().is_none());
        c.secure().await.unwrap();
        assert!(c.tls_info().is_some());
        c.login(s.user.as_str(), s.password.as_str()).await.unwrap();
        let dir = "t-secure-later";
        fresh_dir(&mut c, dir).await;
        upload_bytes(&mut c, "x.bin", b"secured later").await;
        let mut dl = c.retr("x.bin").await.unwrap();
        let mut v = Vec::new();
        dl.read_to_end(&mut v).await.unwrap();
        assert_eq!(v, b"secured later");
        assert!(dl.info().tls.unwrap().resumed);
        drop(dl);
        c.delete("x.bin").await.unwrap();
        c.cdup().await.unwrap();
        c.rmdir(dir).await.unwrap();
    }

    /// `secure_with()` on a session connected in plain, to a vsftpd that
    /// requires a client certificate: the certificate is picked from a
    /// store by name at that moment, then the login and a transfer work.
    #[tokio::test]
    async fn secure_an_open_session_with_a_certificate_picked_then() {
        let s = server("VSFTPD_CLIENTCERT");
        let _shared = server_lock(&s.name).read().await;
        let (cert, key) = s.client_cert.clone().unwrap();
        // A store: a folder holding the certificate and its key.
        let store = tempfile::tempdir().unwrap();
        std::fs::copy(&cert, store.path().join("client.crt")).unwrap();
        std::fs::copy(&key, store.path().join("client.key")).unwrap();
        let subject = ftpkit::tls::CertificateInfo::parse(
            ClientIdentity::from_pem_files(&cert, &key)
                .unwrap()
                .certificate()
                .unwrap(),
        )
        .unwrap()
        .subject;
        // The common name, by which the store is searched.
        let name = subject
            .split(',')
            .find_map(|part| part.trim().strip_prefix("CN="))
            .unwrap_or_else(|| panic!("no CN in {subject}"))
            .to_owned();
        let mut cfg = s.config(Mode::Passive);
        let mut tls = cfg.tls.clone();
        tls.client_identity = Some(ClientIdentity::from_store(store.path(), &name, None).unwrap());
        cfg.tls.client_identity = None;
        cfg.security = Security::None;
        cfg.credentials = None;
        let mut c = Client::connect(cfg).await.unwrap();
        c.secure_with(tls).await.unwrap();
        assert_eq!(c.config().security, Security::Explicit);
        c.login(s.user.as_str(), s.password.as_str()).await.unwrap();
        let dir = "t-secure-with";
        fresh_dir(&mut c, dir).await;
        upload_bytes(&mut c, "x.bin", b"certificate picked later").await;
        c.delete("x.bin").await.unwrap();
        c.cdup().await.unwrap();
        c.rmdir(dir).await.unwrap();
    }
}

/// Two sessions to the same server at once, on TLS 1.3: each data
/// connection resumes its own control session. ProFTPD refuses a ticket of
/// another FTP session, so any mixing would fail a transfer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_keep_their_own_tickets() {
    let s = server("PROFTPD_TLS");
    let _shared = server_lock(&s.name).read().await;
    let run = |k: u64| {
        let s = s.clone();
        async move {
            let mut cfg = s.config(Mode::Passive);
            cfg.tls.max_version = Some(ftpkit::tls::TlsVersion::Tls13);
            let mut c = Client::connect(cfg).await.unwrap();
            let dir = format!("t-concurrent-{k}");
            fresh_dir(&mut c, &dir).await;
            for i in 0..15u64 {
                let data = Pattern::bytes(k * 100 + i, 32 * 1024);
                let mut up = c.stor("f.bin").await.unwrap();
                up.write_all(&data).await.unwrap();
                up.shutdown().await.unwrap();
                assert!(
                    !up.info().full_handshake(),
                    "session {k} upload {i} did not resume"
                );
                drop(up);
                assert_eq!(download_bytes(&mut c, "f.bin").await, data);
            }
            let stats = c.tls_session_stats().unwrap();
            assert_eq!(stats.full_handshakes, 0, "session {k}: {stats:?}");
            c.delete("f.bin").await.unwrap();
            c.cdup().await.unwrap();
            c.rmdir(dir.as_str()).await.unwrap();
            stats
        }
    };
    let (a, b) = tokio::join!(run(1), run(2));
    report(&format!(
        "PROFTPD_TLS two concurrent TLS 1.3 sessions, 30 transfers each: {a:?} / {b:?}"
    ));
}

/// CCC is an explicit opt-in. ProFTPD with `TLSRequired on` refuses it
/// (534): the refusal is an error, and the session stays on TLS and usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_ccc_keeps_tls() {
    let s = server("PROFTPD_TLS");
    let _shared = server_lock(&s.name).read().await;
    let mut c = s.connect(Mode::Passive).await;
    let e = c.clear_command_channel().await.unwrap_err();
    assert_eq!(e.reply().map(|r| r.code().as_u16()), Some(534), "{e:?}");
    assert!(
        c.tls_info().is_some(),
        "control connection must still be TLS"
    );
    let dir = "t-ccc";
    fresh_dir(&mut c, dir).await;
    upload_bytes(&mut c, "c.bin", b"still protected").await;
    let mut dl = c.retr("c.bin").await.unwrap();
    let mut v = Vec::new();
    dl.read_to_end(&mut v).await.unwrap();
    assert_eq!(v, b"still protected");
    assert!(dl.info().tls.is_some_and(|t| t.resumed));
    drop(dl);
    c.delete("c.bin").await.unwrap();
    c.cdup().await.unwrap();
    c.rmdir(dir).await.unwrap();
    c.quit().await.unwrap();
}
