//! [`Client`]: one FTP session, its commands and its transfers. Its fields
//! are private to this module; the rest of the crate uses its methods.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | the struct, connecting, renewing the session, recovering after an abandoned operation, the command exchange |
//! | `session.rs` | login, securing the live session, `CCC`, `QUIT`, features, TLS facts |
//! | `commands.rs` | commands without a data connection: directories, files, `SIZE`/`MDTM`, `SITE`/`STAT`/`HELP`, raw commands |
//! | `transfer/` | transfers: the driver of the sans-IO [`ftpkit_control::transfer::Opening`], [`Download`], [`Upload`], listings |

use std::net::SocketAddr;
use std::sync::Arc;

use ftpkit_control::resumption::DataHandshake;
use ftpkit_control::session::{SessionConfig, Step};
use ftpkit_control::transfer::DataCommands;
use ftpkit_control::{Arg, Command, Event, Reply, Security, Session};

use crate::config::{Config, ExtendedCommands};
use crate::control::{connect_tcp, Control};
use crate::error::{Error, ErrorKind, Result};
use crate::tls::{SessionStats, TlsContext};

mod commands;
mod session;
mod transfer;

pub(crate) use transfer::Opened;
pub use transfer::{Download, TransferInfo, Upload, LIST_DIR_MAX_ROWS};

/// One FTP session.
///
/// Methods take `&mut self`: one operation at a time, as FTP allows. A
/// transfer borrows the client until it is finished or dropped; dropping it
/// half-way is allowed, and the next call aborts the transfer (ABOR) and
/// drains the replies it owes before doing anything else.
#[derive(Debug)]
pub struct Client {
    config: Arc<Config>,
    control: Control,
    tls_ctx: Option<TlsContext>,
    peer: SocketAddr,
    local: SocketAddr,
    /// Which passive/active commands the server implements (learned).
    data_commands: DataCommands,
    /// The session's `debug` span (host, port, security); transfers are
    /// its children.
    span: tracing::Span,
    /// The span of the transfer being opened, handed to its
    /// `Download`/`Upload`.
    transfer_span: Option<tracing::Span>,
    /// TLS counters of the control connections this client has replaced,
    /// and the renewals and retries.
    tls_history: SessionStats,
    /// Round trips of the control connections this client replaced.
    pub(crate) round_trips_before: u64,
    /// A data connection was refused for want of TLS session reuse after
    /// its command had started: renew before the next one.
    renew_before_next_data: bool,
    /// How the TLS handshake of the data connection being opened went.
    data_handshake: Option<DataHandshake>,
    /// The working directory a renewal restores.
    cwd: Cwd,
    /// A listing made from inside its directory (see [`Detour`]).
    detour: Option<Detour>,
}

/// A listing that changed into its directory to list it with no argument
/// (servers that hand the `LIST` argument to `ls` split it at spaces). The
/// next call changes back to `origin` first, unless the listing still
/// `held` it (opening its data connection: a session renewed then must go
/// to `into` again).
#[derive(Clone, Debug)]
pub(crate) struct Detour {
    pub(crate) origin: Vec<u8>,
    pub(crate) into: Arg,
    pub(crate) held: bool,
}

/// How an abandoned operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Abort {
    /// Every reply it owed was read: the session is in step.
    Clean,
    /// The server may still send a reply for the aborted transfer.
    Ambiguous,
}

/// The working directory, as a renewed session must restore it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cwd {
    /// Where the login put the session: nothing to restore.
    Home,
    /// An absolute path the server reported (`PWD` after `CWD`).
    Known(Vec<u8>),
    /// Changed by a raw command: ask `PWD` before renewing.
    Unknown,
}

/// Opens a control connection: TCP (or the connector), and for implicit
/// TLS the handshake. The session then awaits the greeting; run
/// [`run_operation`] to finish opening (AUTH, login) as `session_cfg` says.
async fn open_control(
    config: &Config,
    tls_ctx: Option<&TlsContext>,
    session_cfg: SessionConfig,
) -> Result<(Control, SocketAddr, SocketAddr)> {
    let session = Session::new(session_cfg)?;
    let tcp = connect_tcp(
        config.connector.as_deref(),
        &config.host,
        config.control_port(),
        config.timeouts.connect,
    )
    .await?;
    let peer = tcp
        .peer_addr()
        .map_err(|e| Error::from_io("peer address", e))?;
    let local = tcp
        .local_addr()
        .map_err(|e| Error::from_io("local address", e))?;
    let session_tls = match tls_ctx {
        Some(ctx) => Some(ctx.session(config.tls_server_name())?),
        None => None,
    };
    let mut control = Control::new(
        ftpkit_data::MaybeTls::Plain(tcp),
        session,
        session_tls,
        config.timeouts.reply,
        config.timeouts.tls_handshake,
    );
    if control.session.needs_tls_first() {
        control.start_tls().await?;
    }
    Ok((control, peer, local))
}

