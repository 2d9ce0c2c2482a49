//! [`Opening`]: one data channel, from `EPSV`/`EPRT` to the server's mark.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::{is_not_implemented, DataCommands, DataRoute, DataTarget, PassiveAddress};
use crate::command::{Command, ProtectionLevel};
use crate::parse::{parse_epsv, parse_pasv, rest_confirms};
use crate::resumption::{refuses_data_connection, DataHandshake};
use crate::{Event, Reply, ReplyCode};

/// Which side opens the data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelMode {
    /// The client connects to the port the server announces.
    Passive,
    /// The client listens and the server connects to it.
    Active,
}

/// What one opening needs to know.
#[derive(Clone, Debug)]
pub struct OpeningParams {
    /// The transfer command (`RETR`, `STOR`, `APPE`, `LIST`, `NLST`, `MLSD`).
    pub command: Command,
    /// Passive or active.
    pub mode: ChannelMode,
    /// How the control connection reaches the server.
    pub route: DataRoute,
    /// Which address a passive connection goes to.
    pub passive_address: PassiveAddress,
    /// The session's data protection (`PROT`): `Private` means TLS.
    pub protection: ProtectionLevel,
    /// `REST` offset; 0 sends no `REST`.
    pub rest: u64,
    /// How long the short waits last.
    pub waits: Waits,
    /// Under `PROT P`: the data connection can resume the control
    /// connection's TLS session right now (a TLS 1.2 session, or a TLS 1.3
    /// ticket on hand), or the server issues no tickets at all. Its
    /// handshake then starts as soon as it is connected; otherwise it waits
    /// up to [`Waits::mark_grace`] for the mark, which brings the fresh
    /// ticket of servers that issue one per transfer (ProFTPD).
    pub session_on_hand: bool,
    /// The answer to a passive command pipelined behind the last transfer
    /// ([`crate::Session::take_ahead`]): a passive opening connects to the
    /// port it names without asking again.
    pub ahead: Option<Reply>,
    /// Pipeline the next transfer's passive command behind this transfer
    /// command ([`crate::Session::pipelines`]); passive mode only.
    pub pipeline: bool,
}

/// The short waits of an opening. Longer waits (each reply, the connect,
/// the handshake) are the driver's deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waits {
    /// How long a protected data connection without a session on hand
    /// ([`OpeningParams::session_on_hand`]) waits for the mark before its
    /// handshake starts anyway. Servers that issue a fresh ticket on the
    /// control connection per transfer (ProFTPD) send it with the mark;
    /// servers that send the mark after the handshake still work, a moment
    /// later.
    pub mark_grace: Duration,
    /// After a full handshake on a server that uses tickets, how long to
    /// wait for its verdict (a refusal for want of reuse comes at once).
    pub reuse_verdict: Duration,
    /// After a failed data connection, how long to wait for the server's
    /// reply that says why.
    pub explanation: Duration,
}

impl Waits {
    /// The waits for a driver whose reply deadline is `reply`: none is
    /// longer than it.
    pub fn for_reply_timeout(reply: Duration) -> Self {
        Waits {
            mark_grace: Duration::from_millis(500).min(reply),
            reuse_verdict: Duration::from_secs(1).min(reply),
            explanation: Duration::from_secs(2).min(reply),
        }
    }
}

