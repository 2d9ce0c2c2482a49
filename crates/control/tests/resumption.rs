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
    use BeforeData::{Proceed, Renew};
    let cases = [
        // ProFTPD after two uploads: it issued tickets, none is left.
        (supply(true, 2, 0), Renew),
        // A ticket on hand: go on.
        (supply(true, 2, 1), Proceed),
        // Pure-FTPd issues no ticket and does not require reuse: never renew.
        (supply(true, 0, 0), Proceed),
        // TLS 1.2 sessions can be offered again and again.
        (supply(false, 0, 0), Proceed),
        (supply(false, 3, 0), Proceed),
    ];
    for (supply, want) in cases {
        assert_eq!(supply.before_data_connection(), want, "{supply:?}");
    }
    assert!(supply(true, 1, 0).server_uses_tickets());
    assert!(!supply(true, 0, 4).server_uses_tickets());
}

#[test]
fn refusals_of_full_handshakes_are_reuse_failures() {
    use DataHandshake::{CertificateRejected, Failed, Full, Resumed};
    use ReuseFailure::{FullHandshakeRefused, HandshakeFailed};
    let vsftpd = reply(522, "SSL connection failed: session reuse required");
    let proftpd = reply(
        425,
        "Unable to build data connection: Operation not permitted",
    );
    let missing = reply(550, "No such file or directory");
    // (handshake, refusal, the server issued tickets, verdict)
    let cases = [
        (Full, Some(&vsftpd), true, Some(FullHandshakeRefused)),
        (Full, Some(&proftpd), true, Some(FullHandshakeRefused)),
        // A resumed connection was not refused for reuse.
        (Resumed, Some(&vsftpd), true, None),
        (Resumed, Some(&proftpd), true, None),
        // A missing file is a missing file, whatever the handshake.
        (Full, Some(&missing), true, None),
        // A server that never issued a ticket is not refusing for reuse,
        // unless its reply says so (vsftpd's text does).
        (Full, Some(&proftpd), false, None),
        (Full, Some(&vsftpd), false, Some(FullHandshakeRefused)),
        // A handshake that failed outright on a ticket server.
        (Failed, None, true, Some(HandshakeFailed)),
        (Failed, None, false, None),
        // A certificate the client refused is never taken for a reuse failure.
        (CertificateRejected, Some(&proftpd), true, None),
        (CertificateRejected, Some(&vsftpd), true, None),
    ];
    for (handshake, refusal, tickets, want) in cases {
        assert_eq!(
            judge_refusal(handshake, refusal, tickets),
            want,
            "{handshake:?} {refusal:?} tickets: {tickets}"
        );
    }
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

/// Everything the session has queued for sending.
fn sent(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    out
}

/// Feeds the server's `bytes`; what the session sends in answer.
fn feed(s: &mut Session, bytes: &[u8]) -> Vec<u8> {
    s.handle_input(bytes).unwrap();
    sent(s)
}

/// Takes a new explicit-TLS session for alice through its opening with a
/// server that accepts every step, checking each command it sends, up to
/// the `TYPE` line it ends with (left unanswered).
fn open_explicit(s: &mut Session, type_line: &[u8]) {
    assert_eq!(feed(s, b"220 hi\r\n"), b"AUTH TLS\r\n");
    feed(s, b"234 go\r\n");
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&Event::StartTls), "{events:?}");
    s.tls_established().unwrap();
    assert_eq!(sent(s), b"USER alice\r\n");
    assert_eq!(feed(s, b"331 pw\r\n"), b"PASS pw\r\n");
    assert_eq!(feed(s, b"230 ok\r\n"), b"PBSZ 0\r\n");
    assert_eq!(feed(s, b"200 ok\r\n"), b"PROT P\r\n");
    assert_eq!(feed(s, b"200 ok\r\n"), type_line);
}

/// An explicit-TLS session logged in with PROT P, TYPE I then TYPE A.
fn logged_in_explicit() -> Session {
    let config = SessionConfig::new()
        .security(Security::Explicit)
        .credentials(Credentials::new("alice", "pw"))
        .features(FeatPolicy::Skip);
    let mut s = Session::new(config).unwrap();
    open_explicit(&mut s, b"TYPE I\r\n");
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
    open_explicit(&mut r, b"TYPE A\r\n");
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
