//! ftpkit as a dependency, from outside the workspace.
//!
//! ```text
//! ftpkit-downstream [all]      # tls, then control
//! ftpkit-downstream tls        # ftpkit over explicit TLS: upload, download, compare
//! ftpkit-downstream control    # ftpkit-control alone over blocking std::net
//! ftpkit-downstream serve DIR  # an FTPS server for the installed `ftpkit` binary
//! ```
//!
//! Exit status 0 when every check passed; 1 (after printing the error and
//! its causes) otherwise; 2 on usage errors.

mod server;

use std::error::Error as StdError;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

// The client side: `ftpkit::` paths only.
use ftpkit::tls::SystemRoots;
use ftpkit::{Client, Config, Credentials, Security};

use server::{Pki, Server, WorkDir, PASSWORD, USER};

type BoxError = Box<dyn StdError + Send + Sync>;

/// How long `serve` runs at most, so that a server left behind by a failed
/// script does not live on.
const SERVE_MAX: Duration = Duration::from_secs(600);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] | ["all"] => run_tls().and_then(|()| run_control()),
        ["tls"] => run_tls(),
        ["control"] => run_control(),
        ["serve", dir] => serve(Path::new(dir)),
        _ => {
            eprintln!("usage: ftpkit-downstream [all | tls | control | serve DIR]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ftpkit-downstream failed: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// Deterministic test bytes (not all the same, not a multiple of any
/// buffer size).
fn payload(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

// ----- a. ftpkit over explicit TLS ------------------------------------------

fn run_tls() -> Result<(), BoxError> {
    println!("[tls] ftpkit over explicit TLS against an embedded libunftp server");
    let work = WorkDir::create("tls")?;
    let pki = Pki::generate()?;
    let (ca_file, cert, key) = pki.write(&work.subdir("tls")?)?;
    let root = work.subdir("root")?;
    let rt = runtime()?;
    rt.block_on(async {
        let server = Server::start(&root, Some((&cert, &key))).await?;
        println!(
            "  server on {} (FTPS required on control and data)",
            server.addr
        );
        let r = tls_session(server.addr, &ca_file, &root).await;
        server.stop().await?;
        r
    })?;
    println!("[tls] OK");
    Ok(())
}

async fn tls_session(addr: SocketAddr, ca_file: &Path, root: &Path) -> Result<(), BoxError> {
    let mut config = Config::new("localhost");
    config.port = addr.port();
    config.security = Security::Explicit;
    config.tls.system_roots = SystemRoots::Exclude; // trust the generated CA only
    config.tls.ca_files = vec![ca_file.to_path_buf()];
    config.credentials = Some(Credentials::new(USER, PASSWORD));
    let mut client = Client::connect(config).await?;
    let tls = client
        .tls_info()
        .ok_or("the control connection is not protected by TLS")?;
    println!(
        "  logged in over {:?} {:?}",
        tls.version.ok_or("no TLS version")?,
        tls.cipher_suite.ok_or("no cipher suite")?
    );

    let sent = payload(300_001);
    let (n, info) = client.upload_from("up.bin", 0, &sent[..]).await?;
    if n != sent.len() as u64 {
        return Err(format!("uploaded {n} bytes, expected {}", sent.len()).into());
    }
    let up_tls = info
        .tls
        .ok_or("the upload's data connection is not protected")?;
    println!(
        "  uploaded {n} bytes (data connection TLS, session resumed: {})",
        up_tls.resumed
    );
    let on_disk = std::fs::read(root.join("up.bin"))?;
    if on_disk != sent {
        return Err("the server's copy of the upload differs from the bytes sent".into());
    }

    let mut got = Vec::new();
    let (n, info) = client.download_to("up.bin", 0, &mut got).await?;
    let down_tls = info
        .tls
        .ok_or("the download's data connection is not protected")?;
    println!(
        "  downloaded {n} bytes (data connection TLS, session resumed: {})",
        down_tls.resumed
    );
    if got != sent {
        return Err(format!(
            "downloaded {} bytes that differ from the {} uploaded",
            got.len(),
            sent.len()
        )
        .into());
    }
    println!("  downloaded bytes match the uploaded bytes");
    client.quit().await?;
    Ok(())
}

// ----- b. ftpkit-control alone over blocking std::net --------------------------

fn run_control() -> Result<(), BoxError> {
    use ftpkit_control::parse::{parse_epsv, parse_pasv, parse_pwd};
    use ftpkit_control::{Command, Event, Session, SessionConfig};

    println!("[control] ftpkit-control over blocking std::net against a plain libunftp server");
    let work = WorkDir::create("control")?;
    let root = work.subdir("root")?;
    let content = payload(70_000);
    std::fs::write(root.join("hello.bin"), &content)?;

    // The server runs on its own runtime in its own thread; this thread has
    // no runtime at all.
    let rt = runtime()?;
    let server = rt.block_on(Server::start(&root, None))?;
    let addr = server.addr;
    println!("  server on {addr} (plain FTP)");

    let result = (|| -> Result<(), BoxError> {
        let mut sock = TcpStream::connect(addr)?;
        sock.set_read_timeout(Some(Duration::from_secs(15)))?;
        let peer = sock.peer_addr()?;
        let config =
            SessionConfig::new().credentials(ftpkit_control::Credentials::new(USER, PASSWORD));
        let mut s = Session::new(config)?;
        loop {
            match next_event(&mut s, &mut sock)? {
                Event::LoggedIn(r) => println!("  logged in: {r}"),
                Event::Ready => break,
                Event::Rejected { step, reply } => {
                    return Err(format!("{step:?} refused: {reply}").into())
                }
                _ => {}
            }
        }
        let pwd = command(&mut s, &mut sock, Command::Pwd)?;
        let dir = parse_pwd(&pwd)?;
        println!("  PWD: {}", String::from_utf8_lossy(&dir));
        if dir.as_slice() != b"/" {
            return Err(format!("PWD: expected /, got {pwd}").into());
        }

        // RETR over a passive data connection to the control peer.
        let r = command(&mut s, &mut sock, Command::Epsv(None))?;
        let data_port = match parse_epsv(&r) {
            Ok(p) => p,
            Err(_) => parse_pasv(&command(&mut s, &mut sock, Command::Pasv)?)?.port(),
        };
        let mut data = TcpStream::connect(SocketAddr::new(peer.ip(), data_port))?;
        data.set_read_timeout(Some(Duration::from_secs(15)))?;
        s.transfer(Command::Retr("hello.bin".into()))?;
        let mut got = Vec::new();
        loop {
            match next_event(&mut s, &mut sock)? {
                Event::TransferStarted(_) => {
                    data.read_to_end(&mut got)?;
                }
                Event::TransferCompleted(_) => break,
                Event::TransferFailed(r) => return Err(format!("RETR failed: {r}").into()),
                _ => {}
            }
        }
        if got != content {
            return Err(format!(
                "RETR gave {} bytes that differ from the {} on the server",
                got.len(),
                content.len()
            )
            .into());
        }
        println!("  RETR hello.bin: {} bytes, match", got.len());

        s.quit()?;
        while !matches!(next_event(&mut s, &mut sock)?, Event::Closed(_)) {}
        println!("  QUIT: closed");
        Ok(())
    })();
    rt.block_on(server.stop())?;
    result?;
    println!("[control] OK");
    Ok(())
}

/// Writes what the session queued, then reads until it has an event.
fn next_event(
    s: &mut ftpkit_control::Session,
    sock: &mut TcpStream,
) -> Result<ftpkit_control::Event, BoxError> {
    let mut buf = [0u8; 4096];
    loop {
        while let Some(bytes) = s.poll_transmit() {
            sock.write_all(&bytes)?;
        }
        if let Some(ev) = s.poll_event() {
            return Ok(ev);
        }
        let n = sock.read(&mut buf)?;
        if n == 0 {
            s.handle_eof()?;
        } else {
            s.handle_input(&buf[..n])?;
        }
    }
}

/// Sends a one-reply command and returns the reply.
fn command(
    s: &mut ftpkit_control::Session,
    sock: &mut TcpStream,
    cmd: ftpkit_control::Command,
) -> Result<ftpkit_control::Reply, BoxError> {
    s.command(cmd)?;
    loop {
        if let ftpkit_control::Event::Reply(r) = next_event(s, sock)? {
            return Ok(r);
        }
    }
}

// ----- serve: a server for the installed CLI -----------------------------------

/// Starts an FTPS server (explicit TLS required) rooted in `DIR/root` with
/// `DIR/root/hello.bin`, writes `DIR/server.env` once it listens, and runs
/// until killed or for [`SERVE_MAX`].
fn serve(dir: &Path) -> Result<(), BoxError> {
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let root = dir.join("root");
    std::fs::create_dir_all(&root)?;
    let file = root.join("hello.bin");
    std::fs::write(&file, payload(1_000_003))?;
    let (ca_file, cert, key) = Pki::generate()?.write(&dir)?;
    let rt = runtime()?;
    rt.block_on(async {
        let server = Server::start(&root, Some((&cert, &key))).await?;
        // Written to a temporary name and renamed: a reader never sees half.
        let env = format!(
            "PORT={}\nUSER={USER}\nPASSWORD={PASSWORD}\nCA_FILE={}\nFILE={}\n",
            server.addr.port(),
            shell_path(&ca_file)?,
            shell_path(&file)?,
        );
        let tmp = dir.join("server.env.tmp");
        std::fs::write(&tmp, env)?;
        std::fs::rename(&tmp, dir.join("server.env"))?;
        println!("serving on {} until killed", server.addr);
        let started = Instant::now();
        while started.elapsed() < SERVE_MAX {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        server.stop().await?;
        Err::<(), BoxError>(format!("serve: stopped after {} s", SERVE_MAX.as_secs()).into())
    })
}

/// A path for a `KEY=VALUE` line a shell can source: refused if it needs
/// quoting.
fn shell_path(p: &Path) -> Result<String, BoxError> {
    let s = p.to_str().ok_or("non-UTF-8 path")?;
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        Ok(s.to_owned())
    } else {
        Err(format!("path needs quoting: {s}").into())
    }
}
