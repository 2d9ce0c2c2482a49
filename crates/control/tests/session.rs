//! The session state machine, driven by scripted conversations. Every
//! server message is also fed split at every byte position.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ftpkit_control::command::ProtectionLevel;
use ftpkit_control::reply::{decode_reply, Decoded, DecoderLimits};
use ftpkit_control::session::{
    DataProtection, Downgrade, Event, FeatPolicy, Misbehaviour, Misuse, Pipelining,
    Step as RejectedStep, TlsState, Utf8Policy,
};
use ftpkit_control::{Command, Credentials, Reply, Security, Session, SessionConfig, SessionError};
use proptest::prelude::*;

#[derive(Clone, Copy)]
enum S<'a> {
    /// Bytes from the server.
    Server(&'a [u8]),
    /// Exactly these bytes must have been sent since the last check.
    Sent(&'a [u8]),
    /// Exactly `.0` must have been sent since the last check, and the
    /// server answers `.1`.
    Ask(&'a [u8], &'a [u8]),
    /// The driver finished the TLS handshake.
    TlsDone,
    /// An operation started by the driver.
    Call(fn(&mut Session) -> Result<(), SessionError>),
}

impl<'a> S<'a> {
    /// What the server sends at this step, if anything.
    fn server_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            S::Server(bytes) | S::Ask(_, bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// alice logs in with password pw.
const LOGIN: [S<'static>; 2] = [
    S::Ask(b"USER alice\r\n", b"331 pw\r\n"),
    S::Ask(b"PASS pw\r\n", b"230 ok\r\n"),
];

/// The data connections are protected (PROT P), which the server accepts.
const PROTECT_PRIVATE: [S<'static>; 2] = [
    S::Ask(b"PBSZ 0\r\n", b"200 ok\r\n"),
    S::Ask(b"PROT P\r\n", b"200 ok\r\n"),
];

fn drain(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    out
}

/// Runs a conversation, optionally feeding server message `split.0` in two
/// pieces at `split.1`. Returns the session and all events.
fn run(
    config: &SessionConfig,
    script: &[S<'_>],
    split: Option<(usize, usize)>,
) -> (Session, Vec<Event>) {
    let mut s = Session::new(config.clone()).unwrap();
    let mut events = Vec::new();
    for (i, step) in script.iter().enumerate() {
        if let S::Sent(expected) | S::Ask(expected, _) = *step {
            let sent = drain(&mut s);
            assert_eq!(
                String::from_utf8_lossy(&sent),
                String::from_utf8_lossy(expected),
                "at step {i}"
            );
        }
        if let Some(bytes) = step.server_bytes() {
            match split {
                Some((at, k)) if at == i => {
                    s.handle_input(&bytes[..k]).unwrap();
                    s.handle_input(&bytes[k..]).unwrap();
                }
                _ => s.handle_input(bytes).unwrap(),
            }
        }
        match *step {
            S::TlsDone => s.tls_established().unwrap(),
            S::Call(f) => f(&mut s).unwrap(),
            _ => {}
        }
        while let Some(e) = s.poll_event() {
            events.push(e);
        }
    }
    assert!(drain(&mut s).is_empty(), "unchecked output at end");
    (s, events)
}

/// Runs the conversation made of `parts` whole and at every split of every
/// server message.
fn converse(config: &SessionConfig, parts: &[&[S<'_>]]) -> (Session, Vec<Event>) {
    let script = parts.concat();
    let (s, events) = run(config, &script, None);
    for (i, step) in script.iter().enumerate() {
        if let Some(bytes) = step.server_bytes() {
            for k in 0..=bytes.len() {
                let (_, e2) = run(config, &script, Some((i, k)));
                assert_eq!(e2, events, "split message {i} at {k}");
            }
        }
    }
    (s, events)
}

/// The one reply in `raw`.
fn reply(raw: &[u8]) -> Reply {
    match decode_reply(raw, DecoderLimits::default()) {
        Decoded::Complete { reply, rest: [] } => reply,
        other => panic!("not one reply: {other:?}"),
    }
}

fn creds() -> Credentials {
    Credentials::new("alice", "pw")
}

fn plain() -> SessionConfig {
    SessionConfig::new().credentials(creds())
}

fn explicit() -> SessionConfig {
    SessionConfig::new()
        .security(Security::Explicit)
        .credentials(creds())
}

const FEAT_UTF8: &[u8] = b"211-Features:\r\n MDTM\r\n REST STREAM\r\n SIZE\r\n UTF8\r\n MLST type*;size*;modify*;\r\n211 End\r\n";

#[test]
fn plain_login_with_feat_and_utf8() {
    let (s, events) = converse(
        &plain().pipelining(Pipelining::Off),
        &[&[
            S::Server(b"220 (vsFTPd 3.0.3)\r\n"),
            S::Ask(b"USER alice\r\n", b"331 Please specify the password.\r\n"),
            S::Ask(b"PASS pw\r\n", b"230 Login successful.\r\n"),
            S::Ask(b"FEAT\r\n", FEAT_UTF8),
            S::Ask(b"OPTS UTF8 ON\r\n", b"200 Always in UTF8 mode.\r\n"),
            S::Ask(b"TYPE I\r\n", b"200 Switching to Binary mode.\r\n"),
        ]],
    );
    assert!(s.is_idle() && s.is_logged_in() && s.utf8_enabled());
    assert!(s.features().supports_mlsx());
    assert_eq!(s.data_protection(), ProtectionLevel::Clear);
    assert!(matches!(events[0], Event::Greeting(_)));
    assert!(matches!(events[1], Event::LoggedIn(_)));
    assert_eq!(events[2], Event::Ready);
    assert_eq!(events.len(), 3);
}

#[test]
fn explicit_tls_full_opening() {
    let (s, events) = converse(
        &explicit().host("ftp.example.com"),
        &[
            &[
                S::Server(b"220-Welcome\r\n220 ProFTPD\r\n"),
                S::Ask(b"HOST ftp.example.com\r\n", b"220 HOST ok\r\n"),
                S::Ask(b"AUTH TLS\r\n", b"234 AUTH TLS successful\r\n"),
                S::Sent(b""),
                S::TlsDone,
            ],
            &LOGIN,
            &[
                S::Ask(b"PBSZ 0\r\n", b"200 PBSZ 0 successful\r\n"),
                S::Ask(b"PROT P\r\n", b"200 Protection set to Private\r\n"),
                S::Ask(
                    b"FEAT\r\n",
                    b"211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n",
                ),
                S::Ask(b"TYPE I\r\n", b"200 Type set to I\r\n"),
            ],
        ],
    );
    assert_eq!(s.tls_state(), TlsState::Active);
    assert_eq!(s.data_protection(), ProtectionLevel::Private);
    assert!(events.contains(&Event::StartTls));
    assert_eq!(events.last(), Some(&Event::Ready));
}

#[test]
fn implicit_tls_sends_no_auth_but_protects_data() {
    let (s, _) = converse(
        &SessionConfig::new()
            .security(Security::Implicit)
            .credentials(creds())
            .features(FeatPolicy::Skip),
        &[
            &[S::Server(b"220 ready\r\n")],
            &LOGIN,
            &PROTECT_PRIVATE,
            &[S::Ask(b"TYPE I\r\n", b"200 ok\r\n")],
        ],
    );
    assert_eq!(s.data_protection(), ProtectionLevel::Private);
}

#[test]
fn clear_data_protection_is_explicit() {
    let (s, _) = converse(
        &explicit()
            .data_protection(DataProtection::Clear)
            .features(FeatPolicy::Skip)
            .transfer_type(None),
        &[&[
            S::Server(b"220 hi\r\n"),
            S::Ask(b"AUTH TLS\r\n", b"234 go\r\n"),
            S::TlsDone,
            S::Ask(b"USER alice\r\n", b"230 ok\r\n"),
            S::Ask(b"PBSZ 0\r\n", b"200 ok\r\n"),
            S::Ask(b"PROT C\r\n", b"200 ok\r\n"),
        ]],
    );
    assert_eq!(s.data_protection(), ProtectionLevel::Clear);
}

/// Feeds bytes and returns the error, checking nothing more is sent.
fn feed_err(s: &mut Session, bytes: &[u8]) -> SessionError {
    let e = s.handle_input(bytes).unwrap_err();
    assert!(drain(s).is_empty(), "sent after error");
    assert!(s.is_closed());
    // Failed for good: every later call is refused.
    assert_eq!(s.handle_input(b"200 ok\r\n"), Err(Misuse::Failed.into()));
    assert!(s.command(Command::Noop).is_err());
    e
}

fn opened(config: SessionConfig) -> Session {
    let mut s = Session::new(config).unwrap();
    s.handle_input(b"220 hi\r\n").unwrap();
    s
}

#[test]
fn bytes_after_234_in_the_same_read_are_refused() {
    for read in [
        &b"234 go\r\n230 injected plaintext\r\n"[..],
        // Only the start of a reply.
        b"234 go\r\n2",
    ] {
        let mut s = opened(explicit());
        assert_eq!(drain(&mut s), b"AUTH TLS\r\n");
        let e = feed_err(&mut s, read);
        assert_eq!(
            e,
            SessionError::ServerMisbehaved(Misbehaviour::BytesAfterAuth),
            "{read:?}"
        );
    }
}

#[test]
fn bytes_after_234_in_a_later_read_are_refused() {
    let mut s = opened(explicit());
    drain(&mut s);
    s.handle_input(b"234 go\r\n").unwrap();
    assert_eq!(s.poll_event().map(|_| ()), Some(())); // Greeting
    assert_eq!(s.poll_event(), Some(Event::StartTls));
    let e = feed_err(&mut s, b"x");
    assert_eq!(
        e,
        SessionError::ServerMisbehaved(Misbehaviour::BytesAfterAuth)
    );
}

#[test]
fn greeting_230_is_a_downgrade_when_tls_required() {
    let mut s = Session::new(explicit()).unwrap();
    let e = feed_err(&mut s, b"230 already logged in\r\n");
    assert!(matches!(
        e,
        SessionError::Downgrade(Downgrade::LoggedInWithoutTls(_))
    ));
}

#[test]
fn greeting_230_without_tls_logs_in() {
    let (s, _) = converse(
        &plain(),
        &[&[
            S::Server(b"230 no login needed\r\n"),
            S::Ask(b"FEAT\r\n", b"500 no\r\n"),
            S::Ask(b"TYPE I\r\n", b"200 ok\r\n"),
        ]],
    );
    assert!(s.is_logged_in());
    assert!(s.features().is_empty());
}

/// Makes the downgrade a refusal is reported as.
type Refusal = fn(Reply) -> Downgrade;

#[test]
fn refused_auth_is_a_downgrade_and_user_is_never_sent() {
    // (the refusal, the downgrade it is reported as)
    let cases: [(&[u8], Refusal); 5] = [
        (b"500 AUTH not understood\r\n", Downgrade::AuthRefused),
        (b"534 no TLS\r\n", Downgrade::AuthRefused),
        (b"431 later\r\n", Downgrade::AuthRefused),
        (b"230 fine\r\n", Downgrade::LoggedInWithoutTls),
        (b"334 ADAT\r\n", Downgrade::AuthRefused),
    ];
    for (refusal, downgrade) in cases {
        let mut s = opened(explicit());
        assert_eq!(drain(&mut s), b"AUTH TLS\r\n");
        let e = feed_err(&mut s, refusal);
        assert_eq!(e, SessionError::Downgrade(downgrade(reply(refusal))));
    }
}

fn logged_in_tls() -> Session {
    let mut s = opened(explicit().features(FeatPolicy::Skip));
    drain(&mut s);
    s.handle_input(b"234 go\r\n").unwrap();
    s.tls_established().unwrap();
    s.handle_input(b"331 pw\r\n").unwrap();
    s.handle_input(b"230 ok\r\n").unwrap();
    drain(&mut s);
    s
}

#[test]
fn refused_pbsz_or_prot_p_is_a_downgrade() {
    let mut s = logged_in_tls();
    let e = feed_err(&mut s, b"503 PBSZ not accepted\r\n");
    assert!(matches!(
        e,
        SessionError::Downgrade(Downgrade::PbszRefused(_))
    ));

    let mut s = logged_in_tls();
    s.handle_input(b"200 PBSZ ok\r\n").unwrap();
    assert_eq!(drain(&mut s), b"PROT P\r\n");
    let e = feed_err(&mut s, b"536 PROT P not supported\r\n");
    assert!(matches!(
        e,
        SessionError::Downgrade(Downgrade::ProtRefused(_))
    ));
}

#[test]
fn reply_421_anywhere_is_server_closed() {
    let scripts: &[&[&[u8]]] = &[
        &[b"421 Too many users\r\n"],
        &[b"220 hi\r\n", b"421 Timeout\r\n"],
        &[b"220 hi\r\n", b"331 pw\r\n", b"421 bye\r\n"],
        &[
            b"220 hi\r\n",
            b"331 pw\r\n",
            b"230 ok\r\n",
            b"211 none\r\n",
            b"200 ok\r\n",
            b"150 go\r\n421 Shutting down\r\n",
        ],
    ];
    for script in scripts {
        let mut s = Session::new(plain()).unwrap();
        let (last, init) = script.split_last().unwrap();
        for m in init {
            s.handle_input(m).unwrap();
            if s.is_idle() {
                s.transfer(Command::Retr("f".into())).unwrap();
            }
        }
        drain(&mut s);
        let e = feed_err(&mut s, last);
        assert!(
            matches!(e, SessionError::ServerClosed(Some(ref r)) if r.code().as_u16() == 421),
            "{e:?}"
        );
    }
}

#[test]
fn greeting_refusals() {
    let mut s = Session::new(plain()).unwrap();
    assert!(matches!(
        feed_err(&mut s, b"530 not allowed\r\n"),
        SessionError::GreetingRefused(_)
    ));
    // 120 then 220 works.
    let mut s = Session::new(plain()).unwrap();
    s.handle_input(b"120 wait 1 minute\r\n").unwrap();
    assert!(drain(&mut s).is_empty());
    s.handle_input(b"220 now\r\n").unwrap();
    assert_eq!(drain(&mut s), b"USER alice\r\n");
}

#[test]
fn misuse_is_typed_and_changes_nothing() {
    let mut s = Session::new(plain()).unwrap();
    assert!(matches!(
        s.command(Command::Noop),
        Err(SessionError::Misuse(Misuse::Busy(_)))
    ));
    assert_eq!(s.tls_established(), Err(Misuse::NoHandshakePending.into()));
    s.handle_input(b"220 hi\r\n").unwrap();
    drain(&mut s);
    assert!(matches!(
        s.transfer(Command::Retr("x".into())),
        Err(SessionError::Misuse(Misuse::Busy(_)))
    ));
    assert!(matches!(s.quit(), Err(SessionError::Misuse(_))));
    assert!(drain(&mut s).is_empty());

    let mut s = Session::new(SessionConfig::new()).unwrap();
    s.handle_input(b"220 hi\r\n").unwrap();
    assert!(s.is_idle());
    assert_eq!(
        s.transfer(Command::Retr("x".into())),
        Err(Misuse::NotLoggedIn.into())
    );
    assert_eq!(s.ccc(), Err(Misuse::NotSecure.into()));
    assert!(matches!(
        s.command(Command::Retr("x".into())),
        Err(SessionError::Misuse(Misuse::UseDedicatedMethod("RETR")))
    ));
    assert!(matches!(
        s.command(Command::Raw("auth tls".into())),
        Err(SessionError::Misuse(Misuse::UseDedicatedMethod("AUTH")))
    ));
    assert!(matches!(
        s.command(Command::Quit),
        Err(SessionError::Misuse(Misuse::UseDedicatedMethod("QUIT")))
    ));
    assert!(drain(&mut s).is_empty());
    assert!(s.is_idle());
}

#[test]
fn invalid_arguments_send_nothing() {
    let mut s = Session::new(SessionConfig::new()).unwrap();
    s.handle_input(b"220 hi\r\n").unwrap();
    assert!(matches!(
        s.command(Command::Cwd("a\r\nDELE b".into())),
        Err(SessionError::InvalidCommand(_))
    ));
    assert!(matches!(
        s.login(Credentials::new("bob\r\nDELE x", "p")),
        Err(SessionError::InvalidCommand(_))
    ));
    assert!(matches!(
        s.login(Credentials::new("bob", "p\0")),
        Err(SessionError::InvalidCommand(_))
    ));
    assert!(drain(&mut s).is_empty());
    assert!(s.is_idle());
    assert!(Session::new(SessionConfig::new().credentials(Credentials::new("a", "b\nc"))).is_err());
    assert!(Session::new(SessionConfig::new().host("h\r\n")).is_err());
}

#[test]
fn login_rejected_then_retry() {
    let config = SessionConfig::new();
    let mut s = opened(config);
    s.login(creds()).unwrap();
    assert_eq!(drain(&mut s), b"USER alice\r\n");
    s.handle_input(b"331 pw\r\n").unwrap();
    assert_eq!(drain(&mut s), b"PASS pw\r\n");
    s.handle_input(b"530 Login incorrect.\r\n").unwrap();
    assert!(matches!(
        events(&mut s).last(),
        Some(Event::Rejected {
            step: RejectedStep::Pass,
            ..
        })
    ));
    assert!(s.is_idle() && !s.is_logged_in());
    s.login(creds()).unwrap();
    assert_eq!(drain(&mut s), b"USER alice\r\n");
}

#[test]
fn account_on_332() {
    let (s, _) = converse(
        &SessionConfig::new()
            .credentials(creds().with_account("acct1"))
            .features(FeatPolicy::Skip)
            .transfer_type(None),
        &[&[
            S::Server(b"220 hi\r\n"),
            S::Ask(b"USER alice\r\n", b"331 pw\r\n"),
            S::Ask(b"PASS pw\r\n", b"332 need account\r\n"),
            S::Ask(b"ACCT acct1\r\n", b"230 ok\r\n"),
        ]],
    );
    assert!(s.is_logged_in());
    // Without an account, 332 is a rejection.
    let mut s = opened(SessionConfig::new().credentials(creds()));
    s.handle_input(b"332 need account\r\n").unwrap();
    assert!(matches!(
        events(&mut s).last(),
        Some(Event::Rejected {
            step: RejectedStep::Acct,
            ..
        })
    ));
}

#[test]
fn secure_after_login_negotiates_at_once() {
    let cfg = plain().features(FeatPolicy::Skip).transfer_type(None);
    let (s, events) = converse(
        &cfg,
        &[
            &[
                S::Server(b"220 hi\r\n"),
                S::Ask(b"USER alice\r\n", b"230 ok\r\n"),
                S::Call(Session::secure),
                S::Ask(b"AUTH TLS\r\n", b"234 go\r\n"),
                S::TlsDone,
            ],
            &PROTECT_PRIVATE,
        ],
    );
    assert_eq!(s.data_protection(), ProtectionLevel::Private);
    assert_eq!(events.iter().filter(|e| **e == Event::Ready).count(), 2);
}

#[test]
fn secure_before_login_defers_protection_to_login() {
    let cfg = SessionConfig::new()
        .features(FeatPolicy::Skip)
        .transfer_type(None);
    let (s, _) = converse(
        &cfg,
        &[
            &[
                S::Server(b"220 hi\r\n"),
                S::Call(Session::secure),
                S::Ask(b"AUTH TLS\r\n", b"234 go\r\n"),
                S::TlsDone,
                S::Sent(b""),
                S::Call(|s| s.login(Credentials::new("alice", "pw"))),
            ],
            &LOGIN,
            &PROTECT_PRIVATE,
        ],
    );
    assert_eq!(s.data_protection(), ProtectionLevel::Private);
}

#[test]
fn secure_refused_on_plain_session_is_a_downgrade() {
    let mut s = opened(SessionConfig::new());
    s.secure().unwrap();
    drain(&mut s);
    assert!(matches!(
        feed_err(&mut s, b"502 not implemented\r\n"),
        SessionError::Downgrade(Downgrade::AuthRefused(_))
    ));
}

#[test]
fn login_refused_before_tls_when_required() {
    let mut s = Session::new(SessionConfig::new().security(Security::Explicit)).unwrap();
    s.handle_input(b"220 hi\r\n").unwrap();
    assert_eq!(drain(&mut s), b"AUTH TLS\r\n");
    // Busy until the handshake; and a plain login is never possible.
    assert!(s.login(creds()).is_err());
}

fn ready() -> Session {
    let mut s = opened(plain().features(FeatPolicy::Skip).transfer_type(None));
    s.handle_input(b"230 ok\r\n").unwrap();
    drain(&mut s);
    while s.poll_event().is_some() {}
    assert!(s.is_idle());
    s
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn transfer_mark_and_completion() {
    let mut s = ready();
    s.transfer(Command::Retr("f".into())).unwrap();
    assert_eq!(drain(&mut s), b"RETR f\r\n");
    assert!(s.in_transfer());
    s.handle_input(b"150 Opening BINARY mode data connection\r\n")
        .unwrap();
    assert!(matches!(events(&mut s)[..], [Event::TransferStarted(_)]));
    s.handle_input(b"226 Transfer complete\r\n").unwrap();
    assert!(matches!(events(&mut s)[..], [Event::TransferCompleted(_)]));
    assert!(s.is_idle());
}

#[test]
fn transfer_failures_at_mark_and_completion() {
    let mut s = ready();
    s.transfer(Command::Retr("missing".into())).unwrap();
    s.handle_input(b"550 Failed to open file.\r\n").unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::TransferFailed(r)] if r.code().as_u16() == 550));
    assert!(s.is_idle());
    s.transfer(Command::Stor("f".into())).unwrap();
    s.handle_input(b"150 ok\r\n426 Failure reading network stream.\r\n")
        .unwrap();
    assert!(
        matches!(&events(&mut s)[..], [Event::TransferStarted(_), Event::TransferFailed(r)] if r.code().as_u16() == 426)
    );
    s.transfer(Command::List(None)).unwrap();
    s.handle_input(b"226 nothing to list\r\n").unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::TransferCompleted(_)]));
    s.transfer(Command::Nlst(None)).unwrap();
    s.handle_input(b"425 Can't open data connection\r\n")
        .unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::TransferFailed(r)] if r.code().is_transient()));
}

