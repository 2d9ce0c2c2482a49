//! The measured side of `just bench` (issue #6): each invocation does
//! exactly one measured operation, so that `scripts/bench.py` can account
//! the wall time, CPU time and peak RSS of this one process with `wait4`.
//!
//! ```text
//! ftpkit-bench <ftpkit|suppaftp> get        PORT plain|tls REMOTE             # RETR into a sink
//! ftpkit-bench <ftpkit|suppaftp> put        PORT plain|tls LOCAL REMOTE       # STOR from a file
//! ftpkit-bench ftpkit            get-file   PORT plain|tls REMOTE LOCAL       # RETR into a file (one stream)
//! ftpkit-bench ftpkit            segmented  PORT plain|tls REMOTE LOCAL N     # N sessions, REST ranges
//! ftpkit-bench ftpkit            small-up   PORT plain|tls LOCAL_DIR REMOTE_DIR mirror|pool P
//! ftpkit-bench ftpkit            small-down PORT plain|tls REMOTE_DIR LOCAL_DIR mirror|pool P
//! ftpkit-bench ftpkit            small-up-loop PORT plain|tls|tls12 LOCAL_DIR REMOTE_DIR # one Client, a loop
//! ftpkit-bench suppaftp          small-up   PORT plain|tls LOCAL_DIR REMOTE_DIR   # one session, a loop
//! ftpkit-bench suppaftp          small-down PORT plain|tls REMOTE_DIR LOCAL_DIR   # one session, a loop
//! ftpkit-bench loopback BYTES     # raw TCP throughput to a child process over 127.0.0.1
//! ftpkit-bench aes-gcm BYTES      # single-core AES-256-GCM seal, 16 KiB records (ring)
//! ftpkit-bench rusage OUT CMD...  # runs CMD, writes its `maxrss_kib user_s sys_s` to OUT
//! ```
//!
//! `rusage` exists because Linux carries a process's peak RSS across
//! `exec`: a child spawned by the (30 MiB) Python orchestrator reports at
//! least the orchestrator's RSS in `wait4`. Spawned from this small process,
//! the child's own peak shows.
//!
//! The server is `127.0.0.1:PORT`; user, password and CA come from
//! `FTPKIT_INTEROP_USER`, `FTPKIT_INTEROP_PASS` and `FTPKIT_INTEROP_CA`
//! (`source /tmp/ftpkit-interop/env`). TLS is explicit (`AUTH TLS`), the
//! certificate is verified against the CA for the name `localhost`, and
//! data connections are protected (`PROT P`). `tls12` is `tls` with the
//! client capped at TLS 1.2 (`TlsOptions::max_version`).
//!
//! Each run prints one line `bytes=N files=N secs=S` (the seconds of the
//! operation alone; the orchestrator uses the whole process's wall time).
//! `small-up-loop` adds the session's TLS counters from
//! `Client::tls_session_stats`: `refreshes=N full_handshakes=N` (both 0
//! without TLS).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ftpkit::ops::{
    download_file, mirror_down, mirror_up, segmented_download, upload_file, FileOptions,
    MirrorOptions, SegmentOptions, Verify,
};
use ftpkit::tls::{SystemRoots, TlsVersion};
use ftpkit::{Client, Config, Pool, PoolConfig};
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::FileType;
use tokio::io::AsyncWriteExt;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

/// The TLS name checked against the server certificate.
const TLS_NAME: &str = "localhost";
/// The server address.
const HOST: &str = "127.0.0.1";

/// Where the FTP clients connect: `FTPKIT_BENCH_HOST` (the delay proxy of
/// the latency case), else [`HOST`]. The certificate is still checked for
/// [`TLS_NAME`].
fn server_host() -> String {
    std::env::var("FTPKIT_BENCH_HOST").unwrap_or_else(|_| HOST.to_owned())
}

struct Target {
    port: u16,
    user: String,
    pass: String,
    ca: Option<PathBuf>,
    /// Cap the client at TLS 1.2 (`tls12`).
    tls12: bool,
}

