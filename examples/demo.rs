//! # ftpkit demo: FTPS end to end, with nothing to install
//!
//! ```text
//! cargo run --release --example demo          # 64 MiB
//! cargo run --release --example demo -- 256   # another size, in MiB
//! ```
//!
//! The demo needs only the Rust toolchain. In one process it:
//!
//! 1. generates a CA and a `localhost` server certificate with rcgen (in a
//!    temporary directory that is removed at the end; no key is ever kept);
//! 2. starts an embedded FTPS server (libunftp with the file-system storage
//!    back-end) on `127.0.0.1` only, rooted in a temporary directory, with a
//!    user name and a password made up for this run, and FTPS **required** on
//!    the control and data connections (explicit TLS, `PROT P`);
//! 3. connects the ftpkit client with `AUTH TLS`, trusting only the demo CA,
//!    and prints the TLS version, cipher suite and server certificate;
//! 4. uploads a file of deterministic pseudo-random bytes with a progress
//!    display;
//! 5. lists the directory (`MLSD`, or `LIST` when the server lacks it);
//! 6. downloads the file and cuts the connection half-way (drops the download
//!    and the session, as a network failure would), reconnects, and resumes
//!    from the local file's length with `REST` + `RETR` (`Client::retr_from`);
//! 7. verifies the SHA-256 of the downloaded bytes and the server's `SIZE`,
//!    and reports whether each data connection resumed the control
//!    connection's TLS session;
//! 8. sends `QUIT`, shuts the server down and exits 0 (non-zero on any
//!    error, after printing it).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error as StdError;
use std::fmt;
use std::io::{IsTerminal, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use ftpkit::tls::SystemRoots;
use ftpkit::{Client, Config, Credentials, Entry, EntryKind, ListLine, Security, TransferInfo};
use libunftp::options::{FtpsRequired, Shutdown, TlsFlags};
use libunftp::ServerBuilder;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use unftp_core::auth::{AuthenticationError, Authenticator, Principal};
use unftp_sbe_fs::Filesystem;

type DemoResult<T> = Result<T, Box<dyn StdError + Send + Sync>>;

const MIB: u64 = 1024 * 1024;
const DEFAULT_SIZE_MIB: u64 = 64;
const USER: &str = "demo";
const REMOTE_FILE: &str = "random.bin";
const REMOTE_DIR: &str = "archive";
const BUFFER: usize = 256 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    match run().await {
        Ok(()) => {
            println!(
                "\nDone in {:.2} s: every step succeeded.",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run() -> DemoResult<()> {
    let size = file_size()?;
    let work = WorkDir::create()?;
    println!("ftpkit demo: FTPS against an embedded libunftp server on loopback");
    println!("  work directory: {}", work.path().display());

    // ----- the server -----------------------------------------------------
    step(0, "start the embedded FTPS server");
    let pki = DemoPki::generate()?;
    let tls_dir = work.subdir("tls")?;
    let (cert_file, key_file) = pki.write_server_files(&tls_dir)?;
    let root = work.subdir("server-root")?;
    let password = random_password()?;
    let server = DemoServer::start(&root, &cert_file, &key_file, &password).await?;
    println!("  libunftp 0.24 listening on {}", server.addr);
    println!("  root directory: {}", root.display());
    println!("  FTPS required on control and data connections (explicit AUTH TLS, PROT P), TLS 1.2 and 1.3");
    println!("  user {USER:?} with a password made up for this run");
    println!(
        "  certificate for localhost/127.0.0.1 issued by a CA generated just now ({})",
        pki.ca_subject
    );

    // ----- the local file -------------------------------------------------
    let local = work.subdir("client")?;
    let source = local.join("source.bin");
    let source_hash = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || generate_file(&source, size)).await??
    };
    println!(
        "  generated {} ({} of pseudo-random bytes), SHA-256 {}",
        source.display(),
        human(size),
        short_hex(&source_hash)
    );

    // ----- 1. connect -----------------------------------------------------
    step(1, "connect with explicit TLS (AUTH TLS) and log in");
    let mut config = Config::new("localhost");
    config.port = server.addr.port();
    config.security = Security::Explicit;
    config.tls.system_roots = SystemRoots::Exclude;
    config.tls.ca_certificates = vec![pki.ca_der.clone()];
    config.credentials = Some(Credentials::new(USER, password.as_str()));
    let t = Instant::now();
    let mut client = Client::connect(config.clone()).await?;
    println!(
        "  connected to {} and logged in as {USER:?} in {} ms",
        client.peer_addr(),
        t.elapsed().as_millis()
    );
    let tls = client
        .tls_info()
        .ok_or_else(|| DemoError::new("the control connection is not protected by TLS"))?;
    println!("  TLS version:  {}", opt_debug(tls.version.as_ref()));
    println!("  cipher suite: {}", opt_debug(tls.cipher_suite.as_ref()));
    for (i, cert) in tls.peer_certificates.iter().enumerate() {
        let role = if i == 0 {
            "server certificate"
        } else {
            "chain certificate"
        };
        println!("  {role}: {}", cert.subject);
        println!("    issuer:  {}", cert.issuer);
        if !cert.subject_alt_names.is_empty() {
            println!("    names:   {}", cert.subject_alt_names.join(", "));
        }
        println!("    SHA-256: {}", cert.fingerprint());
    }
    let features: Vec<String> = client.features().iter().map(|f| f.name).collect();
    println!("  server features (FEAT): {}", features.join(" "));
    let mut data_connections: Vec<(&str, Option<bool>)> = Vec::new();

    // ----- 2. upload ------------------------------------------------------
    step(2, &format!("upload {REMOTE_FILE} ({})", human(size)));
    client.mkdir(REMOTE_DIR).await?;
    println!("  MKD {REMOTE_DIR}: created a directory, so that the listing has one");
    let file = tokio::fs::File::open(&source).await?;
    let reader = Counting::new(file, Meter::new("upload", 0, size));
    let (sent, info) = client.upload_from(REMOTE_FILE, 0, reader).await?;
    if sent != size {
        return Err(DemoError::boxed(format!(
            "uploaded {sent} bytes, expected {size}"
        )));
    }
    print_transfer_info(&info);
    data_connections.push(("upload (STOR)", info.tls.map(|t| t.resumed)));

    // ----- 3. list --------------------------------------------------------
    let before = client.tls_session_stats().map(|s| s.full_handshakes);
    if client.features().supports_mlsx() {
        step(3, "list the directory with MLSD");
        let entries = client.mlsd(None).await?;
        for e in &entries {
            print_entry(e);
        }
        println!("  {} entries", entries.len());
    } else {
        step(3, "list the directory with LIST (the server has no MLSD)");
        let lines = client.list(None).await?;
        for line in &lines {
            match line {
                ListLine::Entry(e) => print_entry(e),
                ListLine::Unparsed(raw) => {
                    println!("  (unparsed) {}", String::from_utf8_lossy(raw));
                }
                ListLine::Skip => {}
            }
        }
    }
    // Listings return their entries, not a TransferInfo: the session
    // store's counter of full handshakes tells whether this one resumed.
    let after = client.tls_session_stats().map(|s| s.full_handshakes);
    let listing_resumed = match (before, after) {
        (Some(b), Some(a)) => Some(a == b),
        _ => None,
    };
    println!(
        "  data connection TLS session resumed: {}",
        yes_no(listing_resumed)
    );
    data_connections.push(("listing (MLSD/LIST)", listing_resumed));

    // ----- 4. download, cut, resume ---------------------------------------
    let cut_at = size / 2;
    step(
        4,
        &format!(
            "download {REMOTE_FILE}, cut the connection at {}, reconnect, resume",
            human(cut_at)
        ),
    );
    let download = local.join("download.bin");
    {
        let mut out = tokio::fs::File::create(&download).await?;
        let dl = client.retr(REMOTE_FILE).await?;
        data_connections.push(("download (RETR, cut)", dl.info().tls.map(|t| t.resumed)));
        print_transfer_info(dl.info());
        let mut reader = Counting::new(dl, Meter::new("download", 0, size));
        let mut buf = vec![0u8; BUFFER];
        let mut got = 0u64;
        while got < cut_at {
            let want = usize::try_from(cut_at - got).unwrap_or(BUFFER).min(BUFFER);
            let chunk = buf.get_mut(..want).unwrap_or_default();
            let n = reader.read(chunk).await?;
            if n == 0 {
                return Err(DemoError::boxed(format!(
                    "the download ended early, after {got} bytes"
                )));
            }
            out.write_all(chunk.get(..n).unwrap_or_default()).await?;
            got += n as u64;
        }
        reader.meter.finish();
        out.flush().await?;
    }
    // A real cut takes the control connection down with the data
    // connection: drop the whole session, then reconnect and resume from the
    // length of the local file. (Within one session, dropping the download
    // is enough for ftpkit, which aborts the transfer on the next call with
    // ABOR and a PWD marker; but libunftp 0.24 answers ABOR at once and may
    // send the aborted RETR's `426` after the replies to later commands,
    // which no client can match to the right command.)
    let first_session = client.tls_session_stats();
    drop(client);
    println!(
        "  cut: the connection broke after {}; the session is gone",
        human(cut_at)
    );
    let t = Instant::now();
    let mut client = Client::connect(config).await?;
    println!(
        "  reconnected and logged in again in {} ms",
        t.elapsed().as_millis()
    );

    let offset = tokio::fs::metadata(&download).await?.len();
    println!(
        "  the local file has {}: resuming with REST {offset} + RETR",
        human(offset)
    );
    {
        let mut out = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&download)
            .await?;
        let dl = client.retr_from(REMOTE_FILE, offset).await?;
        data_connections.push(("download (REST + RETR)", dl.info().tls.map(|t| t.resumed)));
        print_transfer_info(dl.info());
        let reader = Counting::new(dl, Meter::new("resume", offset, size));
        let mut reader = tokio::io::BufReader::with_capacity(BUFFER, reader);
        let n = tokio::io::copy_buf(&mut reader, &mut out).await?;
        out.flush().await?;
        let mut counting = reader.into_inner();
        counting.meter.finish();
        if let Some(done) = &counting.inner.info().completion {
            println!("  server: {done}");
        }
        println!("  received the remaining {}", human(n));
    }

    // ----- 5. verify ------------------------------------------------------
    step(5, "verify");
    let local_len = tokio::fs::metadata(&download).await?.len();
    let remote_len = client.size(REMOTE_FILE).await?;
    let download_hash = {
        let download = download.clone();
        tokio::task::spawn_blocking(move || hash_file(&download)).await??
    };
    let size_ok = local_len == size && remote_len == size;
    let hash_ok = download_hash == source_hash;
    println!(
        "  SIZE {REMOTE_FILE} = {remote_len}, local file = {local_len}, source = {size}: {}",
        ok(size_ok)
    );
    println!("  SHA-256 source:     {}", hex(&source_hash));
    println!("  SHA-256 downloaded: {}", hex(&download_hash));
    println!(
        "  SHA-256 {}",
        if hash_ok {
            "matches: the resumed download is byte-identical"
        } else {
            "MISMATCH"
        }
    );
    println!("  TLS session resumption of the data connections (control session reused):");
    for (what, resumed) in &data_connections {
        println!("    {what:<24} {}", yes_no(*resumed));
    }
    for (session, stats) in [
        ("first session", first_session),
        ("second session", client.tls_session_stats()),
    ] {
        if let Some(s) = stats {
            println!(
                "  {session}: TLS 1.3 tickets received: {} on the control connection, {} on data connections; {} full handshakes on data connections",
                s.control_tickets_received, s.data_tickets_received, s.full_handshakes
            );
        }
    }

    // ----- 6. quit --------------------------------------------------------
    step(6, "quit and shut the server down");
    client.quit().await?;
    println!("  QUIT: session closed");
    server.stop().await?;
    println!("  server stopped");
    drop(work);
    println!("  work directory removed");

    if !size_ok {
        return Err(DemoError::boxed("size mismatch"));
    }
    if !hash_ok {
        return Err(DemoError::boxed("SHA-256 mismatch"));
    }
    Ok(())
}

// ----- the embedded server ----------------------------------------------------

/// libunftp running in a task of this process.
struct DemoServer {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), libunftp::ServerError>>,
}

