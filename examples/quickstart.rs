//! Quick start: connect from a URL, list a directory, download one file
//! with a progress line.
//!
//! ```text
//! cargo run --example quickstart -- URL [CA_PEM]
//! cargo run --example quickstart -- ftp://user:pass@ftp.example.com/pub/
//! cargo run --example quickstart -- ftpes://user:pass@ftp.example.com/pub/file.txt ca.pem
//! ```
//!
//! The URL names a directory (listed; its first regular file is
//! downloaded) or a file (its directory is listed, the file downloaded).
//! The file lands in the current directory under its own name. Credentials
//! missing from the URL come from `~/.netrc`, else `anonymous`. With
//! `CA_PEM`, only that CA is trusted.
#![allow(clippy::print_stdout, missing_docs)]

use std::path::PathBuf;

use ftpkit::ops::{self, FileOptions, Progress, ProgressEvent};
use ftpkit::tls::SystemRoots;
use ftpkit::{ClientBuilder, ListLine};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, rest @ ..] = args.as_slice() else {
        return Err("usage: quickstart URL [CA_PEM]".into());
    };
    let mut builder = ClientBuilder::from_url(url)?.netrc();
    if let Some(ca) = rest.first() {
        builder = builder.system_roots(SystemRoots::Exclude).ca_file(ca);
    }
    let path = String::from_utf8_lossy(builder.path().unwrap_or_default()).into_owned();
    let mut client = builder.connect().await?;
    println!(
        "connected to {} ({:?})",
        client.peer_addr(),
        client.config().security
    );

    // A file, or a directory?
    let (dir, mut file) = if path.is_empty() || path.ends_with('/') {
        (path.clone(), None)
    } else if client.size(path.as_str()).await.is_ok() {
        let dir = match path.rfind('/') {
            Some(i) => path[..=i].to_owned(),
            None => String::new(),
        };
        (dir, Some(path.clone()))
    } else {
        (format!("{path}/"), None)
    };

    let listing = client
        .list((!dir.is_empty()).then_some(dir.as_str()))
        .await?;
    println!(
        "{} ({} entries):",
        if dir.is_empty() { "." } else { &dir },
        listing.len()
    );
    for line in &listing {
        match line {
            ListLine::Entry(e) => {
                let size = e.size.map(|s| s.to_string()).unwrap_or_default();
                println!("  {:?} {size:>12} {}", e.kind, e.name);
                if file.is_none() && e.is_file() {
                    file = Some(format!("{dir}{}", e.name));
                }
            }
            ListLine::Unparsed(raw) => println!("  ? {}", String::from_utf8_lossy(raw)),
            ListLine::Skip => {}
        }
    }

    let Some(remote) = file else {
        println!("no regular file to download");
        client.quit().await?;
        return Ok(());
    };
    let name = remote.rsplit('/').next().unwrap_or("download").to_owned();
    let local = PathBuf::from(&name);
    let progress = Progress::new(|p: &ProgressEvent| {
        let total = p.total.map(|t| format!("/{t}")).unwrap_or_default();
        eprint!(
            "\r{}{total} bytes, {:.0} kB/s   ",
            p.bytes_done,
            p.rate / 1e3
        );
        if p.finished {
            eprintln!();
        }
    });
    let opts = FileOptions::new().resume(true).progress(Some(progress));
    let report = ops::download_file(&mut client, remote.as_str(), &local, &opts).await?;
    println!(
        "downloaded {remote} -> {} ({} bytes, size verified: {})",
        local.display(),
        report.size,
        report.size_verified
    );
    client.quit().await?;
    Ok(())
}
