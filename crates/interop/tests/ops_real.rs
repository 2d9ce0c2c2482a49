//! `ftpkit::ops` against the real servers: mirror both ways (twice, the
//! second run transferring nothing) and a 64 MiB segmented download, on
//! vsftpd and ProFTPD TLS; segments chosen by the library through a delay
//! proxy at 50 ms on vsftpd, ProFTPD and Pure-FTPd (plain and TLS) and
//! pyftpdlib. Moved here from the client crate's tests, which
//! skipped them without servers; here they fail without them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ftpkit::ops::{
    self, FileOptions, MirrorOptions, Progress, ProgressEvent, SegmentOptions, SegmentReport,
    Verify,
};
use ftpkit::Client;
use ftpkit_interop::data::sha256;
use ftpkit_interop::{server, unique_dir, unique_temp_dir, Mode};
use ftpkit_testkit::delay_proxy::DelayProxy;

fn recorder() -> (Progress, Arc<Mutex<Vec<ProgressEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let cb = Progress::new(move |e: &ProgressEvent| ev.lock().unwrap().push(e.clone()));
    (cb, events)
}

/// A remote directory of this run's own, from the root.
fn unique(tag: &str) -> String {
    format!("/{}", unique_dir(&format!("hl-{tag}")))
}

/// Deterministic pseudo-random bytes (xorshift).
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn make_tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let files = vec![
        (PathBuf::from("a.txt"), b"alpha\n".to_vec()),
        (PathBuf::from("b.bin"), pseudo_random(300_000, 7)),
        (PathBuf::from("sub/c.txt"), b"charlie\n".to_vec()),
        (PathBuf::from("sub/deeper/d.bin"), pseudo_random(70_000, 9)),
        (PathBuf::from("empty/e.txt"), Vec::new()),
    ];
    for (p, data) in &files {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, data).unwrap();
    }
    files
}

async fn mirror_round_trip(name: &str) {
    let cfg = server(name).config(Mode::Passive);
    let base = unique_temp_dir(&format!("ops-mirror-{name}"));
    let src = base.join("src");
    let dst = base.join("dst");
    let files = make_tree(&src);
    // Local files a minute old, so "remote at least as new" holds on
    // servers without MFMT.
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    for (p, _) in &files {
        std::fs::File::options()
            .write(true)
            .open(src.join(p))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let remote = unique("mirror");
    let mut c = Client::connect(cfg).await.unwrap();
    let opts = MirrorOptions {
        parallelism: 3,
        verify: Verify::SizeAndHash,
        ..MirrorOptions::default()
    };
    let up = ops::mirror_up(&mut c, &src, &remote, &opts).await.unwrap();
    assert!(up.errors.is_empty(), "{name} up: {:?}", up.errors);
    assert_eq!(up.files_transferred, 5, "{name} up: {up:?}");
    assert_eq!(up.bytes, 370_014);
    let up2 = ops::mirror_up(&mut c, &src, &remote, &opts).await.unwrap();
    assert!(up2.errors.is_empty(), "{name} up2: {:?}", up2.errors);
    assert_eq!(
        (up2.files_transferred, up2.skipped_unchanged),
        (0, 5),
        "{name} up2: {up2:?}"
    );

    let down = ops::mirror_down(&mut c, &remote, &dst, &opts)
        .await
        .unwrap();
    assert!(down.errors.is_empty(), "{name} down: {:?}", down.errors);
    assert!(down.refused.is_empty(), "{name} down: {:?}", down.refused);
    assert_eq!(down.files_transferred, 5, "{name} down: {down:?}");
    for (p, data) in &files {
        assert_eq!(&std::fs::read(dst.join(p)).unwrap(), data, "{name}: {p:?}");
    }
    let down2 = ops::mirror_down(&mut c, &remote, &dst, &opts)
        .await
        .unwrap();
    assert!(down2.errors.is_empty(), "{name} down2: {:?}", down2.errors);
    assert_eq!(
        (down2.files_transferred, down2.skipped_unchanged),
        (0, 5),
        "{name} down2: {down2:?}"
    );
    // A changed local file goes up again.
    std::fs::write(src.join("a.txt"), b"alpha, changed\n").unwrap();
    let up3 = ops::mirror_up(&mut c, &src, &remote, &opts).await.unwrap();
    assert_eq!(
        (up3.files_transferred, up3.skipped_unchanged),
        (1, 4),
        "{name} up3: {up3:?}"
    );
    c.quit().await.unwrap();
    std::fs::remove_dir_all(base).unwrap();
}

/// `segmented_download` of `remote` into `base/out.bin`, which must hold
/// `data` after it (SHA-256 compared); with how long it took.
async fn segmented_into(
    c: &mut Client,
    remote: &str,
    base: &Path,
    opts: &SegmentOptions,
    data: &[u8],
    name: &str,
) -> (SegmentReport, Duration) {
    let out = base.join("out.bin");
    let t0 = std::time::Instant::now();
    let r = ops::segmented_download(c, remote, &out, opts)
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(
        sha256(&std::fs::read(&out).unwrap()),
        sha256(data),
        "{name}: SHA-256 differs"
    );
    (r, took)
}

async fn segmented_64mib(name: &str) {
    let cfg = server(name).config(Mode::Passive);
    let base = unique_temp_dir(&format!("ops-seg-{name}"));
    let src = base.join("big.bin");
    let data = pseudo_random(64 * 1024 * 1024, 0x1234_5678);
    std::fs::write(&src, &data).unwrap();
    let dir = unique("seg");
    let mut c = Client::connect(cfg).await.unwrap();
    c.mkdir(dir.as_str()).await.unwrap();
    let remote = format!("{dir}/big.bin");
    ops::upload_file(&mut c, &src, remote.as_str(), &FileOptions::default())
        .await
        .unwrap();
    let (cb, events) = recorder();
    let opts = SegmentOptions {
        sessions: 4,
        verify: Verify::SizeAndHash,
        progress: Some(cb),
        ..SegmentOptions::default()
    };
    let (r, took) = segmented_into(&mut c, &remote, &base, &opts, &data, name).await;
    eprintln!("{name}: 64 MiB over 4 sessions in {took:?} ({r:?})");
    assert_eq!(r.size, 64 * 1024 * 1024);
    assert_eq!(r.segments.len(), 4);
    let last = events.lock().unwrap().last().unwrap().clone();
    assert!(last.finished);
    assert_eq!(last.bytes_done, 64 * 1024 * 1024);
    // The caller's client is still usable.
    assert_eq!(c.size(remote.as_str()).await.unwrap(), 64 * 1024 * 1024);
    c.quit().await.unwrap();
    std::fs::remove_dir_all(base).unwrap();
}

ftpkit_interop::server_cases! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async mirror_round_trip:
    real_mirror_vsftpd => "VSFTPD";
    real_mirror_proftpd_tls => "PROFTPD_TLS";
}