impl Target {
    fn from_args(port: &str, mode: &str) -> Result<Self> {
        let (tls, tls12) = match mode {
            "plain" => (false, false),
            "tls" => (true, false),
            "tls12" => (true, true),
            other => {
                return Err(format!("security must be plain, tls or tls12, not {other}").into())
            }
        };
        let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        Ok(Self {
            port: port.parse()?,
            user: env("FTPKIT_INTEROP_USER")?,
            pass: env("FTPKIT_INTEROP_PASS")?,
            ca: if tls {
                Some(env("FTPKIT_INTEROP_CA")?.into())
            } else {
                None
            },
            tls12,
        })
    }

    fn ftpkit_config(&self) -> Config {
        let mut b = Client::builder(server_host())
            .port(self.port)
            .credentials(self.user.as_str(), self.pass.as_str());
        if let Some(ca) = &self.ca {
            b = b
                .explicit_tls()
                .system_roots(SystemRoots::Exclude)
                .ca_file(ca)
                .tls_server_name(TLS_NAME);
            if self.tls12 {
                b = b.tls_max_version(TlsVersion::Tls12);
            }
        }
        b.config()
    }

    async fn ftpkit(&self) -> Result<Client> {
        Ok(Client::connect(self.ftpkit_config()).await?)
    }

    async fn suppaftp(&self) -> Result<AsyncRustlsFtpStream> {
        if self.tls12 {
            return Err("tls12 is for ftpkit only".into());
        }
        let mut ftp = AsyncRustlsFtpStream::connect((server_host().as_str(), self.port)).await?;
        if let Some(ca) = &self.ca {
            let mut roots = rustls::RootCertStore::empty();
            for cert in <rustls_pki_types::CertificateDer<'_> as rustls_pki_types::pem::PemObject>::pem_file_iter(ca)? {
                roots.add(cert?)?;
            }
            // The same provider as ftpkit (crates/client/src/tls/mod.rs),
            // deprecated in rustls 0.23.48 for its lack of post-quantum key
            // exchange.
            #[allow(deprecated)]
            let provider = rustls::crypto::ring::default_provider();
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let connector =
                AsyncRustlsConnector::from(tokio_rustls::TlsConnector::from(Arc::new(config)));
            ftp = ftp.into_secure(connector, TLS_NAME).await?;
        }
        ftp.login(self.user.as_str(), self.pass.as_str()).await?;
        ftp.transfer_type(FileType::Binary).await?;
        Ok(ftp)
    }
}

/// What one run moved.
#[derive(Default)]
struct Moved {
    bytes: u64,
    files: u64,
    /// Appended to the output line (` key=value` pairs).
    extra: String,
}