#[test]
fn abort_during_transfer_with_two_replies_or_one() {
    // (replies to ABOR before the marker, replies after it, count)
    let cases: [(&[u8], &[u8], usize); 4] = [
        (b"426 aborted\r\n", b"226 ABOR ok\r\n", 2),
        (b"225 ABOR ok\r\n", b"", 1),
        (b"226 done\r\n", b"225 no transfer\r\n", 2),
        // Pure-FTPd ends an aborted download with a 150 line first.
        (b"150 0.01 seconds\r\n426 ABORT\r\n", b"226 aborted\r\n", 3),
    ];
    for (before, after, count) in cases {
        let mut s = ready();
        s.transfer(Command::Retr("f".into())).unwrap();
        s.handle_input(b"150 go\r\n").unwrap();
        events(&mut s);
        drain(&mut s);
        s.abort().unwrap();
        // ABOR alone: nothing may follow it while the server may still be
        // in its transfer loop.
        assert_eq!(drain(&mut s), b"ABOR\r\n");
        s.handle_input(before).unwrap();
        assert_eq!(drain(&mut s), b"PWD\r\n");
        s.handle_input(after).unwrap();
        assert!(!s.is_idle());
        s.handle_input(b"257 \"/\" is the current directory\r\n")
            .unwrap();
        let ev = events(&mut s);
        let Event::Aborted(got) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(got.len(), count);
        assert!(s.is_idle());
    }
}