ftpkit_interop::server_cases! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async segmented_64mib:
    real_segmented_vsftpd => "VSFTPD";
    real_segmented_proftpd_tls => "PROFTPD_TLS";
}

/// A file of two auto segments and a tail, uploaded directly, then
/// downloaded with the segments left to the library through a delay proxy
/// at 50 ms RTT (control port and the server's passive range, on an
/// address of its own, `127.79.60.octet`): 2 segments, the same bytes, and
/// the caller's session still usable. Then the same file straight from
/// the server (loopback): one stream.
async fn auto_segments(name: &str, octet: u8) {
    let srv = server(name);
    let size = 2 * ops::AUTO_SEGMENT_MIN + 777;
    let data = pseudo_random(usize::try_from(size).unwrap(), u64::from(octet));
    let base = unique_temp_dir(&format!("ops-auto-seg-{name}"));
    let src = base.join("big.bin");
    std::fs::write(&src, &data).unwrap();
    let dir = unique("auto-seg");
    let remote = format!("{dir}/big.bin");
    let mut direct = Client::connect(srv.config(Mode::Passive)).await.unwrap();
    direct.mkdir(dir.as_str()).await.unwrap();
    ops::upload_file(&mut direct, &src, remote.as_str(), &FileOptions::default())
        .await
        .unwrap();

    let ip = std::net::Ipv4Addr::new(127, 79, 60, octet);
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], srv.port));
    let passive = srv.passive.clone().expect("a passive range");
    let proxy = DelayProxy::start(ip, 0, upstream, passive, Duration::from_millis(25))
        .await
        .unwrap();
    let mut cfg = srv.config(Mode::Passive);
    cfg.host = ip.to_string();
    cfg.port = proxy.control_port();
    cfg.tls.server_name = Some("localhost".to_owned());
    let mut c = Client::connect(cfg).await.unwrap();
    let auto = SegmentOptions {
        sessions: 0,
        verify: Verify::SizeWhenKnown,
        ..SegmentOptions::default()
    };
    let (r, took) = segmented_into(&mut c, &remote, &base, &auto, &data, name).await;
    eprintln!(
        "{name}: {size} bytes at 50 ms RTT in {took:?}, rtt {:?} ({r:?}, {:?})",
        c.round_trip_time(),
        proxy.stats()
    );
    assert_eq!(r.segments.len(), 2, "{name}: {r:?}");
    assert_eq!(r.expected_size, Some(size), "{name}");
    assert_eq!(proxy.stats().control_connections, 2, "{name}");
    assert_eq!(c.size(remote.as_str()).await.unwrap(), size, "{name}");
    c.quit().await.unwrap();

    let (r, _) = segmented_into(&mut direct, &remote, &base, &auto, &data, name).await;
    assert_eq!(r.segments, vec![(0, size)], "{name}: on loopback");
    direct.delete(remote.as_str()).await.unwrap();
    direct.rmdir(dir.as_str()).await.unwrap();
    direct.quit().await.unwrap();
    std::fs::remove_dir_all(base).unwrap();
}

ftpkit_interop::server_cases! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async auto_segments:
    auto_segments_vsftpd => "VSFTPD", 1;
    auto_segments_vsftpd_tls => "VSFTPD_TLS", 2;
    auto_segments_proftpd => "PROFTPD", 3;
    auto_segments_proftpd_tls => "PROFTPD_TLS", 4;
    auto_segments_pureftpd_tls => "PUREFTPD_TLS", 5;
    auto_segments_pyftpdlib => "PYFTPDLIB", 6;
}
