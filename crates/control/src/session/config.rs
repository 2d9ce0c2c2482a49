//! What a session is asked to do: security, protection, login, policies.

use crate::command::{Arg, Command, CommandError, TransferType};
use crate::reply::DecoderLimits;
use crate::secret::Secret;

/// How the control connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Security {
    /// Plain FTP. `secure()` can still start TLS later.
    #[default]
    None,
    /// `AUTH TLS` right after the greeting (RFC 4217 §4); required: a
    /// refusal is a downgrade error.
    Explicit,
    /// TLS from the first byte (`ftps://`, port 990). The driver completes
    /// the handshake before it feeds the greeting.
    Implicit,
}

/// Protection asked for data connections once TLS is up (RFC 4217 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DataProtection {
    /// `PROT P`: every data connection runs TLS. The default.
    #[default]
    Private,
    /// `PROT C`: data connections in the clear. An explicit opt-in.
    Clear,
}

/// Whether to send FEAT after login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FeatPolicy {
    /// Send FEAT once after login and keep the result.
    #[default]
    Request,
    /// Never send FEAT; the feature set stays empty.
    Skip,
}

/// Whether to send `OPTS UTF8 ON`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Utf8Policy {
    /// When FEAT lists UTF8.
    #[default]
    IfOffered,
    /// Never.
    Never,
}

/// Whether commands are pipelined: several sent in one write, their
/// replies read in order, to save round trips.
///
/// - The login: `USER` goes out with `PASS` (a `PASS` that turns out
///   unwanted, because `USER` was answered otherwise than with 331, is
///   answered and the answer dropped), and `PBSZ`, `PROT`, `FEAT`,
///   `OPTS UTF8` and `TYPE`, whose replies decide nothing about each
///   other, in one write. A refusal among them ends the login once their
///   replies are read. `AUTH TLS` always goes alone: the handshake
///   follows it.
/// - Transfers: the next transfer's passive command behind the current
///   transfer command (`RETR` and `EPSV` in one write), so that the
///   server's `229` arrives with the transfer's completion and the next
///   transfer needs no round trip of its own for it.
///
/// The transfers' part is only safe on servers that read no command while
/// a transfer runs. One
/// that does may answer the `EPSV` during the transfer, or refuse it, or
/// end the transfer for it (`PIPELINED-EPSV` in `docs/server-quirks.md`:
/// pyftpdlib does, ProFTPD answers `450` to a command it reads then, and
/// Twisted sends a reply too many). A `229` that arrives before the
/// transfer's end, a refusal after the mark that cannot end a transfer
/// (ProFTPD's `450`; the transfer goes on), or a completion where the
/// `229` was due, turns pipelining off for the rest of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Pipelining {
    /// On for servers that read no command during a transfer, recognised
    /// by their greeting: vsftpd (`vsFTPd`) and GNU inetutils ftpd (`GNU
    /// inetutils`). Off for every other server.
    #[default]
    Auto,
    /// Never.
    Off,
    /// Whatever the server: for a server of that kind whose greeting does
    /// not say so. On any other, a transfer can fail for it.
    On,
}

impl Pipelining {
    /// Whether a server that greeted with `greeting` gets pipelined
    /// commands.
    pub fn applies_to(self, greeting: &crate::Reply) -> bool {
        match self {
            Pipelining::Off => false,
            Pipelining::On => true,
            Pipelining::Auto => [&b"vsFTPd"[..], b"GNU inetutils"]
                .iter()
                .any(|name| memchr::memmem::find(greeting.first_line(), name).is_some()),
        }
    }
}

/// User name, password and optional account.
///
/// `Debug` shows the user name only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user name for `USER`.
    pub user: Arg,
    /// The password for `PASS`.
    pub password: Secret<Arg>,
    /// The account for `ACCT`, sent only when the server asks (332).
    pub account: Option<Secret<Arg>>,
}

impl Credentials {
    /// User and password.
    pub fn new(user: impl Into<Arg>, password: impl Into<Arg>) -> Self {
        Self {
            user: user.into(),
            password: Secret::new(password.into()),
            account: None,
        }
    }

    /// `anonymous` with an e-mail-like password, as RFC 1635 suggests.
    pub fn anonymous() -> Self {
        Self::new("anonymous", "anonymous@")
    }

    /// Adds an account.
    pub fn with_account(mut self, account: impl Into<Arg>) -> Self {
        self.account = Some(Secret::new(account.into()));
        self
    }

    /// Checks every field for CR, LF and NUL.
    pub fn validate(&self) -> Result<(), CommandError> {
        Command::User(self.user.clone()).validate()?;
        Command::Pass(self.password.clone()).validate()?;
        if let Some(a) = &self.account {
            Command::Acct(a.clone()).validate()?;
        }
        Ok(())
    }
}

/// Settings of one control session.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SessionConfig {
    /// How the control connection is secured.
    pub security: Security,
    /// Data protection once TLS is up.
    pub data_protection: DataProtection,
    /// A `HOST` name to send before login (RFC 7151).
    pub host: Option<Arg>,
    /// Log in right after the greeting (and after `AUTH TLS`) with these.
    pub credentials: Option<Credentials>,
    /// FEAT after login.
    pub features: FeatPolicy,
    /// `OPTS UTF8 ON`.
    pub utf8: Utf8Policy,
    /// `TYPE` to set after login; `Some(Binary)` by default.
    pub transfer_type: Option<TransferType>,
    /// Reply decoding limits.
    pub limits: DecoderLimits,
    /// Whether the next passive command rides behind a transfer command.
    pub pipelining: Pipelining,
}

impl SessionConfig {
    /// Defaults: plain, private data protection once secured, FEAT, UTF8
    /// if offered, `TYPE I`.
    pub fn new() -> Self {
        Self {
            transfer_type: Some(TransferType::Binary),
            ..Self::default()
        }
    }

    /// Sets the security mode.
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Sets data protection.
    pub fn data_protection(mut self, p: DataProtection) -> Self {
        self.data_protection = p;
        self
    }

    /// Sets the `HOST` name.
    pub fn host(mut self, host: impl Into<Arg>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Sets credentials for the automatic login.
    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = Some(c);
        self
    }

    /// Sets the FEAT policy.
    pub fn features(mut self, f: FeatPolicy) -> Self {
        self.features = f;
        self
    }

    /// Sets the UTF8 policy.
    pub fn utf8(mut self, u: Utf8Policy) -> Self {
        self.utf8 = u;
        self
    }

    /// Sets the transfer type sent after login (`None` sends no TYPE).
    pub fn transfer_type(mut self, t: Option<TransferType>) -> Self {
        self.transfer_type = t;
        self
    }

    /// Sets decoder limits.
    pub fn limits(mut self, l: DecoderLimits) -> Self {
        self.limits = l;
        self
    }

    /// Sets the pipelining policy.
    pub fn pipelining(mut self, p: Pipelining) -> Self {
        self.pipelining = p;
        self
    }
}
