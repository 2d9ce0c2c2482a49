//! TLS session reuse decisions (`ftpkit_control::resumption`) and the
//! configuration of a renewed session, without sockets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use ftpkit_control::command::TransferType;
use ftpkit_control::resumption::{
    judge_refusal, on_refusal, retry_is_safe, BeforeData, DataHandshake, OnRefusal, ReuseFailure,
    TicketSupply,
};
use ftpkit_control::session::{DataProtection, Event, FeatPolicy};
use ftpkit_control::{
    Arg, Command, Credentials, Reply, ReplyCode, Security, Session, SessionConfig,
};

fn reply(code: u16, text: &str) -> Reply {
    Reply::new(
        ReplyCode::new(code).unwrap(),
        vec![Bytes::from(format!("{code} {text}"))],
    )
}

fn supply(tls13: bool, received: u64, usable: usize) -> TicketSupply {
    TicketSupply {
        tls13,
        control_tickets_received: received,
        usable,
    }
}

#[test]
fn renew_only_when_a_ticket_server_has_none_left() {
    // ProFTPD after two uploads: it issued tickets, none is left.
    assert_eq!(
        supply(true, 2, 0).before_data_connection(),
        BeforeData::Renew
    );
    // A ticket on hand: go on.
    assert_eq!(
        supply(true, 2, 1).before_data_connection(),
        BeforeData::Proceed
    );
    // Pure-FTPd issues no ticket and does not require reuse: never renew.
    assert_eq!(
        supply(true, 0, 0).before_data_connection(),
        BeforeData::Proceed
    );
    // TLS 1.2 sessions can be offered again and again.
    assert_eq!(
        supply(false, 0, 0).before_data_connection(),
        BeforeData::Proceed
    );
    assert_eq!(
        supply(false, 3, 0).before_data_connection(),
        BeforeData::Proceed
    );
    assert!(supply(true, 1, 0).server_uses_tickets());
    assert!(!supply(true, 0, 4).server_uses_tickets());
}

#[test]
fn refusals_of_full_handshakes_are_reuse_failures() {
    let vsftpd = reply(522, "SSL connection failed: session reuse required");
    let proftpd = reply(
        425,
        "Unable to build data connection: Operation not permitted",
    );
    let missing = reply(550, "No such file or directory");
    for r in [&vsftpd, &proftpd] {
        assert_eq!(
            judge_refusal(DataHandshake::Full, Some(r), true),
            Some(ReuseFailure::FullHandshakeRefused)
        );
        // A resumed connection was not refused for reuse.
        assert_eq!(judge_refusal(DataHandshake::Resumed, Some(r), true), None);
    }
    // A missing file is a missing file, whatever the handshake.
    assert_eq!(
        judge_refusal(DataHandshake::Full, Some(&missing), true),
        None
    );
    // A server that never issued a ticket is not refusing for reuse, unless
    // its reply says so (vsftpd's text does).
    assert_eq!(
        judge_refusal(DataHandshake::Full, Some(&proftpd), false),
        None
    );
    assert_eq!(
        judge_refusal(DataHandshake::Full, Some(&vsftpd), false),
        Some(ReuseFailure::FullHandshakeRefused)
    );
    // A handshake that failed outright on a ticket server.
    assert_eq!(
        judge_refusal(DataHandshake::Failed, None, true),
        Some(ReuseFailure::HandshakeFailed)
    );
    assert_eq!(judge_refusal(DataHandshake::Failed, None, false), None);
    // A certificate the client refused is never taken for a reuse failure.
    assert_eq!(
        judge_refusal(DataHandshake::CertificateRejected, Some(&proftpd), true),
        None
    );
    assert_eq!(
        judge_refusal(DataHandshake::CertificateRejected, Some(&vsftpd), true),
        None
    );
}

#[test]
fn retries_are_safe_for_reads_and_untouched_uploads_only() {
    let p = || Arg::from("f.bin");
    for cmd in [
        Command::Retr(p()),
        Command::List(None),
        Command::Mlsd(Some(p())),
        Command::Nlst(None),
    ] {
        assert!(retry_is_safe(&cmd, 0), "{cmd:?}");
        assert!(retry_is_safe(&cmd, 1 << 20), "{cmd:?}");
    }
    for cmd in [Command::Stor(p()), Command::Appe(p())] {
        assert!(retry_is_safe(&cmd, 0), "{cmd:?}");
        assert!(!retry_is_safe(&cmd, 1), "{cmd:?}");
    }
    assert!(!retry_is_safe(&Command::Stou, 0));
}

