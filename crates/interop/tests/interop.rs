//! ftpkit against real servers. Run with `just interop` (which starts the
//! servers); without them every test fails, none is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Instant;

use ftpkit::{Client, ErrorKind, ListLine, TransferType};
use ftpkit_interop::data::{hex, sha256, HashSink, Pattern};
use ftpkit_interop::{download_bytes, report, server, upload_bytes, Env, Mode, Server};
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

/// A session to `s` in `mode`, in a fresh directory for `test` (see
/// [`dir_for`]); returns the client and the directory's name.
async fn open(s: &Server, mode: Mode, test: &str) -> (Client, String) {
    let mut c = s.connect(mode).await;
    let dir = dir_for(test, mode);
    fresh_dir(&mut c, &dir).await;
    (c, dir)
}

/// In a fresh directory `dir`: uploads `data` and downloads it back, on a
/// data connection that resumes the control connection's TLS session;
/// then removes it all.
async fn protected_round_trip(c: &mut Client, dir: &str, data: &[u8]) {
    fresh_dir(c, dir).await;
    upload_bytes(c, "x.bin", data).await;
    let (got, info) = download_bytes(c, "x.bin").await;
    assert_eq!(got, data);
    assert!(info.tls.is_some_and(|t| t.resumed), "{info:?}");
    remove_dir(c, dir, &["x.bin"]).await;
}

/// Deletes `files` from the current directory `dir`, then `dir` itself.
async fn remove_dir(c: &mut Client, dir: &str, files: &[impl AsRef<str>]) {
    for f in files {
        c.delete(f.as_ref()).await.unwrap();
    }
    c.cdup().await.unwrap();
    c.rmdir(dir).await.unwrap();
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
    assert_eq!(download_bytes(&mut c, "a file.bin").await.0, data);
    // The server's disk holds the same bytes.
    let on_disk = std::fs::read(s.root.join(&dir).join("a file.bin")).unwrap();
    assert_eq!(sha256(&on_disk), sha256(&data));

    c.rename("a file.bin", "renamed.bin").await.unwrap();
    assert!(c.size("a file.bin").await.is_err());
    assert_eq!(c.size("renamed.bin").await.unwrap(), data.len() as u64);
    remove_dir(&mut c, &dir, &["renamed.bin"]).await;
    assert!(c.cwd(dir.as_str()).await.is_err());
    c.quit().await.unwrap();
}

/// 1 GiB up and down, SHA-256 equal on both ends.
async fn gib_round_trip(name: &str, mode: Mode) {
    let _permit = BIG.acquire().await.unwrap();
    let _alone = server_lock(name).write().await;
    let (mut c, dir) = open(&server(name), mode, "gib").await;

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
    remove_dir(&mut c, &dir, &["big.bin"]).await;
}

/// A download cut part-way, then resumed with REST: byte-identical.
async fn download_resume(name: &str, mode: Mode) {
    let _shared = server_lock(name).read().await;
    let (mut c, dir) = open(&server(name), mode, "dlresume").await;
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
    remove_dir(&mut c, &dir, &["f.bin"]).await;
}

/// An upload cut part-way, then resumed from the size the server has.
async fn upload_resume(name: &str, mode: Mode) {
    let _shared = server_lock(name).read().await;
    let (mut c, dir) = open(&server(name), mode, "upresume").await;
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
        download_bytes(&mut c, "u.bin").await.0 == data,
        "resumed upload differs"
    );
    remove_dir(&mut c, &dir, &["u.bin"]).await;
}

