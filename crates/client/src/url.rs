//! `ftp://`, `ftpes://` and `ftps://` URLs ([`FtpUrl`], [`Config::from_url`]).
//!
//! ```
//! use ftpkit::{FtpUrl, Security};
//!
//! let url = FtpUrl::parse("ftpes://alice:p%40ss@ftp.example.com/pub/read%20me.txt;type=a")?;
//! assert_eq!(url.security(), Security::Explicit);
//! assert_eq!(url.port(), 21);
//! assert_eq!(url.path(), b"pub/read me.txt");
//! assert_eq!(url.transfer_type(), Some(ftpkit::TransferType::Ascii));
//! // The password is in the credentials, never in `Debug`.
//! assert!(!format!("{url:?}").contains("p@ss"));
//! let config = url.config();
//! assert_eq!(config.host, "ftp.example.com");
//! # Ok::<(), ftpkit::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use ftpkit_control::command::{forbidden_byte_name, TransferType};
use ftpkit_control::{Credentials, Secret, Security};
use percent_encoding::percent_decode_str;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::login::{resolve_login, Login};
use crate::netrc::Netrc;

/// The control port an authority with an empty port (`host:`) means.
const FTP_PORT: u16 = 21;

/// A parsed FTP URL (RFC 1738 §3.2, with the FTPS schemes in common use).
///
/// | scheme | security | default port |
/// |---|---|---|
/// | `ftp://` | none ([`Security::None`]) | 21 |
/// | `ftpes://` | explicit TLS, required ([`Security::Explicit`]) | 21 |
/// | `ftps://` | implicit TLS ([`Security::Implicit`]) | 990 |
///
/// - **User and password** are percent-decoded (`alice%40corp` is
///   `alice@corp`). No user means anonymous login (RFC 1738). The password is
///   kept as a secret: `Debug` never shows it.
/// - **The path** is percent-decoded to raw bytes, so names that are not
///   UTF-8 (`%E9t%E9.txt`, Latin-1) reach the server byte for byte. As in
///   RFC 1738 it is **relative to the login directory**: `ftp://h/pub/f` is
///   `pub/f`. An absolute path takes a second slash or an encoded one:
///   `ftp://h//pub/f` or `ftp://h/%2Fpub/f` is `/pub/f`. `ftp://h` and
///   `ftp://h/` have an empty path (the login directory). Dot segments
///   (`a/../b`) are resolved by the URL syntax, as in every URL.
/// - **`;type=a` / `;type=i`** at the end of the path (RFC 1738 §3.2.2) sets
///   the transfer type (ASCII or binary).
/// - CR, LF and NUL are refused anywhere, raw or percent-encoded, with
///   [`ErrorKind::InvalidArgument`]: they would let a URL inject FTP
///   commands. Raw control characters (tabs included) and leading or
///   trailing spaces are refused too (a URL parser would silently drop
///   them); spaces inside are kept. `?` and `#` are not part of FTP URLs:
///   a query or a fragment is refused; encode them as `%3F` and `%23`.
///
/// Error messages never repeat the URL, which may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub struct FtpUrl {
    security: Security,
    host: String,
    port: u16,
    explicit_port: bool,
    user: Option<Vec<u8>>,
    password: Option<Secret<Vec<u8>>>,
    path: Vec<u8>,
    transfer_type: Option<TransferType>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

fn decode(encoded: &str, what: &str) -> Result<Vec<u8>> {
    let bytes: Vec<u8> = percent_decode_str(encoded).collect();
    if let Some(c) = forbidden_byte_name(&bytes) {
        return Err(invalid(format!("the URL's {what} contains {c}")));
    }
    Ok(bytes)
}