/// Runs a multi-step operation (open, login, secure) to its end.
async fn run_operation(control: &mut Control) -> Result<()> {
    loop {
        match control.next_event().await? {
            Event::Ready => return Ok(()),
            Event::Rejected { step, reply } => {
                let (what, kind) = match step {
                    Step::User | Step::Pass | Step::Acct => ("login refused", ErrorKind::Auth),
                    Step::Prot => ("PROT refused", ErrorKind::ServerReply),
                    _ => ("TYPE refused", ErrorKind::ServerReply),
                };
                return Err(Error::from_reply(what, reply).with_kind(kind));
            }
            Event::Greeting(r) | Event::LoggedIn(r) | Event::Preliminary(r) => {
                tracing::debug!(reply = %r, "session progress");
            }
            other => {
                let e = Error::new(ErrorKind::Protocol, format!("unexpected event {other:?}"));
                return Err(control.poison(e));
            }
        }
    }
}

/// Ends a control connection that is no longer used: `QUIT` and close,
/// within a short deadline, ignoring failures.
async fn close_quietly(control: &mut Control) {
    let deadline = control.reply_timeout.min(std::time::Duration::from_secs(5));
    let _ = tokio::time::timeout(deadline, async {
        if control.session.is_idle() && control.session.quit().is_ok() {
            while let Ok(ev) = control.next_event().await {
                if let Event::Closed(_) = ev {
                    break;
                }
            }
        }
        control.shutdown().await;
    })
    .await;
}

impl Client {
    /// Connects, secures the connection as configured, and logs in if
    /// credentials are set.
    pub async fn connect(config: Config) -> Result<Self> {
        let config = Arc::new(config);
        let span = tracing::debug_span!(
            "ftp_session",
            host = %config.host,
            port = config.control_port(),
            security = ?config.security,
        );
        let needs_tls = config.security != Security::None;
        let tls_ctx = if needs_tls {
            Some(TlsContext::new(&config.tls)?)
        } else {
            None
        };
        let session_cfg = config.session_config();
        let (control, peer, local) = open_control(&config, tls_ctx.as_ref(), session_cfg)
            .await
            .map_err(|e| client_auth_explained(&config, e))?;
        let mut client = Self {
            control,
            tls_ctx,
            peer,
            local,
            data_commands: DataCommands::new(config.extended == ExtendedCommands::TryFirst),
            config,
            span,
            transfer_span: None,
            tls_history: SessionStats::default(),
            round_trips_before: 0,
            renew_before_next_data: false,
            data_handshake: None,
            cwd: Cwd::Home,
            detour: None,
        };
        run_operation(&mut client.control)
            .await
            .map_err(|e| client_auth_explained(&client.config, e))?;
        Ok(client)
    }