/// A timer the machine asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// [`Waits::mark_grace`].
    MarkGrace,
    /// [`Waits::reuse_verdict`].
    ReuseVerdict,
    /// [`Waits::explanation`].
    Explanation,
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataAction {
    /// Send this command ([`crate::Session::command`]) and report its
    /// events.
    Send(Command),
    /// Start connecting a passive data connection to this target, without
    /// waiting for it: report [`Opening::handle_connected`] or
    /// [`Opening::handle_connect_failed`] when it ends.
    Connect(DataTarget),
    /// Bind an active-mode listener and report its advertised address
    /// ([`Opening::handle_listening`]).
    Listen,
    /// Start accepting the server's connection on the listener, without
    /// waiting for it; report as for [`DataAction::Connect`].
    Accept,
    /// Send the transfer command ([`crate::Session::transfer`]) and report
    /// its events.
    Start(Command),
    /// Send this passive command with the transfer command behind it in
    /// the same write ([`crate::Session::transfer_after_passive`]), and
    /// report the events of both.
    StartAfterPassive(Command, Command),
    /// Pipeline this passive command behind the transfer command
    /// ([`crate::Session::send_ahead`]), in the same write: its answer, due
    /// after the transfer's end, is the next transfer's address.
    Ahead(Command),
    /// Start the TLS handshake on the data connection; report
    /// [`Opening::handle_tls_established`] or [`Opening::handle_tls_failed`].
    StartTls,
    /// Arm a timer; report [`Opening::handle_timeout`] when it fires.
    ArmTimer(Wait, Duration),
    /// The channel is open (or the server completed without one).
    Ready(Opened),
    /// The opening failed.
    Failed(OpenFailure),
}

/// A successful opening.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The server's 1yz mark, if one came.
    pub mark: Option<Reply>,
    /// The completion, when the server sent it already.
    pub completion: Option<Reply>,
    /// The `REST` offset the transfer starts at.
    pub offset: u64,
    /// Whether a data connection is open. `false` when the server completed
    /// without one (`226` for an empty listing).
    pub channel: bool,
}

/// What went wrong on the data connection itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFailure {
    /// The connection (or accept) failed.
    Connect,
    /// The TLS handshake failed.
    Tls {
        /// The client refused the server's certificate.
        certificate_rejected: bool,
    },
}

/// Why an opening failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenFailure {
    /// The server refused a command (`what`: its verb).
    Refused {
        /// The verb refused.
        what: &'static str,
        /// The server's reply.
        reply: Reply,
    },
    /// `REST` was refused (5yz), or answered with another offset. Moving
    /// the whole file from 0 is the caller's choice.
    RestartRefused {
        /// The offset asked for.
        offset: u64,
        /// The server's reply.
        reply: Reply,
        /// The reply named another offset (the marker was cleared).
        other_offset: bool,
    },
    /// A 227/229 reply that does not parse.
    Malformed {
        /// Which reply.
        what: &'static str,
        /// Why it does not parse.
        detail: String,
    },
    /// The setup cannot work (active mode through a proxy, IPv6 without
    /// `EPRT`).
    Unsupported(&'static str),
    /// An event the opening did not expect.
    Unexpected(Box<Event>),
    /// The data connection failed; `explanation` is the server's refusal
    /// that came within [`Waits::explanation`], if any.
    Data {
        /// What failed.
        failure: DataFailure,
        /// The server's reply saying why.
        explanation: Option<Reply>,
    },
    /// The driver reported something the machine did not ask for.
    Misuse(&'static str),
}

/// Where the data connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    NotAsked,
    Pending,
    Connected,
    Failed(DataFailure),
}

/// Where the conversation stands. Each reply or report consumes the step
/// it arrives in.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Epsv,
    Pasv,
    Listening,
    Eprt(SocketAddr),
    Port,
    Rest,
    /// `REST` named another offset; `REST 0` is on its way.
    ClearRest(Reply),
    /// The transfer command is sent; the data connection is on its way.
    Connecting,
    /// Connected under `PROT P`; the handshake waits for the mark.
    MarkGrace,
    Handshaking,
    /// A full handshake on a server that uses tickets: its verdict.
    Verdict,
    /// The channel is ready; waiting for the mark.
    AwaitMark,
    /// The data connection failed; waiting for the reply that says why.
    Explaining(DataFailure),
    /// The passive command (`step`) was answered with `reply`, not with an
    /// address, while the transfer command sent behind it is still to be
    /// answered (and the passive command pipelined behind that, when
    /// `ahead_due`). Once both are, `reply` is handled in `step` as if
    /// nothing had been sent behind it.
    AfterRefusal {
        step: Box<Step>,
        reply: Reply,
        transfer_due: bool,
        ahead_due: bool,
    },
    Done,
}

