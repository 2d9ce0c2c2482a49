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
