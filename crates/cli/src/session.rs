//! From the command line to a [`Config`]: the URL, credentials (`--user`,
//! the URL, `.netrc`, `FTPKIT_PASSWORD`, a prompt), TLS and data options.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use ftpkit::config::ActiveConfig;
use ftpkit::tls::{
    ClientIdentity, Pin, SystemRoots, TlsVersion, TokenCertificate, TokenOptions, TokenPin,
    TokenSelector, Verification,
};
use ftpkit::{
    resolve_login, Config, Credentials, DataMode, ExtendedCommands, FtpUrl, Login, Netrc,
    Pipelining, Security, Timeouts,
};
use ftpkit_control::command::forbidden_byte_name;

use crate::args::{Global, TlsMax, TlsMode};

/// Shortest secret scrubbed from error messages (shorter ones would mangle
/// them; messages never hold passwords in the first place).
const MIN_SCRUBBED: usize = 4;

/// What every command needs besides its arguments.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    /// `-q`.
    pub(crate) quiet: bool,
    /// Whether a progress bar may be drawn: stderr is a terminal, no `-q`,
    /// no `-v` (the trace would garble it).
    pub(crate) progress: bool,
    /// Passwords seen, scrubbed from error messages.
    secrets: Vec<String>,
}

impl Ctx {
    pub(crate) fn new(g: &Global) -> Self {
        Self {
            quiet: g.quiet,
            progress: !g.quiet && !g.verbose && std::io::stderr().is_terminal(),
            secrets: Vec::new(),
        }
    }

    fn secret(&mut self, s: &[u8]) {
        let s = String::from_utf8_lossy(s).into_owned();
        if s.len() >= MIN_SCRUBBED && !self.secrets.contains(&s) {
            self.secrets.push(s);
        }
    }

    /// Replaces every known password in `text` by `****`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "****");
        }
        out
    }

    /// A note on stderr, unless `-q`.
    /// A message on stderr (unless `-q`), control characters neutralized:
    /// notes often carry server-supplied text.
    pub(crate) fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("ftpkit: {}", crate::output::terminal_safe(msg));
        }
    }
}

/// What the connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Log in and work.
    Login,
    /// Only the TLS handshake (`cert`): no login, TLS by default.
    Inspect,
}

/// The configuration for `url` with the global options applied.
pub(crate) fn prepare(
    g: &Global,
    url: &FtpUrl,
    purpose: Purpose,
    ctx: &mut Ctx,
) -> anyhow::Result<Config> {
    let mut config = url.config();

    // Security and the port that goes with it.
    let security = match (g.tls, purpose) {
        (Some(TlsMode::None), _) => Security::None,
        (Some(TlsMode::Explicit), _) => Security::Explicit,
        (Some(TlsMode::Implicit), _) => Security::Implicit,
        (None, Purpose::Inspect) if url.security() == Security::None => Security::Explicit,
        (None, _) => url.security(),
    };
    if purpose == Purpose::Inspect && security == Security::None {
        bail!("cert needs TLS: use --tls explicit or --tls implicit");
    }
    // A URL without a port leaves it to the security (21, or 990).
    config.security = security;

    config.credentials = match purpose {
        Purpose::Login => Some(credentials(g, url, ctx)?),
        Purpose::Inspect => None,
    };
    tls_options(g, &mut config, ctx)?;

    if let Some(active) = &g.active {
        config.data_mode = DataMode::Active(parse_active(active)?);
    }
    if g.no_epsv {
        config.extended = ExtendedCommands::Never;
    }
    if g.no_pipelining {
        config.pipelining = Pipelining::Off;
    }
    if let Some(proxy) = &g.proxy {
        if g.active.is_some() {
            bail!(
                "--active cannot work through --proxy: the server cannot connect back through it"
            );
        }
        config.connector = Some(proxy_connector(proxy, ctx)?);
    }
    if let Some(secs) = g.timeout {
        if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
            bail!("--timeout must be a number of seconds between 0 and 86400");
        }
        config.timeouts = Timeouts::all(Duration::from_secs_f64(secs));
    }
    Ok(config)
}

/// A connector from `--proxy socks5://[USER:PASS@]HOST:PORT` or
/// `http://[USER:PASS@]HOST:PORT`.
fn proxy_connector(
    spec: &str,
    ctx: &mut Ctx,
) -> anyhow::Result<std::sync::Arc<dyn ftpkit::Connector>> {
    let url = url::Url::parse(spec).map_err(|_| {
        anyhow::anyhow!("--proxy: not a URL (socks5://HOST:PORT or http://HOST:PORT)")
    })?;
    let host = url
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        .ok_or_else(|| anyhow::anyhow!("--proxy: no host"))?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let creds = (!url.username().is_empty()).then(|| {
        let pass = decode(url.password().unwrap_or_default());
        ctx.secret(pass.as_bytes());
        ftpkit::ProxyCredentials::new(decode(url.username()), pass)
    });
    let (protocol, default_port) = match url.scheme() {
        "socks5" | "socks5h" => (ftpkit::ProxyProtocol::Socks5, 1080),
        "http" => (ftpkit::ProxyProtocol::HttpConnect, 8080),
        other => bail!("--proxy: unsupported scheme {other} (socks5 or http)"),
    };
    let mut c = ftpkit::ProxyConnector::new(protocol, host, url.port().unwrap_or(default_port));
    if let Some(cr) = creds {
        c = c.credentials(cr);
    }
    Ok(std::sync::Arc::new(c))
}