/// One data channel being opened. See the [module docs](super).
#[derive(Debug)]
pub struct Opening {
    params: OpeningParams,
    commands: DataCommands,
    step: Step,
    channel: Channel,
    mark: Option<Reply>,
    completion: Option<Reply>,
    handshake: Option<DataHandshake>,
    /// Passive commands sent again after a `425` (see [`PASSIVE_RETRIES`]).
    passive_retries: u8,
    /// The transfer command went out behind the passive command
    /// ([`DataAction::StartAfterPassive`]), whose answer is still due.
    start_sent: bool,
    actions: VecDeque<DataAction>,
}

/// How often a passive command refused with `425` is sent again. A server
/// that picks its passive port at random from a narrow range can find it
/// taken by another session at that instant (ProFTPD: `425 EPSV: Address
/// already in use`); the next try picks another port. No data connection
/// exists yet, so asking again has no side effect.
pub const PASSIVE_RETRIES: u8 = 2;

impl Opening {
    /// Starts an opening; `commands` is what the session has learned about
    /// the passive and active commands so far.
    pub fn new(params: OpeningParams, commands: DataCommands) -> Self {
        let mut op = Opening {
            params,
            commands,
            step: Step::Done,
            channel: Channel::NotAsked,
            mark: None,
            completion: None,
            handshake: None,
            passive_retries: 0,
            start_sent: false,
            actions: VecDeque::new(),
        };
        match op.params.mode {
            ChannelMode::Active if op.params.route.is_proxy() => {
                op.fail(OpenFailure::Unsupported(
                    "active mode (PORT/EPRT) cannot work through a proxy: the server would \
                     have to connect back around it; use passive mode",
                ));
            }
            ChannelMode::Active => {
                op.step = Step::Listening;
                op.actions.push_back(DataAction::Listen);
            }
            ChannelMode::Passive => match op.params.ahead.take().and_then(|r| {
                let extended = r.code() == ReplyCode::EXTENDED_PASSIVE_MODE;
                // One that does not parse is asked again.
                op.passive_target(&r, extended).ok()
            }) {
                Some(target) => op.connect(DataAction::Connect(target)),
                None => {
                    let (step, cmd) = op.passive_command();
                    if op.params.pipeline && op.params.rest == 0 {
                        // Nothing to wait for between the passive command
                        // and the transfer command: one write, one round
                        // trip less.
                        op.step = step;
                        op.start_sent = true;
                        op.actions.push_back(DataAction::StartAfterPassive(
                            cmd,
                            op.params.command.clone(),
                        ));
                        op.push_ahead();
                    } else {
                        op.send(step, cmd);
                    }
                }
            },
        }
        op
    }

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<DataAction> {
        self.actions.pop_front()
    }

    /// Whether the driver should read the control connection now.
    pub fn wants_control(&self) -> bool {
        match self.step {
            Step::Epsv
            | Step::Pasv
            | Step::Eprt(_)
            | Step::Port
            | Step::Rest
            | Step::ClearRest(_)
            | Step::Explaining(_)
            | Step::AfterRefusal { .. } => true,
            Step::Connecting | Step::MarkGrace | Step::Handshaking | Step::AwaitMark => {
                self.waiting()
            }
            Step::Verdict => self.completion.is_none(),
            Step::Listening | Step::Done => false,
        }
    }

    /// Whether the opening has ended (its last action is queued). Every
    /// report after that is ignored.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// What the session has learned about the passive and active commands,
    /// to keep for the next opening.
    pub fn commands(&self) -> DataCommands {
        self.commands
    }

    /// How the data connection's TLS handshake went, once it ended.
    pub fn handshake(&self) -> Option<DataHandshake> {
        self.handshake
    }