    /// Replaces the control connection by a new one in the same state: the
    /// same settings, identity and certificate checks, a new TLS session
    /// (and so a new ticket supply), logged in with the same credentials,
    /// `PBSZ`/`PROT`, `OPTS UTF8` and `TYPE` as now
    /// ([`Session::renewal_config`]), and the same working directory (known
    /// from `PWD` after each `CWD`, so no round trip is spent here). The
    /// EPSV/EPRT fallbacks learned stay. Plain sessions are renewed too,
    /// after an abandoned operation left their connection unusable.
    ///
    /// The old connection is ended (`QUIT`) *before* the new one is opened:
    /// ProFTPD's master process pauses about 0.4 s after a session's
    /// process exits before it accepts again, so a new connection opened
    /// first and followed by the old one's exit meets that pause at the
    /// next renewal (`PROFTPD-ACCEPT-PAUSE` in docs/server-quirks.md;
    /// measured 4.5 files/s that way, 3 times as many this way). If the new
    /// connection cannot be opened, the client is broken and says why.
    pub(crate) async fn renew_session(&mut self, why: &str) -> Result<()> {
        let Some(session_cfg) = self.control.session.renewal_config() else {
            return Err(Error::new(
                ErrorKind::Misuse,
                "cannot renew the session: not logged in",
            ));
        };
        let ctx =
            match session_cfg.security {
                Security::None => None,
                _ => Some(self.tls_ctx.clone().ok_or_else(|| {
                    Error::new(ErrorKind::Misuse, "no TLS context to renew with")
                })?),
            };
        let cwd = match self.cwd.clone() {
            Cwd::Home => None,
            Cwd::Known(p) => Some(p),
            // Only a raw command changed it: the old connection says where.
            Cwd::Unknown => {
                self.control.check()?;
                Some(self.exchange_pwd().await?)
            }
        };
        let started = std::time::Instant::now();
        close_quietly(&mut self.control).await;
        self.round_trips_before += self.control.round_trips;
        if let Some(t) = &self.control.tls {
            self.tls_history.absorb(&t.store().stats());
        }
        let opened = async {
            let (mut control, peer, local) =
                open_control(&self.config, ctx.as_ref(), session_cfg).await?;
            run_operation(&mut control).await?;
            Ok::<_, Error>((control, peer, local))
        }
        .await;
        let (control, peer, local) = match opened {
            Ok(o) => o,
            Err(e) => {
                // The counters were kept above; the closed connection stays
                // as a broken placeholder.
                self.control.tls = None;
                self.control.broken = Some(format!("renewing the session failed: {e}"));
                return Err(e);
            }
        };
        self.control = control;
        (self.peer, self.local) = (peer, local);
        if let Some(cwd) = cwd {
            self.exchange_ok(
                "CWD (restoring the directory)",
                Command::Cwd(Arg::from(cwd.clone())),
            )
            .await?;
            self.cwd = Cwd::Known(cwd);
        }
        // A listing opening its data connection from inside its directory
        // goes back there; any other detour ended with the old connection.
        match &self.detour {
            Some(d) if d.held => {
                let into = d.into.clone();
                self.exchange_ok(
                    "CWD (restoring the listing's directory)",
                    Command::Cwd(into),
                )
                .await?;
            }
            _ => self.detour = None,
        }
        self.tls_history.refreshes += 1;
        tracing::debug!(
            parent: &self.span,
            why,
            refreshes = self.tls_history.refreshes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "session renewed on a new control connection"
        );
        Ok(())
    }