impl DemoServer {
    async fn start(root: &Path, cert: &Path, key: &Path, password: &str) -> DemoResult<Self> {
        // Checked here so that the storage generator below cannot fail.
        Filesystem::new(root)?;
        let root = root.to_path_buf();
        let authenticator = Arc::new(DemoAuthenticator {
            user: USER.to_owned(),
            password: password.to_owned(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        #[allow(clippy::expect_used)]
        let storage = Box::new(move || {
            Filesystem::new(root.clone()).expect("the root directory was checked at start")
        });
        let server = ServerBuilder::with_authenticator(storage, authenticator)
            .greeting("ftpkit demo server (libunftp)")
            .ftps(cert, key)
            .ftps_required(FtpsRequired::All, FtpsRequired::All)
            .ftps_tls_flags(
                TlsFlags::V1_2
                    | TlsFlags::V1_3
                    | TlsFlags::RESUMPTION_SESS_ID
                    | TlsFlags::RESUMPTION_TICKETS,
            )
            .shutdown_indicator(async move {
                let _ = stopped.await;
                Shutdown::new().grace_period(Duration::from_secs(2))
            })
            .build()?;

        // libunftp binds the address it is given and does not report the
        // port it got, so find a free loopback port first.
        let addr = {
            let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            probe.local_addr()?
        };
        let task = tokio::spawn(server.listen(addr.to_string()));
        // Wait until it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if task.is_finished() {
                let r = task.await?;
                return Err(DemoError::boxed(format!(
                    "the server stopped at start: {r:?}"
                )));
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(DemoError::boxed(format!(
                    "the server did not listen on {addr} within 5 s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Self { addr, stop, task })
    }

    async fn stop(self) -> DemoResult<()> {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(joined) => joined?.map_err(|e| DemoError::boxed(format!("server: {e}"))),
            Err(_) => Err(DemoError::boxed("the server did not stop within 5 s")),
        }
    }
}

/// One user name and password.
struct DemoAuthenticator {
    user: String,
    password: String,
}

impl fmt::Debug for DemoAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoAuthenticator")
            .field("user", &self.user)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

#[async_trait::async_trait]
impl Authenticator for DemoAuthenticator {
    async fn authenticate(
        &self,
        username: &str,
        creds: &unftp_core::auth::Credentials,
    ) -> Result<Principal, AuthenticationError> {
        if username != self.user {
            return Err(AuthenticationError::BadUser);
        }
        // Compare digests, so that the time taken says nothing about the password.
        let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
        let given = digest(creds.password.as_deref().unwrap_or_default());
        if given.as_ref() != digest(&self.password).as_ref() {
            return Err(AuthenticationError::BadPassword);
        }
        Ok(Principal {
            username: username.to_owned(),
        })
    }
}

// ----- certificates -----------------------------------------------------------

/// A CA and a server certificate for `localhost`, made at run time.
struct DemoPki {
    ca_der: ftpkit::tls::CertificateDer<'static>,
    ca_subject: String,
    chain_pem: String,
    key_pem: String,
}

impl DemoPki {
    fn generate() -> DemoResult<Self> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "ftpkit demo CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.distinguished_name
            .push(DnType::OrganizationName, "ftpkit demo");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate()?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

        Ok(Self {
            ca_der: ca_cert.der().clone(),
            ca_subject: "CN=ftpkit demo CA".to_owned(),
            chain_pem: format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
            key_pem: leaf_key.serialize_pem(),
        })
    }

    /// Writes the chain and the key as PEM files (libunftp reads files),
    /// the key readable by its owner only.
    fn write_server_files(&self, dir: &Path) -> DemoResult<(PathBuf, PathBuf)> {
        let cert = dir.join("server.pem");
        let key = dir.join("server.key");
        std::fs::write(&cert, &self.chain_pem)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&key)?.write_all(self.key_pem.as_bytes())?;
        Ok((cert, key))
    }
}

// ----- progress -----------------------------------------------------------------

/// Progress of one transfer: bytes, percentage, throughput. On a terminal
/// one line is redrawn; otherwise a line is printed every 10 %.
struct Meter {
    label: &'static str,
    start: u64,
    position: u64,
    total: u64,
    began: Instant,
    last_draw: Instant,
    next_decile: u64,
    printed_at: Option<u64>,
    tty: bool,
    finished: bool,
}

impl Meter {
    fn new(label: &'static str, start: u64, total: u64) -> Self {
        let now = Instant::now();
        Self {
            label,
            start,
            position: start,
            total,
            began: now,
            last_draw: now,
            next_decile: decile(start, total) + 1,
            printed_at: None,
            tty: std::io::stdout().is_terminal(),
            finished: false,
        }
    }

    fn advance(&mut self, n: u64) {
        self.position += n;
        if self.tty {
            if self.last_draw.elapsed() >= Duration::from_millis(100) {
                self.last_draw = Instant::now();
                print!("\r{}", self.line());
                let _ = std::io::stdout().flush();
            }
        } else if decile(self.position, self.total) >= self.next_decile
            && self.position < self.total
        {
            self.next_decile = decile(self.position, self.total) + 1;
            self.printed_at = Some(self.position);
            println!("{}", self.line());
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.tty {
            println!("\r{}", self.line());
        } else if self.printed_at != Some(self.position) {
            println!("{}", self.line());
        }
    }

    fn line(&self) -> String {
        let secs = self.began.elapsed().as_secs_f64().max(1e-6);
        let moved = self.position - self.start;
        let pct = if self.total == 0 {
            100.0
        } else {
            self.position as f64 * 100.0 / self.total as f64
        };
        format!(
            "  {:<8} {:>9} / {:<9} {:>5.1} %  {:>8.1} MB/s",
            self.label,
            human(self.position),
            human(self.total),
            pct,
            moved as f64 / secs / 1e6
        )
    }
}

fn decile(position: u64, total: u64) -> u64 {
    position.saturating_mul(10).checked_div(total).unwrap_or(10)
}

/// An `AsyncRead` that counts what passes through it into a [`Meter`].
struct Counting<R> {
    inner: R,
    meter: Meter,
}

impl<R> Counting<R> {
    fn new(inner: R, meter: Meter) -> Self {
        Self { inner, meter }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let n = buf.filled().len() - before;
            if n == 0 {
                this.meter.finish();
            } else {
                this.meter.advance(n as u64);
            }
        }
        r
    }
}

// ----- helpers ------------------------------------------------------------------

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

fn print_transfer_info(info: &TransferInfo) {
    if let Some(mark) = &info.mark {
        println!("  server: {mark}");
    }
    if let Some(completion) = &info.completion {
        println!("  server: {completion}");
    }
    match info.tls {
        Some(t) => println!(
            "  data connection: {} {}, TLS session {}",
            opt_debug(t.version.as_ref()),
            opt_debug(t.cipher_suite.as_ref()),
            if t.resumed {
                "resumed from the control connection"
            } else {
                "NOT resumed (full handshake)"
            }
        ),
        None => println!("  data connection: not protected"),
    }
}

fn print_entry(e: &Entry) {
    let kind = match e.kind {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::CurrentDir => "cdir",
        EntryKind::ParentDir => "pdir",
        EntryKind::Symlink => "link",
        _ => "other",
    };
    let size = e.size.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let modified = e.modified.as_ref().map_or_else(
        || "-".to_owned(),
        |m| {
            let at = m.at;
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{}",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second(),
                if m.utc { " UTC" } else { "" }
            )
        },
    );
    println!(
        "  {kind:<5} {size:>12}  {modified:<23}  {}",
        e.name.to_string_lossy()
    );
}

fn opt_debug<T: fmt::Debug>(v: Option<&T>) -> String {
    v.map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}"))
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no (full handshake)",
        None => "n/a (no TLS)",
    }
}