#[test]
fn abort_when_idle() {
    let mut s = ready();
    s.abort().unwrap();
    s.handle_input(b"225 No transfer to ABOR.\r\n").unwrap();
    assert_eq!(drain(&mut s), b"ABOR\r\nPWD\r\n");
    s.handle_input(b"257 \"/\"\r\n").unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::Aborted(r)] if r.len() == 1));
}

#[test]
fn simple_commands_and_unsolicited_replies() {
    let mut s = ready();
    s.command(Command::Pwd).unwrap();
    assert_eq!(drain(&mut s), b"PWD\r\n");
    s.handle_input(b"257 \"/home\"\r\n").unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::Reply(r)] if r.code().as_u16() == 257));
    s.command(Command::Rnfr("a".into())).unwrap();
    s.handle_input(b"350 ready\r\n").unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::Reply(r)] if r.code().as_u16() == 350));
    drain(&mut s);
    let e = feed_err(&mut s, b"200 surprise\r\n");
    assert!(matches!(
        e,
        SessionError::ServerMisbehaved(Misbehaviour::UnsolicitedReply(_))
    ));
}

#[test]
fn quit_and_eof() {
    let mut s = ready();
    s.quit().unwrap();
    assert_eq!(drain(&mut s), b"QUIT\r\n");
    s.handle_input(b"221 Goodbye.\r\n").unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::Closed(_)]));
    s.handle_eof().unwrap();
    assert!(s.is_closed());

    let mut s = ready();
    s.command(Command::Noop).unwrap();
    assert_eq!(s.handle_eof(), Err(SessionError::ServerClosed(None)));
}

