//! The control connection as a sans-IO state machine.
//!
//! # Calling contract
//!
//! A [`Session`] never touches a socket, a TLS library or a clock. Its
//! driver owns the connection and loops:
//!
//! 1. Write everything [`Session::poll_transmit`] returns to the connection.
//! 2. Handle every [`Event`] from [`Session::poll_event`].
//!    On [`Event::StartTls`] stop reading, run the TLS handshake on the
//!    control connection, then call [`Session::tls_established`]. On
//!    [`Event::StopTls`] (after CCC) shut TLS down and continue in the
//!    clear.
//! 3. When the session is waiting for the server, read from the connection
//!    and pass the bytes to [`Session::handle_input`]; pass end of stream
//!    to [`Session::handle_eof`].
//! 4. Start operations only when [`Session::is_idle`]: [`Session::login`],
//!    [`Session::secure`], [`Session::command`], [`Session::transfer`] or,
//!    when [`Session::pipelines`], [`Session::transfer_after_passive`]
//!    (either with [`Session::send_ahead`] right after it, when
//!    [`Session::pipelines`]), [`Session::abort`] (also during a
//!    transfer), [`Session::ccc`], [`Session::quit`].
//!
//! Deadlines are the driver's: the session has no clock, so the driver puts
//! a timeout on every read it makes for the session.
//!
//! A call that the state does not allow returns [`Misuse`] and changes
//! nothing. A server error ([`Misbehaviour`], [`Downgrade`], a 421) fails
//! the session for good.
//!
//! # States
//!
//! ```text
//!                 new()                     new() with Security::Implicit
//!                   |                        (driver did TLS first)
//!                   v                                 |
//!            AwaitGreeting <--------------------------+
//!        220 |   | 421/4yz/5yz -> error   | 230 + TLS required -> Downgrade
//!            v
//!     +--> [opening plan: HOST? -> AUTH TLS? -> USER/PASS/ACCT? ->
//!     |     PBSZ 0 + PROT? -> FEAT? -> OPTS UTF8 ON? -> TYPE?] --> Ready
//!     |        (when pipelining: USER+PASS in one write, PBSZ+PROT+FEAT+TYPE in one)
//!     |        AUTH TLS --234--> TlsHandshake --tls_established()--> next step
//!     |        (bytes buffered after 234 -> BytesAfterAuth error)
//!     |
//!     |                          Idle
//!     |   login() / secure() ----> [steps as above] ----> Ready / Rejected
//!     |   command(c) ------------> Awaiting reply -------> Reply
//!     |   transfer(c) -----------> AwaitMark --1yz--> AwaitCompletion --2yz--> TransferCompleted
//!     |   transfer_after_passive(EPSV, c) -> PassiveThenMark --reply--> AwaitMark (as above)
//!     |                               |  2yz: TransferCompleted   | 4yz/5yz: TransferFailed
//!     |                               +--4yz/5yz--> TransferFailed
//!     |      send_ahead(EPSV) right after transfer(c): after the final reply -> AwaitAhead --229--> Ahead
//!     |   abort() (Idle or transfer) -> ABOR; first final reply -> PWD marker; 257 -> Aborted
//!     |   ccc() ---200--> StopTls     quit() ---> Closed
//!     +-- any state: 421 -> ServerClosed (failed), undecodable -> ServerMisbehaved (failed)
//! ```

mod config;
mod error;
mod event;

pub use config::{
    Credentials, DataProtection, FeatPolicy, Pipelining, Security, SessionConfig, Utf8Policy,
};
pub use error::{Downgrade, Misbehaviour, Misuse, SessionError};
pub use event::{Event, Step};

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::capabilities::{Capabilities, Support};
use crate::command::{Arg, AuthMechanism, Command, ProtectionLevel, TransferType};
use crate::parse::FeatureSet;
use crate::reply::{Reply, ReplyCode, ReplyDecoder};

/// Whether the control connection runs TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsState {
    /// Plain TCP.
    Plain,
    /// `StartTls` was emitted; the handshake is the driver's.
    Handshaking,
    /// TLS is up.
    Active,
    /// TLS was dropped with CCC after being up.
    Cleared,
}

/// A command of a multi-step operation, sent and awaiting its reply.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    Host,
    Auth,
    Pbsz,
    Prot(ProtectionLevel),
    User,
    Pass,
    Acct,
    Feat,
    Utf8,
    Type(TransferType),
}

/// A step sent in the same write as the one before it (pipelined).
#[derive(Clone, Debug, PartialEq, Eq)]
enum SentAhead {
    /// Its reply is handled as the step's.
    Wanted(Pending),
    /// Its reply no longer matters: `PASS` behind a `USER` answered
    /// otherwise than with 331, or a step behind a refusal. The reply is
    /// read and dropped.
    Unwanted,
}

impl Pending {
    /// Whether the step can ride in one write with the steps around it:
    /// its reply decides nothing about whether or how they are sent.
    fn independent(&self) -> bool {
        matches!(
            self,
            Pending::Pbsz | Pending::Prot(_) | Pending::Feat | Pending::Utf8 | Pending::Type(_)
        )
    }
}

/// Which operation is running, for the terminal event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Open,
    Login,
    Secure,
}

