//! `.netrc` files: credentials by host ([`Netrc`]).
//!
//! The format of `ftp(1)`, `curl` and Python's `netrc` module: tokens
//! separated by white space (spaces, tabs, line ends).
//!
//! | token | meaning |
//! |---|---|
//! | `machine NAME` | starts the entry of host `NAME` (matched ASCII case-insensitively) |
//! | `default` | starts the entry used when no `machine` matches |
//! | `login NAME` | the user name of the current entry |
//! | `password STRING` | its password |
//! | `account STRING` | its account (`ACCT`) |
//! | `macdef NAME` | a macro: skipped, up to the next empty line |
//! | `# ...` | where a keyword is expected, a comment up to the end of the line |
//!
//! A value may be written in double quotes (`password "two words"`), and a
//! backslash takes the next character literally (`\"`, `\\`, `\ `), quoted
//! or not. A `#` inside a value (`password pa#ss`, or a value starting with
//! `#`) is part of it. Unknown keywords, a value missing at the end of the
//! file, an unterminated quote and `login`/`password`/`account` before any
//! `machine` are errors naming the line, never the text around it (it may be
//! a password).
//!
//! ```
//! use ftpkit::Netrc;
//!
//! let netrc = Netrc::parse(
//!     "machine ftp.example.com login alice password \"s3cret pw\"\n\
//!      default login anonymous password guest@\n",
//! )?;
//! let c = netrc.credentials("FTP.example.com", None).unwrap();
//! assert_eq!(c.user.as_bytes(), b"alice");
//! assert_eq!(c.password.expose_secret().as_bytes(), b"s3cret pw");
//! let other = netrc.credentials("other.example", None).unwrap();
//! assert_eq!(other.user.as_bytes(), b"anonymous");
//! # Ok::<(), ftpkit::Error>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use ftpkit_control::{Credentials, Secret};

use crate::error::{Error, ErrorKind, Result};

/// One entry of a `.netrc` file: a `machine` or the `default`.
#[derive(Clone, PartialEq, Eq)]
pub struct NetrcEntry {
    machine: Option<String>,
    login: Option<String>,
    password: Option<Secret<String>>,
    account: Option<Secret<String>>,
}

impl NetrcEntry {
    /// The host name; `None` for the `default` entry.
    pub fn machine(&self) -> Option<&str> {
        self.machine.as_deref()
    }

    /// The `login`.
    pub fn login(&self) -> Option<&str> {
        self.login.as_deref()
    }

    /// The `password`.
    pub fn password(&self) -> Option<&Secret<String>> {
        self.password.as_ref()
    }

    /// The `account`.
    pub fn account(&self) -> Option<&Secret<String>> {
        self.account.as_ref()
    }

    /// Credentials from this entry, with `login` as the user when the entry
    /// has none: `None` when no user is known. A missing password is empty.
    pub fn credentials(&self, login: Option<&str>) -> Option<Credentials> {
        let user = self.login.as_deref().or(login)?;
        let password = self
            .password
            .as_ref()
            .map(|p| p.expose_secret().as_str())
            .unwrap_or_default();
        let mut c = Credentials::new(user, password);
        if let Some(a) = &self.account {
            c = c.with_account(a.expose_secret().as_str());
        }
        Some(c)
    }
}

