//! [`ClientBuilder`]: a fluent way to fill a [`Config`] and connect.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ftpkit_control::command::TransferType;
use ftpkit_control::reply::DecoderLimits;
use ftpkit_control::{Arg, Credentials};
use rustls::pki_types::CertificateDer;

use crate::client::Client;
use crate::config::{
    ActiveConfig, Config, DataMode, DataProtection, ExtendedCommands, PassiveAddress, Pipelining,
    Security, Timeouts,
};
use crate::connector::Connector;
use crate::error::Result;
use crate::login::{resolve_login, Login};
use crate::netrc::Netrc;
use crate::tls::{ClientIdentity, Pin, SystemRoots, TlsOptions, TlsVersion, Verification};
use crate::url::FtpUrl;

/// Where credentials come from when none were given.
#[derive(Clone, Debug)]
enum NetrcSource {
    /// `~/.netrc` (or `$NETRC`), read by [`ClientBuilder::netrc`]; the
    /// error, if the file could not be read, is reported by
    /// [`ClientBuilder::connect`].
    Loaded(std::result::Result<Option<Netrc>, String>),
    /// A file already parsed.
    Given(Netrc),
}

/// Builds a [`Config`] step by step and connects with it.
///
/// Start with [`Client::builder`] or [`ClientBuilder::from_url`]; every
/// setter has the default of [`Config::new`] until called. The port follows
/// the security unless set: 21, or 990 for implicit TLS.
///
/// ```no_run
/// use std::time::Duration;
/// use ftpkit::Client;
///
/// # async fn run() -> ftpkit::Result<()> {
/// let mut client = Client::builder("ftp.example.com")
///     .explicit_tls()
///     .credentials("alice", "secret")
///     .ca_file("/etc/ftpkit/ca.pem")
///     .timeout(Duration::from_secs(20))
///     .connect()
///     .await?;
/// println!("{}", client.pwd().await?);
/// client.quit().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `connect` or `config` is called"]
pub struct ClientBuilder {
    config: Config,
    account: Option<Arg>,
    netrc: Option<NetrcSource>,
    /// The URL the builder started from: its login is resolved when the
    /// configuration is built, unless credentials are set.
    url: Option<FtpUrl>,
}