#[derive(Debug)]
enum State {
    AwaitGreeting,
    Idle,
    /// A step of a multi-step operation is outstanding.
    Step(Op, Pending),
    /// The reply to an unwanted step sent ahead is due, to be dropped.
    Drop(Op),
    /// `StartTls` emitted; waiting for `tls_established`.
    TlsHandshake(Op),
    /// A `command()` is outstanding.
    Command,
    /// A passive command awaits its reply, with a data command sent
    /// behind it ([`Session::transfer_after_passive`]); then `AwaitMark`.
    PassiveThenMark,
    /// A data command awaits its 1yz mark.
    AwaitMark,
    /// A data command awaits its completion.
    AwaitCompletion,
    /// The transfer ended; the reply to the passive command pipelined
    /// behind it ([`Session::send_ahead`]) is due: this code, or another
    /// that refuses it.
    AwaitAhead(ReplyCode),
    /// `ABOR` sent; replies collected. After the first final reply the `PWD`
    /// marker is sent (`marker` true), and its 257 ends the abort.
    Aborting {
        replies: Vec<Reply>,
        marker: bool,
    },
    /// `CCC` sent.
    Ccc,
    /// `QUIT` sent.
    Quitting,
    Closed,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitGreeting => "awaiting greeting",
            State::Idle => "idle",
            State::Step(..) | State::Drop(_) => "multi-step operation",
            State::TlsHandshake(_) => "TLS handshake",
            State::Command => "command",
            State::PassiveThenMark | State::AwaitMark | State::AwaitCompletion => "transfer",
            State::AwaitAhead(_) => "pipelined passive command",
            State::Aborting { .. } => "abort",
            State::Ccc => "CCC",
            State::Quitting => "QUIT",
            State::Closed => "closed",
            State::Failed => "failed",
        }
    }
}

/// The control-connection state machine. See the [module docs](self) for
/// the calling contract and the state diagram.
///
/// `Debug` shows the state, never the bytes queued for sending (which may
/// hold `PASS`).
pub struct Session {
    config: SessionConfig,
    state: State,
    decoder: ReplyDecoder,
    transmit: BytesMut,
    events: VecDeque<Event>,
    steps: VecDeque<Pending>,
    /// Steps sent in the same write as the current one (pipelined), whose
    /// replies come after its reply, in this order.
    sent_ahead: VecDeque<SentAhead>,
    /// A refusal that ends the running operation once the replies to the
    /// steps sent ahead of it are read.
    rejected: Option<(Step, Reply)>,
    tls: TlsState,
    tls_required: bool,
    logged_in: bool,
    protection: Option<ProtectionLevel>,
    features: FeatureSet,
    features_fetched: bool,
    /// Support of the RFC 3659 commands, from FEAT or learned.
    capabilities: Capabilities,
    /// A tracked command in flight, whose first reply is learned from.
    probe: Option<&'static str>,
    utf8: bool,
    transfer_type: Option<TransferType>,
    /// This server gets pipelined commands ([`Pipelining`]), decided at
    /// the greeting; off for good after a misfire.
    pipelining: bool,
    /// The passive command pipelined behind a transfer, and its reply.
    ahead: Ahead,
}