/// `Debug` without the password and the account.
impl fmt::Debug for NetrcEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetrcEntry")
            .field("machine", &self.machine)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("account", &self.account.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// A parsed `.netrc` file. See the [module documentation](self) for the
/// format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Netrc {
    entries: Vec<NetrcEntry>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

impl Netrc {
    /// Parses the text of a `.netrc` file.
    pub fn parse(text: &str) -> Result<Self> {
        Parser::new(text).run()
    }

    /// Reads and parses a file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::from_io(&format!("reading {}", path.display()), e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| invalid(format!("{}: not UTF-8 text", path.display())))?;
        Self::parse(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))
    }

    /// Where the `.netrc` file is: the `NETRC` environment variable if set
    /// and not empty, else `.netrc` in the home directory (`HOME`, or
    /// `USERPROFILE` on Windows, where `_netrc` is used when `.netrc` does
    /// not exist). `None` when no home directory is known.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("NETRC").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var_os("USERPROFILE").filter(|h| !h.is_empty()))?;
        let home = PathBuf::from(home);
        let dot = home.join(".netrc");
        if cfg!(windows) && !dot.exists() {
            let underscore = home.join("_netrc");
            if underscore.exists() {
                return Some(underscore);
            }
        }
        Some(dot)
    }

    /// Loads the file of [`default_path`](Self::default_path). A missing
    /// `~/.netrc` is `Ok(None)`; a missing file named by `NETRC` is an
    /// error, as is a file that does not parse.
    pub fn load() -> Result<Option<Self>> {
        let explicit = std::env::var_os("NETRC").is_some_and(|p| !p.is_empty());
        let Some(path) = Self::default_path() else {
            return Ok(None);
        };
        if !explicit && !path.exists() {
            return Ok(None);
        }
        Self::from_file(&path).map(Some)
    }

    /// Every entry, in file order (`default` included).
    pub fn entries(&self) -> &[NetrcEntry] {
        &self.entries
    }

    /// The entry for `host`: the first `machine` with that name (ASCII
    /// case-insensitively) and, when `login` is given, with that login or
    /// none; else the `default` entry under the same condition.
    pub fn entry(&self, host: &str, login: Option<&str>) -> Option<&NetrcEntry> {
        let login_ok = |e: &NetrcEntry| match (login, e.login.as_deref()) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        };
        self.entries
            .iter()
            .find(|e| {
                e.machine
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(host))
                    && login_ok(e)
            })
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|e| e.machine.is_none() && login_ok(e))
            })
    }

    /// Credentials for `host` (see [`entry`](Self::entry) and
    /// [`NetrcEntry::credentials`]).
    pub fn credentials(&self, host: &str, login: Option<&str>) -> Option<Credentials> {
        self.entry(host, login)?.credentials(login)
    }
}