    /// An event of the control connection.
    pub fn handle_event(&mut self, event: Event) {
        if self.is_done() {
            return;
        }
        if matches!(self.step, Step::AfterRefusal { .. }) {
            return self.after_refusal(event);
        }
        match event {
            // The answer to a command pipelined behind the transfer is
            // the session's to keep.
            Event::Preliminary(_) | Event::Ahead(_) => {}
            Event::Reply(r) if self.awaits_reply() => self.on_reply(r),
            Event::TransferStarted(r) if self.started() => {
                self.mark = Some(r);
                self.advance();
            }
            Event::TransferCompleted(r) if self.started() => {
                self.completion = Some(r);
                self.advance();
            }
            Event::TransferFailed(r) if self.started() => match self.step {
                // The server's reply explains the failed data connection
                // when it refuses the data connection itself (425, 426,
                // 450, 451, 522, 534), or when the connect failed or the
                // client refused the certificate. A handshake that merely
                // failed while the server refused the command (550 no such
                // file) is that refusal: the server dropped the connection
                // because of it (the handshake can run before the mark when
                // a session is on hand).
                Step::Explaining(failure)
                    if refuses_data_connection(&r)
                        || failure
                            != (DataFailure::Tls {
                                certificate_rejected: false,
                            }) =>
                {
                    self.fail(OpenFailure::Data {
                        failure,
                        explanation: Some(r),
                    });
                }
                _ => self.refused(self.params.command.verb(), r),
            },
            other => match self.step {
                Step::Explaining(failure) => self.fail(OpenFailure::Data {
                    failure,
                    explanation: None,
                }),
                _ => self.fail(OpenFailure::Unexpected(Box::new(other))),
            },
        }
    }

    /// The active-mode listener is bound and advertises `addr`.
    pub fn handle_listening(&mut self, addr: SocketAddr) {
        if self.is_done() {
            return;
        }
        if self.step != Step::Listening {
            return self.fail(OpenFailure::Misuse("a listener nobody asked for"));
        }
        if self.commands.eprt {
            self.send(Step::Eprt(addr), Command::Eprt(addr));
        } else {
            self.port(addr);
        }
    }

    /// The data connection is made (connected or accepted).
    pub fn handle_connected(&mut self) {
        if !self.awaits_channel() {
            return;
        }
        self.channel = Channel::Connected;
        if self.step == Step::Connecting {
            self.on_connected();
        }
    }

    /// The data connection (or accept) failed.
    pub fn handle_connect_failed(&mut self) {
        if !self.awaits_channel() {
            return;
        }
        self.channel = Channel::Failed(DataFailure::Connect);
        if self.step != Step::Connecting {
            return;
        }
        if self.completion.is_some() {
            // The server completed without waiting for us (an empty
            // listing): nothing to read.
            self.ready(false);
        } else {
            self.explain(DataFailure::Connect);
        }
    }

    /// The data connection's TLS handshake succeeded. `server_uses_tickets`:
    /// the server has issued TLS 1.3 tickets on the control connection.
    pub fn handle_tls_established(&mut self, resumed: bool, server_uses_tickets: bool) {
        let outcome = if resumed {
            DataHandshake::Resumed
        } else {
            DataHandshake::Full
        };
        if !self.record_handshake(outcome) {
            return;
        }
        if !resumed && server_uses_tickets && self.completion.is_none() {
            // A server that requires reuse refuses a full handshake right
            // after it (vsftpd 522, ProFTPD 425): make that refusal this
            // opening's result, so that it can be retried.
            self.step = Step::Verdict;
            self.arm(Wait::ReuseVerdict);
        } else {
            self.step = Step::AwaitMark;
            self.advance();
        }
    }

    /// The data connection's TLS handshake failed.
    pub fn handle_tls_failed(&mut self, certificate_rejected: bool) {
        let outcome = if certificate_rejected {
            DataHandshake::CertificateRejected
        } else {
            DataHandshake::Failed
        };
        if !self.record_handshake(outcome) {
            return;
        }
        self.explain(DataFailure::Tls {
            certificate_rejected,
        });
    }

