//! The data-connection sub-machine (`ftpkit_control::transfer::Opening`),
//! driven with replies and reported events: no sockets, no clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;
use ftpkit_control::command::ProtectionLevel;
use ftpkit_control::resumption::DataHandshake;
use ftpkit_control::transfer::{
    ChannelMode, DataAction, DataCommands, DataFailure, DataRoute, DataTarget, OpenFailure,
    Opening, OpeningParams, PassiveAddress, Wait, Waits, PASSIVE_RETRIES,
};
use ftpkit_control::{Arg, Command, Event, Reply, ReplyCode};

fn reply(code: u16, text: &str) -> Reply {
    Reply::new(
        ReplyCode::new(code).unwrap(),
        vec![Bytes::from(format!("{code} {text}"))],
    )
}

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn retr() -> Command {
    Command::Retr(Arg::new("f.bin"))
}

fn params(mode: ChannelMode, protection: ProtectionLevel, rest: u64) -> OpeningParams {
    OpeningParams {
        command: retr(),
        mode,
        route: DataRoute::Direct(PEER),
        passive_address: PassiveAddress::ControlPeer,
        protection,
        rest,
        waits: Waits::for_reply_timeout(Duration::from_secs(30)),
        session_on_hand: false,
        ahead: None,
        pipeline: false,
    }
}

fn passive(protection: ProtectionLevel) -> Opening {
    Opening::new(
        params(ChannelMode::Passive, protection, 0),
        DataCommands::default(),
    )
}

/// An opening without data protection, for a server that takes `commands`.
fn clear(mode: ChannelMode, rest: u64, commands: DataCommands) -> Opening {
    Opening::new(params(mode, ProtectionLevel::Clear, rest), commands)
}

/// A passive opening past its `229`: the data connection is on its way
/// and the transfer command sent.
fn started(protection: ProtectionLevel) -> Opening {
    let mut op = passive(protection);
    actions(&mut op);
    assert_eq!(
        answered(&mut op, 229, "(|||40001|)"),
        [connect_to(40001), DataAction::Start(retr())]
    );
    op
}

/// Every action queued now.
fn actions(op: &mut Opening) -> Vec<DataAction> {
    std::iter::from_fn(|| op.poll_action()).collect()
}

fn answered(op: &mut Opening, code: u16, text: &str) -> Vec<DataAction> {
    op.handle_event(Event::Reply(reply(code, text)));
    actions(op)
}

fn connect_to(port: u16) -> DataAction {
    DataAction::Connect(DataTarget::Address(SocketAddr::new(PEER, port)))
}

fn ready(actions: &[DataAction]) -> &ftpkit_control::transfer::Opened {
    match actions.last() {
        Some(DataAction::Ready(o)) => o,
        other => panic!("not ready: {other:?}"),
    }
}

fn failure(actions: &[DataAction]) -> &OpenFailure {
    match actions.last() {
        Some(DataAction::Failed(f)) => f,
        other => panic!("not failed: {other:?}"),
    }
}

