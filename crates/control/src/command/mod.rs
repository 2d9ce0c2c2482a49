//! Typed FTP commands and their encoder.
//!
//! Every verb the client may send is a variant of [`Command`], each citing
//! the RFC section that defines it. [`Command::encode_into`] checks every
//! argument *before* writing anything: a CR, LF or NUL anywhere in an
//! argument (which would let a file name smuggle a second command onto the
//! control connection) is a [`CommandError`] and the output is left
//! untouched.

mod arg;
mod encode;
mod params;

pub use arg::{forbidden_byte_name, Arg};

pub use encode::{eprt_argument, CommandError};
pub use params::{
    AuthMechanism, EpsvArg, FileStructure, HashAlgorithm, ProtectionLevel, TransferMode,
    TransferType,
};

use std::net::{SocketAddr, SocketAddrV4};

use crate::secret::Secret;

/// A command of the FTP control connection.
///
/// `Debug` never shows the argument of `PASS` or `ACCT`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    // --- RFC 959 §4.1.1, access control commands ---
    /// `USER`: the user name (RFC 959 §4.1.1).
    User(Arg),
    /// `PASS`: the password (RFC 959 §4.1.1). Redacted in `Debug` and logs.
    Pass(Secret<Arg>),
    /// `ACCT`: account information, asked for with 332 (RFC 959 §4.1.1).
    /// Redacted like the password.
    Acct(Secret<Arg>),
    /// `CWD`: change working directory (RFC 959 §4.1.1).
    Cwd(Arg),
    /// `CDUP`: change to the parent directory (RFC 959 §4.1.1).
    Cdup,
    /// `SMNT`: structure mount (RFC 959 §4.1.1).
    Smnt(Arg),
    /// `REIN`: reinitialize the session (RFC 959 §4.1.1).
    Rein,
    /// `QUIT`: log out and close (RFC 959 §4.1.1).
    Quit,

    // --- RFC 959 §4.1.2, transfer parameter commands ---
    /// `PORT h1,h2,h3,h4,p1,p2`: active mode, IPv4 only (RFC 959 §4.1.2).
    Port(SocketAddrV4),
    /// `PASV`: passive mode, IPv4 only (RFC 959 §4.1.2).
    Pasv,
    /// `TYPE`: representation type (RFC 959 §4.1.2, §3.1.1).
    Type(TransferType),
    /// `STRU`: file structure (RFC 959 §4.1.2).
    Stru(FileStructure),
    /// `MODE`: transfer mode (RFC 959 §4.1.2).
    Mode(TransferMode),

    // --- RFC 959 §4.1.3, service commands ---
    /// `RETR`: download a file (RFC 959 §4.1.3).
    Retr(Arg),
    /// `STOR`: upload a file, replacing it (RFC 959 §4.1.3).
    Stor(Arg),
    /// `STOU`: upload under a unique name chosen by the server (RFC 959 §4.1.3).
    Stou,
    /// `APPE`: append to a file (RFC 959 §4.1.3).
    Appe(Arg),
    /// `ALLO`: reserve space (RFC 959 §4.1.3).
    Allo(u64),
    /// `REST`: restart offset for the next transfer (RFC 959 §4.1.3; byte
    /// offsets in stream mode per RFC 3659 §5).
    Rest(u64),
    /// `RNFR`: rename from (RFC 959 §4.1.3).
    Rnfr(Arg),
    /// `RNTO`: rename to (RFC 959 §4.1.3).
    Rnto(Arg),
    /// `ABOR`: abort the transfer in progress (RFC 959 §4.1.3).
    Abor,
    /// `DELE`: delete a file (RFC 959 §4.1.3).
    Dele(Arg),
    /// `RMD`: remove a directory (RFC 959 §4.1.3).
    Rmd(Arg),
    /// `MKD`: make a directory (RFC 959 §4.1.3).
    Mkd(Arg),
    /// `PWD`: print working directory (RFC 959 §4.1.3).
    Pwd,
    /// `LIST`: human-readable listing over the data connection (RFC 959 §4.1.3).
    List(Option<Arg>),
    /// `NLST`: name list over the data connection (RFC 959 §4.1.3).
    Nlst(Option<Arg>),
    /// `SITE`: site-specific command (RFC 959 §4.1.3).
    Site(Arg),
    /// `SYST`: system type (RFC 959 §4.1.3).
    Syst,
    /// `STAT`: status, or a listing over the control connection (RFC 959 §4.1.3).
    Stat(Option<Arg>),
    /// `HELP` (RFC 959 §4.1.3).
    Help(Option<Arg>),
    /// `NOOP` (RFC 959 §4.1.3).
    Noop,

    // --- RFC 2228 §3 / RFC 4217, security extensions ---
    /// `AUTH`: start a security exchange; `AUTH TLS` per RFC 4217 §4
    /// (RFC 2228 §3).
    Auth(AuthMechanism),
    /// `PBSZ`: protection buffer size, always 0 for TLS (RFC 2228 §3,
    /// RFC 4217 §8).
    Pbsz(u64),
    /// `PROT`: data channel protection level (RFC 2228 §3, RFC 4217 §9).
    Prot(ProtectionLevel),
    /// `CCC`: clear the command channel, dropping TLS on the control
    /// connection (RFC 2228 §3, RFC 4217 §11).
    Ccc,

    // --- RFC 2389, feature negotiation ---
    /// `FEAT`: list extensions (RFC 2389 §3).
    Feat,
    /// `OPTS`: options for a command, e.g. `OPTS UTF8 ON` (RFC 2389 §4).
    Opts(Arg, Option<Arg>),

    // --- RFC 2428, IPv6 and NAT ---
    /// `EPRT |af|addr|port|`: extended active mode (RFC 2428 §2).
    Eprt(SocketAddr),
    /// `EPSV`: extended passive mode (RFC 2428 §3).
    Epsv(Option<EpsvArg>),

    // --- RFC 3659, extensions ---
    /// `SIZE`: file size (RFC 3659 §4).
    Size(Arg),
    /// `MDTM`: modification time (RFC 3659 §3).
    Mdtm(Arg),
    /// `MLSD`: machine-readable listing over the data connection (RFC 3659 §7).
    Mlsd(Option<Arg>),
    /// `MLST`: machine-readable facts of one path, on the control
    /// connection (RFC 3659 §7).
    Mlst(Option<Arg>),

    // --- RFC 7151 ---
    /// `HOST`: virtual host name, sent before login (RFC 7151 §3).
    Host(Arg),

    // --- widely deployed drafts and vendor commands ---
    /// `MFMT YYYYMMDDHHMMSS path`: set the modification time, UTC
    /// (draft-somers-ftp-mfxx §3).
    Mfmt(time::PrimitiveDateTime, Arg),
    /// `HASH`: server-side hash, algorithm chosen with `OPTS HASH`
    /// (draft-bryan-ftpext-hash §3).
    Hash(Arg),
    /// A vendor hash command: `XCRC`, `XMD5`, `XSHA1`, `XSHA256`, `XSHA512`
    /// (no RFC; offered by FileZilla Server, Serv-U, ProFTPD mod_digest,
    /// Pure-FTPd and others; listed in FEAT).
    XHash(HashAlgorithm, Arg),

    /// A raw line, for commands ftpkit does not model. It is checked like
    /// every other argument.
    Raw(Arg),
}