    /// Whether a report on the data connection is awaited now. One nobody
    /// asked for fails the opening; after the end it is ignored.
    fn awaits_channel(&mut self) -> bool {
        if self.is_done() {
            return false;
        }
        if self.channel != Channel::Pending {
            self.fail(OpenFailure::Misuse("a data connection nobody asked for"));
            return false;
        }
        true
    }

    /// Keeps the outcome of the data connection's handshake, when one is
    /// awaited now (`true`). One nobody asked for fails the opening; after
    /// the end it is ignored.
    fn record_handshake(&mut self, outcome: DataHandshake) -> bool {
        if self.is_done() {
            return false;
        }
        if self.step != Step::Handshaking {
            self.fail(OpenFailure::Misuse("a handshake nobody asked for"));
            return false;
        }
        self.handshake = Some(outcome);
        true
    }

    /// A timer armed by [`DataAction::ArmTimer`] fired. A timer the machine
    /// no longer waits for is ignored.
    pub fn handle_timeout(&mut self, wait: Wait) {
        match (wait, &self.step) {
            (Wait::MarkGrace, Step::MarkGrace) => self.start_tls(),
            (Wait::ReuseVerdict, Step::Verdict) => {
                self.step = Step::AwaitMark;
                self.advance();
            }
            (Wait::Explanation, Step::Explaining(failure)) => {
                let failure = *failure;
                self.fail(OpenFailure::Data {
                    failure,
                    explanation: None,
                });
            }
            _ => {}
        }
    }

    // ----- transitions -------------------------------------------------------

    fn awaits_reply(&self) -> bool {
        matches!(
            self.step,
            Step::Epsv | Step::Pasv | Step::Eprt(_) | Step::Port | Step::Rest | Step::ClearRest(_)
        )
    }

    fn started(&self) -> bool {
        matches!(
            self.step,
            Step::Connecting
                | Step::MarkGrace
                | Step::Handshaking
                | Step::Verdict
                | Step::AwaitMark
                | Step::Explaining(_)
        )
    }

    /// Neither the mark nor the completion has come.
    fn waiting(&self) -> bool {
        self.mark.is_none() && self.completion.is_none()
    }

    /// An upload whose mark carries nothing the client needs (`STOR`,
    /// `APPE`; not `STOU`, whose mark names the file): the channel is ready
    /// once the data connection is (and its TLS is up), without waiting
    /// for the mark. The server keeps what arrives before it sends the mark
    /// in its socket buffer, and reads it after; a refusal still comes as
    /// the completion, which the upload reads before it reports anything.
    /// This saves a round trip per upload.
    fn sends_data(&self) -> bool {
        matches!(self.params.command, Command::Stor(_) | Command::Appe(_))
    }

    fn send(&mut self, step: Step, cmd: Command) {
        self.step = step;
        self.actions.push_back(DataAction::Send(cmd));
    }

    fn arm(&mut self, wait: Wait) {
        let w = self.params.waits;
        let d = match wait {
            Wait::MarkGrace => w.mark_grace,
            Wait::ReuseVerdict => w.reuse_verdict,
            Wait::Explanation => w.explanation,
        };
        self.actions.push_back(DataAction::ArmTimer(wait, d));
    }

    fn fail(&mut self, failure: OpenFailure) {
        self.step = Step::Done;
        self.actions.push_back(DataAction::Failed(failure));
    }

    fn ready(&mut self, channel: bool) {
        self.step = Step::Done;
        self.actions.push_back(DataAction::Ready(Opened {
            mark: self.mark.take(),
            completion: self.completion.take(),
            offset: self.params.rest,
            channel,
        }));
    }

    fn refused(&mut self, what: &'static str, reply: Reply) {
        self.fail(OpenFailure::Refused { what, reply });
    }

