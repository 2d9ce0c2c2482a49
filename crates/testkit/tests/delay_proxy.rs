//! The delay proxy forwards control and passive-range connections intact,
//! both ways, with backpressure beyond its in-flight bound, and counts
//! control round trips and data connections. (How much delay it adds is
//! measured by `just bench`, not asserted here: tests never assert on time.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ftpkit_testkit::delay_proxy::{DelayProxy, MAX_IN_FLIGHT};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A free port on 127.0.0.1 (the "server"), also bindable on the proxy's
/// address.
async fn free_port() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let p = l.local_addr().unwrap().port();
    (l, p)
}

#[tokio::test]
async fn forwards_counts_round_trips_and_holds_backpressure() {
    // The "server": a control port that greets and answers each line, and
    // one data port that sends 3 * MAX_IN_FLIGHT bytes and echoes nothing.
    let (control, control_port) = free_port().await;
    let (data, data_port) = free_port().await;
    let bulk = 3 * MAX_IN_FLIGHT;
    tokio::spawn(async move {
        let (s, _) = control.accept().await.unwrap();
        let (r, mut w) = s.into_split();
        w.write_all(b"220 hello\r\n").await.unwrap();
        let mut lines = BufReader::new(r).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            w.write_all(format!("200 {line}\r\n").as_bytes())
                .await
                .unwrap();
        }
    });
    tokio::spawn(async move {
        let (mut s, _) = data.accept().await.unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut left = bulk;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).await.unwrap();
            left -= n;
        }
    });

    let ip = Ipv4Addr::new(127, 78, 0, 1);
    let proxy = DelayProxy::start(
        ip,
        0,
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), control_port),
        data_port..=data_port,
        Duration::from_millis(2),
    )
    .await
    .unwrap();

    let c = TcpStream::connect((ip, proxy.control_port()))
        .await
        .unwrap();
    let (r, mut w) = c.into_split();
    let mut lines = BufReader::new(r).lines();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "220 hello");
    for cmd in ["NOOP", "PWD", "QUIT"] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        assert_eq!(
            lines.next_line().await.unwrap().unwrap(),
            format!("200 {cmd}")
        );
    }

    // More than the in-flight bound, read slowly at first: it all arrives,
    // in order, whatever the proxy had to hold back.
    let mut d = TcpStream::connect((ip, data_port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut got = Vec::new();
    d.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), bulk);
    assert!(got.iter().all(|&b| b == 7));

    let s = proxy.stats();
    assert_eq!(s.control_connections, 1);
    assert_eq!(s.data_connections, 1);
    assert_eq!(s.control_round_trips, 3, "{s:?}");
    assert_eq!(s.data_bytes, bulk as u64);
}
