//! One timed transfer with ftpkit, for measurements beside curl:
//!
//! ```text
//! cargo run --release --example transfer -- get|put HOST PORT USER PASS none|explicit|implicit REMOTE LOCAL [CA_PEM]
//! ```
//!
//! `get` downloads REMOTE into LOCAL (`-` discards the bytes); `put` uploads
//! LOCAL to REMOTE. Prints one line: bytes, seconds, MB/s, and whether the
//! data connection resumed the TLS session.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::time::Instant;

use ftpkit::tls::SystemRoots;
use ftpkit::{Client, Config, Credentials, Security};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [op, host, port, user, pass, tls, remote, local, rest @ ..] = args.as_slice() else {
        return Err("usage: transfer get|put HOST PORT USER PASS none|explicit|implicit REMOTE LOCAL [CA_PEM]".into());
    };
    let mut cfg = Config::new(host.as_str());
    cfg.port = port.parse()?;
    cfg.credentials = Some(Credentials::new(user.as_str(), pass.as_str()));
    cfg.security = match tls.as_str() {
        "none" => Security::None,
        "explicit" => Security::Explicit,
        "implicit" => Security::Implicit,
        other => return Err(format!("unknown TLS mode {other}").into()),
    };
    if let Some(ca) = rest.first() {
        cfg.tls.system_roots = SystemRoots::Exclude;
        cfg.tls.ca_files = vec![ca.into()];
    }
    let mut client = Client::connect(cfg).await?;
    let start = Instant::now();
    let (bytes, info) = match op.as_str() {
        "get" if local == "-" => {
            client
                .download_to(remote.as_str(), 0, &mut tokio::io::sink())
                .await?
        }
        "get" => {
            let mut f = tokio::fs::File::create(local).await?;
            client.download_to(remote.as_str(), 0, &mut f).await?
        }
        "put" => {
            let f = tokio::fs::File::open(local).await?;
            client.upload_from(remote.as_str(), 0, f).await?
        }
        other => return Err(format!("unknown operation {other}").into()),
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "ftpkit {op} bytes={bytes} secs={secs:.3} MB/s={:.1} resumed={:?}",
        bytes as f64 / 1e6 / secs,
        info.tls.map(|t| t.resumed)
    );
    client.quit().await?;
    Ok(())
}
