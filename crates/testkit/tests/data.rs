//! Data connections on the scripted server: passive (PASV/EPSV) downloads and
//! uploads, foreign PASV hosts, active (PORT/EPRT) connects and the loopback
//! guard, abrupt data closes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{
    assert_fails_with, cmd, connect, epsv_port, greeted, pasv_addr, read_line, read_to_end,
    send_cmd, WAIT,
};
use ftpkit_testkit::{CloseKind, Event, PeerClose, Script, ScriptError, ScriptedServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn loopback(port: u16) -> SocketAddr {
    (Ipv4Addr::LOCALHOST, port).into()
}

#[tokio::test]
async fn pasv_download() {
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let (server, mut c) = greeted(
        Script::new()
            .send("220 hi\r\n")
            .expect("PASV")
            .reply_pasv()
            .expect_line("RETR file.bin")
            .reply("150 opening\r\n")
            .data_accept()
            .data_send(&payload)
            .data_close()
            .reply("226 done\r\n")
            .expect_eof(),
    )
    .await;
    let (host, port) = pasv_addr(&cmd(&mut c, "PASV").await);
    assert_eq!(host, [127, 0, 0, 1]);
    assert_eq!(cmd(&mut c, "RETR file.bin").await, "150 opening\r\n");
    let mut d = connect(loopback(port)).await;
    assert_eq!(read_to_end(&mut d).await.unwrap(), payload);
    assert_eq!(read_line(&mut c).await, "226 done\r\n");
    drop(c);

    let t = server.finish().await;
    t.assert_ok();
    let dc = t.data_connections();
    assert_eq!(dc.len(), 1);
    assert!(!dc[0].active && dc[0].tls.is_none());
    assert_eq!(dc[0].local.port(), port);
    assert!(t.has(|e| *e == Event::DataSent(payload.len())));
}

#[tokio::test]
async fn epsv_upload_is_recorded() {
    let server = ScriptedServer::start(
        Script::new()
            .expect("EPSV")
            .reply_epsv()
            .expect("STOR")
            .reply("150 go\r\n")
            .data_accept()
            .data_recv_to_end()
            .data_close()
            .reply("226 stored\r\n")
            .expect_eof(),
    )
    .await;
    let mut c = connect(server.addr()).await;
    let port = epsv_port(&cmd(&mut c, "EPSV").await);
    cmd(&mut c, "STOR up.txt").await;
    let mut d = connect(loopback(port)).await;
    d.write_all(b"uploaded bytes").await.unwrap();
    d.shutdown().await.unwrap();
    assert_eq!(read_line(&mut c).await, "226 stored\r\n");
    drop(d);
    drop(c);
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.data_received(), [b"uploaded bytes"]);
    assert!(t.has(|e| matches!(
        e,
        Event::DataReceived {
            close: PeerClose::Fin,
            ..
        }
    )));
}