#[test]
fn ccc_drops_tls_but_keeps_protection() {
    let mut s = logged_in_tls();
    s.handle_input(b"200 ok\r\n200 ok\r\n200 ok\r\n").unwrap();
    assert_eq!(drain(&mut s), b"PROT P\r\nTYPE I\r\n");
    assert!(s.is_idle());
    s.ccc().unwrap();
    assert_eq!(drain(&mut s), b"CCC\r\n");
    s.handle_input(b"200 CCC ok\r\n").unwrap();
    assert!(events(&mut s).contains(&Event::StopTls));
    assert_eq!(s.tls_state(), TlsState::Cleared);
    assert_eq!(s.data_protection(), ProtectionLevel::Private);
}

#[test]
fn utf8_never_policy() {
    let (s, _) = converse(
        &plain().utf8(Utf8Policy::Never).transfer_type(None),
        &[&[
            S::Server(b"220 hi\r\n"),
            S::Ask(b"USER alice\r\n", b"230 ok\r\n"),
            S::Ask(b"FEAT\r\n", FEAT_UTF8),
        ]],
    );
    assert!(!s.utf8_enabled());
}

#[test]
fn password_not_in_session_debug() {
    let mut s =
        Session::new(SessionConfig::new().credentials(Credentials::new("u", "topsecret-pw")))
            .unwrap();
    assert!(!format!("{s:?}").contains("topsecret"));
    // With PASS queued for sending (found by the session fuzz target).
    s.handle_input(b"220 hi\r\n331 pw\r\n").unwrap();
    assert!(!format!("{s:?} {s:#?}").contains("topsecret"));
    assert!(String::from_utf8_lossy(&drain(&mut s)).contains("PASS topsecret-pw"));
}

