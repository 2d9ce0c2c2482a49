//! Who logs in: the one resolution every URL entry point uses
//! ([`FtpUrl::config`](crate::FtpUrl::config), [`crate::Config::from_url`],
//! [`crate::ClientBuilder::from_url`] and the command-line tool).

use ftpkit_control::Credentials;

use crate::netrc::Netrc;

/// The outcome of [`resolve_login`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// Ready to send.
    Credentials(Credentials),
    /// A user with no password anywhere. A program sends an empty one
    /// ([`Login::into_credentials`]); the command-line tool asks for it.
    NeedsPassword(Vec<u8>),
    /// No user anywhere: anonymous login (RFC 1738).
    Anonymous,
}

impl Login {
    /// The credentials to log in with: anonymous (`anonymous@`) without a
    /// user, an empty password for a user without one.
    pub fn into_credentials(self) -> Credentials {
        match self {
            Login::Credentials(c) => c,
            Login::NeedsPassword(user) => Credentials::new(user, ""),
            Login::Anonymous => Credentials::anonymous(),
        }
    }
}

/// Whether `user` is one of the anonymous names (`anonymous`, `ftp`), whose
/// password is an address by convention.
pub fn is_anonymous(user: &[u8]) -> bool {
    user.eq_ignore_ascii_case(b"anonymous") || user.eq_ignore_ascii_case(b"ftp")
}

/// Resolves the login for `host` in the one order:
///
/// 1. the user and password given (from the URL, or given instead of it,
///    such as the command line's `--user`);
/// 2. `.netrc`, when one is given: with no user, the host's entry that
///    names a login; with a user but no password, that user's entry for
///    the host (its password and account);
/// 3. no user at all: [`Login::Anonymous`]; an anonymous name without a
///    password gets `anonymous@`.
pub fn resolve_login(
    host: &str,
    user: Option<&[u8]>,
    password: Option<&[u8]>,
    netrc: Option<&Netrc>,
) -> Login {
    let mut user = user.map(<[u8]>::to_vec);
    let mut password = password.map(<[u8]>::to_vec);
    let mut account = None;
    if let Some(n) = netrc {
        let entry = match user.as_deref().map(std::str::from_utf8) {
            None => n.entry(host, None).filter(|e| e.login().is_some()),
            Some(Ok(login)) if password.is_none() => n.entry(host, Some(login)),
            _ => None,
        };
        if let Some(e) = entry {
            if user.is_none() {
                user = e.login().map(|l| l.as_bytes().to_vec());
            }
            password = e.password().map(|p| p.expose_secret().as_bytes().to_vec());
            account = e.account().map(|a| a.expose_secret().clone());
        }
    }
    let Some(user) = user else {
        return Login::Anonymous;
    };
    let password = match password {
        Some(p) => p,
        None if is_anonymous(&user) => b"anonymous@".to_vec(),
        None => return Login::NeedsPassword(user),
    };
    let mut c = Credentials::new(user, password);
    if let Some(a) = account {
        c = c.with_account(a);
    }
    Login::Credentials(c)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn netrc() -> Netrc {
        Netrc::parse(
            "machine h login bob password pw account acc\n\
             machine h login carol password cpw\n\
             machine other password nouser\n",
        )
        .unwrap()
    }

    fn creds(l: Login) -> (String, String) {
        let c = l.into_credentials();
        (
            String::from_utf8(c.user.as_bytes().to_vec()).unwrap(),
            String::from_utf8(c.password.expose_secret().as_bytes().to_vec()).unwrap(),
        )
    }

    #[test]
    fn the_given_user_and_password_win() {
        let n = netrc();
        let l = resolve_login("h", Some(b"alice"), Some(b"a"), Some(&n));
        assert_eq!(creds(l), ("alice".into(), "a".into()));
    }

    #[test]
    fn netrc_fills_the_missing_parts() {
        let n = netrc();
        // No user: the host's first entry with a login, with its account.
        let l = resolve_login("h", None, None, Some(&n));
        let Login::Credentials(c) = &l else {
            panic!("{l:?}")
        };
        assert!(c.account.is_some());
        assert_eq!(creds(l), ("bob".into(), "pw".into()));
        // A user without a password: that user's entry.
        let l = resolve_login("h", Some(b"carol"), None, Some(&n));
        assert_eq!(creds(l), ("carol".into(), "cpw".into()));
        // An entry without a login does not make up a user.
        assert_eq!(
            resolve_login("other", None, None, Some(&n)),
            Login::Anonymous
        );
    }

    #[test]
    fn without_a_user_anonymous_and_without_a_password_asked() {
        assert_eq!(resolve_login("h", None, None, None), Login::Anonymous);
        assert_eq!(
            creds(resolve_login("h", Some(b"FTP"), None, None)),
            ("FTP".into(), "anonymous@".into())
        );
        assert_eq!(
            resolve_login("h", Some(b"dave"), None, None),
            Login::NeedsPassword(b"dave".to_vec())
        );
        assert_eq!(
            creds(resolve_login("h", None, None, None)),
            ("anonymous".into(), "anonymous@".into())
        );
    }
}