impl Command {
    /// The verb as sent on the wire.
    pub fn verb(&self) -> &'static str {
        use Command::*;
        match self {
            User(_) => "USER",
            Pass(_) => "PASS",
            Acct(_) => "ACCT",
            Cwd(_) => "CWD",
            Cdup => "CDUP",
            Smnt(_) => "SMNT",
            Rein => "REIN",
            Quit => "QUIT",
            Port(_) => "PORT",
            Pasv => "PASV",
            Type(_) => "TYPE",
            Stru(_) => "STRU",
            Mode(_) => "MODE",
            Retr(_) => "RETR",
            Stor(_) => "STOR",
            Stou => "STOU",
            Appe(_) => "APPE",
            Allo(_) => "ALLO",
            Rest(_) => "REST",
            Rnfr(_) => "RNFR",
            Rnto(_) => "RNTO",
            Abor => "ABOR",
            Dele(_) => "DELE",
            Rmd(_) => "RMD",
            Mkd(_) => "MKD",
            Pwd => "PWD",
            List(_) => "LIST",
            Nlst(_) => "NLST",
            Site(_) => "SITE",
            Syst => "SYST",
            Stat(_) => "STAT",
            Help(_) => "HELP",
            Noop => "NOOP",
            Auth(_) => "AUTH",
            Pbsz(_) => "PBSZ",
            Prot(_) => "PROT",
            Ccc => "CCC",
            Feat => "FEAT",
            Opts(..) => "OPTS",
            Eprt(_) => "EPRT",
            Epsv(_) => "EPSV",
            Size(_) => "SIZE",
            Mdtm(_) => "MDTM",
            Mlsd(_) => "MLSD",
            Mlst(_) => "MLST",
            Host(_) => "HOST",
            Mfmt(..) => "MFMT",
            Hash(_) => "HASH",
            XHash(alg, _) => alg.verb(),
            Raw(_) => "",
        }
    }

    /// Whether the command transfers over a data connection, so that its
    /// reply comes in two parts: a 1yz mark, then the completion.
    pub fn uses_data_connection(&self) -> bool {
        matches!(
            self,
            Command::Retr(_)
                | Command::Stor(_)
                | Command::Stou
                | Command::Appe(_)
                | Command::List(_)
                | Command::Nlst(_)
                | Command::Mlsd(_)
        )
    }

    /// The line as it may be logged: identical to the wire form except that
    /// the arguments of `PASS` and `ACCT` are replaced by `****`.
    pub fn redacted(&self) -> String {
        match self {
            Command::Pass(_) => "PASS ****".to_owned(),
            Command::Acct(_) => "ACCT ****".to_owned(),
            other => {
                let mut out = Vec::new();
                match other.encode_into(&mut out) {
                    Ok(()) => String::from_utf8_lossy(out.strip_suffix(b"\r\n").unwrap_or(&out))
                        .into_owned(),
                    Err(e) => format!("{} <invalid: {e}>", other.verb()),
                }
            }
        }
    }
}