/// `--user` > the URL's user > `.netrc` > anonymous; a missing password
/// from `.netrc`, `FTPKIT_PASSWORD`, a prompt on a terminal, else empty.
fn credentials(g: &Global, url: &FtpUrl, ctx: &mut Ctx) -> anyhow::Result<Credentials> {
    let netrc = if g.netrc {
        let found = Netrc::load().context("reading the .netrc file")?;
        if found.is_none() {
            ctx.note("no .netrc file found");
        }
        found
    } else {
        None
    };
    // `--user` stands in for the URL's user; the rest is the library's one
    // login rule.
    let login = match &g.user {
        Some(spec) => {
            let (u, p) = match spec.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (spec.as_str(), None),
            };
            if u.is_empty() {
                bail!("--user needs a user name");
            }
            resolve_login(
                url.host(),
                Some(u.as_bytes()),
                p.map(str::as_bytes),
                netrc.as_ref(),
            )
        }
        None => url.login(netrc.as_ref()),
    };
    let c = match login {
        Login::Anonymous => return Ok(Credentials::anonymous()),
        Login::NeedsPassword(user) => {
            let password = missing_password(&user, url.host())?;
            Credentials::new(user, password)
        }
        Login::Credentials(c) => c,
    };
    let password = c.password.expose_secret().as_bytes();
    let account = c.account.as_ref().map(|a| a.expose_secret().as_bytes());
    ctx.secret(password);
    if let Some(a) = account {
        ctx.secret(a);
    }
    // Refused here, before any connection (the message never holds them).
    for (what, v) in [
        ("user name", Some(c.user.as_bytes())),
        ("password", Some(password)),
        ("account", account),
    ] {
        if let Some(bad) = v.and_then(forbidden_byte_name) {
            bail!("the {what} contains {bad}");
        }
    }
    Ok(c)
}

/// `FTPKIT_PASSWORD`, else a prompt when stdin is a terminal, else empty.
fn missing_password(user: &[u8], host: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(p) = std::env::var_os("FTPKIT_PASSWORD") {
        return p
            .into_string()
            .map(String::into_bytes)
            .map_err(|_| anyhow::anyhow!("FTPKIT_PASSWORD is not valid UTF-8"));
    }
    if std::io::stdin().is_terminal() {
        let prompt = format!(
            "Password for {}@{host}: ",
            String::from_utf8_lossy(user).escape_debug()
        );
        let p = rpassword::prompt_password(prompt).context("reading the password")?;
        return Ok(p.into_bytes());
    }
    Ok(Vec::new())
}

/// The client identity on the PKCS#11 token of --pkcs11-module/--token,
/// with the PIN from --pin-env or the terminal (asked once).
fn token_identity(g: &Global, module: &Path) -> anyhow::Result<ClientIdentity> {
    let label = g.token.clone().context("--pkcs11-module needs --token")?;
    let certificate = match (&g.cert_name, &g.key_label) {
        (Some(name), _) => TokenCertificate::Name(name.clone()),
        (None, Some(key)) => TokenCertificate::KeyLabel(key.clone()),
        (None, None) => bail!("--pkcs11-module needs --cert-name or --key-label"),
    };
    let pin = match &g.pin_env {
        Some(var) => TokenPin::from_env(var)?,
        None if std::io::stdin().is_terminal() => TokenPin::new(
            rpassword::prompt_password(format!("PIN for token {}: ", label.escape_debug()))
                .context("reading the token PIN")?,
        ),
        None => bail!("the token PIN: use --pin-env VAR (no terminal to ask on)"),
    };
    let options = TokenOptions::new(module, TokenSelector::Label(label), certificate, pin);
    Ok(ClientIdentity::from_token(&options)?)
}