impl FtpUrl {
    /// Parses an `ftp://`, `ftpes://` or `ftps://` URL. See the type's
    /// documentation for the rules. Every error is of kind
    /// [`ErrorKind::InvalidArgument`].
    pub fn parse(input: &str) -> Result<Self> {
        if let Some(c) = input.chars().find(char::is_ascii_control) {
            let name = match c {
                '\r' => "CR".to_owned(),
                '\n' => "LF".to_owned(),
                '\0' => "NUL".to_owned(),
                other => format!("control character U+{:04X}", u32::from(other)),
            };
            return Err(invalid(format!("the URL contains {name}")));
        }
        if input.starts_with(' ') || input.ends_with(' ') {
            return Err(invalid(
                "the URL starts or ends with a space (encode it as %20)",
            ));
        }
        let (scheme, rest) = input
            .split_once("://")
            .ok_or_else(|| invalid("not an FTP URL: expected ftp://, ftpes:// or ftps://"))?;
        let security = match scheme.to_ascii_lowercase().as_str() {
            "ftp" => Security::None,
            "ftpes" => Security::Explicit,
            "ftps" => Security::Implicit,
            _ => {
                return Err(invalid(format!(
                    "unsupported URL scheme {scheme:?}: expected ftp, ftpes or ftps"
                )))
            }
        };
        // A URL parser would skip extra slashes and take the path for the
        // host (`ftp:///x` -> host `x`).
        if rest.is_empty() || rest.starts_with(['/', '\\', '?', '#']) {
            return Err(invalid("the URL has no host"));
        }
        let explicit_port = authority_has_port(rest);
        // Parsed with the `ftp` scheme whatever the real one, so that all
        // three get the same (special-scheme) rules for hosts and paths.
        let parsed = ::url::Url::parse(&format!("ftp://{rest}"))
            .map_err(|e| invalid(format!("invalid URL: {e}")))?;
        if parsed.query().is_some() {
            return Err(invalid(
                "FTP URLs have no query: encode '?' in a path as %3F",
            ));
        }
        if parsed.fragment().is_some() {
            return Err(invalid(
                "FTP URLs have no fragment: encode '#' in a path as %23",
            ));
        }
        let host = match parsed.host() {
            Some(::url::Host::Domain(d)) => d.to_owned(),
            Some(::url::Host::Ipv4(ip)) => ip.to_string(),
            Some(::url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(invalid("the URL has no host")),
        };
        if host.is_empty() {
            return Err(invalid("the URL has no host"));
        }
        let default_port = crate::config::default_port(security);
        // `Url::port` hides the ftp scheme's default (21): when the authority
        // names a port and `port()` is None, that port is 21.
        let port = match (parsed.port(), explicit_port) {
            (Some(p), _) => p,
            (None, true) => FTP_PORT,
            (None, false) => default_port,
        };
        if port == 0 {
            return Err(invalid("port 0 is not a valid control port"));
        }
        let user = match parsed.username() {
            "" => None,
            u => Some(decode(u, "user name")?),
        };
        let password = match parsed.password() {
            None => None,
            Some(p) => Some(Secret::new(decode(p, "password")?)),
        };
        if user.is_none() && password.is_some() {
            return Err(invalid("the URL has a password but no user name"));
        }
        let (path, transfer_type) = split_type(parsed.path())?;
        let path = decode(path.strip_prefix('/').unwrap_or(path), "path")?;
        Ok(Self {
            security,
            host,
            port,
            explicit_port,
            user,
            password,
            path,
            transfer_type,
        })
    }

    /// The security the scheme asks for.
    pub fn security(&self) -> Security {
        self.security
    }

    /// The host: a name, or an IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The control port: the URL's, else 21 (`ftp`, `ftpes`) or 990
    /// (`ftps`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the URL names its port (`ftp://h:2121/`), as opposed to the
    /// scheme's default.
    pub fn has_explicit_port(&self) -> bool {
        self.explicit_port
    }

    /// The user name, percent-decoded; `None` means anonymous.
    pub fn user(&self) -> Option<&[u8]> {
        self.user.as_deref()
    }

    /// Whether the URL holds a password (`user:password@`).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The credentials of the URL: its user and password (an empty password
    /// when it has none), or `None` without a user.
    pub fn credentials(&self) -> Option<Credentials> {
        let user = self.user.clone()?;
        let password = self
            .password
            .as_ref()
            .map(|p| p.expose_secret().clone())
            .unwrap_or_default();
        Some(Credentials::new(user, password))
    }

    /// The path, percent-decoded raw bytes, relative to the login directory
    /// unless it starts with `/`; empty for the login directory.
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// The last component of the path (after the last `/`), if it is a
    /// usable file name: not empty, `.` or `..`.
    pub fn file_name(&self) -> Option<&[u8]> {
        let name = match self.path.iter().rposition(|b| *b == b'/') {
            Some(i) => self.path.get(i + 1..)?,
            None => &self.path,
        };
        (!name.is_empty() && name != b"." && name != b"..").then_some(name)
    }

    /// The transfer type from a `;type=a` or `;type=i` suffix.
    pub fn transfer_type(&self) -> Option<TransferType> {
        self.transfer_type
    }

    /// A [`Config`] for this URL: host, the port when the URL names one
    /// (otherwise 0, the default for the security: see
    /// [`Config::control_port`]), security, the login
    /// ([`config_with`](Self::config_with) without `.netrc`), and the
    /// transfer type if the URL sets one. Everything else has
    /// [`Config::new`]'s defaults.
    pub fn config(&self) -> Config {
        self.config_with(None)
    }

    /// [`config`](Self::config), with the login resolved against `netrc`
    /// too ([`resolve_login`]). Every URL entry point goes through here:
    /// [`Config::from_url`], [`crate::ClientBuilder::from_url`] and the
    /// command-line tool.
    pub fn config_with(&self, netrc: Option<&Netrc>) -> Config {
        let mut c = Config::new(self.host.clone());
        c.port = if self.explicit_port { self.port } else { 0 };
        c.security = self.security;
        c.credentials = Some(self.login(netrc).into_credentials());
        if let Some(t) = self.transfer_type {
            c.transfer_type = t;
        }
        c
    }

    /// The login this URL means, with `.netrc` consulted when given: see
    /// [`resolve_login`].
    pub fn login(&self, netrc: Option<&Netrc>) -> Login {
        let password = self.password.as_ref().map(|p| p.expose_secret().as_slice());
        resolve_login(&self.host, self.user.as_deref(), password, netrc)
    }
}

impl FromStr for FtpUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Shows the URL with the password replaced by `****` and the path
/// percent-encoded where needed.
impl fmt::Display for FtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
            .add(b' ')
            .add(b'"')
            .add(b'#')
            .add(b'%')
            .add(b'<')
            .add(b'>')
            .add(b'?')
            .add(b'`')
            .add(b'{')
            .add(b'}')
            .add(b';')
            .add(b'@')
            .add(b':');
        let scheme = match self.security {
            Security::Explicit => "ftpes",
            Security::Implicit => "ftps",
            _ => "ftp",
        };
        write!(f, "{scheme}://")?;
        if let Some(u) = &self.user {
            write!(f, "{}", percent_encoding::percent_encode(u, SET))?;
            if self.password.is_some() {
                f.write_str(":****")?;
            }
            f.write_str("@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if self.explicit_port {
            write!(f, ":{}", self.port)?;
        }
        f.write_str("/")?;
        // A leading slash (absolute path) is written encoded, as %2F.
        let (lead, rest) = match self.path.split_first() {
            Some((b'/', rest)) => ("%2F", rest),
            _ => ("", &self.path[..]),
        };
        write!(f, "{lead}{}", percent_encoding::percent_encode(rest, SET))?;
        match self.transfer_type {
            Some(TransferType::Ascii) => f.write_str(";type=a"),
            Some(TransferType::Binary) => f.write_str(";type=i"),
            _ => Ok(()),
        }
    }
}

