//! Client settings: where to connect, security, timeouts, data channels.

use std::sync::Arc;
use std::time::Duration;

use ftpkit_control::command::TransferType;
use ftpkit_control::reply::DecoderLimits;
use ftpkit_control::session::SessionConfig;
pub use ftpkit_control::session::{DataProtection, Pipelining, Security};
use ftpkit_control::Credentials;
pub use ftpkit_data::{ActiveConfig, PassiveAddress, PeerCheck};

use crate::connector::Connector;
use crate::tls::TlsOptions;

/// Deadlines. No await in the client waits longer than one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect of the control connection. Default 15 s.
    pub connect: Duration,
    /// Each TLS handshake. Default 15 s.
    pub tls_handshake: Duration,
    /// Each reply from the server. Default 30 s.
    pub reply: Duration,
    /// Opening a passive data connection. Default 15 s.
    pub data_connect: Duration,
    /// Waiting for the server to connect in active mode. Default 15 s.
    pub accept: Duration,
    /// A data connection with no progress either way. Default 60 s.
    pub data_idle: Duration,
    /// QUIT and the close of the control connection. Default 5 s.
    pub quit: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(15),
            tls_handshake: Duration::from_secs(15),
            reply: Duration::from_secs(30),
            data_connect: Duration::from_secs(15),
            accept: Duration::from_secs(15),
            data_idle: Duration::from_secs(60),
            quit: Duration::from_secs(5),
        }
    }
}

impl Timeouts {
    /// Every deadline set to `d`.
    pub fn all(d: Duration) -> Self {
        Self {
            connect: d,
            tls_handshake: d,
            reply: d,
            data_connect: d,
            accept: d,
            data_idle: d,
            quit: d,
        }
    }
}

/// How data connections are opened.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum DataMode {
    /// The client connects (EPSV, falling back to PASV). The default.
    #[default]
    Passive,
    /// The server connects (EPRT, falling back to PORT).
    Active(ActiveConfig),
}

/// Whether EPSV/EPRT are tried before PASV/PORT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ExtendedCommands {
    /// Try EPSV/EPRT first; fall back on 500/502 and remember.
    #[default]
    TryFirst,
    /// Only PASV/PORT (IPv4 only).
    Never,
}

/// Everything a [`crate::Client`] needs to connect.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Host name or IP address of the server; also the TLS server name.
    pub host: String,
    /// Control port. 0, what [`Config::new`] sets, means the default for
    /// the security, decided by [`Config::control_port`]: 21, or 990 for
    /// implicit TLS (so that setting `security` to
    /// [`Security::Implicit`] after `new` dials 990).
    pub port: u16,
    /// Security of the control connection.
    pub security: Security,
    /// Protection of data connections once TLS is up.
    pub data_protection: DataProtection,
    /// TLS settings (trust, client certificate, versions).
    pub tls: TlsOptions,
    /// Credentials; `None` connects without logging in.
    pub credentials: Option<Credentials>,
    /// `HOST` to send before login (RFC 7151).
    pub virtual_host: Option<String>,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// Passive or active data connections.
    pub data_mode: DataMode,
    /// Where passive data connections go.
    pub passive_address: PassiveAddress,
    /// EPSV/EPRT policy.
    pub extended: ExtendedCommands,
    /// Whether commands are pipelined: the login's, and the next transfer's
    /// passive command behind the current transfer command ([`Pipelining`];
    /// by default on vsftpd and GNU inetutils ftpd only).
    pub pipelining: Pipelining,
    /// `TYPE` set after login.
    pub transfer_type: TransferType,
    /// Reply size limits.
    pub limits: DecoderLimits,
    /// How the control and passive data connections are opened; `None`
    /// (the default) is direct TCP. Through a connector, passive data
    /// connections go to [`Config::host`] and active mode is refused: see
    /// [`crate::connector`].
    pub connector: Option<Arc<dyn Connector>>,
}

/// The control port for `security` when none is set: 990 for implicit TLS
/// (the convention RFC 4217 §7 leaves it to), 21 otherwise. The one place
/// this is decided: [`Config::control_port`], the builder, URLs and the CLI
/// all use it.
pub fn default_port(security: Security) -> u16 {
    match security {
        Security::Implicit => 990,
        Security::None | Security::Explicit => 21,
    }
}

impl Config {
    /// The port the control connection dials: [`Config::port`], or when it
    /// is 0 the default for [`Config::security`] ([`default_port`]).
    ///
    /// ```
    /// use ftpkit::{Config, Security};
    ///
    /// let mut c = Config::new("ftp.example.com");
    /// c.security = Security::Implicit;
    /// assert_eq!(c.control_port(), 990);
    /// c.port = 2990;
    /// assert_eq!(c.control_port(), 2990);
    /// ```
    pub fn control_port(&self) -> u16 {
        match self.port {
            0 => default_port(self.security),
            p => p,
        }
    }

    /// The name the server's certificate must match, on the control
    /// connection and every data connection: [`TlsOptions::server_name`]
    /// when set, else [`Config::host`].
    pub fn tls_server_name(&self) -> &str {
        self.tls.server_name.as_deref().unwrap_or(&self.host)
    }

    /// The settings of the sans-IO session ([`SessionConfig`]), derived
    /// from this configuration: the one place they are mapped. Every field
    /// is named, so a new one does not compile until it is decided here.
    pub fn session_config(&self) -> SessionConfig {
        let Config {
            host: _,
            port: _,
            security,
            data_protection,
            tls: _,
            credentials,
            virtual_host,
            timeouts: _,
            data_mode: _,
            passive_address: _,
            extended: _,
            pipelining,
            transfer_type,
            limits,
            connector: _,
        } = self;
        let mut s = SessionConfig::new()
            .security(*security)
            .data_protection(*data_protection)
            .transfer_type(Some(*transfer_type))
            .limits(*limits)
            .pipelining(*pipelining);
        if let Some(c) = credentials {
            s = s.credentials(c.clone());
        }
        if let Some(h) = virtual_host {
            s = s.host(h.as_str());
        }
        s
    }

    /// Defaults for `host`: plain FTP on the default port, passive, binary.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: 0,
            security: Security::None,
            data_protection: DataProtection::Private,
            tls: TlsOptions::default(),
            credentials: None,
            virtual_host: None,
            timeouts: Timeouts::default(),
            data_mode: DataMode::Passive,
            passive_address: PassiveAddress::ControlPeer,
            extended: ExtendedCommands::TryFirst,
            pipelining: Pipelining::Auto,
            transfer_type: TransferType::Binary,
            limits: DecoderLimits::default(),
            connector: None,
        }
    }
}