/// The verb whose refusal ended the opening, with `actions` its last.
fn refused_verb(actions: &[DataAction]) -> &'static str {
    match failure(actions) {
        OpenFailure::Refused { what, .. } => what,
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn epsv_then_the_command_then_the_mark() {
    let mut op = passive(ProtectionLevel::Clear);
    assert_eq!(actions(&mut op), [DataAction::Send(Command::Epsv(None))]);
    assert!(op.wants_control());
    assert_eq!(
        answered(&mut op, 229, "Entering Extended Passive Mode (|||40001|)"),
        [connect_to(40001), DataAction::Start(retr())]
    );
    op.handle_connected();
    assert!(actions(&mut op).is_empty());
    assert!(op.wants_control(), "waits for the mark");
    op.handle_event(Event::TransferStarted(reply(150, "Opening (10 bytes)")));
    let a = actions(&mut op);
    let o = ready(&a);
    assert!(o.channel);
    assert_eq!(o.mark.as_ref().unwrap().code().as_u16(), 150);
    assert!(op.is_done() && !op.wants_control());
}

#[test]
fn a_passive_port_taken_at_that_instant_is_asked_for_again() {
    // ProFTPD with sessions racing for one narrow PassivePorts range.
    let mut op = passive(ProtectionLevel::Clear);
    actions(&mut op);
    for _ in 0..PASSIVE_RETRIES {
        assert_eq!(
            answered(&mut op, 425, "EPSV: Address already in use"),
            [DataAction::Send(Command::Epsv(None))]
        );
    }
    assert_eq!(
        answered(&mut op, 229, "(|||40001|)"),
        [connect_to(40001), DataAction::Start(retr())]
    );

    // The same for PASV; a refusal past the retries is the opening's result.
    let mut op = clear(
        ChannelMode::Passive,
        0,
        DataCommands {
            epsv: false,
            ..DataCommands::default()
        },
    );
    assert_eq!(actions(&mut op), [DataAction::Send(Command::Pasv)]);
    for _ in 0..PASSIVE_RETRIES {
        assert_eq!(
            answered(&mut op, 425, "Can't open passive connection"),
            [DataAction::Send(Command::Pasv)]
        );
    }
    let a = answered(&mut op, 425, "Can't open passive connection");
    assert!(
        matches!(failure(&a), OpenFailure::Refused { what: "PASV", reply } if reply.code().as_u16() == 425),
        "{a:?}"
    );

    // Other refusals are not asked again.
    let mut op = passive(ProtectionLevel::Clear);
    actions(&mut op);
    let a = answered(&mut op, 421, "Too many connections");
    assert!(
        matches!(failure(&a), OpenFailure::Refused { what: "EPSV", .. }),
        "{a:?}"
    );
}

#[test]
fn epsv_not_implemented_falls_back_to_pasv_and_remembers() {
    let mut op = passive(ProtectionLevel::Clear);
    actions(&mut op);
    assert_eq!(
        answered(&mut op, 502, "EPSV not implemented"),
        [DataAction::Send(Command::Pasv)]
    );
    assert_eq!(
        answered(&mut op, 227, "Entering Passive Mode (127,0,0,1,156,65)"),
        [connect_to(40001), DataAction::Start(retr())]
    );
    assert!(!op.commands().epsv, "the fallback is remembered");
    // The next opening goes straight to PASV.
    let mut next = clear(ChannelMode::Passive, 0, op.commands());
    assert_eq!(actions(&mut next), [DataAction::Send(Command::Pasv)]);
}

#[test]
fn a_transient_epsv_refusal_is_reported_not_fallen_back_from() {
    let mut op = passive(ProtectionLevel::Clear);
    actions(&mut op);
    for _ in 0..PASSIVE_RETRIES {
        answered(&mut op, 425, "Can't open passive connection");
    }
    let a = answered(&mut op, 425, "Can't open passive connection");
    assert_eq!(refused_verb(&a), "EPSV");
    assert!(op.commands().epsv);
}

#[test]
fn no_pasv_fallback_over_ipv6() {
    let mut p = params(ChannelMode::Passive, ProtectionLevel::Clear, 0);
    p.route = DataRoute::Direct(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let mut op = Opening::new(p, DataCommands::default());
    actions(&mut op);
    let a = answered(&mut op, 502, "no EPSV");
    assert_eq!(refused_verb(&a), "EPSV");
}

#[test]
fn pasv_goes_to_the_control_peer_unless_the_reply_is_trusted() {
    let commands = DataCommands::new(false);
    let foreign = "Entering Passive Mode (10,0,0,9,156,65)";
    let mut op = clear(ChannelMode::Passive, 0, commands);
    assert_eq!(actions(&mut op), [DataAction::Send(Command::Pasv)]);
    assert_eq!(answered(&mut op, 227, foreign)[0], connect_to(40001));

    let mut p = params(ChannelMode::Passive, ProtectionLevel::Clear, 0);
    p.passive_address = PassiveAddress::TrustReply;
    let mut op = Opening::new(p, commands);
    actions(&mut op);
    let trusted = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), 40001);
    assert_eq!(
        answered(&mut op, 227, foreign)[0],
        DataAction::Connect(DataTarget::Address(trusted.into()))
    );
}