proptest! {
    /// Arbitrary server bytes, in arbitrary chunks, never panic the session,
    /// whatever state it is in, and a failed session stays failed.
    #[test]
    fn arbitrary_server_bytes_never_panic(
        prefix in 0usize..4,
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
    ) {
        let openers: [&[u8]; 4] = [b"", b"220 hi\r\n", b"220 hi\r\n331 p\r\n", b"220 hi\r\n230 ok\r\n"];
        let mut s = Session::new(explicit()).unwrap();
        let _ = s.handle_input(openers[prefix]);
        let _ = s.tls_established();
        for c in chunks {
            let failed_before = s.is_closed();
            let r = s.handle_input(&c);
            if failed_before { prop_assert!(r.is_err()); }
            let _ = drain(&mut s);
            while s.poll_event().is_some() {}
            if s.is_idle() {
                let _ = s.transfer(Command::Retr("f".into()));
            }
        }
    }
}

/// Logged in on a server that greeted with `greeting`, with `policy`.
fn ready_on(greeting: &[u8], policy: Pipelining) -> Session {
    let config = plain()
        .features(FeatPolicy::Skip)
        .transfer_type(None)
        .pipelining(policy);
    let mut s = Session::new(config).unwrap();
    s.handle_input(greeting).unwrap();
    s.handle_input(b"331 pw\r\n230 ok\r\n").unwrap();
    drain(&mut s);
    events(&mut s);
    assert!(s.is_idle());
    s
}

const VSFTPD: &[u8] = b"220 (vsFTPd 3.0.3)\r\n";
const EPSV_229: &[u8] = b"229 Entering Extended Passive Mode (|||22088|)\r\n";

/// `RETR f` with `EPSV` pipelined behind it, in one write.
fn retr_ahead(s: &mut Session) {
    s.transfer(Command::Retr("f".into())).unwrap();
    s.send_ahead(Command::Epsv(None)).unwrap();
    assert_eq!(drain(s), b"RETR f\r\nEPSV\r\n");
}

#[test]
fn pipelining_follows_the_policy_and_the_greeting() {
    for (greeting, policy, on) in [
        (VSFTPD, Pipelining::Auto, true),
        (VSFTPD, Pipelining::Off, false),
        (
            &b"220 ProFTPD Server ready.\r\n"[..],
            Pipelining::Auto,
            false,
        ),
        (
            b"220---------- Welcome to Pure-FTPd ----------\r\n220 ok\r\n",
            Pipelining::Auto,
            false,
        ),
        (b"220 pyftpdlib 1.5.7 ready.\r\n", Pipelining::On, true),
        (
            b"220 h FTP server (GNU inetutils 2.4) ready.\r\n",
            Pipelining::Auto,
            true,
        ),
        (
            b"220 ftpkit interop TWISTED (Twisted FTP) ready.\r\n",
            Pipelining::Auto,
            false,
        ),
    ] {
        let mut s = ready_on(greeting, policy);
        assert_eq!(s.pipelines(), on, "{:?}", String::from_utf8_lossy(greeting));
        s.transfer(Command::Retr("f".into())).unwrap();
        let ahead = s.send_ahead(Command::Epsv(None));
        assert_eq!(ahead.is_ok(), on);
        if !on {
            assert_eq!(ahead, Err(Misuse::PipeliningOff.into()));
            assert_eq!(drain(&mut s), b"RETR f\r\n");
        }
    }
}

