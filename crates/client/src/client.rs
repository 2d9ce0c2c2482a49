//! [`Client`]: one FTP session, its commands and its transfers.

use std::net::SocketAddr;
use std::sync::Arc;

use ftpkit_control::capabilities::Support;
use ftpkit_control::command::TransferType;
use ftpkit_control::listing::Modified;
use ftpkit_control::parse::{parse_mdtm, parse_pwd, parse_size, FeatureSet};
use ftpkit_control::resumption::DataHandshake;
use ftpkit_control::session::{SessionConfig, Step, TlsState};
use ftpkit_control::transfer::DataCommands;
use ftpkit_control::{Arg, Command, Credentials, Event, Reply, Security, Session};

use crate::config::{Config, ExtendedCommands};
use crate::control::{connect_tcp, Control};
use crate::error::{Error, ErrorKind, Result};
use crate::tls::{CertificateInfo, ConnectionTls, SessionStats, TlsContext};

/// One FTP session.
///
/// Methods take `&mut self`: one operation at a time, as FTP allows. A
/// transfer borrows the client until it is finished or dropped; dropping it
/// half-way is allowed, and the next call aborts the transfer (ABOR) and
/// drains the replies it owes before doing anything else.
#[derive(Debug)]
pub struct Client {
    pub(crate) config: Arc<Config>,
    pub(crate) control: Control,
    pub(crate) tls_ctx: Option<TlsContext>,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    /// Which passive/active commands the server implements (learned).
    pub(crate) data_commands: DataCommands,
    /// The session's `debug` span (host, port, security); transfers are
    /// its children.
    pub(crate) span: tracing::Span,
    /// The span of the transfer being opened, handed to its
    /// `Download`/`Upload`.
    pub(crate) transfer_span: Option<tracing::Span>,
    /// TLS counters of the control connections this client has replaced,
    /// and the renewals and retries.
    pub(crate) tls_history: SessionStats,
    /// A data connection was refused for want of TLS session reuse after
    /// its command had started: renew before the next one.
    pub(crate) renew_before_next_data: bool,
    /// How the TLS handshake of the data connection being opened went.
    pub(crate) data_handshake: Option<DataHandshake>,
    /// The working directory a renewal restores.
    pub(crate) cwd: Cwd,
    /// A listing made from inside its directory (see [`Detour`]).
    pub(crate) detour: Option<Detour>,
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
    let implicit = session_cfg.security == Security::Implicit;
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
        Some(ctx) => Some(ctx.session(config.tls.server_name.as_deref().unwrap_or(&config.host))?),
        None => None,
    };
    let mut control = Control::new(
        ftpkit_data::MaybeTls::Plain(tcp),
        session,
        session_tls,
        config.timeouts.reply,
        config.timeouts.tls_handshake,
    );
    if implicit {
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
        let (control, peer, local) = open_control(&config, tls_ctx.as_ref(), session_cfg).await?;
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
            renew_before_next_data: false,
            data_handshake: None,
            cwd: Cwd::Home,
            detour: None,
        };
        run_operation(&mut client.control).await?;
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

    // ----- session -----------------------------------------------------------

    /// Logs in (for a client connected without credentials, or to change
    /// user).
    pub async fn login(&mut self, user: impl Into<Arg>, password: impl Into<Arg>) -> Result<()> {
        self.login_with(Credentials::new(user, password)).await
    }

    /// Logs in with full credentials (account included).
    pub async fn login_with(&mut self, credentials: Credentials) -> Result<()> {
        self.ready().await?;
        self.control.session.login(credentials)?;
        self.cwd = Cwd::Home;
        run_operation(&mut self.control).await
    }

    /// Secures a plain session now: `AUTH TLS`, the handshake, and `PBSZ 0`
    /// / `PROT` (at once if logged in, otherwise at login). From then on TLS
    /// is required, and [`config`](Self::config)`().security` says
    /// [`Security::Explicit`] (a renewed session secures itself again).
    pub async fn secure(&mut self) -> Result<()> {
        self.ready().await?;
        if self.control.tls.is_none() {
            let ctx = match &self.tls_ctx {
                Some(c) => c.clone(),
                None => TlsContext::new(&self.config.tls)?,
            };
            self.start_tls_with(ctx)?;
        }
        self.finish_secure().await
    }

    /// [`secure`](Self::secure) with TLS settings chosen now: what the
    /// session trusts, and the client certificate it shows (one picked from
    /// a store by name, say:
    /// [`ClientIdentity::from_store`](crate::tls::ClientIdentity::from_store)).
    /// The settings replace [`Config::tls`] for this client, its data
    /// connections and its renewed sessions. Fails with
    /// [`ErrorKind::Misuse`] when the session is already secured.
    pub async fn secure_with(&mut self, tls: crate::tls::TlsOptions) -> Result<()> {
        self.ready().await?;
        if self.control.tls.is_some() {
            return Err(Error::new(
                ErrorKind::Misuse,
                "the session is already secured: its TLS settings cannot change",
            ));
        }
        let ctx = TlsContext::new(&tls)?;
        Arc::make_mut(&mut self.config).tls = tls;
        self.start_tls_with(ctx)?;
        self.finish_secure().await
    }

    /// Prepares the control connection's TLS session from `ctx`.
    fn start_tls_with(&mut self, ctx: TlsContext) -> Result<()> {
        let name = self
            .config
            .tls
            .server_name
            .as_deref()
            .unwrap_or(&self.config.host);
        self.control.tls = Some(ctx.session(name)?);
        self.tls_ctx = Some(ctx);
        Ok(())
    }

    /// `AUTH TLS` and what follows; the configuration then says TLS.
    async fn finish_secure(&mut self) -> Result<()> {
        self.control.session.secure()?;
        run_operation(&mut self.control).await?;
        if self.config.security == Security::None {
            Arc::make_mut(&mut self.config).security = Security::Explicit;
        }
        Ok(())
    }

    /// Drops TLS on the control connection with `CCC` (RFC 4217 §11), for
    /// firewalls that must read it. Data protection is unchanged. An explicit
    /// opt-in: commands, including file names, then travel in the clear.
    pub async fn clear_command_channel(&mut self) -> Result<()> {
        self.ready().await?;
        self.control.session.ccc()?;
        loop {
            match self.control.next_event().await? {
                Event::Reply(r) => return Err(Error::from_reply("CCC refused", r)),
                Event::Preliminary(_) => {}
                _ => {}
            }
            if self.control.session.is_idle()
                && self.control.session.tls_state() == TlsState::Cleared
            {
                return Ok(());
            }
        }
    }

    /// Sends `QUIT` and closes the connection.
    pub async fn quit(mut self) -> Result<()> {
        self.settle().await?;
        let deadline = self.config.timeouts.quit;
        let r = tokio::time::timeout(deadline, async {
            self.control.session.quit()?;
            loop {
                if let Event::Closed(_) = self.control.next_event().await? {
                    break;
                }
            }
            self.control.shutdown().await;
            Ok::<(), Error>(())
        })
        .await;
        r.map_err(|_| Error::timeout("QUIT"))?
    }

    // ----- state -----------------------------------------------------------

    /// The features the server announced (FEAT after login).
    pub fn features(&self) -> &FeatureSet {
        self.control.session.features()
    }

    /// Whether the server implements `verb` (`SIZE`, `MDTM`, `MLSD`,
    /// `MLST`, `MFMT`, `REST`): from FEAT when the server answered it,
    /// otherwise from the command's own replies so far (`Unknown` until it
    /// is tried; `500`/`502` make it `No` for the session). Mirror and the
    /// listing routine use it, so that a server without FEAT still gets
    /// `MDTM`, `SIZE` and `MLSD`.
    pub fn support(&self, verb: &str) -> Support {
        self.control.session.support(verb)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the connection is unusable.
    pub fn is_broken(&self) -> bool {
        self.control.broken.is_some() || self.control.session.is_closed()
    }

    /// TLS details of the control connection: version, cipher suite, the
    /// server's certificate chain parsed.
    pub fn tls_info(&self) -> Option<ConnectionTls> {
        let conn = self.control.tls_connection()?;
        let peer_certificates = conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| CertificateInfo::parse(c).ok())
            .collect();
        Some(ConnectionTls {
            version: conn.protocol_version(),
            cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
            peer_certificates,
        })
    }

    /// Counters of this session's TLS session store: tickets received on
    /// the control and data connections, and data connections that could not
    /// resume. `None` without TLS.
    pub fn tls_session_stats(&self) -> Option<SessionStats> {
        let current = self.control.tls.as_ref().map(|t| t.store().stats());
        if current.is_none() && self.tls_history == SessionStats::default() {
            return None;
        }
        let mut stats = current.unwrap_or_default();
        stats.absorb(&self.tls_history);
        Some(stats)
    }

    // ----- commands ----------------------------------------------------------

    /// `PWD`: the working directory, as raw bytes.
    pub async fn pwd_raw(&mut self) -> Result<Vec<u8>> {
        self.ready().await?;
        self.exchange_pwd().await
    }

    /// `PWD` on an idle session, parsed.
    async fn exchange_pwd(&mut self) -> Result<Vec<u8>> {
        let r = self.exchange_ok("PWD", Command::Pwd).await?;
        parse_pwd(&r).map_err(|e| Error::new(ErrorKind::Protocol, format!("PWD reply: {e}")))
    }

    /// `PWD`: the working directory (lossy UTF-8).
    pub async fn pwd(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.pwd_raw().await?).into_owned())
    }

    /// `CWD`, then `PWD`: the client keeps the absolute path, so that a
    /// renewed session (see [`SessionStats::refreshes`]) returns there.
    pub async fn cwd(&mut self, path: impl Into<Arg>) -> Result<()> {
        self.command_ok("CWD", Command::Cwd(path.into())).await?;
        self.learn_cwd().await
    }

    /// `CDUP`, then `PWD` (see [`cwd`](Self::cwd)).
    pub async fn cdup(&mut self) -> Result<()> {
        self.command_ok("CDUP", Command::Cdup).await?;
        self.learn_cwd().await
    }

    /// Asks `PWD` after a directory change; a server whose `PWD` fails
    /// leaves the directory unknown (a renewal then asks again).
    async fn learn_cwd(&mut self) -> Result<()> {
        self.cwd = match self.pwd_raw().await {
            Ok(p) => Cwd::Known(p),
            Err(e) if e.kind() == ErrorKind::ServerReply => Cwd::Unknown,
            Err(e) => return Err(e),
        };
        Ok(())
    }

    /// `MKD`: creates a directory; returns the path the server reports.
    pub async fn mkdir(&mut self, path: impl Into<Arg>) -> Result<Vec<u8>> {
        let path = path.into();
        let r = self.command_ok("MKD", Command::Mkd(path.clone())).await?;
        Ok(parse_pwd(&r).unwrap_or_else(|_| path.as_bytes().to_vec()))
    }

    /// `RMD`.
    pub async fn rmdir(&mut self, path: impl Into<Arg>) -> Result<()> {
        self.command_ok("RMD", Command::Rmd(path.into()))
            .await
            .map(drop)
    }

    /// `DELE`.
    pub async fn delete(&mut self, path: impl Into<Arg>) -> Result<()> {
        self.command_ok("DELE", Command::Dele(path.into()))
            .await
            .map(drop)
    }

    /// `RNFR` + `RNTO`. Both names are checked before anything is sent.
    pub async fn rename(&mut self, from: impl Into<Arg>, to: impl Into<Arg>) -> Result<()> {
        let (from, to) = (from.into(), to.into());
        Command::Rnto(to.clone()).validate()?;
        let r = self.command(Command::Rnfr(from)).await?;
        if r.code() != ftpkit_control::ReplyCode::PENDING {
            return Err(Error::from_reply("RNFR", r));
        }
        self.command_ok("RNTO", Command::Rnto(to)).await.map(drop)
    }

    /// `SIZE` (RFC 3659 §4), in the current TYPE.
    pub async fn size(&mut self, path: impl Into<Arg>) -> Result<u64> {
        let r = self.command_ok("SIZE", Command::Size(path.into())).await?;
        parse_size(&r).map_err(|e| Error::new(ErrorKind::Protocol, format!("SIZE reply: {e}")))
    }

    /// [`size`](Self::size), with `None` when the server cannot tell: a
    /// permanent negative reply (5yz: no `SIZE` command, no such file, not
    /// a plain file). A transient (4yz) reply or a broken session is still
    /// an error.
    pub async fn size_if_known(&mut self, path: impl Into<Arg>) -> Result<Option<u64>> {
        match self.size(path).await {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::ServerReply && !e.is_transient() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `MDTM` (RFC 3659 §3): modification time, UTC.
    pub async fn modified(&mut self, path: impl Into<Arg>) -> Result<Modified> {
        let r = self.command_ok("MDTM", Command::Mdtm(path.into())).await?;
        parse_mdtm(&r).map_err(|e| Error::new(ErrorKind::Protocol, format!("MDTM reply: {e}")))
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<()> {
        self.command_ok("NOOP", Command::Noop).await.map(drop)
    }

    /// `TYPE`: sets the representation type of later transfers.
    pub async fn set_type(&mut self, t: TransferType) -> Result<()> {
        self.command_ok("TYPE", Command::Type(t)).await.map(drop)
    }

    /// `SITE` command; returns the reply.
    pub async fn site(&mut self, args: impl Into<Arg>) -> Result<Reply> {
        self.command_ok("SITE", Command::Site(args.into())).await
    }

    /// `SYST`.
    pub async fn syst(&mut self) -> Result<String> {
        let r = self.command_ok("SYST", Command::Syst).await?;
        Ok(String::from_utf8_lossy(r.first_line()).into_owned())
    }

    /// A raw command line with a single reply; returns the reply whatever
    /// its code. The line is checked for CR, LF and NUL like any argument.
    /// Commands with their own method (transfers, AUTH, USER...) are
    /// refused.
    pub async fn quote(&mut self, line: impl Into<Arg>) -> Result<Reply> {
        let line = line.into();
        let verb = line
            .as_bytes()
            .split(|&b| b == b' ')
            .next()
            .map(<[u8]>::to_ascii_uppercase);
        if matches!(verb.as_deref(), Some(b"CWD" | b"CDUP" | b"XCWD" | b"XCUP")) {
            self.cwd = Cwd::Unknown;
        }
        self.command(Command::Raw(line)).await
    }

    /// The TYPE currently set.
    pub fn transfer_type(&self) -> Option<TransferType> {
        self.control.session.transfer_type()
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

// commands
impl Client {
    /// Creates a directory and every missing parent, like `mkdir -p`
    /// (`MKD`, RFC 959 §4.1.3, for each component).
    ///
    /// A component whose `MKD` is refused with a 5yz reply is accepted only
    /// if it is in fact an existing directory, checked with `CWD` into it
    /// and back to the working directory (`PWD`); any other refusal is
    /// returned. The working directory is unchanged at the end.
    pub async fn mkdir_all(&mut self, path: impl Into<Arg>) -> Result<()> {
        let path = path.into();
        let bytes = path.as_bytes();
        let mut prefix: Vec<u8> = if bytes.starts_with(b"/") {
            b"/".to_vec()
        } else {
            Vec::new()
        };
        let mut home: Option<Vec<u8>> = None;
        for part in bytes.split(|&b| b == b'/') {
            if part.is_empty() || part == b"." {
                continue;
            }
            if !prefix.is_empty() && !prefix.ends_with(b"/") {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(part);
            let r = self
                .command(Command::Mkd(Arg::from(prefix.clone())))
                .await?;
            if !r.code().is_negative() {
                continue;
            }
            if r.code().is_transient() {
                return Err(Error::from_reply("MKD", r));
            }
            // 5yz: fine only when the directory is already there.
            let home = match &home {
                Some(h) => h.clone(),
                None => home.insert(self.pwd_raw().await?).clone(),
            };
            let cwd = self
                .command(Command::Cwd(Arg::from(prefix.clone())))
                .await?;
            if cwd.code().is_negative() {
                return Err(Error::from_reply("MKD", r));
            }
            self.command_ok("CWD (back)", Command::Cwd(Arg::from(home)))
                .await?;
        }
        Ok(())
    }

    /// Sets the modification time of a file with `MFMT`
    /// (draft-somers-ftp-mfxx, the de-facto extension to RFC 3659 that
    /// vsftpd, ProFTPD and Pure-FTPd implement). `time` is UTC.
    ///
    /// Fails with [`ErrorKind::Unsupported`] without sending anything when
    /// the server's FEAT reply did not announce `MFMT`.
    pub async fn set_modified(
        &mut self,
        path: impl Into<Arg>,
        time: time::PrimitiveDateTime,
    ) -> Result<()> {
        if !self.features().supports("MFMT") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "the server does not announce MFMT in FEAT",
            ));
        }
        self.command_ok("MFMT", Command::Mfmt(time, path.into()))
            .await
            .map(drop)
    }

    /// `STAT` (RFC 959 §4.1.3): without a path, the server's status of the
    /// session; with one, a listing of it over the control connection
    /// (211/212/213). A negative reply is an error.
    pub async fn stat(&mut self, path: Option<&str>) -> Result<Reply> {
        self.command_ok("STAT", Command::Stat(path.map(Arg::from)))
            .await
    }

    /// `HELP` (RFC 959 §4.1.3): the server's help text, in general or on a
    /// command (211/214). A negative reply is an error.
    pub async fn help(&mut self, topic: Option<&str>) -> Result<Reply> {
        self.command_ok("HELP", Command::Help(topic.map(Arg::from)))
            .await
    }

    /// Sends `FEAT` again (RFC 2389 §3) and returns the features the
    /// server announces now, for servers whose features change after
    /// login or `AUTH`.
    ///
    /// The session's own [`features`](Self::features) are not changed:
    /// only the session state machine in `ftpkit-control` updates them.
    /// A server that does not implement FEAT (500/502) gives the empty set.
    pub async fn refresh_features(&mut self) -> Result<FeatureSet> {
        let r = self.command(Command::Feat).await?;
        let code = r.code();
        if code == ftpkit_control::ReplyCode::SYNTAX_ERROR
            || code == ftpkit_control::ReplyCode::NOT_IMPLEMENTED
        {
            return Ok(FeatureSet::default());
        }
        if code.is_negative() {
            return Err(Error::from_reply("FEAT", r));
        }
        Ok(FeatureSet::parse(&r))
    }
}