    /// Makes sure the session is idle: aborts a transfer that was dropped
    /// half-way and drains replies still owed; fails if the connection is
    /// broken.
    pub(crate) async fn ready(&mut self) -> Result<()> {
        self.ready_session().await?;
        if self.detour.as_ref().is_some_and(|d| !d.held) {
            if let Some(d) = self.detour.take() {
                self.exchange_ok(
                    "CWD (back from a listing's directory)",
                    Command::Cwd(Arg::from(d.origin)),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Changes into `into` for a listing with no argument: the origin is
    /// kept, and the next call comes back to it (see [`Detour`]). The detour
    /// is held until [`release_detour`](Self::release_detour).
    pub(crate) async fn begin_detour(&mut self, into: Arg) -> Result<()> {
        self.ready().await?;
        let origin = match &self.cwd {
            Cwd::Known(p) => p.clone(),
            Cwd::Home | Cwd::Unknown => self.exchange_pwd().await?,
        };
        self.exchange_ok("CWD", Command::Cwd(into.clone())).await?;
        self.detour = Some(Detour {
            origin,
            into,
            held: true,
        });
        Ok(())
    }

    /// The listing's data connection is open (or failed): the next call
    /// may return to the origin.
    pub(crate) fn release_detour(&mut self) {
        if let Some(d) = &mut self.detour {
            d.held = false;
        }
    }

    /// Makes sure the session is idle (see [`ready`](Self::ready)).
    async fn ready_session(&mut self) -> Result<()> {
        if self.control.broken.is_none() && self.control.session.is_idle() {
            // An operation abandoned after the session had read its last
            // reply (a 226 that came with the 150 mark, say) leaves that
            // event queued: it belongs to nobody now.
            while let Some(ev) = self.control.session.poll_event() {
                tracing::debug!(?ev, "dropped an event of an abandoned operation");
            }
            return Ok(());
        }
        let settled = self.settle().await;
        let why = match settled {
            Ok(Abort::Clean) => return Ok(()),
            Ok(Abort::Ambiguous) => {
                "the server answered ABOR without ending the transfer: a late reply could follow"
                    .to_owned()
            }
            Err(ref e) => e.to_string(),
        };
        // A connection left unusable, or out of step, by an abandoned
        // operation is replaced by a new one in the same state, when the
        // session can be renewed (logged in; see `renew_session`).
        if self.control.session.renewal_config().is_some() {
            match self.renew_session(&why).await {
                Ok(()) => return Ok(()),
                Err(renew) => {
                    tracing::debug!(error = %renew, "renewing after an abandoned operation failed");
                }
            }
        }
        settled.map(drop)
    }

    /// Brings the control connection back to idle after an abandoned
    /// operation: aborts a transfer (ABOR and the replies it owes) or
    /// drains a command's reply. Fails if the connection is broken.
    async fn settle(&mut self) -> Result<Abort> {
        self.control.check()?;
        if self.control.session.is_idle() {
            return Ok(Abort::Clean);
        }
        if self.control.session.is_closed() {
            return Err(Error::new(ErrorKind::Closed, "the session is closed"));
        }
        let r = self.recover().await;
        r.map_err(|e| {
            self.control.broken.get_or_insert_with(|| {
                format!("recovery after an abandoned operation failed: {e}")
            });
            Error::broken(&e.to_string())
        })
    }

    async fn recover(&mut self) -> Result<Abort> {
        if self.control.session.in_transfer() {
            tracing::debug!("aborting a transfer that was dropped before its end");
            self.control.session.abort()?;
        }
        let mut outcome = Abort::Clean;
        loop {
            match self.control.next_event().await? {
                Event::Aborted(replies) => {
                    tracing::debug!(?replies, "abandoned transfer aborted");
                    // The transfer's own end (226, or a 4yz/5yz) must be
                    // among the replies. Without it (only a mark and `225
                    // no transfer to abort`, as pyftpdlib answers an ABOR
                    // that overtakes its data connection), the transfer's
                    // reply may still come after the marker.
                    let ended = replies.iter().any(|r| {
                        let c = r.code();
                        c.as_u16() == 226 || c.as_u16() == 250 || c.is_negative()
                    });
                    if !ended {
                        outcome = Abort::Ambiguous;
                    }
                }
                ev => tracing::debug!(?ev, "drained"),
            }
            if self.control.session.is_idle() {
                return Ok(outcome);
            }
        }
    }

    /// After a transfer's end: reads the answer to the passive command
    /// pipelined behind it, which the session keeps for the next data
    /// connection. It comes right behind the completion.
    pub(crate) async fn read_ahead(&mut self) -> Result<()> {
        while self.control.session.owes_ahead() {
            match self.control.next_event().await? {
                Event::Ahead(r) => {
                    tracing::trace!(parent: &self.span, reply = %r, "pipelined passive command answered");
                }
                other => {
                    let e = Error::new(
                        ErrorKind::Protocol,
                        format!("unexpected event after a transfer: {other:?}"),
                    );
                    return Err(self.control.poison(e));
                }
            }
        }
        Ok(())
    }

    /// Sends a command and returns its final reply, whatever its code.
    pub(crate) async fn command(&mut self, cmd: Command) -> Result<Reply> {
        self.ready().await?;
        self.exchange(cmd).await
    }

    /// Sends a command on an idle session and returns its final reply.
    async fn exchange(&mut self, cmd: Command) -> Result<Reply> {
        self.control.session.command(cmd)?;
        loop {
            match self.control.next_event().await? {
                Event::Reply(r) => return Ok(r),
                Event::Preliminary(_) => {}
                other => {
                    let e = Error::new(ErrorKind::Protocol, format!("unexpected event {other:?}"));
                    return Err(self.control.poison(e));
                }
            }
        }
    }

    /// [`exchange`](Self::exchange); a negative reply is an error.
    async fn exchange_ok(&mut self, what: &str, cmd: Command) -> Result<Reply> {
        let r = self.exchange(cmd).await?;
        if r.code().is_negative() {
            return Err(Error::from_reply(what.to_owned(), r));
        }
        Ok(r)
    }

    /// Sends a command; a negative reply is an error.
    pub(crate) async fn command_ok(&mut self, what: &str, cmd: Command) -> Result<Reply> {
        let r = self.command(cmd).await?;
        if r.code().is_negative() {
            return Err(Error::from_reply(what.to_owned(), r));
        }
        Ok(r)
    }
}

// builder
impl Client {
    /// A [`ClientBuilder`](crate::ClientBuilder) for `host`: fluent
    /// settings, then [`connect`](crate::ClientBuilder::connect).
    pub fn builder(host: impl Into<String>) -> crate::builder::ClientBuilder {
        crate::builder::ClientBuilder::new(host)
    }
}

/// `e`, explained when the client certificate's key could not sign for this
/// server (see [`ClientIdentity::explain_refusal`](crate::tls::ClientIdentity)).
pub(crate) fn client_auth_explained(config: &Config, e: Error) -> Error {
    #[cfg(feature = "pkcs11")]
    if let Some(id) = &config.tls.client_identity {
        return id.explain_refusal(e);
    }
    #[cfg(not(feature = "pkcs11"))]
    let _ = config;
    e
}