#[test]
fn the_answer_ahead_comes_after_the_transfer_and_is_kept_once() {
    let mut s = ready_on(VSFTPD, Pipelining::Auto);
    retr_ahead(&mut s);
    // The completion and the answer in one read, as vsftpd sends them.
    s.handle_input(b"150 Opening\r\n226 Transfer complete.\r\n")
        .unwrap();
    assert!(s.owes_ahead() && !s.is_idle() && !s.in_transfer());
    assert_eq!(s.take_ahead(), None, "not before it came");
    s.handle_input(EPSV_229).unwrap();
    assert!(matches!(
        &events(&mut s)[..],
        [Event::TransferStarted(_), Event::TransferCompleted(_), Event::Ahead(r)] if r.code().as_u16() == 229
    ));
    assert!(s.is_idle() && s.pipelines());
    assert_eq!(s.take_ahead(), Some(reply(EPSV_229)));
    assert_eq!(s.take_ahead(), None, "taken once");

    // A refused transfer still owes the answer; a refused answer is not kept.
    retr_ahead(&mut s);
    s.handle_input(b"550 Failed to open file.\r\n").unwrap();
    assert!(s.owes_ahead());
    s.handle_input(b"425 Can't open passive connection.\r\n")
        .unwrap();
    assert!(matches!(
        &events(&mut s)[..],
        [Event::TransferFailed(_), Event::Ahead(r)] if r.code().as_u16() == 425
    ));
    assert!(s.is_idle());
    assert_eq!(s.take_ahead(), None);

    // Another passive command, or a transfer, supersedes a kept answer.
    for next in [Command::Epsv(None), Command::Pasv] {
        retr_ahead(&mut s);
        s.handle_input(b"226 ok\r\n").unwrap();
        s.handle_input(EPSV_229).unwrap();
        s.command(next).unwrap();
        assert_eq!(s.take_ahead(), None);
        drain(&mut s);
        s.handle_input(b"200 whatever\r\n").unwrap();
    }
    retr_ahead(&mut s);
    s.handle_input(b"226 ok\r\n").unwrap();
    s.handle_input(EPSV_229).unwrap();
    s.transfer(Command::List(None)).unwrap();
    assert_eq!(s.take_ahead(), None);
}

#[test]
fn an_answer_ahead_before_the_end_turns_pipelining_off() {
    let mut s = ready_on(VSFTPD, Pipelining::Auto);
    retr_ahead(&mut s);
    // The server read EPSV during the transfer: its 229 is not the end.
    s.handle_input(b"150 Opening\r\n").unwrap();
    s.handle_input(EPSV_229).unwrap();
    assert!(s.in_transfer() && !s.pipelines());
    s.handle_input(b"226 Transfer complete.\r\n").unwrap();
    assert!(matches!(
        &events(&mut s)[..],
        [
            Event::TransferStarted(_),
            Event::Ahead(_),
            Event::TransferCompleted(_)
        ]
    ));
    assert!(s.is_idle());
    assert_eq!(s.take_ahead(), None);
    // A session renewed in its place does not pipeline either.
    let renewed = s.renewal_config().unwrap();
    assert_eq!(renewed.pipelining, Pipelining::Off);
    s.transfer(Command::Retr("f".into())).unwrap();
    refuses_ahead(&mut s, Misuse::PipeliningOff);
}

/// `send_ahead(EPSV)` is refused with `misuse`.
fn refuses_ahead(s: &mut Session, misuse: Misuse) {
    assert_eq!(s.send_ahead(Command::Epsv(None)), Err(misuse.into()));
}

#[test]
fn a_refusal_that_cannot_end_a_transfer_is_the_answer_ahead_and_the_transfer_goes_on() {
    // ProFTPD answers a command it reads during a transfer with 450, a
    // code that never ends a started transfer.
    let mut s = ready_on(b"220 ProFTPD Server\r\n", Pipelining::On);
    retr_ahead(&mut s);
    s.handle_input(b"150 Opening\r\n450 EPSV: data transfer in progress\r\n")
        .unwrap();
    assert!(s.in_transfer() && !s.pipelines() && !s.owes_ahead());
    s.handle_input(b"226 Transfer complete\r\n").unwrap();
    assert!(matches!(
        &events(&mut s)[..],
        [Event::TransferStarted(_), Event::Ahead(a), Event::TransferCompleted(c)]
            if a.code().as_u16() == 450 && c.code().as_u16() == 226
    ));
    assert!(s.is_idle());
    assert_eq!(s.take_ahead(), None);

    // Before the mark, 450 is the transfer command's own refusal (RFC 959:
    // file busy), and the answer stays due.
    let mut s = ready_on(b"220 ProFTPD Server\r\n", Pipelining::On);
    retr_ahead(&mut s);
    s.handle_input(b"450 f: file busy\r\n").unwrap();
    assert!(s.owes_ahead() && s.pipelines());
    assert!(matches!(&events(&mut s)[..], [Event::TransferFailed(f)] if f.code().as_u16() == 450));
}

#[test]
fn a_refusal_that_could_end_the_transfer_is_its_failure_and_ends_pipelining() {
    // A 425 read after the mark cannot be told from the transfer's own
    // failure, so the transfer fails (never a silent success); its real 226
    // then comes where the answer was due, which keeps the session in step.
    let mut s = ready_on(b"220 ProFTPD Server\r\n", Pipelining::On);
    retr_ahead(&mut s);
    s.handle_input(b"150 Opening\r\n425 EPSV: no port free\r\n")
        .unwrap();
    assert!(s.owes_ahead());
    s.handle_input(b"226 Transfer complete\r\n").unwrap();
    assert!(matches!(
        &events(&mut s)[..],
        [Event::TransferStarted(_), Event::TransferFailed(f), Event::Ahead(c)]
            if f.code().as_u16() == 425 && c.code().as_u16() == 226
    ));
    assert!(s.is_idle() && !s.pipelines());
    assert_eq!(s.take_ahead(), None);
}