/// Where the passive command pipelined behind a transfer stands.
#[derive(Debug)]
enum Ahead {
    None,
    /// Sent; its reply (of this code) comes after the transfer's end.
    Awaiting(ReplyCode),
    /// Answered after the transfer's end: the next transfer's address.
    Answered(Reply),
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("tls", &self.tls)
            .field("tls_required", &self.tls_required)
            .field("logged_in", &self.logged_in)
            .field("protection", &self.protection)
            .field("queued_bytes", &self.transmit.len())
            .field("pending_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new session, waiting for the greeting. With
    /// [`Security::Implicit`] the driver must have completed the TLS
    /// handshake before it feeds any input.
    ///
    /// Fails if the configured host or credentials hold CR, LF or NUL.
    pub fn new(config: SessionConfig) -> Result<Self, SessionError> {
        if let Some(c) = &config.credentials {
            c.validate()?;
        }
        if let Some(h) = &config.host {
            Command::Host(h.clone()).validate()?;
        }
        let tls = match config.security {
            Security::Implicit => TlsState::Active,
            _ => TlsState::Plain,
        };
        Ok(Self {
            decoder: ReplyDecoder::new(config.limits),
            tls_required: config.security != Security::None,
            state: State::AwaitGreeting,
            transmit: BytesMut::new(),
            events: VecDeque::new(),
            steps: VecDeque::new(),
            sent_ahead: VecDeque::new(),
            rejected: None,
            tls,
            logged_in: false,
            protection: None,
            features: FeatureSet::default(),
            features_fetched: false,
            capabilities: Capabilities::default(),
            probe: None,
            utf8: false,
            transfer_type: None,
            pipelining: false,
            ahead: Ahead::None,
            config,
        })
    }

    // ----- driver interface -------------------------------------------------

    /// Bytes to write to the connection, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.transmit.is_empty()).then(|| self.transmit.split().freeze())
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Feeds bytes read from the control connection.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        self.check_usable()?;
        if data.is_empty() {
            return Ok(());
        }
        if let State::TlsHandshake(_) = self.state {
            // Plaintext arriving while TLS should be negotiated.
            return Err(self.fail(Misbehaviour::BytesAfterAuth.into()));
        }
        self.decoder.push(data);
        loop {
            if matches!(self.state, State::TlsHandshake(_)) {
                // Nothing may follow 234 before the handshake.
                if self.decoder.has_pending_input() {
                    return Err(self.fail(Misbehaviour::BytesAfterAuth.into()));
                }
                return Ok(());
            }
            let reply = match self.decoder.decode() {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.fail(Misbehaviour::Decode(e).into())),
            };
            if reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE
                && !matches!(self.state, State::Quitting)
            {
                return Err(self.fail(SessionError::ServerClosed(Some(reply))));
            }
            if let Err(e) = self.on_reply(reply) {
                return Err(self.fail(e));
            }
        }
    }

    /// Reports end of stream on the control connection.
    pub fn handle_eof(&mut self) -> Result<(), SessionError> {
        match self.state {
            State::Closed | State::Quitting => {
                self.state = State::Closed;
                Ok(())
            }
            State::Failed => Err(Misuse::Failed.into()),
            _ => Err(self.fail(SessionError::ServerClosed(None))),
        }
    }

    /// Reports that the TLS handshake asked for by [`Event::StartTls`]
    /// succeeded.
    pub fn tls_established(&mut self) -> Result<(), SessionError> {
        self.check_usable()?;
        let State::TlsHandshake(op) = self.state else {
            return Err(Misuse::NoHandshakePending.into());
        };
        self.tls = TlsState::Active;
        self.decoder.reset();
        if self.logged_in {
            self.push_protection_front();
        }
        self.advance(op)
    }

    // ----- state ---------------------------------------------------------

    /// Whether a new operation may start.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// Whether the session waits for bytes from the server.
    pub fn wants_input(&self) -> bool {
        matches!(
            self.state,
            State::AwaitGreeting
                | State::Step(..)
                | State::Drop(_)
                | State::Command
                | State::PassiveThenMark
                | State::AwaitMark
                | State::AwaitCompletion
                | State::AwaitAhead(_)
                | State::Aborting { .. }
                | State::Ccc
                | State::Quitting
        )
    }

    /// Whether the session is closed or failed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed)
    }

    /// Whether a data command is in progress.
    pub fn in_transfer(&self) -> bool {
        matches!(
            self.state,
            State::PassiveThenMark | State::AwaitMark | State::AwaitCompletion
        )
    }

    /// Whether this server gets pipelined commands (the login's, and the
    /// next passive command behind a transfer command,
    /// [`Session::send_ahead`]): the configured [`Pipelining`] applied to
    /// the greeting, and no misfire since.
    pub fn pipelines(&self) -> bool {
        self.pipelining
    }

    /// Whether a transfer ended and the answer to the passive command
    /// pipelined behind it is still due ([`Event::Ahead`] ends the wait).
    pub fn owes_ahead(&self) -> bool {
        matches!(self.state, State::AwaitAhead(_))
    }

    /// The server's answer to the passive command pipelined behind the
    /// last transfer (`229` or `227`), for the next data connection; taken
    /// once. Any other passive or active command, a transfer command or
    /// `ABOR` forgets it.
    pub fn take_ahead(&mut self) -> Option<Reply> {
        match std::mem::replace(&mut self.ahead, Ahead::None) {
            Ahead::Answered(r) => Some(r),
            other => {
                self.ahead = other;
                None
            }
        }
    }

    /// Whether the user is logged in.
    pub fn is_logged_in(&self) -> bool {
        self.logged_in
    }

    /// Whether the driver must complete a TLS handshake before it feeds any
    /// input: implicit TLS, before the greeting. The one place this is
    /// decided (from [`Security::Implicit`]).
    pub fn needs_tls_first(&self) -> bool {
        matches!(self.state, State::AwaitGreeting) && self.config.security == Security::Implicit
    }

    /// TLS state of the control connection.
    pub fn tls_state(&self) -> TlsState {
        self.tls
    }

    /// The protection every new data connection must use: what `PROT`
    /// established, or clear when TLS never came up.
    pub fn data_protection(&self) -> ProtectionLevel {
        match (self.tls, self.protection) {
            (TlsState::Active | TlsState::Cleared, Some(p)) => p,
            _ => ProtectionLevel::Clear,
        }
    }

    /// The features from FEAT (empty until fetched).
    pub fn features(&self) -> &FeatureSet {
        &self.features
    }

    /// Whether the server implements `verb` (`SIZE`, `MDTM`, `MLSD`,
    /// `MLST`, `MFMT`, `REST`): from FEAT when it answered, else from the
    /// command's own replies so far ([`Support::Unknown`] until tried). See
    /// [`Capabilities`].
    pub fn support(&self, verb: &str) -> Support {
        self.capabilities.support(verb, &self.features)
    }

    /// Learns from the first reply to a tracked command in flight.
    fn learn(&mut self, code: ReplyCode) {
        if let Some(verb) = self.probe.take() {
            self.capabilities.learn(verb, code);
        }
    }

    /// Whether `OPTS UTF8 ON` was accepted.
    pub fn utf8_enabled(&self) -> bool {
        self.utf8
    }

    /// The `TYPE` last set through the session.
    pub fn transfer_type(&self) -> Option<TransferType> {
        self.transfer_type
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The configuration of a new session that takes this one's place with
    /// the same state after its login: the same credentials, `HOST`,
    /// policies and limits; TLS as now (implicit if this session was
    /// implicit, otherwise `AUTH TLS`, also for a session secured later with
    /// [`secure`](Self::secure)); `PBSZ 0`/`PROT` at the level in force;
    /// `TYPE` as last set; no pipelining once this session turned it off
    /// (a misfire is not forgotten). The working directory is the driver's to restore
    /// (`PWD` here, `CWD` there).
    ///
    /// Used to renew a session whose TLS 1.3 tickets ran out (see
    /// [`resumption`](crate::resumption)), or whose connection an abandoned
    /// operation left unusable. `None` when there is nothing to renew into:
    /// not logged in, a TLS switch half done, or TLS dropped with `CCC`.
    pub fn renewal_config(&self) -> Option<SessionConfig> {
        if !self.logged_in {
            return None;
        }
        let security = match (self.tls, self.config.security) {
            (TlsState::Active, Security::Implicit) => Security::Implicit,
            (TlsState::Active, _) => Security::Explicit,
            (TlsState::Plain, _) if !self.tls_required => Security::None,
            _ => return None,
        };
        let credentials = self.config.credentials.clone()?;
        let data_protection = match self.protection {
            Some(ProtectionLevel::Clear) => DataProtection::Clear,
            _ => DataProtection::Private,
        };
        let mut config = self.config.clone();
        config.security = security;
        config.data_protection = data_protection;
        config.credentials = Some(credentials);
        config.transfer_type = self.transfer_type.or(self.config.transfer_type);
        if !self.pipelining {
            config.pipelining = Pipelining::Off;
        }
        Some(config)
    }

    // ----- operations ------------------------------------------------------

    /// Logs in: `USER`, then `PASS` (on 331) and `ACCT` (on 332), followed
    /// by `PBSZ`/`PROT` when TLS is up, `FEAT`, `OPTS UTF8 ON` and `TYPE`
    /// per the configuration. Ends with [`Event::Ready`] or
    /// [`Event::Rejected`].
    pub fn login(&mut self, credentials: Credentials) -> Result<(), SessionError> {
        self.check_idle()?;
        credentials.validate()?;
        if self.tls_required && self.tls != TlsState::Active {
            return Err(Misuse::TlsRequired.into());
        }
        self.config.credentials = Some(credentials);
        self.steps.clear();
        self.steps.push_back(Pending::User);
        self.advance(Op::Login)
    }

    /// Secures the connection now: `AUTH TLS`, [`Event::StartTls`], and
    /// after the handshake `PBSZ 0`/`PROT` if logged in (otherwise after the
    /// login). From here on TLS is required: a refusal is a
    /// [`Downgrade`] error. Ends with [`Event::Ready`].
    pub fn secure(&mut self) -> Result<(), SessionError> {
        self.check_idle()?;
        if self.tls != TlsState::Plain {
            return Err(Misuse::AlreadySecure.into());
        }
        self.tls_required = true;
        self.steps.clear();
        self.steps.push_back(Pending::Auth);
        self.advance(Op::Secure)
    }

    /// Sends a command that has a single final reply, ending with
    /// [`Event::Reply`]. Data commands go through [`Session::transfer`];
    /// `USER`/`PASS`/`ACCT`, `AUTH`/`PBSZ`/`PROT`/`CCC`, `ABOR`, `REIN`
    /// and `QUIT` through their own methods.
    pub fn command(&mut self, cmd: Command) -> Result<(), SessionError> {
        self.check_idle()?;
        if cmd.uses_data_connection() {
            return Err(Misuse::UseDedicatedMethod(cmd.verb()).into());
        }
        if let Some(verb) = dedicated_verb(&cmd) {
            return Err(Misuse::UseDedicatedMethod(verb).into());
        }
        self.send(&cmd)?;
        if matches!(
            cmd,
            Command::Epsv(_) | Command::Pasv | Command::Eprt(_) | Command::Port(_)
        ) {
            // The server listens elsewhere now, or not at all.
            self.ahead = Ahead::None;
        }
        if let Command::Type(t) = cmd {
            self.transfer_type = Some(t);
        }
        self.probe = Capabilities::tracks(cmd.verb()).then(|| cmd.verb());
        self.state = State::Command;
        Ok(())
    }

    /// Sends a data command (`RETR`, `STOR`, `STOU`, `APPE`, `LIST`, `NLST`,
    /// `MLSD`, or a raw line the caller vouches for). The driver opens or
    /// accepts the data connection alongside. Events:
    /// [`Event::TransferStarted`] at the 1yz mark, then
    /// [`Event::TransferCompleted`] or [`Event::TransferFailed`].
    pub fn transfer(&mut self, cmd: Command) -> Result<(), SessionError> {
        self.check_idle()?;
        if !self.logged_in {
            return Err(Misuse::NotLoggedIn.into());
        }
        if !cmd.uses_data_connection() && !matches!(cmd, Command::Raw(_)) {
            return Err(Misuse::NotADataCommand(cmd.verb()).into());
        }
        self.send(&cmd)?;
        self.probe = Capabilities::tracks(cmd.verb()).then(|| cmd.verb());
        self.state = State::AwaitMark;
        // The data connection that an answer ahead prepared is this
        // transfer's, whether the driver used it or asked again.
        self.ahead = Ahead::None;
        Ok(())
    }

    /// Sends a passive command (`EPSV` or `PASV`) and the data command
    /// `cmd` behind it in the same write, only while
    /// [`Session::pipelines`]: the driver connects once the passive answer
    /// comes, while the server already has the data command. This saves
    /// the round trip of a transfer that has no passive answer on hand
    /// ([`Session::take_ahead`]), such as a session's first.
    ///
    /// Events: [`Event::Reply`] with the passive answer, then those of
    /// [`Session::transfer`]. A server that refuses the passive command
    /// then answers the data command too (`425 Use PORT or PASV first`).
    /// [`Session::send_ahead`] may follow as after `transfer`. Nothing is
    /// sent when either command is refused here.
    pub fn transfer_after_passive(
        &mut self,
        passive: Command,
        cmd: Command,
    ) -> Result<(), SessionError> {
        self.check_idle()?;
        self.pipelined_passive(&passive)?;
        let before = self.transmit.len();
        self.send(&passive)?;
        if let Err(e) = self.transfer(cmd) {
            self.transmit.truncate(before);
            return Err(e);
        }
        self.state = State::PassiveThenMark;
        Ok(())
    }

    /// Pipelines the next transfer's passive command (`EPSV` or `PASV`)
    /// behind the transfer command just sent, in the same write, so that
    /// its answer comes right after the transfer's end instead of a round
    /// trip later. Only while the transfer command sent by
    /// [`Session::transfer`] awaits its mark (call it right after, before
    /// flushing), and only while [`Session::pipelines`].
    ///
    /// The transfer's events come as usual; the answer then comes as
    /// [`Event::Ahead`], and the session is idle after it. An answer in
    /// order is kept for the next transfer ([`Session::take_ahead`]). An
    /// answer before the transfer's end means the server read the command
    /// during the transfer: its expected code, or after the mark a refusal
    /// that cannot end a transfer (`450`, `500`-`504`: ProFTPD's `450 EPSV:
    /// data transfer in progress`), and the transfer goes on. So does a
    /// `2yz` completion where the answer was due (a refusal that could
    /// also end a transfer, such as `425`, was taken for the transfer's
    /// end, which then failed). Either way pipelining is off for the rest
    /// of the session.
    pub fn send_ahead(&mut self, cmd: Command) -> Result<(), SessionError> {
        self.check_usable()?;
        let expected = self.pipelined_passive(&cmd)?;
        if !matches!(self.state, State::PassiveThenMark | State::AwaitMark) {
            return Err(Misuse::NotInTransfer.into());
        }
        if !matches!(self.ahead, Ahead::None) {
            return Err(Misuse::Busy("a passive command is already pipelined").into());
        }
        self.send(&cmd)?;
        self.ahead = Ahead::Awaiting(expected);
        Ok(())
    }

    /// The code that answers `cmd`, a passive command (`EPSV` or `PASV`)
    /// to be pipelined: an error for any other command, or when this
    /// session does not pipeline.
    fn pipelined_passive(&self, cmd: &Command) -> Result<ReplyCode, SessionError> {
        let expected = match cmd {
            Command::Epsv(_) => ReplyCode::EXTENDED_PASSIVE_MODE,
            Command::Pasv => ReplyCode::PASSIVE_MODE,
            other => return Err(Misuse::NotAPassiveCommand(other.verb()).into()),
        };
        if !self.pipelining {
            return Err(Misuse::PipeliningOff.into());
        }
        Ok(expected)
    }

    /// Sends `ABOR`, during a transfer or on its own. Once the server has
    /// given a final reply to it (or to the aborted transfer), the session
    /// sends `PWD` as a marker: every reply before the marker's 257 belongs
    /// to the transfer or to `ABOR`, so the session stays in step whether the
    /// server sends one reply or two. The marker is not pipelined with
    /// `ABOR`: some servers (Pure-FTPd) read the control connection inside
    /// their transfer loop and drop whatever follows `ABOR` there. Ends with
    /// [`Event::Aborted`].
    pub fn abort(&mut self) -> Result<(), SessionError> {
        self.check_usable()?;
        if !matches!(
            self.state,
            State::Idle | State::PassiveThenMark | State::AwaitMark | State::AwaitCompletion
        ) {
            return Err(Misuse::Busy(self.state.name()).into());
        }
        self.send(&Command::Abor)?;
        // A pipelined command's answer, if still due, is among the
        // replies the abort collects.
        self.ahead = Ahead::None;
        self.state = State::Aborting {
            replies: Vec::new(),
            marker: false,
        };
        Ok(())
    }

    /// Sends `CCC` to drop TLS on the control connection (RFC 4217 §11).
    /// Only for users who opted in: firewalls that must read the control
    /// connection. Data protection is unchanged. On 200 the session emits
    /// [`Event::StopTls`]; a refusal comes as [`Event::Reply`].
    pub fn ccc(&mut self) -> Result<(), SessionError> {
        self.check_idle()?;
        if self.tls != TlsState::Active {
            return Err(Misuse::NotSecure.into());
        }
        self.send(&Command::Ccc)?;
        self.state = State::Ccc;
        Ok(())
    }

    /// Sends `QUIT`. Ends with [`Event::Closed`].
    pub fn quit(&mut self) -> Result<(), SessionError> {
        self.check_usable()?;
        if !matches!(self.state, State::Idle) {
            return Err(Misuse::Busy(self.state.name()).into());
        }
        self.send(&Command::Quit)?;
        self.state = State::Quitting;
        Ok(())
    }

    // ----- internals -------------------------------------------------------

    fn check_usable(&self) -> Result<(), SessionError> {
        match self.state {
            State::Failed => Err(Misuse::Failed.into()),
            State::Closed => Err(Misuse::Closed.into()),
            _ => Ok(()),
        }
    }

    fn check_idle(&self) -> Result<(), SessionError> {
        self.check_usable()?;
        match self.state {
            State::Idle => Ok(()),
            State::TlsHandshake(_) => Err(Misuse::HandshakeInProgress.into()),
            ref s => Err(Misuse::Busy(s.name()).into()),
        }
    }

    /// Whether a reply with `code`, in the transfer state `state`, is the
    /// answer to the pipelined passive command, come before the transfer's
    /// end: its expected code, or, after the mark, a refusal that cannot
    /// end a started transfer (ProFTPD's `450 EPSV: data transfer in
    /// progress`; see [`refuses_a_command_only`]).
    fn answers_ahead_early(&self, state: &State, code: ReplyCode) -> bool {
        match self.ahead {
            Ahead::Awaiting(expected) => {
                code == expected
                    || (matches!(state, State::AwaitCompletion) && refuses_a_command_only(code))
            }
            Ahead::None | Ahead::Answered(_) => false,
        }
    }

    /// The state after a transfer's final reply: idle, or waiting for the
    /// answer to the passive command pipelined behind it.
    fn after_transfer(&self) -> State {
        match self.ahead {
            Ahead::Awaiting(code) => State::AwaitAhead(code),
            Ahead::None | Ahead::Answered(_) => State::Idle,
        }
    }

    fn fail(&mut self, e: SessionError) -> SessionError {
        self.state = State::Failed;
        self.steps.clear();
        self.sent_ahead.clear();
        self.rejected = None;
        e
    }

    fn send(&mut self, cmd: &Command) -> Result<(), SessionError> {
        cmd.encode_into(&mut self.transmit)?;
        Ok(())
    }

    fn push_protection_front(&mut self) {
        if self.protection.is_some() {
            return;
        }
        let level = match self.config.data_protection {
            DataProtection::Private => ProtectionLevel::Private,
            DataProtection::Clear => ProtectionLevel::Clear,
        };
        self.steps.push_front(Pending::Prot(level));
        self.steps.push_front(Pending::Pbsz);
    }

    /// Queues what follows a successful login.
    fn after_login(&mut self) {
        if self.tls == TlsState::Active {
            self.push_protection_front();
        }
        if self.config.features == FeatPolicy::Request && !self.features_fetched {
            self.steps.push_back(Pending::Feat);
        }
        if let Some(t) = self.config.transfer_type {
            self.steps.push_back(Pending::Type(t));
        }
    }

    /// Awaits the reply to the next step sent ahead, or sends the next
    /// queued step, or ends the operation. When this server gets pipelined
    /// commands, `USER` goes out with `PASS`, and a run of independent
    /// steps ([`Pending::independent`]: `PBSZ`, `PROT`, `FEAT`, `OPTS UTF8`,
    /// `TYPE`) in one write.
    fn advance(&mut self, op: Op) -> Result<(), SessionError> {
        if let Some(sent) = self.sent_ahead.pop_front() {
            self.state = match sent {
                SentAhead::Wanted(step) => State::Step(op, step),
                SentAhead::Unwanted => State::Drop(op),
            };
            return Ok(());
        }
        let Some(step) = self.steps.pop_front() else {
            self.state = State::Idle;
            self.events.push_back(match self.rejected.take() {
                Some((step, reply)) => Event::Rejected { step, reply },
                None => Event::Ready,
            });
            return Ok(());
        };
        self.send_step(&step)?;
        if self.pipelining {
            if step == Pending::User {
                // Most servers answer 331; any other answer makes this
                // `PASS` unwanted (see `on_step_reply`).
                self.send_step(&Pending::Pass)?;
                self.sent_ahead.push_back(SentAhead::Wanted(Pending::Pass));
            } else if step.independent() {
                while let Some(next) = self.steps.pop_front() {
                    if !next.independent() {
                        self.steps.push_front(next);
                        break;
                    }
                    self.send_step(&next)?;
                    self.sent_ahead.push_back(SentAhead::Wanted(next));
                }
            }
        }
        self.state = State::Step(op, step);
        Ok(())
    }

    /// Sends the command of a step.
    fn send_step(&mut self, step: &Pending) -> Result<(), SessionError> {
        let cmd = match step {
            Pending::Host => Command::Host(self.config.host.clone().unwrap_or_default()),
            Pending::Auth => Command::Auth(AuthMechanism::Tls),
            Pending::Pbsz => Command::Pbsz(0),
            Pending::Prot(l) => Command::Prot(*l),
            Pending::User => Command::User(self.creds_field(|c| c.user.clone())),
            Pending::Pass => Command::Pass(crate::Secret::new(
                self.creds_field(|c| c.password.expose_secret().clone()),
            )),
            Pending::Acct => match self
                .config
                .credentials
                .as_ref()
                .and_then(|c| c.account.clone())
            {
                Some(a) => Command::Acct(a),
                None => Command::Acct(crate::Secret::new(Arg::default())),
            },
            Pending::Feat => Command::Feat,
            Pending::Utf8 => Command::Opts("UTF8".into(), Some("ON".into())),
            Pending::Type(t) => Command::Type(*t),
        };
        self.send(&cmd)
    }

    /// The `PASS` sent ahead with `USER`, if any, is not wanted: `USER`
    /// was answered otherwise than with 331.
    fn drop_pass_sent_ahead(&mut self) {
        if let Some(step @ SentAhead::Wanted(Pending::Pass)) = self.sent_ahead.front_mut() {
            *step = SentAhead::Unwanted;
        }
    }

    fn creds_field(&self, f: impl Fn(&Credentials) -> Arg) -> Arg {
        self.config.credentials.as_ref().map(f).unwrap_or_default()
    }

    /// Ends the operation with a refusal, once the replies to the steps
    /// sent ahead of it are read (they are unwanted now).
    fn reject(&mut self, op: Op, step: Step, reply: Reply) -> Result<(), SessionError> {
        self.steps.clear();
        self.sent_ahead
            .iter_mut()
            .for_each(|s| *s = SentAhead::Unwanted);
        self.rejected = Some((step, reply));
        self.advance(op)
    }

    /// A reply to a one-reply exchange waiting in `waiting`: a 1yz reply
    /// keeps it waiting, any other is its answer and leaves the session idle.
    fn answer_or_wait(&mut self, waiting: State, reply: Reply) {
        if reply.code().is_preliminary() {
            self.state = waiting;
            self.events.push_back(Event::Preliminary(reply));
        } else {
            self.state = State::Idle;
            self.events.push_back(Event::Reply(reply));
        }
    }

    fn on_reply(&mut self, reply: Reply) -> Result<(), SessionError> {
        let code = reply.code();
        let state = std::mem::replace(&mut self.state, State::Failed);
        match state {
            State::AwaitGreeting => self.on_greeting(reply),
            State::Step(op, step) => {
                if code.is_preliminary() {
                    self.state = State::Step(op, step);
                    self.events.push_back(Event::Preliminary(reply));
                    return Ok(());
                }
                self.on_step_reply(op, step, reply)
            }
            State::Drop(op) => {
                if code.is_preliminary() {
                    self.state = State::Drop(op);
                    return Ok(());
                }
                self.advance(op)
            }
            State::Command => {
                self.learn(code);
                self.answer_or_wait(State::Command, reply);
                Ok(())
            }
            State::PassiveThenMark => {
                if code.is_preliminary() {
                    return Err(Misbehaviour::UnexpectedReply {
                        during: "passive command",
                        reply,
                    }
                    .into());
                }
                // Answered or refused, the data command behind it is
                // answered next.
                self.state = State::AwaitMark;
                self.events.push_back(Event::Reply(reply));
                Ok(())
            }
            State::AwaitMark | State::AwaitCompletion if self.answers_ahead_early(&state, code) => {
                // The pipelined command answered before the transfer's
                // end: this server reads commands during a transfer.
                self.pipelining = false;
                self.ahead = Ahead::None;
                self.state = state;
                self.events.push_back(Event::Ahead(reply));
                Ok(())
            }
            State::AwaitMark | State::AwaitCompletion => {
                let marked = matches!(state, State::AwaitCompletion);
                self.learn(code);
                if code.is_preliminary() {
                    // The first 1yz is the mark; later ones (110 restart
                    // markers and the like) are informational.
                    self.state = State::AwaitCompletion;
                    self.events.push_back(if marked {
                        Event::Preliminary(reply)
                    } else {
                        Event::TransferStarted(reply)
                    });
                } else if code.is_completion() {
                    // Some servers skip the mark (an empty listing, say).
                    self.state = self.after_transfer();
                    self.events.push_back(Event::TransferCompleted(reply));
                } else if code.is_negative() {
                    self.state = self.after_transfer();
                    self.events.push_back(Event::TransferFailed(reply));
                } else {
                    return Err(Misbehaviour::UnexpectedReply {
                        during: if marked {
                            "transfer completion"
                        } else {
                            "data command"
                        },
                        reply,
                    }
                    .into());
                }
                Ok(())
            }
            State::AwaitAhead(expected) => {
                if code.is_preliminary() {
                    return Err(Misbehaviour::UnexpectedReply {
                        during: "pipelined passive command",
                        reply,
                    }
                    .into());
                }
                self.ahead = if code == expected {
                    Ahead::Answered(reply.clone())
                } else {
                    if code.is_completion() {
                        // The transfer's own end, after a refusal of the
                        // pipelined command read during the transfer that
                        // could also end a transfer (`425`) was taken for
                        // it: in step again, and no more pipelining.
                        self.pipelining = false;
                    }
                    Ahead::None
                };
                self.state = State::Idle;
                self.events.push_back(Event::Ahead(reply));
                Ok(())
            }
            State::Aborting {
                mut replies,
                marker,
            } => {
                if marker && code == ReplyCode::PATH_CREATED {
                    self.state = State::Idle;
                    self.events.push_back(Event::Aborted(replies));
                    return Ok(());
                }
                if replies.len() >= 8 {
                    return Err(Misbehaviour::UnexpectedReply {
                        during: "ABOR",
                        reply,
                    }
                    .into());
                }
                let send_marker = !marker && !code.is_preliminary();
                replies.push(reply);
                if send_marker {
                    self.send(&Command::Pwd)?;
                }
                self.state = State::Aborting {
                    replies,
                    marker: marker || send_marker,
                };
                Ok(())
            }
            State::Ccc => {
                if code == ReplyCode::OK {
                    self.tls = TlsState::Cleared;
                    self.state = State::Idle;
                    self.events.push_back(Event::StopTls);
                } else {
                    self.answer_or_wait(State::Ccc, reply);
                }
                Ok(())
            }
            State::Quitting => {
                self.state = State::Closed;
                self.events.push_back(Event::Closed(reply));
                Ok(())
            }
            State::Idle => Err(Misbehaviour::UnsolicitedReply(reply).into()),
            State::TlsHandshake(_) => Err(Misbehaviour::BytesAfterAuth.into()),
            State::Closed => {
                self.state = State::Closed;
                Err(Misbehaviour::UnsolicitedReply(reply).into())
            }
            State::Failed => Err(Misuse::Failed.into()),
        }
    }

    fn on_greeting(&mut self, reply: Reply) -> Result<(), SessionError> {
        let code = reply.code();
        if code.is_preliminary() {
            // 120: ready in n minutes. Keep waiting (the driver's deadline
            // still applies).
            self.state = State::AwaitGreeting;
            self.events.push_back(Event::Preliminary(reply));
            return Ok(());
        }
        if code == ReplyCode::LOGGED_IN {
            if self.tls_required && self.tls != TlsState::Active {
                return Err(Downgrade::LoggedInWithoutTls(reply).into());
            }
            self.logged_in = true;
        } else if code != ReplyCode::SERVICE_READY {
            return Err(SessionError::GreetingRefused(reply));
        }
        self.pipelining = self.config.pipelining.applies_to(&reply);
        self.events.push_back(Event::Greeting(reply));
        self.steps.clear();
        if self.config.host.is_some() && !self.logged_in {
            self.steps.push_back(Pending::Host);
        }
        if self.config.security == Security::Explicit {
            self.steps.push_back(Pending::Auth);
        }
        if self.logged_in {
            self.after_login();
        } else if self.config.credentials.is_some() {
            self.steps.push_back(Pending::User);
        }
        self.advance(Op::Open)
    }

    fn on_step_reply(&mut self, op: Op, step: Pending, reply: Reply) -> Result<(), SessionError> {
        let code = reply.code();
        match step {
            Pending::Host => {
                // HOST is optional for servers (RFC 7151 §3); a refusal
                // leaves the default host.
                self.advance(op)
            }
            Pending::Auth => {
                if code == ReplyCode::AUTH_OK {
                    if self.decoder.has_pending_input() {
                        return Err(Misbehaviour::BytesAfterAuth.into());
                    }
                    self.tls = TlsState::Handshaking;
                    self.state = State::TlsHandshake(op);
                    self.events.push_back(Event::StartTls);
                    Ok(())
                } else if code == ReplyCode::LOGGED_IN {
                    Err(Downgrade::LoggedInWithoutTls(reply).into())
                } else {
                    Err(Downgrade::AuthRefused(reply).into())
                }
            }
            Pending::Pbsz => {
                if code.is_completion() {
                    self.advance(op)
                } else {
                    Err(Downgrade::PbszRefused(reply).into())
                }
            }
            Pending::Prot(level) => {
                if code.is_completion() {
                    self.protection = Some(level);
                    self.advance(op)
                } else if level == ProtectionLevel::Private {
                    Err(Downgrade::ProtRefused(reply).into())
                } else {
                    self.reject(op, Step::Prot, reply)
                }
            }
            Pending::User | Pending::Pass | Pending::Acct => {
                let which = match step {
                    Pending::User => Step::User,
                    Pending::Pass => Step::Pass,
                    _ => Step::Acct,
                };
                if code == ReplyCode::NEED_PASSWORD && step == Pending::User {
                    if self.sent_ahead.front() != Some(&SentAhead::Wanted(Pending::Pass)) {
                        self.steps.push_front(Pending::Pass);
                    }
                    return self.advance(op);
                }
                self.drop_pass_sent_ahead();
                if code.is_completion() {
                    self.logged_in = true;
                    self.events.push_back(Event::LoggedIn(reply));
                    self.after_login();
                    self.advance(op)
                } else if code == ReplyCode::NEED_ACCOUNT && step != Pending::Acct {
                    let has_account = self
                        .config
                        .credentials
                        .as_ref()
                        .is_some_and(|c| c.account.is_some());
                    if has_account {
                        self.steps.push_front(Pending::Acct);
                        self.advance(op)
                    } else {
                        self.reject(op, Step::Acct, reply)
                    }
                } else if code.is_negative() {
                    self.reject(op, which, reply)
                } else {
                    Err(Misbehaviour::UnexpectedReply {
                        during: "login",
                        reply,
                    }
                    .into())
                }
            }
            Pending::Feat => {
                self.features_fetched = true;
                self.capabilities.feat_reply(code.is_completion());
                self.features = FeatureSet::parse(&reply);
                if self.config.utf8 == Utf8Policy::IfOffered && self.features.supports_utf8() {
                    self.steps.push_front(Pending::Utf8);
                }
                self.advance(op)
            }
            Pending::Utf8 => {
                self.utf8 = code.is_completion();
                self.advance(op)
            }
            Pending::Type(t) => {
                if code.is_completion() {
                    self.transfer_type = Some(t);
                    self.advance(op)
                } else {
                    self.reject(op, Step::Type, reply)
                }
            }
        }
    }
}