#[test]
fn through_a_proxy_the_data_connection_names_the_control_host() {
    let mut p = params(ChannelMode::Passive, ProtectionLevel::Clear, 0);
    p.route = DataRoute::Proxy("ftp.example.net".into());
    let mut op = Opening::new(p.clone(), DataCommands::new(false));
    actions(&mut op);
    assert_eq!(
        answered(&mut op, 227, "Entering Passive Mode (10,0,0,9,156,65)")[0],
        DataAction::Connect(DataTarget::Host("ftp.example.net".into(), 40001))
    );
    // Active mode cannot work through a proxy.
    p.mode = ChannelMode::Active;
    let mut op = Opening::new(p, DataCommands::default());
    let a = actions(&mut op);
    assert!(matches!(failure(&a), OpenFailure::Unsupported(_)));
}

#[test]
fn a_malformed_229_fails() {
    let mut op = passive(ProtectionLevel::Clear);
    actions(&mut op);
    let a = answered(&mut op, 229, "Entering Extended Passive Mode (|||x|)");
    assert!(matches!(
        failure(&a),
        OpenFailure::Malformed {
            what: "229 reply",
            ..
        }
    ));
}

#[test]
fn active_eprt_falls_back_to_port_and_remembers() {
    let mut op = clear(ChannelMode::Active, 0, DataCommands::default());
    assert_eq!(actions(&mut op), [DataAction::Listen]);
    assert!(!op.wants_control());
    let addr: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    op.handle_listening(addr);
    assert_eq!(actions(&mut op), [DataAction::Send(Command::Eprt(addr))]);
    let SocketAddr::V4(v4) = addr else { panic!() };
    assert_eq!(
        answered(&mut op, 500, "EPRT unknown"),
        [DataAction::Send(Command::Port(v4))]
    );
    assert_eq!(
        answered(&mut op, 200, "PORT ok"),
        [DataAction::Accept, DataAction::Start(retr())]
    );
    assert!(!op.commands().eprt);
    // A server that completes without connecting never will (active).
    op.handle_event(Event::TransferCompleted(reply(226, "nothing to send")));
    let a = actions(&mut op);
    assert!(!ready(&a).channel);
}

#[test]
fn active_ipv6_without_eprt_is_unsupported() {
    let mut op = clear(ChannelMode::Active, 0, DataCommands::new(false));
    actions(&mut op);
    op.handle_listening("[::1]:50000".parse().unwrap());
    let a = actions(&mut op);
    assert!(matches!(failure(&a), OpenFailure::Unsupported(_)));
}

#[test]
fn rest_is_sent_while_the_data_connection_opens() {
    let mut op = clear(ChannelMode::Passive, 1000, DataCommands::new(false));
    actions(&mut op);
    assert_eq!(
        answered(&mut op, 227, "Entering Passive Mode (127,0,0,1,156,65)"),
        [connect_to(40001), DataAction::Send(Command::Rest(1000))]
    );
    // The connection is made before REST is answered (Twisted reads no
    // command until it is).
    op.handle_connected();
    assert!(actions(&mut op).is_empty());
    assert_eq!(
        answered(&mut op, 350, "Restarting at 1000"),
        [DataAction::Start(retr())]
    );
    op.handle_event(Event::TransferStarted(reply(150, "ok")));
    let a = actions(&mut op);
    assert_eq!(ready(&a).offset, 1000);
}