impl Moved {
    /// One file of `bytes`.
    fn one_file(bytes: u64) -> Self {
        Self {
            bytes,
            files: 1,
            ..Self::default()
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match argv.as_slice() {
        ["loopback", bytes] => return loopback(bytes.parse()?),
        ["loopback-sink", port] => return loopback_sink(port.parse()?),
        ["aes-gcm", bytes] => return aes_gcm(bytes.parse()?),
        ["rusage", out, cmd, args @ ..] => return rusage(out, cmd, args),
        _ => {}
    }
    // The multi-threaded runtime for every operation, ftpkit and suppaftp
    // alike (measured faster than a current-thread one for both here, and
    // mirror, pool and segmented runs need it for their concurrent TLS
    // work). BENCH_RUNTIME=current selects the current-thread runtime.
    let multi = !matches!(std::env::var("BENCH_RUNTIME").as_deref(), Ok("current"));
    let rt = if multi {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()?;
    let start = Instant::now();
    let moved = rt.block_on(run(&argv))?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "bytes={} files={} secs={secs:.4}{}",
        moved.bytes, moved.files, moved.extra
    );
    Ok(())
}

async fn run(argv: &[&str]) -> Result<Moved> {
    let usage = || -> Error { format!("bad arguments {argv:?}; see the module docs").into() };
    let [tool, op, port, mode, rest @ ..] = argv else {
        return Err(usage());
    };
    let t = Target::from_args(port, mode)?;
    match (*tool, *op, rest) {
        ("ftpkit", "get", [remote]) => {
            let mut c = t.ftpkit().await?;
            let (bytes, _) = c.download_to(*remote, 0, &mut tokio::io::sink()).await?;
            c.quit().await?;
            Ok(Moved::one_file(bytes))
        }
        ("ftpkit", "put", [local, remote]) => {
            let mut c = t.ftpkit().await?;
            // ftpkit's file reader for uploads (read ahead on its own thread).
            let f = ftpkit::ops::FileSource::open(Path::new(local), 0)?;
            let (bytes, _) = c.upload_from(*remote, 0, f).await?;
            c.quit().await?;
            Ok(Moved::one_file(bytes))
        }
        ("ftpkit", "get-auto", [remote, local]) => {
            // What `ftpkit get REMOTE LOCAL` does by default: segments
            // chosen from the file's size and the measured round trip.
            let mut c = t.ftpkit().await?;
            let opts = SegmentOptions {
                sessions: 0,
                verify: Verify::SizeWhenKnown,
                ..SegmentOptions::default()
            };
            let r = segmented_download(&mut c, *remote, Path::new(local), &opts).await?;
            c.quit().await?;
            Ok(Moved::one_file(r.size))
        }
        ("ftpkit", "get-file", [remote, local]) => {
            let mut c = t.ftpkit().await?;
            let opts = FileOptions::new().verify(Verify::None);
            let r = download_file(&mut c, *remote, Path::new(local), &opts).await?;
            c.quit().await?;
            Ok(Moved::one_file(r.transferred))
        }
        ("ftpkit", "segmented", [remote, local, n]) => {
            let mut c = t.ftpkit().await?;
            let opts = SegmentOptions {
                sessions: n.parse()?,
                verify: Verify::None,
                ..SegmentOptions::default()
            };
            let r = segmented_download(&mut c, *remote, Path::new(local), &opts).await?;
            c.quit().await?;
            Ok(Moved::one_file(r.size))
        }
        ("ftpkit", "small-up" | "small-down", [from, to, how, p]) => {
            let p: usize = p.parse()?;
            let up = *op == "small-up";
            match *how {
                "mirror" => ftpkit_mirror(&t, up, from, to, p).await,
                "pool" => ftpkit_pool(&t, up, from, to, p).await,
                other => Err(format!("mirror or pool, not {other}").into()),
            }
        }
        ("ftpkit", "small-up-loop", [local_dir, remote_dir]) => {
            ftpkit_upload_loop(&t, local_dir, remote_dir).await
        }
        ("suppaftp", "get", [remote]) => {
            let mut ftp = t.suppaftp().await?;
            let mut s = ftp.retr_as_stream(*remote).await?;
            let bytes = tokio::io::copy(&mut s, &mut tokio::io::sink()).await?;
            s.finish().await?;
            ftp.quit().await?;
            Ok(Moved::one_file(bytes))
        }
        ("suppaftp", "put", [local, remote]) => {
            let mut ftp = t.suppaftp().await?;
            let mut f = tokio::fs::File::open(local).await?;
            let bytes = ftp.put_file(*remote, &mut f).await?;
            ftp.quit().await?;
            Ok(Moved::one_file(bytes))
        }
        ("suppaftp", "small-up", [local_dir, remote_dir]) => {
            let mut ftp = t.suppaftp().await?;
            ftp.mkdir(*remote_dir).await?;
            let mut moved = Moved::default();
            for path in sorted_files(Path::new(local_dir))? {
                let name = file_name(&path)?;
                let mut f = tokio::fs::File::open(&path).await?;
                moved.bytes += ftp.put_file(format!("{remote_dir}/{name}"), &mut f).await?;
                moved.files += 1;
            }
            ftp.quit().await?;
            Ok(moved)
        }
        ("suppaftp", "small-down", [remote_dir, local_dir]) => {
            let mut ftp = t.suppaftp().await?;
            tokio::fs::create_dir_all(local_dir).await?;
            let mut moved = Moved::default();
            for name in ftp.nlst(Some(*remote_dir)).await? {
                // vsftpd answers NLST DIR with DIR/NAME.
                let base = name.rsplit('/').next().unwrap_or(&name).to_owned();
                let mut s = ftp.retr_as_stream(format!("{remote_dir}/{base}")).await?;
                let mut f = tokio::fs::File::create(Path::new(local_dir).join(&base)).await?;
                moved.bytes += tokio::io::copy(&mut s, &mut f).await?;
                f.flush().await?;
                s.finish().await?;
                moved.files += 1;
            }
            ftp.quit().await?;
            Ok(moved)
        }
        _ => Err(usage()),
    }
}

/// The last component of `path`, which must be UTF-8.
fn file_name(path: &Path) -> Result<&str> {
    Ok(path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("non-UTF-8 file name")?)
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_file() {
            v.push(e.path());
        }
    }
    v.sort();
    Ok(v)
}

/// Every file of `local_dir` uploaded into the new `remote_dir` on one
/// `Client`, one `upload_file` after the other (what an application with
/// one session does). On a server that issues no TLS 1.3 ticket per upload
/// (ProFTPD) the client renews its session when its tickets run out; the
/// renewals are printed as `refreshes=N`.
async fn ftpkit_upload_loop(t: &Target, local_dir: &str, remote_dir: &str) -> Result<Moved> {
    let mut c = t.ftpkit().await?;
    c.mkdir(remote_dir).await?;
    let opts = FileOptions::new().verify(Verify::None);
    let mut moved = Moved::default();
    for path in sorted_files(Path::new(local_dir))? {
        let name = file_name(&path)?;
        let r = upload_file(&mut c, &path, format!("{remote_dir}/{name}"), &opts).await?;
        moved.bytes += r.transferred;
        moved.files += 1;
    }
    let stats = c.tls_session_stats().unwrap_or_default();
    c.quit().await?;
    moved.extra = format!(
        " refreshes={} full_handshakes={}",
        stats.refreshes, stats.full_handshakes
    );
    Ok(moved)
}

/// `mirror_up` / `mirror_down` with `p` sessions, every file transferred
/// (no skipping, no times kept, no SIZE check: what `lftp mirror` does).
async fn ftpkit_mirror(t: &Target, up: bool, from: &str, to: &str, p: usize) -> Result<Moved> {
    let mut c = t.ftpkit().await?;
    let opts = MirrorOptions {
        parallelism: p,
        skip_unchanged: false,
        preserve_mtime: false,
        verify: Verify::None,
        ..MirrorOptions::default()
    };
    let report = if up {
        mirror_up(&mut c, Path::new(from), to, &opts).await?
    } else {
        mirror_down(&mut c, from, Path::new(to), &opts).await?
    };
    c.quit().await?;
    if let Some(e) = report.errors.first() {
        return Err(format!(
            "{} errors, first: {}: {}",
            report.errors.len(),
            e.path,
            e.error
        )
        .into());
    }
    Ok(Moved {
        bytes: report.bytes,
        files: report.files_transferred,
        ..Moved::default()
    })
}

/// `p` workers taking files from one queue, each file on a connection
/// checked out of a [`Pool`] of at most `p` connections.
async fn ftpkit_pool(t: &Target, up: bool, from: &str, to: &str, p: usize) -> Result<Moved> {
    let config = t.ftpkit_config();
    let pool = Pool::new(PoolConfig {
        max_per_key: p,
        max_idle_per_key: p,
        keepalive: None,
        ..PoolConfig::default()
    });
    // The work list: local files (up) or the remote listing (down).
    let names: Vec<String> = if up {
        let mut c = pool.get(&config).await?;
        // Created here; an error means it exists, which is fine.
        let _ = c.mkdir(to).await;
        drop(c);
        sorted_files(Path::new(from))?
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect()
    } else {
        tokio::fs::create_dir_all(to).await?;
        let mut c = pool.get(&config).await?;
        let names = c
            .nlst(Some(from))
            .await?
            .into_iter()
            .map(|n| {
                let s = n.to_string_lossy().into_owned();
                s.rsplit('/').next().unwrap_or(&s).to_owned()
            })
            .collect();
        drop(c);
        names
    };
    let queue = Arc::new(std::sync::Mutex::new(names));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..p.max(1) {
        let (pool, config, queue) = (pool.clone(), config.clone(), queue.clone());
        let (from, to) = (from.to_owned(), to.to_owned());
        workers.spawn(async move {
            let mut moved = Moved::default();
            let opts = FileOptions::new().verify(Verify::None);
            loop {
                let next = queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop();
                let Some(name) = next else { break };
                let mut c = pool.get(&config).await?;
                let r = if up {
                    let local = Path::new(&from).join(&name);
                    upload_file(&mut c, &local, format!("{to}/{name}"), &opts).await?
                } else {
                    let local = Path::new(&to).join(&name);
                    download_file(&mut c, format!("{from}/{name}"), &local, &opts).await?
                };
                moved.bytes += r.transferred;
                moved.files += 1;
            }
            Ok::<_, Error>(moved)
        });
    }
    let mut total = Moved::default();
    while let Some(r) = workers.join_next().await {
        let m = r??;
        total.bytes += m.bytes;
        total.files += m.files;
    }
    pool.close_idle().await;
    Ok(total)
}

/// Raw TCP throughput between two processes over loopback: this process
/// writes `bytes` in 256 KiB writes, a child (`loopback-sink`) reads them.
fn loopback(bytes: u64) -> Result<()> {
    let listener = std::net::TcpListener::bind((HOST, 0))?;
    let port = listener.local_addr()?.port();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["loopback-sink", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let (mut sock, _) = listener.accept()?;
    let buf = vec![0x5au8; 256 * 1024];
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64))?;
        sock.write_all(&buf[..n])?;
        left -= n as u64;
    }
    sock.shutdown(std::net::Shutdown::Write)?;
    // The sink answers with its count once it has read everything.
    let mut got = String::new();
    child
        .stdout
        .take()
        .ok_or("no child stdout")?
        .read_to_string(&mut got)?;
    let secs = start.elapsed().as_secs_f64();
    child.wait()?;
    if got.trim() != bytes.to_string() {
        return Err(format!("sink read {got:?} bytes, sent {bytes}").into());
    }
    println!("bytes={bytes} files=0 secs={secs:.4}");
    Ok(())
}