/// Whether `code` only ever refuses a command, and so cannot be the end of
/// a transfer that started (RFC 959 §5.4: after the mark a transfer ends
/// with 226/250, 425, 426, 451, 551 or 552): `450` (file action not taken,
/// a transfer command's refusal before any mark) and `500`-`504` (syntax,
/// parameters, not implemented, bad sequence).
fn refuses_a_command_only(code: ReplyCode) -> bool {
    matches!(code.as_u16(), 450 | 500..=504)
}

/// Commands that must go through their own session method.
fn dedicated_verb(cmd: &Command) -> Option<&'static str> {
    let verb: &str = match cmd {
        Command::Raw(line) => {
            let first = line
                .as_bytes()
                .split(|&b| b == b' ')
                .next()
                .unwrap_or_default();
            return DEDICATED
                .iter()
                .find(|v| v.as_bytes().eq_ignore_ascii_case(first))
                .copied();
        }
        other => other.verb(),
    };
    DEDICATED.iter().find(|v| **v == verb).copied()
}

const DEDICATED: &[&str] = &[
    "USER", "PASS", "ACCT", "AUTH", "PBSZ", "PROT", "CCC", "ABOR", "REIN", "QUIT", "RETR", "STOR",
    "STOU", "APPE", "LIST", "NLST", "MLSD",
];