#[test]
fn rest_refused_is_a_restart_refusal_unless_transient() {
    for (code, restart) in [(502, true), (554, true), (450, false)] {
        let mut op = clear(ChannelMode::Passive, 7, DataCommands::new(false));
        actions(&mut op);
        answered(&mut op, 227, "Entering Passive Mode (127,0,0,1,156,65)");
        let a = answered(&mut op, code, "no");
        match failure(&a) {
            OpenFailure::RestartRefused { other_offset, .. } => {
                assert!(restart && !other_offset, "{code}");
            }
            OpenFailure::Refused { what: "REST", .. } => assert!(!restart, "{code}"),
            f => panic!("{code}: {f:?}"),
        }
    }
}

#[test]
fn rest_answered_with_another_offset_clears_the_marker_and_fails() {
    let mut op = clear(ChannelMode::Passive, 1000, DataCommands::new(false));
    actions(&mut op);
    answered(&mut op, 227, "Entering Passive Mode (127,0,0,1,156,65)");
    assert_eq!(
        answered(&mut op, 350, "Restarting at 0"),
        [DataAction::Send(Command::Rest(0))]
    );
    let a = answered(&mut op, 350, "Restarting at 0");
    assert!(matches!(
        failure(&a),
        OpenFailure::RestartRefused {
            offset: 1000,
            other_offset: true,
            ..
        }
    ));
}

#[test]
fn under_prot_p_the_handshake_waits_for_the_mark_a_moment() {
    let mut op = started(ProtectionLevel::Private);
    op.handle_connected();
    let grace = Waits::for_reply_timeout(Duration::from_secs(30)).mark_grace;
    assert_eq!(
        actions(&mut op),
        [DataAction::ArmTimer(Wait::MarkGrace, grace)]
    );
    // The mark comes: the handshake starts at once.
    op.handle_event(Event::TransferStarted(reply(150, "ok")));
    assert_eq!(actions(&mut op), [DataAction::StartTls]);
    // A stale timer is ignored.
    op.handle_timeout(Wait::MarkGrace);
    assert!(actions(&mut op).is_empty());
    op.handle_tls_established(true, true);
    let a = actions(&mut op);
    assert!(ready(&a).channel);
    assert_eq!(op.handshake(), Some(DataHandshake::Resumed));
}

#[test]
fn under_prot_p_a_server_that_marks_after_the_handshake_still_works() {
    let mut op = started(ProtectionLevel::Private);
    op.handle_connected();
    actions(&mut op);
    op.handle_timeout(Wait::MarkGrace);
    assert_eq!(actions(&mut op), [DataAction::StartTls]);
    op.handle_tls_established(true, false);
    assert!(actions(&mut op).is_empty());
    assert!(op.wants_control(), "the mark is still awaited");
    op.handle_event(Event::TransferStarted(reply(150, "ok")));
    assert!(ready(&actions(&mut op)).channel);
}

/// A passive `RETR` under `PROT P` with a session on hand, past its `229`
/// and connected: its handshake started at once (no mark grace).
fn handshaking_at_connect() -> Opening {
    let mut p = params(ChannelMode::Passive, ProtectionLevel::Private, 0);
    p.session_on_hand = true;
    let mut op = Opening::new(p, DataCommands::default());
    actions(&mut op);
    answered(&mut op, 229, "(|||40001|)");
    op.handle_connected();
    assert_eq!(actions(&mut op), [DataAction::StartTls], "no mark grace");
    op
}

/// Issue #15: with the control session's TLS session on hand (a TLS 1.3
/// ticket held, TLS 1.2, or a server that issues no tickets), nothing the
/// mark brings is needed: the handshake starts as soon as the connection
/// is made, a round trip earlier than after the mark.
#[test]
fn under_prot_p_with_a_session_on_hand_the_handshake_starts_at_once() {
    let mut op = handshaking_at_connect();
    op.handle_tls_established(true, true);
    assert!(
        actions(&mut op).is_empty(),
        "a download still waits for its mark"
    );
    op.handle_event(Event::TransferStarted(reply(150, "ok (10 bytes)")));
    let a = actions(&mut op);
    assert!(ready(&a).mark.is_some());
}