#[tokio::test]
async fn pasv_can_advertise_a_foreign_host_but_listens_on_loopback() {
    let server = ScriptedServer::start(
        Script::new()
            .expect("PASV")
            .reply_pasv_with_host([127, 0, 0, 2])
            .expect("LIST")
            .data_accept()
            .data_send("a\r\nb\r\n")
            .data_close()
            .expect_eof(),
    )
    .await;
    let mut c = connect(server.addr()).await;
    let (host, port) = pasv_addr(&cmd(&mut c, "PASV").await);
    assert_eq!(host, [127, 0, 0, 2]);
    // Trusting the advertised host fails: nothing listens on 127.0.0.2.
    assert!(tokio::net::TcpStream::connect(("127.0.0.2", port))
        .await
        .is_err());
    // Using the control connection's peer address works.
    send_cmd(&mut c, "LIST").await;
    let mut d = connect(loopback(port)).await;
    assert_eq!(read_to_end(&mut d).await.unwrap(), b"a\r\nb\r\n");
    drop(c);
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn data_expect_none() {
    let server = ScriptedServer::start(
        Script::new()
            .passive_listen()
            .send_with(|ctx| {
                let port = ctx.data_addr.map_or(0, |a| a.port());
                format!("229 ok (|||{port}|)\r\n").into_bytes()
            })
            .data_expect_none(Duration::from_millis(100))
            .expect_eof(),
    )
    .await;
    let mut c = connect(server.addr()).await;
    let port = epsv_port(&read_line(&mut c).await);
    assert_ne!(port, 0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(c);
    let t = server.finish().await;
    t.assert_ok();
    assert!(t.has(|e| *e == Event::NoDataConnection));
}

async fn active(port_cmd: impl Fn(SocketAddr) -> String) {
    let server = ScriptedServer::start(
        Script::new()
            .expect_matching("PORT or EPRT", |c| {
                matches!(c.verb().as_str(), "PORT" | "EPRT")
            })
            .reply("200 ok\r\n")
            .expect("RETR")
            .reply("150 connecting\r\n")
            .active_connect()
            .data_send("active data")
            .data_close()
            .reply("226 done\r\n")
            .expect_eof(),
    )
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut c = connect(server.addr()).await;
    assert_eq!(
        cmd(&mut c, &port_cmd(listener.local_addr().unwrap())).await,
        "200 ok\r\n"
    );
    send_cmd(&mut c, "RETR x").await;
    let (mut d, peer) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    assert!(peer.ip().is_loopback());
    assert_eq!(read_line(&mut c).await, "150 connecting\r\n");
    assert_eq!(read_to_end(&mut d).await.unwrap(), b"active data");
    assert_eq!(read_line(&mut c).await, "226 done\r\n");
    drop(c);
    let t = server.finish().await;
    t.assert_ok();
    assert!(t.data_connections()[0].active);
}

#[tokio::test]
async fn active_connect_to_port_address() {
    active(|a| {
        let p = a.port();
        format!("PORT 127,0,0,1,{},{}", p >> 8, p & 0xff)
    })
    .await;
}

#[tokio::test]
async fn active_connect_to_eprt_address() {
    active(|a| format!("EPRT |1|127.0.0.1|{}|", a.port())).await;
}

#[tokio::test]
async fn active_connect_refuses_non_loopback_addresses() {
    let server = ScriptedServer::start(
        Script::new()
            .expect("PORT")
            .reply("200 ok\r\n")
            .active_connect(),
    )
    .await;
    let mut c = connect(server.addr()).await;
    cmd(&mut c, "PORT 10,0,0,1,4,1").await;
    let t = server.finish().await;
    let addr: SocketAddr = "10.0.0.1:1025".parse().unwrap();
    assert!(t.has(|e| *e == Event::ActiveConnectRefused { addr }));
    assert!(
        matches!(t.errors()[..], [ScriptError::ActiveConnectRefused { .. }]),
        "{t}"
    );
    assert!(t.data_connections().is_empty());
    drop(c);
}

#[tokio::test]
async fn data_reset_and_chunked_send() {
    let server = ScriptedServer::start(
        Script::new()
            .expect("EPSV")
            .reply_epsv()
            .data_accept()
            .data_send_chunked(b"abcdef", 2, Duration::from_millis(5))
            .expect("NOOP") // the client has read everything
            .data_reset()
            .expect_eof(),
    )
    .await;
    let mut c = connect(server.addr()).await;
    let port = epsv_port(&cmd(&mut c, "EPSV").await);
    let mut d = connect(loopback(port)).await;
    let mut got = [0u8; 6];
    tokio::time::timeout(WAIT, d.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"abcdef");
    send_cmd(&mut c, "NOOP").await;
    let mut b = [0u8; 1];
    let err = tokio::time::timeout(WAIT, d.read(&mut b))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    drop(c);
    let t = server.finish().await;
    t.assert_ok();
    assert!(t.has(|e| *e == Event::DataClosed(CloseKind::Reset)));
}

#[tokio::test]
async fn data_steps_without_a_connection_are_script_errors() {
    let server = ScriptedServer::start(Script::new().data_send("x")).await;
    let c = connect(server.addr()).await;
    assert_fails_with(server, |e| matches!(e, ScriptError::Setup { .. })).await;
    drop(c);
}