#[test]
fn send_ahead_misuse_changes_nothing() {
    let mut s = ready_on(VSFTPD, Pipelining::Auto);
    refuses_ahead(&mut s, Misuse::NotInTransfer);
    s.transfer(Command::Retr("f".into())).unwrap();
    assert_eq!(
        s.send_ahead(Command::Noop),
        Err(Misuse::NotAPassiveCommand("NOOP").into())
    );
    s.send_ahead(Command::Pasv).unwrap();
    assert!(matches!(
        s.send_ahead(Command::Epsv(None)),
        Err(SessionError::Misuse(Misuse::Busy(_)))
    ));
    assert_eq!(drain(&mut s), b"RETR f\r\nPASV\r\n");
    // After the mark it is too late: the server may be past the command.
    s.handle_input(b"150 go\r\n226 ok\r\n227 Entering Passive Mode (127,0,0,1,85,240)\r\n")
        .unwrap();
    assert!(s.take_ahead().is_some_and(|r| r.code().as_u16() == 227));
    s.transfer(Command::Retr("f".into())).unwrap();
    s.handle_input(b"150 go\r\n").unwrap();
    refuses_ahead(&mut s, Misuse::NotInTransfer);
}

#[test]
fn abort_collects_an_answer_ahead_and_keeps_nothing() {
    let mut s = ready_on(VSFTPD, Pipelining::Auto);
    retr_ahead(&mut s);
    s.handle_input(b"150 go\r\n").unwrap();
    s.abort().unwrap();
    assert_eq!(drain(&mut s), b"ABOR\r\n");
    // vsftpd: the failed transfer, then the queued EPSV, then ABOR.
    s.handle_input(b"426 Failure writing network stream.\r\n")
        .unwrap();
    assert_eq!(drain(&mut s), b"PWD\r\n");
    s.handle_input(EPSV_229).unwrap();
    s.handle_input(b"225 No transfer to ABOR.\r\n257 \"/\"\r\n")
        .unwrap();
    let ev = events(&mut s);
    assert!(
        matches!(&ev[..], [Event::TransferStarted(_), Event::Aborted(r)] if r.len() == 3),
        "{ev:?}"
    );
    assert!(s.is_idle());
    assert_eq!(s.take_ahead(), None);
}

// ----- pipelined login ----------------------------------------------------

/// The opening ended logged in and ready, with no other event.
fn logged_in_and_ready(s: &Session, events: &[Event]) {
    assert!(s.is_idle() && s.is_logged_in());
    assert!(matches!(
        events,
        [Event::Greeting(_), Event::LoggedIn(_), Event::Ready]
    ));
}

#[test]
fn a_pipelined_login_sends_user_with_pass_and_the_settings_in_one_write() {
    let (s, events) = converse(
        &plain(),
        &[&[
            S::Server(VSFTPD),
            S::Ask(
                b"USER alice\r\nPASS pw\r\n",
                b"331 Please specify the password.\r\n",
            ),
            S::Ask(b"", b"230 Login successful.\r\n"),
            S::Ask(b"FEAT\r\nTYPE I\r\n", FEAT_UTF8),
            S::Server(b"200 Switching to Binary mode.\r\n"),
            // OPTS UTF8 waits for the FEAT reply that offers it.
            S::Ask(b"OPTS UTF8 ON\r\n", b"200 Always in UTF8 mode.\r\n"),
        ]],
    );
    logged_in_and_ready(&s, &events);
    assert!(s.utf8_enabled() && s.features().supports_mlsx());
}

#[test]
fn a_pipelined_explicit_tls_login_sends_pbsz_prot_feat_and_type_in_one_write() {
    let (s, events) = converse(
        &explicit(),
        &[&[
            S::Server(VSFTPD),
            // AUTH alone: the TLS handshake follows its reply.
            S::Ask(b"AUTH TLS\r\n", b"234 Proceed with negotiation.\r\n"),
            S::Sent(b""),
            S::TlsDone,
            S::Ask(b"USER alice\r\nPASS pw\r\n", b"331 pw\r\n230 ok\r\n"),
            S::Ask(
                b"PBSZ 0\r\nPROT P\r\nFEAT\r\nTYPE I\r\n",
                b"200 PBSZ set to 0.\r\n200 PROT now Private.\r\n211 no features\r\n200 Binary.\r\n",
            ),
        ]],
    );
    assert!(s.is_idle() && s.is_logged_in());
    assert_eq!(s.data_protection(), ProtectionLevel::Private);
    assert_eq!(events.last(), Some(&Event::Ready));
}

#[test]
fn a_pass_sent_ahead_of_a_user_that_needs_none_is_read_and_dropped() {
    let (s, events) = converse(
        &plain().features(FeatPolicy::Skip),
        &[&[
            S::Server(VSFTPD),
            S::Ask(b"USER alice\r\nPASS pw\r\n", b"230 No password needed.\r\n"),
            // The settings wait for PASS's reply, which is dropped.
            S::Ask(b"", b"503 Already logged in.\r\n"),
            S::Ask(b"TYPE I\r\n", b"200 Binary.\r\n"),
        ]],
    );
    logged_in_and_ready(&s, &events);
}

#[test]
fn a_refused_pipelined_user_ends_after_the_pass_reply_and_stays_in_step() {
    let config = plain().features(FeatPolicy::Skip);
    let (mut s, opened) = converse(
        &config,
        &[&[
            S::Server(VSFTPD),
            S::Ask(
                b"USER alice\r\nPASS pw\r\n",
                b"530 This FTP server is anonymous only.\r\n",
            ),
            S::Ask(b"", b"503 Login with USER first.\r\n"),
        ]],
    );
    assert!(matches!(
        &opened[..],
        [Event::Greeting(_), Event::Rejected { step: RejectedStep::User, reply }]
            if reply.code().as_u16() == 530
    ));
    assert!(s.is_idle() && !s.is_logged_in());
    // The next command gets its own reply.
    s.command(Command::Noop).unwrap();
    assert_eq!(drain(&mut s), b"NOOP\r\n");
    s.handle_input(b"200 NOOP ok.\r\n").unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::Reply(r)] if r.code().as_u16() == 200));
}

