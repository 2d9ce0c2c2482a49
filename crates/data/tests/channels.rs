//! Data channels against loopback servers: passive connect, the
//! protection a channel takes from its session, TLS resumption of the
//! control session (TLS 1.2 and 1.3), the certificate check against the
//! control host name, and the clean, bounded close.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ftpkit_control::command::ProtectionLevel;
use ftpkit_data::{connect_passive, DataError, DataStream, Protection, SessionTls};
use ftpkit_testkit::{Resumption, ServerTls, TestPki, TlsVersions};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const WAIT: Duration = Duration::from_secs(10);

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

fn session(pki: &TestPki) -> SessionTls {
    SessionTls::new(
        &pki.client_config(),
        ServerName::try_from("localhost").unwrap(),
    )
}

/// Opens the "control connection" of `tls` to a server that answers one
/// line, so that TLS 1.3 tickets the server sends after its handshake
/// arrive in the session's store.
async fn control_handshake(tls: &SessionTls, acceptor: TlsAcceptor) {
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut s = acceptor.accept(tcp).await.unwrap();
        let mut line = [0u8; 5];
        s.read_exact(&mut line).await.unwrap();
        s.write_all(b"pong\n").await.unwrap();
        s.flush().await.unwrap();
        // Hold the connection until the client has read the reply.
        let _ = s.read(&mut line).await;
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls.control_config());
    let mut c = connector
        .connect(tls.server_name().clone(), tcp)
        .await
        .unwrap();
    c.write_all(b"ping\n").await.unwrap();
    let mut reply = [0u8; 5];
    c.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"pong\n");
    drop(c);
    server.await.unwrap();
}

/// One protected data connection of `tls`: the server sends `payload`
/// and reads until the client's close. Returns whether it resumed.
async fn tls_data_connection(tls: &SessionTls, acceptor: TlsAcceptor, payload: &[u8]) -> bool {
    let (l, addr) = listener().await;
    let owned = payload.to_vec();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut s = acceptor.accept(tcp).await.unwrap();
        s.write_all(&owned).await.unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        // The client's close_notify ends this read cleanly (Ok), not with
        // an unexpected EOF.
        s.read_to_end(&mut rest).await.unwrap();
    });
    let protection = Protection::of_session(ProtectionLevel::Private, Some(tls)).unwrap();
    assert!(protection.is_private());
    let tcp = connect_passive(addr, WAIT).await.unwrap();
    let mut data = DataStream::open(tcp, &protection, WAIT).await.unwrap();
    assert!(data.is_tls());
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, payload);
    data.close(WAIT).await.unwrap();
    server.await.unwrap();
    let info = data.tls_info().unwrap();
    tls.store().note_data_handshake(info.resumed);
    info.resumed
}

#[tokio::test]
async fn passive_plain_channel_round_trip_and_close() {
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"listing\r\n").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    });
    let protection = Protection::of_session(ProtectionLevel::Clear, None).unwrap();
    assert!(!protection.is_private());
    let tcp = connect_passive(addr, WAIT).await.unwrap();
    let mut data = DataStream::open(tcp, &protection, WAIT).await.unwrap();
    assert!(!data.is_tls() && data.tls_info().is_none());
    let mut line = [0u8; 9];
    data.read_exact(&mut line).await.unwrap();
    assert_eq!(&line, b"listing\r\n");
    data.write_all(b"upload").await.unwrap();
    data.close(WAIT).await.unwrap();
    assert_eq!(server.await.unwrap(), b"upload");
}

#[tokio::test]
async fn a_refused_passive_connect_names_the_address() {
    let (l, addr) = listener().await;
    drop(l);
    match connect_passive(addr, WAIT).await {
        Err(DataError::Connect { addr: a, .. }) => assert_eq!(a, addr),
        other => panic!("{other:?}"),
    }
}

#[test]
fn protection_comes_from_the_session_never_a_silent_downgrade() {
    // PROT P without a TLS session is an error, not clear data.
    assert!(matches!(
        Protection::of_session(ProtectionLevel::Private, None),
        Err(DataError::Protection(_))
    ));
    // PROT S and E: no TLS stack offers them.
    for level in [ProtectionLevel::Safe, ProtectionLevel::Confidential] {
        assert!(matches!(
            Protection::of_session(level, None),
            Err(DataError::Protection(_))
        ));
    }
    let pki = TestPki::new();
    let tls = session(&pki);
    let p = Protection::of_session(ProtectionLevel::Private, Some(&tls)).unwrap();
    assert!(p.is_private());
    // The session's TLS does not make clear data private: PROT C is PROT C.
    let p = Protection::of_session(ProtectionLevel::Clear, Some(&tls)).unwrap();
    assert!(!p.is_private());
}