fn ok(v: bool) -> &'static str {
    if v {
        "OK"
    } else {
        "MISMATCH"
    }
}

fn human(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn short_hex(bytes: &[u8]) -> String {
    format!("{}...", hex(bytes.get(..8).unwrap_or_default()))
}

/// The file size: the first argument in MiB, or 64 MiB.
fn file_size() -> DemoResult<u64> {
    match std::env::args().nth(1) {
        None => Ok(DEFAULT_SIZE_MIB * MIB),
        Some(a) => match a.parse::<u64>() {
            Ok(n) if (1..=4096).contains(&n) => Ok(n * MIB),
            _ => Err(DemoError::boxed(format!(
                "usage: demo [SIZE_MIB (1 to 4096)]; got {a:?}"
            ))),
        },
    }
}

/// A password for this run: 16 random bytes, hex.
fn random_password() -> DemoResult<String> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| DemoError::new("no system randomness"))?;
    Ok(hex(&bytes))
}

/// Writes `size` deterministic pseudo-random bytes (SplitMix64) to `path`
/// and returns their SHA-256.
fn generate_file(path: &Path, size: u64) -> DemoResult<Vec<u8>> {
    let mut out = std::io::BufWriter::with_capacity(BUFFER, std::fs::File::create(path)?);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut state: u64 = 0x0123_4567_89ab_cdef;
    let mut chunk = vec![0u8; 1024 * 1024];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
        let part = chunk.get(..n).unwrap_or_default();
        out.write_all(part)?;
        digest.update(part);
        left -= n as u64;
    }
    out.flush()?;
    Ok(digest.finish().as_ref().to_vec())
}

/// SHA-256 of a file.
fn hash_file(path: &Path) -> DemoResult<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        digest.update(buf.get(..n).unwrap_or_default());
    }
    Ok(digest.finish().as_ref().to_vec())
}

/// A temporary directory, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> DemoResult<Self> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("ftpkit-demo-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn subdir(&self, name: &str) -> DemoResult<PathBuf> {
        let p = self.0.join(name);
        std::fs::create_dir(&p)?;
        Ok(p)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An error of the demo itself.
#[derive(Debug)]
struct DemoError(String);

impl DemoError {
    fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }

    fn boxed(msg: impl Into<String>) -> Box<dyn StdError + Send + Sync> {
        Box::new(Self::new(msg))
    }
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for DemoError {}