/// Issue #15: an upload (`STOR`, `APPE`) is ready once its data connection
/// is (and its TLS is up): the mark carries nothing it needs, so waiting
/// for it would cost a round trip per file. `STOU` waits: its mark names
/// the file.
#[test]
fn uploads_are_ready_without_the_mark_except_stou() {
    for (command, protection, waits_for_mark) in [
        (Command::Stor(Arg::new("f")), ProtectionLevel::Clear, false),
        (Command::Appe(Arg::new("f")), ProtectionLevel::Clear, false),
        (
            Command::Stor(Arg::new("f")),
            ProtectionLevel::Private,
            false,
        ),
        (Command::Stou, ProtectionLevel::Clear, true),
        (retr(), ProtectionLevel::Clear, true),
    ] {
        let case = format!("{command:?} {protection:?}");
        let mut p = params(ChannelMode::Passive, protection, 0);
        p.command = command.clone();
        p.session_on_hand = true;
        let mut op = Opening::new(p, DataCommands::default());
        actions(&mut op);
        assert_eq!(
            answered(&mut op, 229, "(|||40001|)"),
            [connect_to(40001), DataAction::Start(command)],
            "{case}"
        );
        op.handle_connected();
        if protection == ProtectionLevel::Private {
            assert_eq!(actions(&mut op), [DataAction::StartTls], "{case}");
            op.handle_tls_established(true, true);
        }
        let a = actions(&mut op);
        if waits_for_mark {
            assert!(a.is_empty() && op.wants_control(), "{case}: {a:?}");
            op.handle_event(Event::TransferStarted(reply(150, "FILE: f.1")));
            assert!(ready(&actions(&mut op)).mark.is_some(), "{case}");
        } else {
            let o = ready(&a);
            assert!(o.channel && o.mark.is_none(), "{case}: {o:?}");
            assert!(!op.wants_control(), "{case}");
        }
    }

    // A refusal that comes before the connection still ends the opening.
    let mut p = params(ChannelMode::Passive, ProtectionLevel::Clear, 0);
    p.command = Command::Stor(Arg::new("f"));
    let mut op = Opening::new(p, DataCommands::default());
    actions(&mut op);
    answered(&mut op, 229, "(|||40001|)");
    op.handle_event(Event::TransferFailed(reply(553, "Could not create file.")));
    assert_eq!(refused_verb(&actions(&mut op)), "STOR");
}

#[test]
fn clear_data_needs_no_handshake() {
    let mut op = started(ProtectionLevel::Clear);
    op.handle_event(Event::TransferStarted(reply(150, "ok")));
    op.handle_connected();
    let a = actions(&mut op);
    assert!(a.iter().all(|a| !matches!(a, DataAction::StartTls)));
    assert!(ready(&a).channel);
}

#[test]
fn a_full_handshake_on_a_ticket_server_waits_for_the_verdict() {
    let mut op = started(ProtectionLevel::Private);
    op.handle_event(Event::TransferStarted(reply(150, "ok")));
    op.handle_connected();
    assert_eq!(actions(&mut op), [DataAction::StartTls]);
    op.handle_tls_established(false, true);
    assert!(matches!(
        actions(&mut op)[..],
        [DataAction::ArmTimer(Wait::ReuseVerdict, _)]
    ));
    assert!(op.wants_control());
    // vsftpd refuses at once.
    op.handle_event(Event::TransferFailed(reply(
        522,
        "SSL connection failed: session reuse required",
    )));
    let a = actions(&mut op);
    assert_eq!(refused_verb(&a), "RETR");
    assert_eq!(op.handshake(), Some(DataHandshake::Full));

    // No verdict within the wait: the transfer goes on.
    let mut op = started(ProtectionLevel::Private);
    op.handle_event(Event::TransferStarted(reply(150, "ok")));
    op.handle_connected();
    actions(&mut op);
    op.handle_tls_established(false, true);
    actions(&mut op);
    op.handle_timeout(Wait::ReuseVerdict);
    assert!(ready(&actions(&mut op)).channel);
}