/// Data connections resume the control connection's TLS session: with its
/// tickets on TLS 1.3, from the server's session cache on TLS 1.2.
#[tokio::test]
async fn data_connections_resume_the_control_session() {
    for (versions, resumption) in [
        (TlsVersions::Tls13Only, Resumption::Tickets),
        (TlsVersions::Tls12Only, Resumption::Cache),
    ] {
        let case = format!("{versions:?} with {resumption:?}");
        let pki = TestPki::new();
        let server = ServerTls::new(&pki)
            .versions(versions)
            .resumption(resumption)
            .build()
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::clone(&server));
        let tls = session(&pki);
        control_handshake(&tls, acceptor.clone()).await;
        if versions == TlsVersions::Tls13Only {
            assert!(
                tls.store().usable() > 0,
                "{case}: the control handshake left tickets"
            );
            assert!(tls.store().control_tickets_received() > 0, "{case}");
        }
        for i in 0..3 {
            let payload = vec![b'x'; 100_000 + i];
            assert!(
                tls_data_connection(&tls, acceptor.clone(), &payload).await,
                "{case}: data connection {i} resumed"
            );
        }
        if versions == TlsVersions::Tls13Only {
            let stats = tls.store().stats();
            assert_eq!(
                (stats.resumed, stats.full_handshakes),
                (3, 0),
                "{case}: {stats:?}"
            );
            assert!(stats.tickets_offered >= 3, "{case}: {stats:?}");
        }
    }
}

#[tokio::test]
async fn a_data_server_with_another_name_is_refused() {
    let pki = TestPki::new();
    let other = pki.issue_server_cert(&["other.example"]);
    let server = ServerTls::new(&pki).server_cert(other).build().unwrap();
    let acceptor = TlsAcceptor::from(server);
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let _ = acceptor.accept(tcp).await;
    });
    // The session is for "localhost": the data connection is checked
    // against that name, whatever address it went to.
    let tls = session(&pki);
    let protection = Protection::of_session(ProtectionLevel::Private, Some(&tls)).unwrap();
    let tcp = connect_passive(addr, WAIT).await.unwrap();
    let err = DataStream::open(tcp, &protection, WAIT).await.unwrap_err();
    assert!(
        matches!(err.tls_error(), Some(rustls::Error::InvalidCertificate(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn close_is_bounded_when_the_peer_keeps_sending() {
    let pki = TestPki::new();
    let server = ServerTls::new(&pki).build().unwrap();
    let acceptor = TlsAcceptor::from(server);
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut s = acceptor.accept(tcp).await.unwrap();
        let chunk = vec![0u8; 64 * 1024];
        // Never stops: a hostile server.
        while s.write_all(&chunk).await.is_ok() {}
    });
    let tls = session(&pki);
    let protection = Protection::of_session(ProtectionLevel::Private, Some(&tls)).unwrap();
    let tcp = connect_passive(addr, WAIT).await.unwrap();
    let mut data = DataStream::open(tcp, &protection, WAIT).await.unwrap();
    let err = data.close(WAIT).await.unwrap_err();
    assert!(
        matches!(&err, DataError::Io(e) if e.kind() == std::io::ErrorKind::InvalidData),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_handshake_that_never_answers_times_out() {
    let (l, addr) = listener().await;
    let _hold = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    });
    let pki = TestPki::new();
    let tls = session(&pki);
    let protection = Protection::of_session(ProtectionLevel::Private, Some(&tls)).unwrap();
    let tcp = connect_passive(addr, WAIT).await.unwrap();
    let err = DataStream::open(tcp, &protection, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, DataError::TimedOut(_)), "{err:?}");
}

// ----- the TLS stream itself (rustls's unbuffered API) -----

/// Bytes that differ at every offset, so a lost, repeated or reordered
/// piece shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect()
}

/// A TLS data connection to a server that runs `serve` on its side.
async fn tls_pair<F, Fut>(
    versions: TlsVersions,
    serve: F,
) -> (DataStream, tokio::task::JoinHandle<Vec<u8>>)
where
    F: FnOnce(tokio_rustls::server::TlsStream<TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<u8>> + Send,
{
    let pki = TestPki::new();
    let server = ServerTls::new(&pki).versions(versions).build().unwrap();
    let acceptor = TlsAcceptor::from(server);
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        serve(acceptor.accept(tcp).await.unwrap()).await
    });
    let tls = session(&pki);
    let protection = Protection::of_session(ProtectionLevel::Private, Some(&tls)).unwrap();
    let tcp = connect_passive(addr, WAIT).await.unwrap();
    (
        DataStream::open(tcp, &protection, WAIT).await.unwrap(),
        server,
    )
}