    fn on_reply(&mut self, r: Reply) {
        let step = std::mem::replace(&mut self.step, Step::Done);
        let answered = match step {
            Step::Epsv => r.code() == ReplyCode::EXTENDED_PASSIVE_MODE,
            _ => r.code() == ReplyCode::PASSIVE_MODE,
        };
        if self.start_sent && !answered {
            // The transfer command behind it gets its answer first.
            self.start_sent = false;
            self.step = Step::AfterRefusal {
                step: Box::new(step),
                reply: r,
                transfer_due: true,
                ahead_due: self.params.pipeline,
            };
            return;
        }
        match step {
            Step::Epsv if r.code() == ReplyCode::EXTENDED_PASSIVE_MODE => {
                match self.passive_target(&r, true) {
                    Ok(target) => self.connect(DataAction::Connect(target)),
                    Err(f) => self.fail(f),
                }
            }
            Step::Epsv if is_not_implemented(r.code()) && !self.params.route.is_ipv6() => {
                self.commands.epsv = false;
                self.send(Step::Pasv, Command::Pasv);
            }
            Step::Epsv if self.may_ask_again(&r) => self.send(Step::Epsv, Command::Epsv(None)),
            Step::Epsv => self.refused("EPSV", r),
            Step::Pasv if self.may_ask_again(&r) => self.send(Step::Pasv, Command::Pasv),
            Step::Pasv if r.code().is_negative() => self.refused("PASV", r),
            Step::Pasv => match self.passive_target(&r, false) {
                Ok(target) => self.connect(DataAction::Connect(target)),
                Err(f) => self.fail(f),
            },
            Step::Eprt(_) if r.code().is_completion() => self.connect(DataAction::Accept),
            Step::Eprt(addr) if is_not_implemented(r.code()) && addr.is_ipv4() => {
                self.commands.eprt = false;
                self.port(addr);
            }
            Step::Eprt(_) => self.refused("EPRT", r),
            Step::Port if r.code().is_negative() => self.refused("PORT", r),
            Step::Port => self.connect(DataAction::Accept),
            Step::Rest => self.on_rest(r),
            Step::ClearRest(first) => self.fail(OpenFailure::RestartRefused {
                offset: self.params.rest,
                reply: first,
                other_offset: true,
            }),
            other => {
                self.step = other;
                self.fail(OpenFailure::Misuse("a reply outside the setup"));
            }
        }
    }

    /// Whether a refused passive command is sent again (and counts it).
    fn may_ask_again(&mut self, r: &Reply) -> bool {
        let again = r.code() == ReplyCode::CANT_OPEN_DATA && self.passive_retries < PASSIVE_RETRIES;
        self.passive_retries += u8::from(again);
        again
    }

    /// The passive command this session uses: `EPSV`, or `PASV` once it
    /// fell back, with the step that awaits its answer.
    fn passive_command(&self) -> (Step, Command) {
        if self.commands.epsv {
            (Step::Epsv, Command::Epsv(None))
        } else {
            (Step::Pasv, Command::Pasv)
        }
    }

    /// Where the answer to `EPSV` (`extended`, a 229) or `PASV` (a 227)
    /// sends the data connection.
    fn passive_target(&self, r: &Reply, extended: bool) -> Result<DataTarget, OpenFailure> {
        let malformed = |what, e: crate::parse::ParseError| OpenFailure::Malformed {
            what,
            detail: e.to_string(),
        };
        let (advertised, port) = if extended {
            (None, parse_epsv(r).map_err(|e| malformed("229 reply", e))?)
        } else {
            let a = parse_pasv(r).map_err(|e| malformed("227 reply", e))?;
            (Some(a), a.port())
        };
        let p = &self.params;
        Ok(p.passive_address.target(&p.route, advertised, port))
    }

    fn port(&mut self, addr: SocketAddr) {
        match addr {
            SocketAddr::V4(v4) => self.send(Step::Port, Command::Port(v4)),
            SocketAddr::V6(_) => self.fail(OpenFailure::Unsupported(
                "PORT cannot carry an IPv6 address and EPRT is unavailable",
            )),
        }
    }