fn tls_options(g: &Global, config: &mut Config, ctx: &mut Ctx) -> anyhow::Result<()> {
    let any_tls_option = !g.ca_file.is_empty()
        || g.cert.is_some()
        || g.pkcs12.is_some()
        || g.cert_store.is_some()
        || g.pkcs11_module.is_some()
        || g.pin_sha256.is_some()
        || g.insecure
        || g.tls_max.is_some();
    if config.security == Security::None {
        if any_tls_option {
            ctx.note(
                "warning: TLS options are ignored on plain FTP (use ftpes:// or --tls explicit)",
            );
        }
        return Ok(());
    }
    let tls = &mut config.tls;
    if !g.ca_file.is_empty() {
        tls.ca_files.clone_from(&g.ca_file);
        tls.system_roots = SystemRoots::Exclude;
    }
    if let Some(p) = &g.pkcs12_password {
        ctx.secret(p.as_bytes());
    }
    if let Some(cert) = &g.cert {
        let key = g.key.as_deref().unwrap_or(cert);
        tls.client_identity = Some(ClientIdentity::from_pem_files(cert, key)?);
    } else if let Some(p12) = &g.pkcs12 {
        let pw = g.pkcs12_password.as_deref().unwrap_or("");
        tls.client_identity = Some(ClientIdentity::from_pkcs12_file(p12, pw)?);
    } else if g.cert_name.is_some() && g.cert_store.is_none() && g.pkcs11_module.is_none() {
        bail!("--cert-name needs --cert-store or --pkcs11-module");
    } else if let Some(module) = &g.pkcs11_module {
        tls.client_identity = Some(token_identity(g, module)?);
    } else if let (Some(store), Some(name)) = (&g.cert_store, &g.cert_name) {
        tls.client_identity = Some(ClientIdentity::from_store(
            store,
            name,
            g.pkcs12_password.as_deref(),
        )?);
    }
    if let Some(hex) = &g.pin_sha256 {
        tls.pin = Some(Pin::certificate_from_hex(hex).context("--pin-sha256")?);
    }
    if g.insecure {
        tls.verification = Verification::DangerAcceptInvalidCertificates;
        // Printed even with -q: the session is open to interception,
        // unless a pin still ties it to one certificate.
        if g.pin_sha256.is_some() {
            eprintln!(
                "ftpkit: warning: --insecure: the certificate chain and host name are NOT \
                 verified; only the --pin-sha256 fingerprint is checked"
            );
        } else {
            eprintln!(
                "ftpkit: warning: --insecure: the server's certificate is NOT verified; \
                 anyone on the path can read and change this session"
            );
        }
    }
    if let Some(max) = g.tls_max {
        tls.max_version = Some(match max {
            TlsMax::Tls12 => TlsVersion::Tls12,
            TlsMax::Tls13 => TlsVersion::Tls13,
        });
    }
    Ok(())
}

/// `--active` / `--active=IP` / `--active=IP:LOW-HIGH` /
/// `--active=[IPv6]:LOW-HIGH`.
fn parse_active(spec: &str) -> anyhow::Result<ActiveConfig> {
    let mut cfg = ActiveConfig::default();
    if spec.is_empty() {
        return Ok(cfg);
    }
    let bad = || anyhow::anyhow!("--active: expected IP, IP:LOW-HIGH or [IPv6]:LOW-HIGH");
    let (ip, range) = if let Some(rest) = spec.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(bad)?;
        let range = match after {
            "" => None,
            r => Some(r.strip_prefix(':').ok_or_else(bad)?),
        };
        (ip, range)
    } else if spec.matches(':').count() == 1 {
        let (ip, r) = spec.split_once(':').ok_or_else(bad)?;
        (ip, Some(r))
    } else {
        (spec, None)
    };
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    cfg.advertise = Some(ip);
    // An address of this machine is also where to listen.
    if std::net::TcpListener::bind((ip, 0)).is_ok() {
        cfg.bind_ip = Some(ip);
    }
    if let Some(r) = range {
        let (lo, hi) = r.split_once('-').unwrap_or((r, r));
        let lo: u16 = lo.parse().map_err(|_| bad())?;
        let hi: u16 = hi.parse().map_err(|_| bad())?;
        if lo == 0 || lo > hi {
            bail!("--active: the port range must be LOW-HIGH with 0 < LOW <= HIGH");
        }
        cfg.port_range = Some(lo..=hi);
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn active_specs() {
        assert_eq!(parse_active("").unwrap(), ActiveConfig::default());
        let c = parse_active("127.0.0.1").unwrap();
        assert_eq!(c.advertise, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(c.bind_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(c.port_range, None);
        let c = parse_active("203.0.113.9:50000-50010").unwrap();
        assert_eq!(c.advertise, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(c.bind_ip, None);
        assert_eq!(c.port_range, Some(50000..=50010));
        let c = parse_active("[::1]:6000").unwrap();
        assert_eq!(c.port_range, Some(6000..=6000));
        let c = parse_active("::1").unwrap();
        assert_eq!(c.advertise, Some("::1".parse().unwrap()));
        for bad in [
            "nope",
            "1.2.3.4:9-1",
            "1.2.3.4:0",
            "[::1",
            "[::1]x",
            "1.2.3.4:a-b",
        ] {
            assert!(parse_active(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scrubbing() {
        let mut ctx = Ctx::default();
        ctx.secret(b"hunter22");
        ctx.secret(b"ab");
        assert_eq!(ctx.scrub("x hunter22 y ab"), "x **** y ab");
    }
}