#[test]
fn recovery_retries_once_then_names_the_cause() {
    let refusal = reply(
        425,
        "Unable to build data connection: Operation not permitted",
    );
    let retr = Command::Retr(Arg::from("a"));
    let appe = Command::Appe(Arg::from("a"));
    let full = DataHandshake::Full;
    assert_eq!(
        on_refusal(&retr, 0, full, Some(&refusal), true, false),
        OnRefusal::RenewAndRetry(ReuseFailure::FullHandshakeRefused)
    );
    // The second failure is reported with its cause, not retried again.
    assert_eq!(
        on_refusal(&retr, 0, full, Some(&refusal), true, true),
        OnRefusal::Fail(ReuseFailure::FullHandshakeRefused)
    );
    // An append that already moved bytes is never sent twice.
    assert_eq!(
        on_refusal(&appe, 10, full, Some(&refusal), true, false),
        OnRefusal::Fail(ReuseFailure::FullHandshakeRefused)
    );
    // Not a reuse failure: reported as the server said it.
    assert_eq!(
        on_refusal(&retr, 0, full, Some(&reply(550, "nope")), true, false),
        OnRefusal::Report
    );
    assert!(ReuseFailure::FullHandshakeRefused
        .to_string()
        .contains("did not resume"));
}

fn feed(s: &mut Session, bytes: &[u8]) -> Vec<u8> {
    s.handle_input(bytes).unwrap();
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    out
}

/// An explicit-TLS session logged in with PROT P, TYPE I then TYPE A.
fn logged_in_explicit() -> Session {
    let config = SessionConfig::new()
        .security(Security::Explicit)
        .credentials(Credentials::new("alice", "pw"))
        .features(FeatPolicy::Skip);
    let mut s = Session::new(config).unwrap();
    assert_eq!(feed(&mut s, b"220 hi\r\n"), b"AUTH TLS\r\n");
    feed(&mut s, b"234 go\r\n");
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&Event::StartTls), "{events:?}");
    s.tls_established().unwrap();
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    assert_eq!(out, b"USER alice\r\n");
    assert_eq!(feed(&mut s, b"331 pw\r\n"), b"PASS pw\r\n");
    assert_eq!(feed(&mut s, b"230 ok\r\n"), b"PBSZ 0\r\n");
    assert_eq!(feed(&mut s, b"200 ok\r\n"), b"PROT P\r\n");
    assert_eq!(feed(&mut s, b"200 ok\r\n"), b"TYPE I\r\n");
    feed(&mut s, b"200 ok\r\n");
    assert!(s.is_idle());
    s.command(Command::Type(TransferType::Ascii)).unwrap();
    feed(&mut s, b"200 ascii\r\n");
    s
}

#[test]
fn renewal_restores_credentials_protection_and_type() {
    let s = logged_in_explicit();
    let c = s.renewal_config().expect("renewable");
    assert_eq!(c.security, Security::Explicit);
    assert_eq!(c.data_protection, DataProtection::Private);
    assert_eq!(c.transfer_type, Some(TransferType::Ascii));
    assert_eq!(
        c.credentials.as_ref().map(|c| c.user.clone()),
        Some(Arg::from("alice"))
    );
    assert_eq!(c.features, FeatPolicy::Skip);

    // The renewed session, fed the same server, sends the same login.
    let mut r = Session::new(c).unwrap();
    assert_eq!(feed(&mut r, b"220 hi\r\n"), b"AUTH TLS\r\n");
    feed(&mut r, b"234 go\r\n");
    r.tls_established().unwrap();
    let mut out = Vec::new();
    while let Some(b) = r.poll_transmit() {
        out.extend_from_slice(&b);
    }
    assert_eq!(out, b"USER alice\r\n");
    assert_eq!(feed(&mut r, b"331 pw\r\n"), b"PASS pw\r\n");
    assert_eq!(feed(&mut r, b"230 ok\r\n"), b"PBSZ 0\r\n");
    assert_eq!(feed(&mut r, b"200 ok\r\n"), b"PROT P\r\n");
    assert_eq!(feed(&mut r, b"200 ok\r\n"), b"TYPE A\r\n");
}

#[test]
fn renewal_needs_a_login_and_keeps_plain_sessions_plain() {
    // Not logged in.
    let s = Session::new(SessionConfig::new().security(Security::Explicit)).unwrap();
    assert!(s.renewal_config().is_none());
    // Plain and logged in: renewed plain (after an abandoned operation).
    let mut s = Session::new(
        SessionConfig::new()
            .credentials(Credentials::new("a", "b"))
            .features(FeatPolicy::Skip),
    )
    .unwrap();
    assert_eq!(feed(&mut s, b"220 hi\r\n"), b"USER a\r\n");
    feed(&mut s, b"230 ok\r\n");
    feed(&mut s, b"200 ok\r\n");
    assert!(s.is_logged_in());
    let c = s.renewal_config().expect("renewable");
    assert_eq!(c.security, Security::None);
}