/// Every byte arrives, in order, whatever the reader's buffer size: reads
/// smaller than a TLS record take the rest of it on the next read.
#[tokio::test]
async fn downloads_arrive_whole_through_any_read_size() {
    for versions in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
        for read_size in [1usize, 1000, 16 * 1024, 300 * 1024] {
            let payload = pattern(if read_size == 1 { 40_000 } else { 3_000_000 });
            let sent = payload.clone();
            let (mut data, server) = tls_pair(versions, move |mut s| async move {
                // Writes of odd sizes make records of odd sizes.
                for piece in sent.chunks(7_777) {
                    s.write_all(piece).await.unwrap();
                }
                s.shutdown().await.unwrap();
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).await.unwrap();
                rest
            })
            .await;
            let mut got = Vec::new();
            let mut buf = vec![0u8; read_size];
            loop {
                let n = data.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert!(
                got == payload,
                "{versions:?}, reads of {read_size}: {} of {} bytes, or different",
                got.len(),
                payload.len()
            );
            data.close(WAIT).await.unwrap();
            assert!(server.await.unwrap().is_empty());
        }
    }
}

/// Uploads arrive whole and end with close_notify (the server's read ends
/// cleanly), whatever the writer's chunk sizes.
#[tokio::test]
async fn uploads_arrive_whole_and_end_with_close_notify() {
    for versions in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
        let payload = pattern(5_000_000);
        let (mut data, server) = tls_pair(versions, |mut s| async move {
            let mut got = Vec::new();
            // Err here would be a TCP end without close_notify.
            s.read_to_end(&mut got).await.unwrap();
            s.shutdown().await.unwrap();
            got
        })
        .await;
        let mut at = 0;
        for size in [1usize, 100, 16 * 1024, 16 * 1024 + 1, 200 * 1024, 1 << 20]
            .iter()
            .cycle()
        {
            let end = (at + size).min(payload.len());
            data.write_all(&payload[at..end]).await.unwrap();
            at = end;
            if at == payload.len() {
                break;
            }
        }
        data.flush().await.unwrap();
        data.close(WAIT).await.unwrap();
        assert!(server.await.unwrap() == payload, "{versions:?}");
    }
}

/// A TCP end without the server's close_notify, after some data, is an
/// unexpected EOF: the download may be truncated.
#[tokio::test]
async fn an_end_without_close_notify_is_an_unexpected_eof() {
    for versions in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
        let (mut data, server) = tls_pair(versions, |mut s| async move {
            s.write_all(&pattern(100_000)).await.unwrap();
            s.flush().await.unwrap();
            // FIN on the socket, no close_notify.
            let (tcp, _) = s.get_mut();
            tcp.shutdown().await.unwrap();
            Vec::new()
        })
        .await;
        let mut got = Vec::new();
        let err = data.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof,
            "{versions:?}: {err}"
        );
        assert_eq!(
            got,
            pattern(100_000),
            "{versions:?}: the data before the end"
        );
        server.await.unwrap();
    }
}

/// TLS 1.3 key updates in the middle of a download (the server's, which
/// asks for ours) are followed: data after them decrypts, and our own
/// writes after our update still reach the server.
#[tokio::test]
async fn key_updates_mid_transfer_are_followed() {
    let (mut data, server) = tls_pair(TlsVersions::Tls13Only, |mut s| async move {
        s.write_all(&pattern(200_000)).await.unwrap();
        s.flush().await.unwrap();
        s.get_mut().1.refresh_traffic_keys().unwrap();
        s.write_all(&pattern(300_000)).await.unwrap();
        s.flush().await.unwrap();
        let mut line = [0u8; 4];
        s.read_exact(&mut line).await.unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        line.to_vec()
    })
    .await;
    let mut first = vec![0u8; 200_000];
    data.read_exact(&mut first).await.unwrap();
    assert_eq!(first, pattern(200_000));
    let mut second = vec![0u8; 300_000];
    data.read_exact(&mut second).await.unwrap();
    assert_eq!(second, pattern(300_000));
    data.write_all(b"done").await.unwrap();
    data.flush().await.unwrap();
    let mut rest = Vec::new();
    data.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    data.close(WAIT).await.unwrap();
    assert_eq!(server.await.unwrap(), b"done");
}