#[test]
fn an_empty_listing_completed_without_a_connection_is_accepted_in_passive_mode() {
    let mut op = started(ProtectionLevel::Clear);
    op.handle_event(Event::TransferCompleted(reply(226, "No files")));
    assert!(
        actions(&mut op).is_empty(),
        "the connection is still awaited"
    );
    assert!(!op.wants_control());
    op.handle_connect_failed();
    let a = actions(&mut op);
    let o = ready(&a);
    assert!(!o.channel);
    assert_eq!(o.completion.as_ref().unwrap().code().as_u16(), 226);
}

#[test]
fn a_failed_data_connection_is_explained_by_the_servers_reply() {
    let mut op = started(ProtectionLevel::Clear);
    op.handle_connect_failed();
    assert!(matches!(
        actions(&mut op)[..],
        [DataAction::ArmTimer(Wait::Explanation, _)]
    ));
    op.handle_event(Event::TransferFailed(reply(550, "No such file")));
    let a = actions(&mut op);
    match failure(&a) {
        OpenFailure::Data {
            failure: DataFailure::Connect,
            explanation: Some(r),
        } => assert_eq!(r.code().as_u16(), 550),
        f => panic!("{f:?}"),
    }

    // No reply in time: the connection's own error.
    let mut op = started(ProtectionLevel::Clear);
    op.handle_connect_failed();
    actions(&mut op);
    op.handle_timeout(Wait::Explanation);
    let a = actions(&mut op);
    assert!(matches!(
        failure(&a),
        OpenFailure::Data {
            explanation: None,
            ..
        }
    ));
}

#[test]
fn a_failed_data_handshake_records_why() {
    let mut op = started(ProtectionLevel::Private);
    op.handle_event(Event::TransferStarted(reply(150, "ok")));
    op.handle_connected();
    actions(&mut op);
    op.handle_tls_failed(true);
    assert_eq!(op.handshake(), Some(DataHandshake::CertificateRejected));
    op.handle_event(Event::TransferFailed(reply(522, "SSL connection failed")));
    let a = actions(&mut op);
    assert!(matches!(
        failure(&a),
        OpenFailure::Data {
            failure: DataFailure::Tls {
                certificate_rejected: true
            },
            explanation: Some(_),
        }
    ));
}

/// A data handshake started before the mark (a session on hand) can be
/// cut by a server that refuses the command itself (ProFTPD resets the
/// connection and answers `550` for a missing file): that is the command's
/// refusal, not a TLS failure. A refusal of the data connection (`522`,
/// `425`...) and a certificate the client refused stay data failures.
#[test]
fn a_handshake_cut_by_a_refusal_of_the_command_is_that_refusal() {
    for (certificate_rejected, code, refused) in [
        (false, 550, true),
        (false, 522, false),
        (false, 425, false),
        (true, 550, false),
    ] {
        let case = format!("rejected {certificate_rejected}, {code}");
        let mut op = handshaking_at_connect();
        op.handle_tls_failed(certificate_rejected);
        actions(&mut op);
        op.handle_event(Event::TransferFailed(reply(code, "no")));
        let a = actions(&mut op);
        match failure(&a) {
            OpenFailure::Refused { what, reply } => {
                assert!(refused, "{case}");
                assert_eq!((*what, reply.code().as_u16()), ("RETR", code), "{case}");
            }
            OpenFailure::Data {
                failure: DataFailure::Tls { .. },
                explanation: Some(_),
            } => assert!(!refused, "{case}"),
            f => panic!("{case}: {f:?}"),
        }
    }
}

#[test]
fn a_refusal_at_the_mark_ends_the_opening() {
    let mut op = started(ProtectionLevel::Clear);
    op.handle_event(Event::TransferFailed(reply(550, "No such file")));
    let a = actions(&mut op);
    assert_eq!(refused_verb(&a), "RETR");
}