#[test]
fn a_pipelined_user_that_needs_an_account_drops_the_pass_reply_and_sends_acct() {
    let (s, events) = converse(
        &SessionConfig::new()
            .credentials(creds().with_account("acc"))
            .features(FeatPolicy::Skip)
            .transfer_type(None),
        &[&[
            S::Server(VSFTPD),
            S::Ask(b"USER alice\r\nPASS pw\r\n", b"332 Need account.\r\n"),
            S::Ask(b"", b"503 Send ACCT.\r\n"),
            S::Ask(b"ACCT acc\r\n", b"230 ok\r\n"),
        ]],
    );
    logged_in_and_ready(&s, &events);
}

#[test]
fn a_refusal_among_pipelined_settings_ends_the_login_after_their_replies() {
    // PROT C refused: a refusal, not a downgrade (clear data was asked
    // for). FEAT and TYPE were sent in the same write: their replies are
    // read before the refusal ends the operation.
    let (mut s, opened) = converse(
        &explicit().data_protection(DataProtection::Clear),
        &[&[
            S::Server(VSFTPD),
            S::Ask(b"AUTH TLS\r\n", b"234 go\r\n"),
            S::Sent(b""),
            S::TlsDone,
            S::Ask(b"USER alice\r\nPASS pw\r\n", b"331 pw\r\n230 ok\r\n"),
            S::Ask(
                b"PBSZ 0\r\nPROT C\r\nFEAT\r\nTYPE I\r\n",
                b"200 PBSZ ok\r\n536 PROT C refused\r\n211 no features\r\n",
            ),
            S::Server(b"200 Binary.\r\n"),
        ]],
    );
    assert!(matches!(
        opened.last(),
        Some(Event::Rejected { step: RejectedStep::Prot, reply }) if reply.code().as_u16() == 536
    ));
    assert!(s.is_idle());
    s.command(Command::Noop).unwrap();
    assert_eq!(drain(&mut s), b"NOOP\r\n");
    s.handle_input(b"200 NOOP ok.\r\n").unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::Reply(r)] if r.code().as_u16() == 200));
}

#[test]
fn a_session_dropping_an_unwanted_reply_still_wants_input() {
    let mut s = Session::new(plain().features(FeatPolicy::Skip)).unwrap();
    s.handle_input(VSFTPD).unwrap();
    assert_eq!(drain(&mut s), b"USER alice\r\nPASS pw\r\n");
    s.handle_input(b"230 No password needed.\r\n").unwrap();
    // PASS's reply is due: the driver must read on.
    assert!(s.wants_input() && !s.is_idle());
    assert_eq!(drain(&mut s), b"");
    s.handle_input(b"503 Already logged in.\r\n").unwrap();
    assert_eq!(drain(&mut s), b"TYPE I\r\n");
}

#[test]
fn a_transfer_rides_behind_its_passive_command() {
    // EPSV, RETR and the next EPSV in one write; the answers come in order.
    let mut s = ready_on(VSFTPD, Pipelining::Auto);
    s.transfer_after_passive(Command::Epsv(None), Command::Retr("f".into()))
        .unwrap();
    assert!(s.in_transfer());
    s.send_ahead(Command::Epsv(None)).unwrap();
    assert_eq!(drain(&mut s), b"EPSV\r\nRETR f\r\nEPSV\r\n");
    s.handle_input(EPSV_229).unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::Reply(r)] if r.code().as_u16() == 229));
    assert!(s.in_transfer());
    s.handle_input(b"150 Opening\r\n226 Transfer complete.\r\n")
        .unwrap();
    s.handle_input(EPSV_229).unwrap();
    assert!(matches!(
        &events(&mut s)[..],
        [
            Event::TransferStarted(_),
            Event::TransferCompleted(_),
            Event::Ahead(_)
        ]
    ));
    assert!(s.is_idle() && s.take_ahead().is_some());

    // A refused passive command: the transfer command's refusal follows.
    s.transfer_after_passive(Command::Epsv(None), Command::Retr("f".into()))
        .unwrap();
    drain(&mut s);
    s.handle_input(b"500 EPSV not understood\r\n425 Use PORT or PASV first.\r\n")
        .unwrap();
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Reply(p), Event::TransferFailed(t)]
            if p.code().as_u16() == 500 && t.code().as_u16() == 425
    ));
    assert!(s.is_idle() && s.pipelines());

    // A mark where the passive answer is due is the server's error.
    s.transfer_after_passive(Command::Pasv, Command::Retr("f".into()))
        .unwrap();
    drain(&mut s);
    assert!(matches!(
        s.handle_input(b"150 Opening\r\n"),
        Err(SessionError::ServerMisbehaved(_))
    ));
}

#[test]
fn transfer_after_passive_misuse_sends_nothing() {
    let mut s = ready_on(VSFTPD, Pipelining::Auto);
    assert_eq!(
        s.transfer_after_passive(Command::Noop, Command::Retr("f".into())),
        Err(Misuse::NotAPassiveCommand("NOOP").into())
    );
    assert_eq!(
        s.transfer_after_passive(Command::Epsv(None), Command::Pwd),
        Err(Misuse::NotADataCommand("PWD").into())
    );
    // An argument that cannot be sent takes the passive command back.
    assert!(s
        .transfer_after_passive(Command::Epsv(None), Command::Retr("a\r\nDELE b".into()))
        .is_err());
    assert!(drain(&mut s).is_empty() && s.is_idle());
    let mut s = ready_on(VSFTPD, Pipelining::Off);
    assert_eq!(
        s.transfer_after_passive(Command::Epsv(None), Command::Retr("f".into())),
        Err(Misuse::PipeliningOff.into())
    );
    assert!(drain(&mut s).is_empty() && s.is_idle());
}
