//! A tokio service running N transfer tasks through one connection pool:
//!
//! ```text
//! cargo run --example pool_service -- URL [TASKS] [CA_PEM]
//! cargo run --example pool_service -- ftp://ftpkit:ftpkitInterop2024@127.0.0.1:21210/t-pool-example/ 16
//! cargo run --example pool_service -- ftpes://ftpkit:ftpkitInterop2024@127.0.0.1:21211/t-pool-example/ 16 /tmp/ftpkit-interop/pki/ca.pem
//! ```
//!
//! The URL's path is a directory (created if missing). Each task uploads a
//! file of its own with [`Pool::retry_upload`], downloads it back with
//! [`Pool::retry_download`] (both resume after a dropped connection, up to
//! 3 times), compares SHA-256 digests and deletes the file. At most 4
//! connections are open at once; the pool's counters are printed at the end.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::time::{Duration, Instant};

use ftpkit::pool::{Pool, PoolConfig};
use ftpkit::tls::SystemRoots;
use ftpkit::FtpUrl;

const RETRIES: u32 = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else {
        return Err("usage: pool_service URL [TASKS] [CA_PEM]".into());
    };
    let tasks: u64 = args.get(1).map_or(Ok(8), |n| n.parse())?;
    let url = FtpUrl::parse(url)?;
    let mut config = url.config();
    if let Some(ca) = args.get(2) {
        config.tls.system_roots = SystemRoots::Exclude;
        config.tls.ca_files = vec![ca.into()];
    }
    let dir = String::from_utf8_lossy(url.path())
        .trim_end_matches('/')
        .to_owned();

    let pool = Pool::new(PoolConfig {
        max_per_key: 4,
        max_idle_per_key: 4,
        idle_timeout: Duration::from_secs(60),
        keepalive: Some(Duration::from_secs(20)),
        ..PoolConfig::default()
    });
    if !dir.is_empty() {
        let mut conn = pool.get(&config).await?;
        if conn.cwd(dir.as_str()).await.is_err() {
            conn.mkdir(dir.as_str()).await?;
        }
        conn.cwd("/").await?;
    }

    let local_dir = std::env::temp_dir();
    let start = Instant::now();
    let mut handles = Vec::new();
    for i in 0..tasks {
        let (pool, config, dir, local_dir) =
            (pool.clone(), config.clone(), dir.clone(), local_dir.clone());
        handles.push(tokio::spawn(async move {
            let pid = std::process::id();
            let data = content(i + 1, 256 * 1024 + 4099 * i as usize);
            let up = local_dir.join(format!("pool-service-{pid}-{i}.up"));
            let down = local_dir.join(format!("pool-service-{pid}-{i}.down"));
            let remote = format!("{dir}/pool-service-{pid}-{i}.bin");
            tokio::fs::write(&up, &data)
                .await
                .map_err(|e| e.to_string())?;
            pool.retry_upload(&config, &up, &remote, RETRIES)
                .await
                .map_err(|e| format!("upload {remote}: {e}"))?;
            pool.retry_download(&config, &remote, &down, RETRIES)
                .await
                .map_err(|e| format!("download {remote}: {e}"))?;
            let back = tokio::fs::read(&down).await.map_err(|e| e.to_string())?;
            let same = sha256(&back) == sha256(&data);
            pool.get(&config)
                .await
                .map_err(|e| e.to_string())?
                .delete(remote.as_str())
                .await
                .map_err(|e| format!("delete {remote}: {e}"))?;
            let _ = tokio::fs::remove_file(&up).await;
            let _ = tokio::fs::remove_file(&down).await;
            if !same {
                return Err(format!("{remote}: content differs after the round trip"));
            }
            Ok::<usize, String>(data.len())
        }));
    }
    let mut bytes = 0;
    let mut failures = 0;
    for (i, h) in handles.into_iter().enumerate() {
        match h.await? {
            Ok(n) => bytes += n,
            Err(e) => {
                failures += 1;
                println!("task {i}: {e}");
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{tasks} tasks, {failures} failed, {} MB up and down in {secs:.2} s; {:?}",
        bytes / 1_000_000,
        pool.stats()
    );
    if !dir.is_empty() {
        let _ = pool.get(&config).await?.rmdir(dir.as_str()).await;
    }
    pool.close_idle().await;
    if failures > 0 {
        return Err(format!("{failures} tasks failed").into());
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// Pseudo-random bytes (xorshift), different for each seed.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}
