//! Segmented downloads against an in-process libunftp server: the number
//! of segments chosen from the link's round-trip time (behind the testkit's
//! delay proxy) and the file's size, and sessions the server refuses.

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{self, temp_dir};
use ftpkit::ops::{self, SegmentOptions, SegmentReport, AUTO_SEGMENT_MIN};
use ftpkit::{Client, Config};
use ftpkit_testkit::delay_proxy::DelayProxy;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// Bytes that differ at every offset (a segment written at the wrong place
/// shows), `len` of them.
fn pattern(len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// `n` consecutive ports free on 127.0.0.1 and on `ip`, for a server's
/// passive range that a delay proxy on `ip` forwards.
fn free_ports(ip: Ipv4Addr, n: u16) -> RangeInclusive<u16> {
    let seed = u16::try_from(std::process::id() % 5_000).unwrap();
    for base in (21_000 + seed..29_000).step_by(usize::from(n)) {
        let free = (base..base + n).all(|p| {
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok()
                && std::net::TcpListener::bind((ip, p)).is_ok()
        });
        if free {
            return base..=base + n - 1;
        }
    }
    panic!("no {n} free ports");
}

/// Downloads `remote` of `root` into a new local file with `opts`, checks
/// the bytes against `data` and that no partial file is left.
async fn fetch_and_check(
    config: Config,
    remote: &str,
    data: &[u8],
    opts: &SegmentOptions,
) -> (SegmentReport, Option<Duration>) {
    let dir = temp_dir("segments");
    let out = dir.join("out.bin");
    let mut c = Client::connect(config).await.unwrap();
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        ops::segmented_download(&mut c, remote, &out, opts),
    )
    .await
    .expect("the download ends")
    .unwrap();
    let rtt = c.round_trip_time();
    // The session is still usable after its segments.
    c.noop().await.unwrap();
    c.quit().await.unwrap();
    let got = std::fs::read(&out).unwrap();
    assert!(
        got == data,
        "{} bytes, not the file's {}",
        got.len(),
        data.len()
    );
    assert!(!ops::part_path(&out).exists());
    std::fs::remove_dir_all(dir).unwrap();
    (report, rtt)
}

fn publish(root: &Path, name: &str, len: u64) -> Vec<u8> {
    let data = pattern(len);
    std::fs::write(root.join(name), &data).unwrap();
    data
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_file_over_a_long_link_comes_in_segments() {
    let root = temp_dir("segments-root");
    // Two segments' worth and a tail: 2 segments at 50 ms.
    let data = publish(&root, "big.bin", 2 * AUTO_SEGMENT_MIN + 4_321);
    let ip = Ipv4Addr::new(127, 79, 41, 1);
    let passive = free_ports(ip, 4);
    let server = common::libunftp(&root, Some(passive.clone())).await;
    let proxy = DelayProxy::start(ip, 0, server, passive, Duration::from_millis(25))
        .await
        .unwrap();
    let config = common::libunftp_config(SocketAddr::new(ip.into(), proxy.control_port()));
    let auto = SegmentOptions {
        sessions: 0,
        ..SegmentOptions::default()
    };
    let (report, rtt) = fetch_and_check(config, "big.bin", &data, &auto).await;
    assert!(rtt.unwrap() >= Duration::from_millis(50), "{rtt:?}");
    assert_eq!(report.segments.len(), 2, "{report:?}");
    assert_eq!(report.expected_size, Some(data.len() as u64));
    // The caller's session and one more.
    assert_eq!(proxy.stats().control_connections, 2);
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn on_loopback_the_library_keeps_one_stream() {
    let root = temp_dir("segments-root");
    let data = publish(&root, "big.bin", 2 * AUTO_SEGMENT_MIN + 1);
    let server = common::libunftp(&root, None).await;
    let auto = SegmentOptions {
        sessions: 0,
        ..SegmentOptions::default()
    };
    let (report, _) =
        fetch_and_check(common::libunftp_config(server), "big.bin", &data, &auto).await;
    assert_eq!(report.segments, vec![(0, data.len() as u64)]);
    std::fs::remove_dir_all(root).unwrap();
}

/// Forwards the first control connection to `server`; every later one is
/// answered `421` and closed (a server's connection limit). Returns the
/// front's address and the count of refused connections.
async fn one_session_front(server: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let front = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = front.local_addr().unwrap();
    let refused = Arc::new(AtomicUsize::new(0));
    let count = refused.clone();
    tokio::spawn(async move {
        let (mut first, _) = front.accept().await.unwrap();
        tokio::spawn(async move {
            let mut up = tokio::net::TcpStream::connect(server).await.unwrap();
            let _ = tokio::io::copy_bidirectional(&mut first, &mut up).await;
        });
        while let Ok((mut s, _)) = front.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(b"421 Too many connections\r\n").await;
        }
    });
    (addr, refused)
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_sessions_leave_their_ranges_to_the_caller() {
    let root = temp_dir("segments-root");
    let data = publish(&root, "f.bin", 8 * 1024 * 1024 + 17);
    let server = common::libunftp(&root, None).await;
    let (front, refused) = one_session_front(server).await;
    // libunftp's data ports are reached at the control peer's address,
    // 127.0.0.1, as the front's.
    let opts = SegmentOptions {
        sessions: 4,
        ..SegmentOptions::default()
    };
    let (report, _) = fetch_and_check(common::libunftp_config(front), "f.bin", &data, &opts).await;
    assert_eq!(report.segments.len(), 4, "{report:?}");
    assert_eq!(refused.load(Ordering::SeqCst), 3);
    std::fs::remove_dir_all(root).unwrap();
}