#[test]
fn reports_nobody_asked_for_are_misuse() {
    let mut op = passive(ProtectionLevel::Clear);
    actions(&mut op);
    op.handle_connected();
    let a = actions(&mut op);
    assert!(matches!(failure(&a), OpenFailure::Misuse(_)));

    let mut op = passive(ProtectionLevel::Clear);
    actions(&mut op);
    op.handle_event(Event::Aborted(vec![]));
    let a = actions(&mut op);
    assert!(matches!(failure(&a), OpenFailure::Unexpected(_)));
}

#[test]
fn the_address_policy_is_one_function() {
    let foreign = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 2000);
    let direct = DataRoute::Direct(PEER);
    assert_eq!(
        PassiveAddress::ControlPeer.target(&direct, Some(foreign), 2000),
        DataTarget::Address(SocketAddr::new(PEER, 2000))
    );
    assert_eq!(
        PassiveAddress::TrustReply.target(&direct, Some(foreign), 2000),
        DataTarget::Address(foreign.into())
    );
    // 229 gives no address: always the peer.
    assert_eq!(
        PassiveAddress::TrustReply.target(&direct, None, 2000),
        DataTarget::Address(SocketAddr::new(PEER, 2000))
    );
    let proxy = DataRoute::Proxy("[::1]".into());
    assert!(proxy.is_ipv6());
    assert_eq!(
        PassiveAddress::TrustReply.target(&proxy, Some(foreign), 2000),
        DataTarget::Host("10.0.0.1".into(), 2000)
    );
}

/// A passive opening with pipelining asked for and `ahead` on hand.
fn pipelined(ahead: Option<Reply>, commands: DataCommands) -> Opening {
    let mut p = params(ChannelMode::Passive, ProtectionLevel::Clear, 0);
    p.ahead = ahead;
    p.pipeline = true;
    Opening::new(p, commands)
}

/// The first actions of a pipelined opening with no answer on hand: the
/// passive command, the transfer command behind it, the next passive
/// command behind that, all in one write.
fn all_in_one_write(passive: Command) -> [DataAction; 2] {
    [
        DataAction::StartAfterPassive(passive.clone(), retr()),
        DataAction::Ahead(passive),
    ]
}

#[test]
fn the_next_passive_command_rides_behind_the_transfer_command() {
    let mut op = pipelined(None, DataCommands::default());
    assert_eq!(actions(&mut op), all_in_one_write(Command::Epsv(None)));
    // The transfer command is out already: only the connection follows.
    assert_eq!(answered(&mut op, 229, "(|||40001|)"), [connect_to(40001)]);
    // The session's answer to it is not the opening's business.
    op.handle_event(Event::Ahead(reply(229, "(|||40002|)")));
    assert!(!op.is_done());
    op.handle_connected();
    op.handle_event(Event::TransferStarted(reply(150, "go")));
    assert!(ready(&actions(&mut op)).channel);

    // Without EPSV, PASV rides; in active mode nothing does.
    let mut op = pipelined(
        None,
        DataCommands {
            epsv: false,
            ..DataCommands::default()
        },
    );
    assert_eq!(actions(&mut op), all_in_one_write(Command::Pasv));
    assert_eq!(
        answered(&mut op, 227, "(127,0,0,1,156,65)"),
        [connect_to(40001)]
    );
    let mut p = params(ChannelMode::Active, ProtectionLevel::Clear, 0);
    p.pipeline = true;
    let mut op = Opening::new(p, DataCommands::default());
    actions(&mut op);
    op.handle_listening("127.0.0.1:50000".parse().unwrap());
    actions(&mut op);
    let a = answered(&mut op, 200, "EPRT ok");
    assert_eq!(a, [DataAction::Accept, DataAction::Start(retr())]);
}

