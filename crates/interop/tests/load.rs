//! Load: 64 concurrent sessions through one [`Pool`] against vsftpd (32
//! plain, 32 explicit TLS), 16 transfers each (8 uploads, each downloaded
//! back: mixed sizes from 0 bytes to 8 MiB). Every file is compared by
//! SHA-256; the process's open file descriptors are counted before and after
//! (no leaked socket) and the runtime's alive tasks must drop back to zero
//! (no leaked task).
//!
//! Its own test binary, with its own runtime, so nothing else runs in the
//! process while the descriptors and tasks are counted. Run with
//! `just interop` (which starts the servers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ftpkit::pool::{Pool, PoolConfig};
use ftpkit::Config;
use ftpkit_interop::data::{hex, HashSink, Pattern};
use ftpkit_interop::{report, Env, Mode, Server};

const SESSIONS_PER_SERVER: usize = 32;
const UPLOADS_PER_SESSION: u64 = 8;
/// Sizes cycled through: empty, tiny, around the 256 KiB buffer, large.
const SIZES: [u64; 8] = [
    0,
    1,
    4 * 1024,
    256 * 1024 - 1,
    256 * 1024 + 1,
    1 << 20,
    3 * (1 << 20) + 17,
    8 << 20,
];

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[derive(Default)]
struct Counts {
    transfers: AtomicU64,
    bytes: AtomicU64,
}

async fn session(
    pool: Pool,
    config: Config,
    dir: String,
    id: u64,
    start: Arc<tokio::sync::Barrier>,
    counts: Arc<Counts>,
) {
    for i in 0..UPLOADS_PER_SESSION {
        let mut conn = pool.get(&config).await.unwrap_or_else(|e| {
            panic!("session {id}: pool.get: {e:?}");
        });
        if i == 0 {
            // Every session holds a connection at once: 64 concurrent.
            start.wait().await;
        }
        let seed = id * 1000 + i;
        let len = SIZES[usize::try_from((id + i) % SIZES.len() as u64).unwrap()];
        let remote = format!("{dir}/s{id}-{i}.bin");
        let mut src = Pattern::new(seed, len);
        conn.upload_from(remote.as_str(), 0, &mut src)
            .await
            .unwrap_or_else(|e| panic!("session {id} upload {i}: {e:?}"));
        let want = src.sha256();
        let mut sink = HashSink::default();
        conn.download_to(remote.as_str(), 0, &mut sink)
            .await
            .unwrap_or_else(|e| panic!("session {id} download {i}: {e:?}"));
        assert_eq!(sink.len, len, "session {id} transfer {i}: length");
        assert_eq!(
            hex(&sink.sha256()),
            hex(&want),
            "session {id} transfer {i}: corrupted"
        );
        conn.delete(remote.as_str()).await.unwrap();
        counts.transfers.fetch_add(2, Ordering::Relaxed);
        counts.bytes.fetch_add(2 * len, Ordering::Relaxed);
    }
}

fn prepare(server: &Server) -> (Config, String) {
    let dir = "load".to_owned();
    let disk = server.root.join(&dir);
    let _ = std::fs::remove_dir_all(&disk);
    std::fs::create_dir(&disk).unwrap();
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&server.root).unwrap();
    std::os::unix::fs::chown(&disk, Some(m.uid()), Some(m.gid())).unwrap();
    let mut c = server.config(Mode::Passive);
    c.timeouts.data_idle = Duration::from_secs(60);
    (c, dir)
}

#[test]
fn sixty_four_sessions_through_the_pool_plain_and_tls() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let env = Env::load();
    let servers = [env.server("VSFTPD"), env.server("VSFTPD_TLS")];
    let fds_before = open_fds();
    let counts = Arc::new(Counts::default());
    let stats = rt.block_on(async {
        let pool = Pool::new(PoolConfig {
            max_per_key: SESSIONS_PER_SERVER,
            max_idle_per_key: SESSIONS_PER_SERVER,
            ..PoolConfig::default()
        });
        let total = SESSIONS_PER_SERVER * servers.len();
        let start = Arc::new(tokio::sync::Barrier::new(total));
        let mut tasks = tokio::task::JoinSet::new();
        let mut id = 0;
        for server in &servers {
            let (config, dir) = prepare(server);
            for _ in 0..SESSIONS_PER_SERVER {
                tasks.spawn(session(
                    pool.clone(),
                    config.clone(),
                    dir.clone(),
                    id,
                    start.clone(),
                    counts.clone(),
                ));
                id += 1;
            }
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        let stats = pool.stats();
        pool.close_idle().await;
        drop(pool);
        stats
    });
    // Background QUITs and the keepalive task wind down.
    let metrics = rt.metrics();
    let mut alive = metrics.num_alive_tasks();
    for _ in 0..100 {
        if alive == 0 {
            break;
        }
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
        alive = metrics.num_alive_tasks();
    }
    drop(rt);
    let fds_after = open_fds();
    let transfers = counts.transfers.load(Ordering::Relaxed);
    let bytes = counts.bytes.load(Ordering::Relaxed);
    report(&format!(
        "load: {} sessions (32 vsftpd plain + 32 vsftpd TLS) via the pool, {transfers} transfers, {} MiB moved, 0 corrupted; pool opened {} reused {}; fds before {fds_before} after {fds_after}; tasks alive after {alive}",
        SESSIONS_PER_SERVER * 2,
        bytes >> 20,
        stats.opened,
        stats.reused,
    ));
    assert_eq!(
        transfers,
        (SESSIONS_PER_SERVER * 2) as u64 * UPLOADS_PER_SESSION * 2
    );
    assert_eq!(alive, 0, "tasks leaked");
    assert_eq!(fds_after, fds_before, "file descriptors leaked");
    assert!(stats.opened >= (SESSIONS_PER_SERVER * 2) as u64);
    for server in &servers {
        let left: Vec<_> = std::fs::read_dir(server.root.join("load"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{}: files left", server.name);
        std::fs::remove_dir(server.root.join("load")).unwrap();
    }
}