fn loopback_sink(port: u16) -> Result<()> {
    let mut sock = std::net::TcpStream::connect((HOST, port))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    println!("{total}");
    Ok(())
}

/// AES-256-GCM seal throughput of ring (rustls's provider here) on one
/// core, in TLS-record-sized 16 KiB chunks.
fn aes_gcm(bytes: u64) -> Result<()> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let key =
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).map_err(|_| "bad AES key")?);
    let mut record = vec![0x42u8; 16 * 1024];
    let records = bytes.div_ceil(record.len() as u64);
    let start = Instant::now();
    let mut tag_xor = 0u8;
    for i in 0..records {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&i.to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from([23u8, 3, 3, 0x40, 0x11]),
                &mut record,
            )
            .map_err(|_| "seal failed")?;
        tag_xor ^= tag.as_ref()[0];
    }
    let secs = start.elapsed().as_secs_f64();
    let total = records * record.len() as u64;
    println!("bytes={total} files=0 secs={secs:.4} check={tag_xor}");
    Ok(())
}

/// Runs `cmd` (stdio inherited), writes its peak RSS (KiB) and user and
/// system seconds to `out`, and exits with its status.
fn rusage(out: &str, cmd: &str, args: &[&str]) -> Result<()> {
    use nix::sys::resource::{getrusage, UsageWho};
    let status = std::process::Command::new(cmd).args(args).status()?;
    let ru = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    std::fs::write(
        out,
        format!(
            "{} {:.6} {:.6}\n",
            ru.max_rss(),
            secs(ru.user_time()),
            secs(ru.system_time())
        ),
    )?;
    std::process::exit(status.code().unwrap_or(1));
}
