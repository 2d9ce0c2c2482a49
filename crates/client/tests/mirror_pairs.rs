//! Mirror of a remote tree that holds `x` and `x.part` side by side, on an
//! in-process libunftp server (plain FTP, loopback) at parallel 1 and 4:
//! the local tree must equal the remote one byte for byte (issue #12, the
//! mirror row: partial downloads must not collide with remote names).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ftpkit::ops::{self, MirrorOptions};
use ftpkit::{Client, Config, Credentials, Security, Timeouts};
use libunftp::ServerBuilder;
use unftp_sbe_fs::Filesystem;

/// libunftp over `root`, anonymous logins, on a free loopback port.
async fn start_server(root: &Path) -> SocketAddr {
    let root = root.to_path_buf();
    let server = ServerBuilder::new(Box::new(move || Filesystem::new(root.clone()).unwrap()))
        .greeting("ftpkit test server (libunftp)")
        .build()
        .unwrap();
    let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    tokio::spawn(server.listen(addr.to_string()));
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return addr;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("libunftp did not listen on {addr}");
}

fn config(addr: SocketAddr) -> Config {
    let mut c = Config::new("127.0.0.1");
    c.port = addr.port();
    c.security = Security::None;
    c.credentials = Some(Credentials::new("anonymous", "test@"));
    c.timeouts = Timeouts::all(Duration::from_secs(10));
    c
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ftpkit-pairs-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every regular file under `root`, relative, with its bytes, sorted.
fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Pairs `fN.bin` / `fN.bin.part` of different contents and sizes, at the
/// top and in a subfolder.
fn populate(root: &Path) {
    std::fs::create_dir_all(root.join("sub")).unwrap();
    for n in 0..8u8 {
        let dir = if n % 2 == 0 {
            root.to_path_buf()
        } else {
            root.join("sub")
        };
        let whole: Vec<u8> = (0..5000 + u32::from(n) * 777)
            .map(|i| (i as u8) ^ n)
            .collect();
        let part: Vec<u8> = vec![0xA0 | n; 1000 + usize::from(n) * 13];
        std::fs::write(dir.join(format!("f{n}.bin")), whole).unwrap();
        std::fs::write(dir.join(format!("f{n}.bin.part")), part).unwrap();
    }
}

async fn mirror_pairs(parallelism: usize) {
    let remote = temp_dir("remote");
    populate(&remote);
    let addr = start_server(&remote).await;
    let local = temp_dir("local");
    let mut c = Client::connect(config(addr)).await.unwrap();
    let opts = MirrorOptions {
        parallelism,
        ..MirrorOptions::default()
    };
    let report = ops::mirror_down(&mut c, "/", &local, &opts).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.files_transferred, 16, "{report:?}");
    let want = tree(&remote);
    let got = tree(&local);
    assert_eq!(
        got.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        want.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>()
    );
    assert!(got == want, "the local tree differs from the remote one");
    // No partial folder is left behind.
    assert!(!local.join(ops::PARTIAL_DIR).exists());
    assert!(!local.join("sub").join(ops::PARTIAL_DIR).exists());
    let _ = c.quit().await;
    std::fs::remove_dir_all(remote).unwrap();
    std::fs::remove_dir_all(local).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn x_and_x_part_both_arrive_at_parallel_1() {
    mirror_pairs(1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn x_and_x_part_both_arrive_at_parallel_4() {
    mirror_pairs(4).await;
}