/// `Debug` without the password.
impl fmt::Debug for FtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpUrl")
            .field("security", &self.security)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user.as_deref().map(String::from_utf8_lossy))
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("path", &String::from_utf8_lossy(&self.path))
            .field("transfer_type", &self.transfer_type)
            .finish()
    }
}

impl Config {
    /// A configuration and a path from an FTP URL: see [`FtpUrl`] for the
    /// rules, and [`FtpUrl::config`] for what is set. The path is raw
    /// bytes (it may not be UTF-8), relative to the login directory unless
    /// it starts with `/`; pass it to any method taking a path.
    ///
    /// ```
    /// let (config, path) = ftpkit::Config::from_url("ftps://bob@files.example.com/in/report.csv")?;
    /// assert_eq!(config.control_port(), 990);
    /// assert_eq!(path, b"in/report.csv");
    /// # Ok::<(), ftpkit::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<(Config, Vec<u8>)> {
        let u = FtpUrl::parse(url)?;
        Ok((u.config(), u.path))
    }
}

/// Whether the authority (`[user[:pw]@]host[:port]`) at the start of `rest`
/// names a port: a `:` followed by digits after the host.
fn authority_has_port(rest: &str) -> bool {
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or(rest);
    let host_port = match authority.rfind('@') {
        Some(i) => authority.get(i + 1..).unwrap_or_default(),
        None => authority,
    };
    let after_host = if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(i) => host_port.get(i + 1..).unwrap_or_default(),
            None => "",
        }
    } else {
        match host_port.rfind(':') {
            Some(i) => host_port.get(i..).unwrap_or_default(),
            None => "",
        }
    };
    after_host
        .strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits a `;type=X` suffix (still percent-encoded) off the path.