impl ClientBuilder {
    /// A builder for `host` with [`Config::new`]'s defaults: plain FTP,
    /// passive, binary, no login.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            config: Config::new(host),
            account: None,
            netrc: None,
            url: None,
        }
    }

    /// A builder from an `ftp://`, `ftpes://` or `ftps://` URL (see
    /// [`FtpUrl`]): host, port, security, user and password, and `;type=`.
    /// Without a user in the URL the login is `anonymous`, unless
    /// [`netrc`](Self::netrc) or [`credentials`](Self::credentials) give
    /// one. The URL's path is kept: see [`path`](Self::path).
    pub fn from_url(url: &str) -> Result<Self> {
        let u = FtpUrl::parse(url)?;
        let mut b = Self::new(u.host());
        b.config = u.config();
        // Resolved in `build`, with `.netrc` when asked for.
        b.config.credentials = None;
        b.url = Some(u);
        Ok(b)
    }

    /// The path of the URL given to [`from_url`](Self::from_url), as raw
    /// bytes; `None` for a builder made from a host.
    pub fn path(&self) -> Option<&[u8]> {
        self.url.as_ref().map(FtpUrl::path)
    }

    // ----- where -----------------------------------------------------------

    /// The control port (default 21, or 990 for implicit TLS).
    pub fn port(mut self, port: u16) -> Self {
        self.config.port = port;
        self
    }

    /// Explicit TLS: `AUTH TLS` after the greeting (RFC 4217).
    pub fn explicit_tls(self) -> Self {
        self.security(Security::Explicit)
    }

    /// Implicit TLS: TLS from the first byte (port 990 unless set).
    pub fn implicit_tls(self) -> Self {
        self.security(Security::Implicit)
    }

    /// The security of the control connection.
    pub fn security(mut self, security: Security) -> Self {
        self.config.security = security;
        self
    }

    /// Protection of data connections once TLS is up (default private).
    pub fn data_protection(mut self, protection: DataProtection) -> Self {
        self.config.data_protection = protection;
        self
    }

    /// How the control and passive data connections are opened (a proxy,
    /// say): see [`crate::connector`].
    pub fn connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.config.connector = Some(connector);
        self
    }

    // ----- login -----------------------------------------------------------

    /// User and password to log in with.
    pub fn credentials(mut self, user: impl Into<Arg>, password: impl Into<Arg>) -> Self {
        self.config.credentials = Some(Credentials::new(user, password));
        self
    }

    /// Full credentials (replaces any set before).
    pub fn login(mut self, credentials: Credentials) -> Self {
        self.config.credentials = Some(credentials);
        self
    }

    /// The account for `ACCT`, added to whatever credentials are used
    /// (given, from the URL or from `.netrc`).
    pub fn account(mut self, account: impl Into<Arg>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// `HOST` sent before login (RFC 7151).
    pub fn virtual_host(mut self, host: impl Into<String>) -> Self {
        self.config.virtual_host = Some(host.into());
        self
    }

    /// Fills the credentials from `~/.netrc` (or the file named by
    /// `NETRC`) for the host, when none were given. A file that cannot be
    /// read or parsed is reported by [`connect`](Self::connect) (and
    /// ignored by [`config`](Self::config)); a missing `~/.netrc` is not an
    /// error.
    pub fn netrc(mut self) -> Self {
        self.netrc = Some(NetrcSource::Loaded(
            Netrc::load().map_err(|e| e.to_string()),
        ));
        self
    }

    /// Like [`netrc`](Self::netrc) with a file already parsed.
    pub fn netrc_from(mut self, netrc: Netrc) -> Self {
        self.netrc = Some(NetrcSource::Given(netrc));
        self
    }

    // ----- timeouts and data -----------------------------------------------

    /// Every deadline.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.config.timeouts = timeouts;
        self
    }

    /// Every deadline set to `d` (see [`Timeouts::all`]).
    pub fn timeout(self, d: Duration) -> Self {
        self.timeouts(Timeouts::all(d))
    }

    /// Passive data connections (the default).
    pub fn passive(mut self) -> Self {
        self.config.data_mode = DataMode::Passive;
        self
    }

    /// Active data connections: the server connects back.
    pub fn active(mut self, active: ActiveConfig) -> Self {
        self.config.data_mode = DataMode::Active(active);
        self
    }

    /// Where passive data connections go.
    pub fn passive_address(mut self, address: PassiveAddress) -> Self {
        self.config.passive_address = address;
        self
    }

    /// Only `PASV`/`PORT`, never `EPSV`/`EPRT` (IPv4 only).
    pub fn no_epsv(mut self) -> Self {
        self.config.extended = ExtendedCommands::Never;
        self
    }

    /// Whether commands are pipelined: the login's, and the next transfer's
    /// passive command behind the current one ([`Pipelining`]; default
    /// [`Pipelining::Auto`]).
    pub fn pipelining(mut self, p: Pipelining) -> Self {
        self.config.pipelining = p;
        self
    }

    /// The `TYPE` set after login (default binary).
    pub fn transfer_type(mut self, t: TransferType) -> Self {
        self.config.transfer_type = t;
        self
    }

    /// Reply size limits.
    pub fn limits(mut self, limits: DecoderLimits) -> Self {
        self.config.limits = limits;
        self
    }

    // ----- TLS ---------------------------------------------------------------

    /// Replaces every TLS setting at once.
    pub fn tls_options(mut self, tls: TlsOptions) -> Self {
        self.config.tls = tls;
        self
    }

    /// Trusts the CA certificates of a PEM file (may be called again).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.tls.ca_files.push(path.into());
        self
    }

    /// Trusts a CA certificate (DER; may be called again).
    pub fn ca_certificate(mut self, der: impl Into<CertificateDer<'static>>) -> Self {
        self.config.tls.ca_certificates.push(der.into());
        self
    }

    /// Whether the system's roots are trusted (default: included).
    pub fn system_roots(mut self, roots: SystemRoots) -> Self {
        self.config.tls.system_roots = roots;
        self
    }

    /// Pins the server's certificate or key.
    pub fn pin(mut self, pin: Pin) -> Self {
        self.config.tls.pin = Some(pin);
        self
    }

    /// Accepts any server certificate. For labs only: anyone on the path
    /// can read and change the traffic. A [`pin`](Self::pin) is still
    /// enforced.
    pub fn danger_accept_invalid_certificates(mut self) -> Self {
        self.config.tls.verification = Verification::DangerAcceptInvalidCertificates;
        self
    }

    /// The lowest TLS version offered (default TLS 1.2).
    pub fn tls_min_version(mut self, v: TlsVersion) -> Self {
        self.config.tls.min_version = Some(v);
        self
    }

    /// The highest TLS version offered (default TLS 1.3).
    pub fn tls_max_version(mut self, v: TlsVersion) -> Self {
        self.config.tls.max_version = Some(v);
        self
    }

    /// A client certificate.
    pub fn client_identity(mut self, identity: ClientIdentity) -> Self {
        self.config.tls.client_identity = Some(identity);
        self
    }

    /// The name the server's certificate must match, when it differs from
    /// the host.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.config.tls.server_name = Some(name.into());
        self
    }

    // ----- the end -------------------------------------------------------------

    /// The configuration built so far (see [`netrc`](Self::netrc) for how
    /// a `.netrc` file that cannot be read is treated).
    pub fn config(&self) -> Config {
        self.build(false).unwrap_or_else(|_| self.config.clone())
    }

    /// Connects with the configuration (see [`Client::connect`]).
    pub async fn connect(self) -> Result<Client> {
        Client::connect(self.build(true)?).await
    }

    fn build(&self, strict: bool) -> Result<Config> {
        let mut c = self.config.clone();
        if c.credentials.is_none() {
            let netrc = match &self.netrc {
                None => None,
                Some(NetrcSource::Given(n)) => Some(n),
                Some(NetrcSource::Loaded(Ok(n))) => n.as_ref(),
                Some(NetrcSource::Loaded(Err(e))) => {
                    if strict {
                        return Err(crate::Error::new(
                            crate::ErrorKind::InvalidArgument,
                            format!(".netrc: {e}"),
                        ));
                    }
                    tracing::warn!(error = %e, ".netrc could not be read; ignored");
                    None
                }
            };
            c.credentials = match &self.url {
                // The one URL login rule (anonymous without a user).
                Some(u) => Some(u.login(netrc).into_credentials()),
                // A host: only a `.netrc` entry logs in.
                None => match resolve_login(&c.host, None, None, netrc) {
                    Login::Credentials(found) => Some(found),
                    Login::NeedsPassword(_) | Login::Anonymous => None,
                },
            };
        }
        if let (Some(a), Some(cred)) = (&self.account, c.credentials.as_mut()) {
            *cred = cred.clone().with_account(a.clone());
        }
        Ok(c)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_config_new() {
        let c = Client::builder("h").config();
        let d = Config::new("h");
        assert_eq!(c.host, d.host);
        assert_eq!(c.control_port(), 21);
        assert_eq!(c.security, Security::None);
        assert!(c.credentials.is_none());
        assert_eq!(c.data_mode, DataMode::Passive);
        assert_eq!(c.extended, ExtendedCommands::TryFirst);
    }

    #[test]
    fn every_setter_lands() {
        let t = Timeouts::all(Duration::from_secs(3));
        let c = Client::builder("files.example.com")
            .explicit_tls()
            .port(2121)
            .data_protection(DataProtection::Clear)
            .credentials("bob", "pw")
            .account("acc")
            .virtual_host("vh.example.com")
            .timeouts(t)
            .no_epsv()
            .transfer_type(TransferType::Ascii)
            .ca_file("/ca.pem")
            .ca_certificate(CertificateDer::from(vec![1u8, 2, 3]))
            .system_roots(SystemRoots::Exclude)
            .pin(Pin::PublicKey([7; 32]))
            .danger_accept_invalid_certificates()
            .tls_min_version(TlsVersion::Tls13)
            .tls_max_version(TlsVersion::Tls13)
            .tls_server_name("srv.example.com")
            .passive_address(PassiveAddress::ControlPeer)
            .config();
        assert_eq!(c.host, "files.example.com");
        assert_eq!(c.control_port(), 2121);
        assert_eq!(c.security, Security::Explicit);
        assert_eq!(c.data_protection, DataProtection::Clear);
        let cred = c.credentials.as_ref().unwrap();
        assert_eq!(cred.user.as_bytes(), b"bob");
        assert_eq!(cred.password.expose_secret().as_bytes(), b"pw");
        assert_eq!(
            cred.account.as_ref().unwrap().expose_secret().as_bytes(),
            b"acc"
        );
        assert_eq!(c.virtual_host.as_deref(), Some("vh.example.com"));
        assert_eq!(c.timeouts, t);
        assert_eq!(c.extended, ExtendedCommands::Never);
        assert_eq!(c.transfer_type, TransferType::Ascii);
        assert_eq!(c.tls.ca_files, vec![PathBuf::from("/ca.pem")]);
        assert_eq!(c.tls.ca_certificates.len(), 1);
        assert_eq!(c.tls.system_roots, SystemRoots::Exclude);
        assert_eq!(c.tls.pin, Some(Pin::PublicKey([7; 32])));
        assert_eq!(
            c.tls.verification,
            Verification::DangerAcceptInvalidCertificates
        );
        assert_eq!(c.tls.min_version, Some(TlsVersion::Tls13));
        assert_eq!(c.tls.max_version, Some(TlsVersion::Tls13));
        assert_eq!(c.tls.server_name.as_deref(), Some("srv.example.com"));
        assert_eq!(c.passive_address, PassiveAddress::ControlPeer);
    }

    #[test]
    fn timeout_active_and_passive() {
        let c = Client::builder("h")
            .timeout(Duration::from_secs(9))
            .active(ActiveConfig::default())
            .config();
        assert_eq!(c.timeouts, Timeouts::all(Duration::from_secs(9)));
        assert!(matches!(c.data_mode, DataMode::Active(_)));
        let c = Client::builder("h")
            .active(ActiveConfig::default())
            .passive()
            .config();
        assert_eq!(c.data_mode, DataMode::Passive);
    }

    #[test]
    fn implicit_port_follows_security_unless_set() {
        assert_eq!(
            Client::builder("h").implicit_tls().config().control_port(),
            990
        );
        assert_eq!(
            Client::builder("h")
                .implicit_tls()
                .port(5990)
                .config()
                .control_port(),
            5990
        );
        assert_eq!(
            Client::builder("h")
                .implicit_tls()
                .security(Security::None)
                .config()
                .control_port(),
            21
        );
    }

    #[test]
    fn from_url() {
        let b =
            ClientBuilder::from_url("ftpes://bob:pw@example.com:2121/dir/f.txt;type=a").unwrap();
        assert_eq!(b.path(), Some(&b"dir/f.txt"[..]));
        let c = b.config();
        assert_eq!(c.host, "example.com");
        assert_eq!(c.control_port(), 2121);
        assert_eq!(c.security, Security::Explicit);
        assert_eq!(c.transfer_type, TransferType::Ascii);
        assert_eq!(c.credentials.unwrap().user.as_bytes(), b"bob");

        let c = ClientBuilder::from_url("ftps://example.com/")
            .unwrap()
            .config();
        assert_eq!(c.control_port(), 990);
        assert_eq!(c.credentials.unwrap().user.as_bytes(), b"anonymous");
        assert!(ClientBuilder::from_url("http://example.com/").is_err());
    }

    #[test]
    fn netrc_fills_missing_credentials_only() {
        let n = Netrc::parse("machine example.com login carol password s3cret\n").unwrap();
        let c = Client::builder("example.com")
            .netrc_from(n.clone())
            .config();
        let cred = c.credentials.unwrap();
        assert_eq!(cred.user.as_bytes(), b"carol");
        assert_eq!(cred.password.expose_secret().as_bytes(), b"s3cret");

        let c = Client::builder("example.com")
            .credentials("dave", "x")
            .netrc_from(n.clone())
            .config();
        assert_eq!(c.credentials.unwrap().user.as_bytes(), b"dave");

        let c = Client::builder("other.example")
            .netrc_from(n.clone())
            .config();
        assert!(c.credentials.is_none());

        // A URL without a user: .netrc first, anonymous otherwise.
        let c = ClientBuilder::from_url("ftp://example.com/")
            .unwrap()
            .netrc_from(n)
            .config();
        assert_eq!(c.credentials.unwrap().user.as_bytes(), b"carol");
    }

    #[test]
    fn client_identity_and_connector() {
        let c = Client::builder("h")
            .client_identity(ClientIdentity::new(
                vec![CertificateDer::from(vec![1u8])],
                rustls::pki_types::PrivateKeyDer::Pkcs8(vec![2u8].into()),
            ))
            .config();
        assert!(c.tls.client_identity.is_some());
        let conn: Arc<dyn Connector> = Arc::new(crate::ProxyConnector::socks5("127.0.0.1", 1080));
        let c = Client::builder("h").connector(conn).config();
        assert!(c.connector.is_some());
    }
}