#[test]
fn an_answer_ahead_opens_the_data_connection_without_asking() {
    let mut op = pipelined(Some(reply(229, "(|||40002|)")), DataCommands::default());
    assert_eq!(
        actions(&mut op),
        [
            connect_to(40002),
            DataAction::Start(retr()),
            DataAction::Ahead(Command::Epsv(None))
        ]
    );
    // A 227 goes to the control peer too, not to the address it names.
    let mut op = pipelined(
        Some(reply(227, "(10,9,8,7,156,65)")),
        DataCommands::default(),
    );
    assert_eq!(actions(&mut op)[0], connect_to(40001));
    // One that does not parse is asked again.
    let mut op = pipelined(Some(reply(229, "(|||x|)")), DataCommands::default());
    assert_eq!(actions(&mut op), all_in_one_write(Command::Epsv(None)));
}

#[test]
fn a_resumed_transfer_waits_for_rest_before_its_command() {
    // REST must be confirmed before the transfer command goes: a server
    // that refused it would send the file from 0 into the offset.
    let mut p = params(ChannelMode::Passive, ProtectionLevel::Clear, 500);
    p.pipeline = true;
    let mut op = Opening::new(p, DataCommands::default());
    assert_eq!(actions(&mut op), [DataAction::Send(Command::Epsv(None))]);
    assert_eq!(
        answered(&mut op, 229, "(|||40001|)"),
        [connect_to(40001), DataAction::Send(Command::Rest(500))]
    );
}

#[test]
fn a_passive_command_refused_in_one_write_falls_back_after_the_answers_behind_it() {
    // EPSV refused: the transfer command behind it (425, no passive port)
    // and the EPSV behind that are answered first, then PASV is asked
    // alone, and the transfer command goes again behind its answer.
    let mut op = pipelined(None, DataCommands::default());
    actions(&mut op);
    assert_eq!(answered(&mut op, 500, "EPSV not understood"), []);
    op.handle_event(Event::TransferFailed(reply(425, "Use PORT or PASV first.")));
    assert!(actions(&mut op).is_empty() && op.wants_control());
    op.handle_event(Event::Ahead(reply(500, "EPSV not understood")));
    assert_eq!(actions(&mut op), [DataAction::Send(Command::Pasv)]);
    assert!(!op.commands().epsv);
    assert_eq!(
        answered(&mut op, 227, "(127,0,0,1,156,65)"),
        [
            connect_to(40001),
            DataAction::Start(retr()),
            DataAction::Ahead(Command::Pasv)
        ]
    );
    op.handle_connected();
    op.handle_event(Event::TransferStarted(reply(150, "go")));
    assert!(ready(&actions(&mut op)).channel);

    // A 425 (port taken) asks EPSV again, in whichever order the two
    // answers behind it come.
    let mut op = pipelined(None, DataCommands::default());
    actions(&mut op);
    answered(&mut op, 425, "EPSV: Address already in use");
    op.handle_event(Event::Ahead(reply(229, "(|||40002|)")));
    assert!(actions(&mut op).is_empty());
    op.handle_event(Event::TransferFailed(reply(425, "no data connection")));
    assert_eq!(actions(&mut op), [DataAction::Send(Command::Epsv(None))]);

    // Any other refusal is the opening's failure, once answered behind.
    let mut op = pipelined(None, DataCommands::default());
    actions(&mut op);
    answered(&mut op, 530, "not logged in");
    op.handle_event(Event::TransferFailed(reply(530, "not logged in")));
    op.handle_event(Event::Ahead(reply(530, "not logged in")));
    assert_eq!(refused_verb(&actions(&mut op)), "EPSV");
}

#[test]
fn a_transfer_started_without_a_passive_port_fails_the_opening() {
    // A server that refused EPSV and then started the transfer anyway
    // (to a default data port) is not followed.
    let mut op = pipelined(None, DataCommands::default());
    actions(&mut op);
    answered(&mut op, 500, "EPSV not understood");
    op.handle_event(Event::TransferStarted(reply(150, "go")));
    assert!(matches!(
        failure(&actions(&mut op)),
        OpenFailure::Unexpected(_)
    ));
}