/// TYPE A: local LF text round-trips; the wire carries CRLF.
async fn type_ascii(name: &str, mode: Mode) {
    let _shared = server_lock(name).read().await;
    let (mut c, dir) = open(&server(name), mode, "ascii").await;
    let text = b"first line\nsecond line\n\nlast line without newline";
    c.set_type(TransferType::Ascii).await.unwrap();
    upload_bytes(&mut c, "t.txt", text).await;
    assert_eq!(download_bytes(&mut c, "t.txt").await.0, text);
    c.set_type(TransferType::Binary).await.unwrap();
    remove_dir(&mut c, &dir, &["t.txt"]).await;
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
        if upload_bytes(&mut c, &name, &data).await.full_handshake() {
            full.push(format!("upload {i}"));
        }
        let (got, info) = download_bytes(&mut c, &name).await;
        assert!(got == data, "transfer {i} differs");
        if info.full_handshake() {
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
    let files: Vec<String> = (0..PAIRS).map(|i| format!("f{i}.bin")).collect();
    remove_dir(&mut c, &dir, &files).await;
}

/// A TLS 1.3 [`many_resumed`].
async fn resumed_tls13(name: &str, mode: Mode) {
    many_resumed(name, mode, ftpkit::tls::TlsVersion::Tls13).await;
}

/// A TLS 1.2 [`many_resumed`].
async fn resumed_tls12(name: &str, mode: Mode) {
    many_resumed(name, mode, ftpkit::tls::TlsVersion::Tls12).await;
}

/// Two tests of each `case => passive, active;`: `case(NAME, mode)` in
/// passive and in active mode, `NAME` being the server of the module the
/// tests are in.
macro_rules! passive_and_active {
    ($($case:ident => $passive:ident, $active:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $passive() { $case(NAME, Mode::Passive).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $active() { $case(NAME, Mode::Active).await }
        )*
    };
}

/// A module of tests per `module => "SERVER";`, the cases given in braces
/// as to [`passive_and_active`].
macro_rules! per_server {
    ($cases:tt $($server:ident => $name:literal;)*) => {
        $(
            mod $server {
                use super::*;
                const NAME: &str = $name;
                passive_and_active! $cases
            }
        )*
    };
}

per_server! {
    {
        resumed_tls13 => resumed_tls13_passive, resumed_tls13_active;
        resumed_tls12 => resumed_tls12_passive, resumed_tls12_active;
    }
    vsftpd_tls_resume => "VSFTPD_TLS";
    vsftpd_implicit_resume => "VSFTPD_IMPLICIT";
    vsftpd_clientcert_resume => "VSFTPD_CLIENTCERT";
    proftpd_tls_resume => "PROFTPD_TLS";
    pureftpd_tls_resume => "PUREFTPD_TLS";
    pyftpdlib_tls_resume => "PYFTPDLIB_TLS";
}

per_server! {
    { gib_round_trip => gib_round_trip_passive, gib_round_trip_active; }
    vsftpd_gib => "VSFTPD";
    proftpd_gib => "PROFTPD";
    pureftpd_gib => "PUREFTPD";
    pyftpdlib_gib => "PYFTPDLIB";
    vsftpd_tls_gib => "VSFTPD_TLS";
}

per_server! {
    {
        basic => basic_passive, basic_active;
        download_resume => download_resume_passive, download_resume_active;
        upload_resume => upload_resume_passive, upload_resume_active;
        type_ascii => type_ascii_passive, type_ascii_active;
        missing_file => missing_file_passive, missing_file_active;
    }
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

    /// Connects to the server `name` with its configuration changed by
    /// `tweak`, which must fail with an error of one of `kinds`.
    async fn refused(name: &str, kinds: &[ErrorKind], tweak: impl FnOnce(&mut Config)) {
        let s = server(name);
        let _shared = server_lock(&s.name).read().await;
        let mut cfg = s.config(Mode::Passive);
        tweak(&mut cfg);
        match Client::connect(cfg).await {
            Ok(_) => panic!("the client connected to {name} where it must not"),
            Err(e) => assert!(kinds.contains(&e.kind()), "{name}: {e:?}"),
        }
    }

    /// What a TLS handshake the server refuses ends in.
    const HANDSHAKE_REFUSED: &[ErrorKind] = &[ErrorKind::Tls, ErrorKind::Closed, ErrorKind::Io];

    #[tokio::test]
    async fn unknown_ca() {
        let rogue_ca = Env::load().get("FTPKIT_INTEROP_ROGUE_CA");
        refused("VSFTPD_TLS", &[ErrorKind::Certificate], |c| {
            c.tls.system_roots = SystemRoots::Include;
            c.tls.ca_files = vec![rogue_ca.into()];
        })
        .await;
    }

    #[tokio::test]
    async fn wrong_host_name() {
        refused("PROFTPD_TLS", &[ErrorKind::Certificate], |c| {
            c.tls.server_name = Some("ftp.example.org".into());
        })
        .await;
    }

    #[tokio::test]
    async fn pin_mismatch() {
        refused("PUREFTPD_TLS", &[ErrorKind::Certificate], |c| {
            c.tls.pin = Some(Pin::PublicKey([7u8; 32]));
        })
        .await;
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
        refused("VSFTPD_CLIENTCERT", HANDSHAKE_REFUSED, |c| {
            c.tls.client_identity = None;
        })
        .await;
    }

    #[tokio::test]
    async fn client_certificate_from_another_ca() {
        let env = Env::load();
        let rogue = ClientIdentity::from_pem_files(
            env.get("FTPKIT_INTEROP_ROGUE_CLIENT_CERT"),
            env.get("FTPKIT_INTEROP_ROGUE_CLIENT_KEY"),
        )
        .unwrap();
        refused("VSFTPD_CLIENTCERT", HANDSHAKE_REFUSED, |c| {
            c.tls.client_identity = Some(rogue);
        })
        .await;
    }

    #[tokio::test]
    async fn auth_refused_while_tls_required() {
        // Plain vsftpd has TLS off and answers AUTH TLS with a refusal.
        refused("VSFTPD", &[ErrorKind::Downgrade], |c| {
            c.security = Security::Explicit;
        })
        .await;
    }

    #[tokio::test]
    async fn plain_login_refused_by_tls_server() {
        let kinds = [ErrorKind::Auth, ErrorKind::ServerReply, ErrorKind::Closed];
        refused("PROFTPD_TLS", &kinds, |c| c.security = Security::None).await;
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
        protected_round_trip(&mut c, "t-secure-later", b"secured later").await;
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
        remove_dir(&mut c, dir, &["x.bin"]).await;
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
                let up = upload_bytes(&mut c, "f.bin", &data).await;
                assert!(
                    !up.full_handshake(),
                    "session {k} upload {i} did not resume"
                );
                assert_eq!(download_bytes(&mut c, "f.bin").await.0, data);
            }
            let stats = c.tls_session_stats().unwrap();
            assert_eq!(stats.full_handshakes, 0, "session {k}: {stats:?}");
            remove_dir(&mut c, &dir, &["f.bin"]).await;
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
    protected_round_trip(&mut c, "t-ccc", b"still protected").await;
    c.quit().await.unwrap();
}

/// Pipelining as each server gets it by default (`Pipelining::Auto`): on
/// for vsftpd and GNU inetutils ftpd, off for the others
/// (`PIPELINED-EPSV` in `docs/server-quirks.md`). Uploads and downloads
/// in a row on one session arrive whole, and no server turns it off.
async fn pipelined(name: &str, mode: Mode) {
    let _shared = server_lock(name).read().await;
    let (mut c, dir) = open(&server(name), mode, "pipelined").await;
    let expected = name.starts_with("VSFTPD") || name == "INETUTILS";
    assert_eq!(c.pipelines(), expected, "{name}: pipelining at login");
    const FILES: u64 = 8;
    let before = c.round_trips();
    let data = |i: u64| Pattern::bytes(i, 3000 + i as usize * 997);
    let files: Vec<String> = (0..FILES).map(|i| format!("p{i}.bin")).collect();
    for (i, f) in (0..FILES).zip(&files) {
        upload_bytes(&mut c, f, &data(i)).await;
    }
    for (i, f) in (0..FILES).zip(&files) {
        assert!(
            download_bytes(&mut c, f).await.0 == data(i),
            "{name}: {f} differs"
        );
    }
    assert_eq!(
        c.pipelines(),
        expected,
        "{name}: pipelining after the transfers"
    );
    let per_transfer = (c.round_trips() - before) as f64 / (2 * FILES) as f64;
    report(&format!(
        "{name} {mode:?}: pipelining {expected}, {per_transfer:.2} control round trips per transfer"
    ));
    if expected && mode == Mode::Passive {
        // One write and one wait per transfer (two without pipelining).
        assert!(
            per_transfer < 1.5,
            "{name}: {per_transfer} round trips per transfer"
        );
    }
    remove_dir(&mut c, &dir, &files).await;
}

/// Pipelining forced on (`Pipelining::On`) against servers that the default
/// policy leaves out, which read commands during a transfer
/// (`PIPELINED-EPSV`): every transfer ends with the right bytes (checked
/// with SIZE after an upload, byte for byte after a download) or with an
/// error, never a silent short file. After a sign of trouble pipelining is
/// off, also in a session renewed in its place, and a transfer that failed
/// succeeds when done again.
async fn forced_pipelining(name: &str) {
    // Only passive mode has a passive command to pipeline.
    let mode = Mode::Passive;
    let _shared = server_lock(name).read().await;
    let s = server(name);
    let mut cfg = s.config(mode);
    cfg.pipelining = ftpkit::Pipelining::On;
    // A server that ends a transfer for the pipelined command sends no
    // completion: the reply deadline is how that transfer fails.
    cfg.timeouts.reply = std::time::Duration::from_secs(5);
    let mut c = Client::connect(cfg).await.unwrap();
    let dir = dir_for("forced", mode);
    fresh_dir(&mut c, &dir).await;
    const FILES: u64 = 6;
    let data = |i: u64| Pattern::bytes(i + 40, 200_000 + i as usize * 4099);
    let files: Vec<String> = (0..FILES).map(|i| format!("f{i}.bin")).collect();
    let mut failures = Vec::new();
    for (i, f) in (0..FILES).zip(&files) {
        let want = data(i);
        loop {
            let done = async {
                let mut up = c.stor(f).await.map_err(|e| format!("{e:?}"))?;
                up.write_all(&want).await.map_err(|e| format!("{e:?}"))?;
                up.shutdown().await.map_err(|e| format!("{e:?}"))
            }
            .await;
            match done {
                Ok(()) => break,
                Err(e) => count_failure(name, &mut failures, format!("STOR {f}: {e}")),
            }
        }
        assert_eq!(c.size(f).await.unwrap(), want.len() as u64, "{name}: {f}");
    }
    for (i, f) in (0..FILES).zip(&files) {
        loop {
            let done = async {
                let mut dl = c.retr(f).await.map_err(|e| format!("{e:?}"))?;
                let mut got = Vec::new();
                dl.read_to_end(&mut got)
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                Ok::<_, String>(got)
            }
            .await;
            match done {
                Ok(got) => {
                    assert!(got == data(i), "{name}: {f} differs");
                    break;
                }
                Err(e) => count_failure(name, &mut failures, format!("RETR {f}: {e}")),
            }
        }
    }
    if !failures.is_empty() {
        assert!(
            !c.pipelines(),
            "{name}: pipelining still on after {failures:?}"
        );
    }
    report(&format!(
        "{name} {mode:?}: pipelining forced on, {} failed transfer(s) {failures:?}, pipelining {} at the end",
        failures.len(),
        if c.pipelines() { "on" } else { "off" }
    ));
    remove_dir(&mut c, &dir, &files).await;
}

/// Records a failed transfer of [`forced_pipelining`], of which at most two
/// may fail: the first turns pipelining off, and the bound leaves room for
/// one more.
fn count_failure(name: &str, failures: &mut Vec<String>, failure: String) {
    assert!(
        failures.len() < 2,
        "{name}: failures {failures:?}, then {failure}"
    );
    failures.push(failure);
}

ftpkit_interop::server_cases! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async pipelined:
    pipelined_vsftpd => "VSFTPD", Mode::Passive;
    pipelined_vsftpd_tls => "VSFTPD_TLS", Mode::Passive;
    pipelined_vsftpd_implicit => "VSFTPD_IMPLICIT", Mode::Passive;
    pipelined_proftpd => "PROFTPD", Mode::Passive;
    pipelined_proftpd_tls => "PROFTPD_TLS", Mode::Passive;
    pipelined_pureftpd => "PUREFTPD", Mode::Passive;
    pipelined_pureftpd_tls => "PUREFTPD_TLS", Mode::Passive;
    pipelined_pyftpdlib => "PYFTPDLIB", Mode::Passive;
    pipelined_pyftpdlib_tls => "PYFTPDLIB_TLS", Mode::Passive;
    pipelined_inetutils => "INETUTILS", Mode::Passive;
    pipelined_twisted => "TWISTED", Mode::Passive;
}

/// The login pipelined as each server gets it by default: `USER` with
/// `PASS`, and `PBSZ`, `PROT`, `FEAT` and `TYPE` in one write, where the
/// policy pipelines; one command per round trip elsewhere. Compared with
/// the same login with pipelining off, on the same server.
async fn pipelined_login(name: &str) {
    // Only passive mode has a passive command to pipeline.
    let mode = Mode::Passive;
    let _shared = server_lock(name).read().await;
    let s = server(name);
    let on = s.connect(mode).await;
    let mut cfg = s.config(mode);
    cfg.pipelining = ftpkit::Pipelining::Off;
    let plain = cfg.security == ftpkit::Security::None;
    let off = Client::connect(cfg).await.unwrap();
    let (rt_on, rt_off) = (on.round_trips(), off.round_trips());
    report(&format!(
        "{name}: login in {rt_on} control round trips pipelined ({}), {rt_off} without",
        on.pipelines()
    ));
    if on.pipelines() {
        let saved = if plain {
            2 // PASS, TYPE
        } else {
            4 // PASS, PROT, FEAT, TYPE
        };
        assert_eq!(rt_on + saved, rt_off, "{name}");
    } else {
        assert_eq!(rt_on, rt_off, "{name}");
    }
    for mut c in [on, off] {
        assert!(c.pwd().await.is_ok());
    }
}

ftpkit_interop::server_cases! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async pipelined_login:
    pipelined_login_vsftpd => "VSFTPD";
    pipelined_login_vsftpd_tls => "VSFTPD_TLS";
    pipelined_login_vsftpd_implicit => "VSFTPD_IMPLICIT";
    pipelined_login_vsftpd_clientcert => "VSFTPD_CLIENTCERT";
    pipelined_login_proftpd_tls => "PROFTPD_TLS";
    pipelined_login_pureftpd_tls => "PUREFTPD_TLS";
    pipelined_login_pyftpdlib => "PYFTPDLIB";
    pipelined_login_inetutils => "INETUTILS";
    pipelined_login_twisted => "TWISTED";
}

ftpkit_interop::server_cases! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async forced_pipelining:
    forced_pipelining_proftpd => "PROFTPD";
    forced_pipelining_proftpd_tls => "PROFTPD_TLS";
    forced_pipelining_pureftpd => "PUREFTPD";
    forced_pipelining_pureftpd_tls => "PUREFTPD_TLS";
    forced_pipelining_pyftpdlib => "PYFTPDLIB";
    forced_pipelining_pyftpdlib_tls => "PYFTPDLIB_TLS";
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_vsftpd_active() {
    // Active mode: nothing to pipeline; the policy stands.
    pipelined("VSFTPD", Mode::Active).await;
}
