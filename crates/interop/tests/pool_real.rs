//! The pool against the real vsftpd, plain and TLS: sixteen tasks through
//! a pool of four, each uploading and downloading with retries, every file
//! compared by SHA-256. Moved here from the client crate's tests, which
//! skipped it without servers; here it fails without them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ftpkit::{Pool, PoolConfig, Security, Timeouts};
use ftpkit_interop::data::{sha256, Pattern};
use ftpkit_interop::{server, unique_temp_path, Mode};

async fn concurrent_transfers(instance: &str, tls: bool) {
    let mut cfg = server(instance).config(Mode::Passive);
    cfg.timeouts = Timeouts::all(Duration::from_secs(20));
    assert_eq!(cfg.security != Security::None, tls, "{instance}");
    let pool = Pool::new(PoolConfig {
        max_per_key: 4,
        max_idle_per_key: 4,
        keepalive: Some(Duration::from_secs(5)),
        ..PoolConfig::default()
    });
    let dir = format!(
        "/t-pool-{}-{}",
        std::process::id(),
        if tls { "tls" } else { "plain" }
    );
    let mut c = pool.get(&cfg).await.unwrap();
    c.mkdir(dir.as_str()).await.unwrap();
    drop(c);

    let max_in_use = std::sync::Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let (pool, cfg, dir, max_in_use) =
            (pool.clone(), cfg.clone(), dir.clone(), max_in_use.clone());
        tasks.push(tokio::spawn(async move {
            // Different content for each task.
            let data = Pattern::bytes(i + 1, 200_000 + 7919 * i as usize);
            let up = unique_temp_path(&format!("pool-up-{i}"));
            let down = unique_temp_path(&format!("pool-down-{i}"));
            tokio::fs::write(&up, &data).await.unwrap();
            let remote = format!("{dir}/file-{i}.bin");
            let n = pool.retry_upload(&cfg, &up, &remote, 2).await.unwrap();
            assert_eq!(n, data.len() as u64);
            max_in_use.fetch_max(pool.in_use_count(&cfg), Ordering::Relaxed);
            let n = pool.retry_download(&cfg, &remote, &down, 2).await.unwrap();
            assert_eq!(n, data.len() as u64);
            let got = tokio::fs::read(&down).await.unwrap();
            assert_eq!(sha256(&got), sha256(&data), "task {i}: content differs");
            let mut c = pool.get(&cfg).await.unwrap();
            c.delete(remote.as_str()).await.unwrap();
            drop(c);
            let _ = tokio::fs::remove_file(&up).await;
            let _ = tokio::fs::remove_file(&down).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(max_in_use.load(Ordering::Relaxed) <= 4);
    // 1 + 16 * 3 checkouts on at most 4 connections, none broken.
    let stats = pool.stats();
    assert!(stats.opened <= 4, "{stats:?}");
    assert_eq!(stats.opened + stats.reused, 49, "{stats:?}");
    assert_eq!(stats.dropped_broken, 0, "{stats:?}");
    assert!(pool.idle_count(&cfg) <= 4);
    let mut c = pool.get(&cfg).await.unwrap();
    c.rmdir(dir.as_str()).await.unwrap();
    drop(c);
    pool.close_idle().await;
    assert_eq!(pool.idle_count(&cfg), 0);
}

ftpkit_interop::server_cases! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async concurrent_transfers:
    vsftpd_sixteen_tasks_through_a_pool_of_four => "VSFTPD", false;
    vsftpd_tls_sixteen_tasks_through_a_pool_of_four => "VSFTPD_TLS", true;
}