fn split_type(path: &str) -> Result<(&str, Option<TransferType>)> {
    let last_segment_start = path.rfind('/').map_or(0, |i| i + 1);
    let last = path.get(last_segment_start..).unwrap_or_default();
    let Some(semi) = last.rfind(';') else {
        return Ok((path, None));
    };
    let param = last.get(semi + 1..).unwrap_or_default();
    let Some((key, value)) = param.split_once('=') else {
        return Ok((path, None));
    };
    if !key.eq_ignore_ascii_case("type") {
        return Ok((path, None));
    }
    let t = match value {
        "a" | "A" => TransferType::Ascii,
        "i" | "I" => TransferType::Binary,
        _ => {
            return Err(invalid(
                "unsupported ;type= in the URL: expected ;type=a or ;type=i",
            ))
        }
    };
    let cut = last_segment_start + semi;
    Ok((path.get(..cut).unwrap_or(path), Some(t)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn err_kind(s: &str) -> ErrorKind {
        FtpUrl::parse(s).expect_err(s).kind()
    }

    #[test]
    fn schemes_security_and_ports() {
        let u = FtpUrl::parse("ftp://example.com/f").unwrap();
        assert_eq!((u.security(), u.port()), (Security::None, 21));
        assert!(!u.has_explicit_port());
        let u = FtpUrl::parse("ftpes://example.com/f").unwrap();
        assert_eq!((u.security(), u.port()), (Security::Explicit, 21));
        let u = FtpUrl::parse("ftps://example.com/f").unwrap();
        assert_eq!((u.security(), u.port()), (Security::Implicit, 990));
        let u = FtpUrl::parse("FTPS://example.com:2990/f").unwrap();
        assert_eq!((u.security(), u.port()), (Security::Implicit, 2990));
        assert!(u.has_explicit_port());
        // 21 named explicitly on an implicit URL stays 21.
        let u = FtpUrl::parse("ftps://example.com:21/").unwrap();
        assert_eq!(u.port(), 21);
        assert!(u.has_explicit_port());
        // An empty port is the default.
        let u = FtpUrl::parse("ftps://example.com:/").unwrap();
        assert_eq!(u.port(), 990);
        assert!(!u.has_explicit_port());
        assert_eq!(err_kind("http://example.com/"), ErrorKind::InvalidArgument);
        assert_eq!(err_kind("example.com/file"), ErrorKind::InvalidArgument);
        assert_eq!(err_kind("ftp://example.com:0/"), ErrorKind::InvalidArgument);
        assert_eq!(
            err_kind("ftp://example.com:99999/"),
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn hosts() {
        assert_eq!(FtpUrl::parse("ftp://Ex.COM/").unwrap().host(), "ex.com");
        let u = FtpUrl::parse("ftpes://[::1]:2121/x").unwrap();
        assert_eq!((u.host(), u.port()), ("::1", 2121));
        assert!(u.has_explicit_port());
        let u = FtpUrl::parse("ftp://127.0.0.1:2121/x").unwrap();
        assert_eq!((u.host(), u.port()), ("127.0.0.1", 2121));
        assert_eq!(err_kind("ftp:///path"), ErrorKind::InvalidArgument);
        assert_eq!(err_kind("ftps:///path"), ErrorKind::InvalidArgument);
        assert_eq!(err_kind("ftp://"), ErrorKind::InvalidArgument);
        assert_eq!(err_kind("ftp://\\\\h/x"), ErrorKind::InvalidArgument);
    }

    #[test]
    fn credentials_are_decoded_and_secret() {
        let u = FtpUrl::parse("ftp://al%40ice:p%3Aw%2F%25@h/").unwrap();
        assert_eq!(u.user(), Some(&b"al@ice"[..]));
        assert!(u.has_password());
        let c = u.credentials().unwrap();
        assert_eq!(c.user.as_bytes(), b"al@ice");
        assert_eq!(c.password.expose_secret().as_bytes(), b"p:w/%");
        for shown in [
            format!("{u:?}"),
            format!("{u}"),
            format!("{:?}", u.config()),
        ] {
            assert!(!shown.contains("p:w"), "{shown}");
            assert!(!shown.contains("p%3Aw"), "{shown}");
        }
        assert!(format!("{u}").contains(":****@"));

        let u = FtpUrl::parse("ftp://bob@h/").unwrap();
        assert!(!u.has_password());
        let c = u.credentials().unwrap();
        assert_eq!(c.password.expose_secret().as_bytes(), b"");

        // No user: anonymous.
        let u = FtpUrl::parse("ftp://h/").unwrap();
        assert!(u.credentials().is_none());
        assert_eq!(
            u.config().credentials.unwrap().user.as_bytes(),
            b"anonymous"
        );
        assert_eq!(err_kind("ftp://:pw@h/"), ErrorKind::InvalidArgument);
    }

    #[test]
    fn paths_are_raw_bytes() {
        let p = |s: &str| FtpUrl::parse(s).unwrap().path().to_vec();
        assert_eq!(p("ftp://h"), b"");
        assert_eq!(p("ftp://h/"), b"");
        assert_eq!(p("ftp://h/pub/file.txt"), b"pub/file.txt");
        assert_eq!(p("ftp://h//pub/file.txt"), b"/pub/file.txt");
        assert_eq!(p("ftp://h/%2Fpub/file.txt"), b"/pub/file.txt");
        assert_eq!(p("ftp://h/a%20b/c%3Fd%23e"), b"a b/c?d#e");
        assert_eq!(p("ftp://h/my file.txt"), b"my file.txt");
        // Latin-1, not UTF-8: kept byte for byte.
        assert_eq!(p("ftp://h/%E9t%E9.txt"), b"\xe9t\xe9.txt");
        // Non-ASCII text is UTF-8.
        assert_eq!(p("ftpes://h/caf\u{e9}"), "caf\u{e9}".as_bytes());
        assert_eq!(p("ftps://h/a/../b"), b"b");
        assert_eq!(p("ftp://h/dir/"), b"dir/");
        let (config, path) = Config::from_url("ftp://h:2121/%E9").unwrap();
        assert_eq!((config.control_port(), path), (2121, vec![0xe9]));
    }

    #[test]
    fn file_names() {
        let f = |s: &str| FtpUrl::parse(s).unwrap().file_name().map(<[u8]>::to_vec);
        assert_eq!(f("ftp://h/a/b.txt"), Some(b"b.txt".to_vec()));
        assert_eq!(f("ftp://h/b.txt"), Some(b"b.txt".to_vec()));
        assert_eq!(f("ftp://h/a/"), None);
        assert_eq!(f("ftp://h/"), None);
    }

    #[test]
    fn type_suffix() {
        let u = FtpUrl::parse("ftp://h/a/readme.txt;type=a").unwrap();
        assert_eq!(u.path(), b"a/readme.txt");
        assert_eq!(u.transfer_type(), Some(TransferType::Ascii));
        assert_eq!(u.config().transfer_type, TransferType::Ascii);
        let u = FtpUrl::parse("ftp://h/bin;TYPE=I").unwrap();
        assert_eq!(u.path(), b"bin");
        assert_eq!(u.transfer_type(), Some(TransferType::Binary));
        // An encoded semicolon is part of the name.
        let u = FtpUrl::parse("ftp://h/x%3Btype=a").unwrap();
        assert_eq!(u.path(), b"x;type=a");
        assert_eq!(u.transfer_type(), None);
        // Other parameters are left in the name.
        let u = FtpUrl::parse("ftp://h/x;v=1").unwrap();
        assert_eq!(u.path(), b"x;v=1");
        // Only the last segment carries it.
        let u = FtpUrl::parse("ftp://h/d;type=a/x").unwrap();
        assert_eq!(u.path(), b"d;type=a/x");
        assert_eq!(u.transfer_type(), None);
        assert_eq!(err_kind("ftp://h/x;type=e"), ErrorKind::InvalidArgument);
        assert_eq!(
            FtpUrl::parse("ftp://h/x;type=a").unwrap().to_string(),
            "ftp://h/x;type=a"
        );
    }

    #[test]
    fn cr_lf_nul_refused_everywhere() {
        for s in [
            "ftp://h/a%0D%0ADELE%20x",
            "ftp://h/a%0Ab",
            "ftp://h/a%00b",
            "ftp://u%0D%0A@h/",
            "ftp://u:p%0Aw@h/",
            "ftp://u:p%00@h/",
            "ftp://h/a\r\nDELE x",
            "ftp://h/a\nb",
            "ftp://h/a\0b",
            "ftp://h/a\tb",
            "ftp://h/a ",
        ] {
            let e = FtpUrl::parse(s).expect_err(s);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{s:?}");
            assert!(!e.to_string().contains("DELE"), "{e}");
        }
    }

    #[test]
    fn query_and_fragment_refused() {
        assert_eq!(err_kind("ftp://h/a?b"), ErrorKind::InvalidArgument);
        assert_eq!(err_kind("ftp://h/a#b"), ErrorKind::InvalidArgument);
    }

    #[test]
    fn errors_never_show_the_password() {
        for s in [
            "ftp://u:hunter2@h/x?y",
            "ftp://u:hunter2@h:99999/",
            "ftp://u:hunter2@h/x;type=q",
            "gopher://u:hunter2@h/",
        ] {
            let e = FtpUrl::parse(s).expect_err(s);
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "ftp://h/",
            "ftpes://bob@h:2121/a%20b/c",
            "ftps://h/%2Fabs/x;type=i",
            "ftp://[::1]:21/%E9",
        ] {
            let u = FtpUrl::parse(s).unwrap();
            let again = FtpUrl::parse(&u.to_string()).unwrap();
            assert_eq!(u, again, "{s} -> {u}");
        }
    }

    #[test]
    fn authority_ports() {
        assert!(authority_has_port("h:21/x"));
        assert!(authority_has_port("u:p@h:21"));
        assert!(authority_has_port("[::1]:21/"));
        assert!(!authority_has_port("[::1]/"));
        assert!(!authority_has_port("u:p@h/x:21"));
        assert!(!authority_has_port("u:p@h"));
        assert!(!authority_has_port("h:/"));
    }
}