/// A token and the line it starts on.
struct Token {
    text: String,
    line: usize,
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            chars: text.chars().peekable(),
            line: 1,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.line += 1;
        }
        c
    }

    fn skip_white(&mut self) {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.bump();
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    /// Whether the next token starts with `#` (a comment where a keyword is
    /// expected).
    fn at_comment(&mut self) -> bool {
        self.skip_white();
        self.chars.peek() == Some(&'#')
    }

    /// The next token, quotes and backslashes resolved.
    fn token(&mut self) -> Result<Option<Token>> {
        self.skip_white();
        let line = self.line;
        let Some(&first) = self.chars.peek() else {
            return Ok(None);
        };
        let mut text = String::new();
        if first == '"' {
            self.bump();
            loop {
                match self.bump() {
                    None => {
                        return Err(invalid(format!("line {line}: unterminated quoted string")))
                    }
                    Some('"') => break,
                    Some('\\') => match self.bump() {
                        Some(c) => text.push(c),
                        None => {
                            return Err(invalid(format!("line {line}: unterminated quoted string")))
                        }
                    },
                    Some(c) => text.push(c),
                }
            }
        } else {
            while let Some(&c) = self.chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                self.bump();
                if c == '\\' {
                    if let Some(next) = self.bump() {
                        text.push(next);
                    }
                } else {
                    text.push(c);
                }
            }
        }
        Ok(Some(Token { text, line }))
    }

    fn value(&mut self, keyword: &str, line: usize) -> Result<String> {
        match self.token()? {
            Some(t) => Ok(t.text),
            None => Err(invalid(format!(
                "line {line}: `{keyword}` without a value at the end of the file"
            ))),
        }
    }

    /// Skips a macro body: up to and including the next empty line.
    fn skip_macro(&mut self) {
        // The rest of the `macdef NAME` line.
        self.skip_line();
        loop {
            let mut line = String::new();
            let mut ended = false;
            while let Some(c) = self.bump() {
                if c == '\n' {
                    ended = true;
                    break;
                }
                line.push(c);
            }
            if line.trim().is_empty() || !ended {
                return;
            }
        }
    }

    fn run(mut self) -> Result<Netrc> {
        let mut entries: Vec<NetrcEntry> = Vec::new();
        loop {
            if self.at_comment() {
                self.skip_line();
                continue;
            }
            let Some(tok) = self.token()? else {
                break;
            };
            let line = tok.line;
            match tok.text.as_str() {
                "machine" => {
                    let name = self.value("machine", line)?;
                    entries.push(NetrcEntry {
                        machine: Some(name),
                        login: None,
                        password: None,
                        account: None,
                    });
                }
                "default" => entries.push(NetrcEntry {
                    machine: None,
                    login: None,
                    password: None,
                    account: None,
                }),
                "macdef" => {
                    self.value("macdef", line)?;
                    self.skip_macro();
                }
                kw @ ("login" | "password" | "passwd" | "account") => {
                    let kw = kw.to_owned();
                    let value = self.value(&kw, line)?;
                    let Some(entry) = entries.last_mut() else {
                        return Err(invalid(format!(
                            "line {line}: `{kw}` before any `machine` or `default`"
                        )));
                    };
                    match kw.as_str() {
                        "login" => entry.login = Some(value),
                        "account" => entry.account = Some(Secret::new(value)),
                        _ => entry.password = Some(Secret::new(value)),
                    }
                }
                // Never echo the token: it may be a password with a space.
                _ => return Err(invalid(format!("line {line}: unknown keyword"))),
            }
        }
        Ok(Netrc { entries })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn pw(c: &Credentials) -> &[u8] {
        c.password.expose_secret().as_bytes()
    }

    #[test]
    fn machines_and_default() {
        let n = Netrc::parse(
            "machine a.example login alice password pa\n\
             machine b.example\n  login bob\n  password pb\n  account acct-b\n\
             default login anonymous password me@\n",
        )
        .unwrap();
        assert_eq!(n.entries().len(), 3);
        let a = n.credentials("a.example", None).unwrap();
        assert_eq!((a.user.as_bytes(), pw(&a)), (&b"alice"[..], &b"pa"[..]));
        let b = n.credentials("B.EXAMPLE", None).unwrap();
        assert_eq!((b.user.as_bytes(), pw(&b)), (&b"bob"[..], &b"pb"[..]));
        assert_eq!(
            b.account.unwrap().expose_secret().as_bytes(),
            &b"acct-b"[..]
        );
        let d = n.credentials("c.example", None).unwrap();
        assert_eq!(
            (d.user.as_bytes(), pw(&d)),
            (&b"anonymous"[..], &b"me@"[..])
        );
        assert_eq!(n.entry("c.example", None).unwrap().machine(), None);
    }

    #[test]
    fn login_selects_among_entries() {
        let n = Netrc::parse(
            "machine h login alice password pa\nmachine h login bob password pb\n\
             machine nologin password shared\n",
        )
        .unwrap();
        assert_eq!(pw(&n.credentials("h", Some("bob")).unwrap()), b"pb");
        assert_eq!(pw(&n.credentials("h", None).unwrap()), b"pa");
        assert!(n.entry("h", Some("carol")).is_none());
        // An entry without a login serves any login.
        let c = n.credentials("nologin", Some("carol")).unwrap();
        assert_eq!((c.user.as_bytes(), pw(&c)), (&b"carol"[..], &b"shared"[..]));
        // ...but without a login given, it gives no credentials.
        assert!(n.credentials("nologin", None).is_none());
        assert!(n.entry("other", None).is_none());
    }

    #[test]
    fn first_match_wins_and_default_is_last_resort() {
        let n =
            Netrc::parse("default login d password dp\nmachine h login m password mp\n").unwrap();
        assert_eq!(n.credentials("h", None).unwrap().user.as_bytes(), b"m");
        assert_eq!(n.credentials("x", None).unwrap().user.as_bytes(), b"d");
    }

    #[test]
    fn quotes_escapes_and_hashes() {
        let n = Netrc::parse(
            "machine h login \"al ice\" password \"p \\\"q\\\\ r\"\n\
             machine i login x password pa#ss\n\
             machine j login y password #hash\n\
             machine k login z password a\\ b\n",
        )
        .unwrap();
        let h = n.credentials("h", None).unwrap();
        assert_eq!(
            (h.user.as_bytes(), pw(&h)),
            (&b"al ice"[..], &br#"p "q\ r"#[..])
        );
        assert_eq!(pw(&n.credentials("i", None).unwrap()), b"pa#ss");
        assert_eq!(pw(&n.credentials("j", None).unwrap()), b"#hash");
        assert_eq!(pw(&n.credentials("k", None).unwrap()), b"a b");
    }

    #[test]
    fn comments_and_blank_lines() {
        let n = Netrc::parse(
            "# my netrc\n\n   # indented comment machine evil login x\nmachine h # trailing\n login a password b\n",
        )
        .unwrap();
        assert_eq!(n.entries().len(), 1);
        assert_eq!(pw(&n.credentials("h", None).unwrap()), b"b");
    }

    #[test]
    fn macros_are_skipped() {
        let n = Netrc::parse(
            "machine h login a password b\n\
             macdef init\ncd /pub\nmachine evil login x password y\n\n\
             machine g login c password d\n",
        )
        .unwrap();
        assert!(n.entry("evil", None).is_none());
        assert_eq!(pw(&n.credentials("g", None).unwrap()), b"d");
        // A macro running to the end of the file.
        let n = Netrc::parse("machine h login a\nmacdef m\nbinary\nget x").unwrap();
        assert_eq!(n.entries().len(), 1);
    }

    #[test]
    fn windows_line_endings_and_tabs() {
        let n = Netrc::parse("machine h\r\n\tlogin a\r\n\tpassword b\r\n").unwrap();
        assert_eq!(pw(&n.credentials("h", None).unwrap()), b"b");
    }

    #[test]
    fn empty_file() {
        let n = Netrc::parse("").unwrap();
        assert!(n.entries().is_empty());
        assert!(n.entry("h", None).is_none());
        assert!(Netrc::parse("  \n# only a comment\n")
            .unwrap()
            .entries()
            .is_empty());
    }

    #[test]
    fn errors_name_the_line_not_the_secret() {
        for (text, line) in [
            ("machine h login a password b\nbogus", 2),
            ("machine h login a password my secret-word\n", 1),
            ("login a\n", 1),
            ("machine h\n\nlogin", 3),
            ("machine h login a password \"secret-word", 1),
            ("machine", 1),
        ] {
            let e = Netrc::parse(text).expect_err(text);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            let shown = format!("{e} {e:?}");
            assert!(shown.contains(&format!("line {line}")), "{shown}");
            assert!(!shown.contains("secret-word"), "{shown}");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let n = Netrc::parse("machine h login a password hunter2 account acct9").unwrap();
        let shown = format!("{n:?} {:?}", n.entries()[0]);
        assert!(
            !shown.contains("hunter2") && !shown.contains("acct9"),
            "{shown}"
        );
        assert!(shown.contains("login"));
    }

    #[test]
    fn files() {
        let dir = std::env::temp_dir().join(format!("ftpkit-netrc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("netrc");
        std::fs::write(&path, "machine h login a password b\n").unwrap();
        let n = Netrc::from_file(&path).unwrap();
        assert_eq!(pw(&n.credentials("h", None).unwrap()), b"b");
        std::fs::write(&path, "machine h login a password\n").unwrap();
        let e = Netrc::from_file(&path).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        std::fs::write(&path, b"machine h login \xff\n").unwrap();
        assert_eq!(
            Netrc::from_file(&path).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        let missing = Netrc::from_file(dir.join("missing")).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::Io);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