    /// The data connection is on its way: `REST` next, or the transfer
    /// command. Some servers (Twisted) read no command after `PASV`/`EPSV`
    /// until the data connection is open, so the connection is started
    /// before `REST` is answered (TWISTED-PASV-BLOCKS-COMMANDS).
    fn connect(&mut self, action: DataAction) {
        self.channel = Channel::Pending;
        self.actions.push_back(action);
        if self.params.rest > 0 {
            self.send(Step::Rest, Command::Rest(self.params.rest));
        } else {
            self.start();
        }
    }

    fn on_rest(&mut self, r: Reply) {
        let offset = self.params.rest;
        if r.code() != ReplyCode::PENDING {
            if r.code().is_transient() {
                return self.refused("REST", r);
            }
            return self.fail(OpenFailure::RestartRefused {
                offset,
                reply: r,
                other_offset: false,
            });
        }
        // A server that names another offset would send (or take) the file
        // from there: appending that would splice it. Clear the marker it
        // keeps for the next transfer command first.
        if rest_confirms(&r, offset) == Some(false) {
            return self.send(Step::ClearRest(r), Command::Rest(0));
        }
        self.start();
    }

    /// The transfer command, unless it went out behind the passive
    /// command already.
    fn start(&mut self) {
        if !std::mem::take(&mut self.start_sent) {
            self.actions
                .push_back(DataAction::Start(self.params.command.clone()));
            self.push_ahead();
        }
        self.step = Step::Connecting;
        match self.channel {
            Channel::Connected => self.on_connected(),
            Channel::Failed(f) => self.explain(f),
            Channel::Pending | Channel::NotAsked => {}
        }
    }

    /// The next transfer's passive command behind this transfer command,
    /// when pipelining.
    fn push_ahead(&mut self) {
        if self.params.pipeline && self.params.mode == ChannelMode::Passive {
            let (_, next) = self.passive_command();
            self.actions.push_back(DataAction::Ahead(next));
        }
    }

    /// An event while the answers behind a refused passive command are
    /// due ([`Step::AfterRefusal`]). The transfer command can only be
    /// refused then: the server has no data connection to offer.
    fn after_refusal(&mut self, event: Event) {
        let Step::AfterRefusal {
            transfer_due,
            ahead_due,
            ..
        } = &mut self.step
        else {
            return;
        };
        match event {
            Event::TransferFailed(_) if *transfer_due => *transfer_due = false,
            Event::Ahead(_) if *ahead_due => *ahead_due = false,
            Event::Preliminary(_) => {}
            other => return self.fail(OpenFailure::Unexpected(Box::new(other))),
        }
        if *transfer_due || *ahead_due {
            return;
        }
        if let Step::AfterRefusal { step, reply, .. } =
            std::mem::replace(&mut self.step, Step::Done)
        {
            self.step = *step;
            self.on_reply(reply);
        }
    }

    fn on_connected(&mut self) {
        if self.params.protection != ProtectionLevel::Private {
            self.step = Step::AwaitMark;
            self.advance();
        } else if self.waiting() && !self.params.session_on_hand {
            self.step = Step::MarkGrace;
            self.arm(Wait::MarkGrace);
        } else {
            self.start_tls();
        }
    }

    fn start_tls(&mut self) {
        self.step = Step::Handshaking;
        self.actions.push_back(DataAction::StartTls);
    }

    fn explain(&mut self, failure: DataFailure) {
        self.step = Step::Explaining(failure);
        self.arm(Wait::Explanation);
    }

    /// Moves on after a mark or completion arrived.
    fn advance(&mut self) {
        match self.step {
            Step::Connecting
                if self.completion.is_some() && self.params.mode == ChannelMode::Active =>
            {
                // A server that completed without connecting never will.
                self.ready(false);
            }
            Step::MarkGrace if !self.waiting() => self.start_tls(),
            Step::Verdict if self.completion.is_some() => {
                self.step = Step::AwaitMark;
                self.advance();
            }
            Step::AwaitMark if !self.waiting() || self.sends_data() => self.ready(true),
            Step::Explaining(failure) if self.completion.is_some() => {
                self.fail(OpenFailure::Data {
                    failure,
                    explanation: None,
                });
            }
            _ => {}
        }
    }
}
