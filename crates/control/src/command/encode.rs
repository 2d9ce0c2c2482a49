//! Argument checks and the wire encoding of [`Command`].

use std::net::SocketAddr;

use bytes::BufMut;

use super::arg::byte_name;
use super::{
    Arg, AuthMechanism, Command, EpsvArg, FileStructure, ProtectionLevel, TransferMode,
    TransferType,
};

/// Why a command could not be encoded. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// An argument holds CR, LF or NUL, which would end the command early
    /// and let the rest be read as another command.
    #[error("{verb} argument has a forbidden byte {} (0x{byte:02x}) at offset {offset}", byte_name(*byte))]
    ForbiddenByte {
        /// The command's verb (`RAW` for a raw line).
        verb: &'static str,
        /// The byte: `\r`, `\n` or NUL.
        byte: u8,
        /// Where in the argument it stands.
        offset: usize,
    },
    /// An argument the command requires is empty.
    #[error("{verb} needs a non-empty argument")]
    EmptyArgument {
        /// The command's verb.
        verb: &'static str,
    },
    /// A numeric parameter is outside what the wire format allows.
    #[error("{verb} parameter out of range: {what}")]
    OutOfRange {
        /// The command's verb.
        verb: &'static str,
        /// What is wrong.
        what: &'static str,
    },
}

impl Command {
    /// Checks every argument without encoding.
    pub fn validate(&self) -> Result<(), CommandError> {
        let verb = if matches!(self, Self::Raw(_)) {
            "RAW"
        } else {
            self.verb()
        };
        let check = |arg: &Arg, required: bool| -> Result<(), CommandError> {
            if required && arg.is_empty() {
                return Err(CommandError::EmptyArgument { verb });
            }
            match arg.forbidden_byte() {
                Some((offset, byte)) => Err(CommandError::ForbiddenByte { verb, byte, offset }),
                None => Ok(()),
            }
        };
        if let Some(a) = self.required_arg() {
            return check(a, true);
        }
        use Command::*;
        match self {
            Raw(a) => check(a, true),
            // An empty password is legitimate (anonymous servers).
            Pass(a) | Acct(a) => check(a.expose_secret(), false),
            Mfmt(t, a) => {
                if !(0..=9999).contains(&t.year()) {
                    return Err(CommandError::OutOfRange {
                        verb,
                        what: "year must be 0000-9999",
                    });
                }
                check(a, true)
            }
            List(a) | Nlst(a) | Stat(a) | Help(a) | Mlsd(a) | Mlst(a) => {
                a.as_ref().map_or(Ok(()), |a| check(a, false))
            }
            Opts(name, value) => {
                check(name, true)?;
                value.as_ref().map_or(Ok(()), |v| check(v, false))
            }
            Type(TransferType::Local(0)) => Err(CommandError::OutOfRange {
                verb,
                what: "TYPE L byte size must be 1-255",
            }),
            Epsv(Some(EpsvArg::Protocol(p))) if !(1..=2).contains(p) => {
                Err(CommandError::OutOfRange {
                    verb,
                    what: "EPSV protocol must be 1 or 2",
                })
            }
            Port(a) if a.port() == 0 => Err(CommandError::OutOfRange {
                verb,
                what: "port 0",
            }),
            Eprt(a) if a.port() == 0 => Err(CommandError::OutOfRange {
                verb,
                what: "port 0",
            }),
            _ => Ok(()),
        }
    }

    /// Appends the command and its CRLF to `out`, after checking every
    /// argument. On error nothing is written.
    pub fn encode_into<B: BufMut>(&self, out: &mut B) -> Result<(), CommandError> {
        self.validate()?;
        self.write_unchecked(out);
        Ok(())
    }

    /// Encodes to a fresh buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CommandError> {
        let mut out = Vec::with_capacity(32);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    fn write_unchecked<B: BufMut>(&self, out: &mut B) {
        use Command::*;
        let verb = self.verb();
        let arg = |out: &mut B, a: &Arg| {
            out.put_slice(verb.as_bytes());
            out.put_u8(b' ');
            out.put_slice(a.as_bytes());
        };
        let opt = |out: &mut B, a: &Option<Arg>| match a {
            Some(a) if !a.is_empty() => arg(out, a),
            _ => out.put_slice(verb.as_bytes()),
        };
        let text = |out: &mut B, t: &str| {
            out.put_slice(verb.as_bytes());
            out.put_u8(b' ');
            out.put_slice(t.as_bytes());
        };
        match self {
            Pass(a) | Acct(a) => arg(out, a.expose_secret()),
            List(a) | Nlst(a) | Stat(a) | Help(a) | Mlsd(a) | Mlst(a) => opt(out, a),
            Port(addr) => {
                let [a, b, c, d] = addr.ip().octets();
                let [p1, p2] = addr.port().to_be_bytes();
                text(out, &format!("{a},{b},{c},{d},{p1},{p2}"));
            }
            Eprt(addr) => text(out, &eprt_argument(*addr)),
            Type(t) => match t {
                TransferType::Ascii => text(out, "A"),
                TransferType::Binary => text(out, "I"),
                TransferType::Ebcdic => text(out, "E"),
                TransferType::Local(n) => text(out, &format!("L {n}")),
            },
            Stru(s) => text(
                out,
                match s {
                    FileStructure::File => "F",
                    FileStructure::Record => "R",
                    FileStructure::Page => "P",
                },
            ),
            Mode(m) => text(
                out,
                match m {
                    TransferMode::Stream => "S",
                    TransferMode::Block => "B",
                    TransferMode::Compressed => "C",
                    TransferMode::Deflate => "Z",
                },
            ),
            Allo(n) | Rest(n) | Pbsz(n) => text(out, &n.to_string()),
            Auth(m) => text(
                out,
                match m {
                    AuthMechanism::Tls => "TLS",
                    AuthMechanism::Ssl => "SSL",
                },
            ),
            Prot(p) => text(
                out,
                match p {
                    ProtectionLevel::Clear => "C",
                    ProtectionLevel::Safe => "S",
                    ProtectionLevel::Confidential => "E",
                    ProtectionLevel::Private => "P",
                },
            ),
            Opts(name, value) => {
                arg(out, name);
                if let Some(v) = value {
                    out.put_u8(b' ');
                    out.put_slice(v.as_bytes());
                }
            }
            Epsv(a) => match a {
                None => out.put_slice(verb.as_bytes()),
                Some(EpsvArg::All) => text(out, "ALL"),
                Some(EpsvArg::Protocol(p)) => text(out, &p.to_string()),
            },
            Mfmt(t, a) => {
                text(
                    out,
                    &format!(
                        "{:04}{:02}{:02}{:02}{:02}{:02} ",
                        t.year(),
                        u8::from(t.month()),
                        t.day(),
                        t.hour(),
                        t.minute(),
                        t.second()
                    ),
                );
                out.put_slice(a.as_bytes());
            }
            Raw(a) => out.put_slice(a.as_bytes()),
            // The verb alone (CDUP, PWD, FEAT...), or with the one argument
            // it requires.
            _ => match self.required_arg() {
                Some(a) => arg(out, a),
                None => out.put_slice(verb.as_bytes()),
            },
        }
        out.put_slice(b"\r\n");
    }

    /// The argument of a command whose one parameter is a required [`Arg`]
    /// (a path, a name, a `SITE` line...). USER may be empty in theory, but
    /// never usefully.
    fn required_arg(&self) -> Option<&Arg> {
        use Command::*;
        match self {
            User(a)
            | Cwd(a)
            | Smnt(a)
            | Retr(a)
            | Stor(a)
            | Appe(a)
            | Rnfr(a)
            | Rnto(a)
            | Dele(a)
            | Rmd(a)
            | Mkd(a)
            | Site(a)
            | Size(a)
            | Mdtm(a)
            | Host(a)
            | Hash(a)
            | XHash(_, a) => Some(a),
            // Exhaustive on purpose: a new command must say here whether its
            // argument is a required `Arg`, or validation and encoding would
            // pass it by.
            Pass(_) | Acct(_) | Cdup | Rein | Quit | Port(_) | Pasv | Type(_) | Stru(_)
            | Mode(_) | Stou | Allo(_) | Rest(_) | Abor | Pwd | List(_) | Nlst(_) | Syst
            | Stat(_) | Help(_) | Noop | Auth(_) | Pbsz(_) | Prot(_) | Ccc | Feat | Opts(..)
            | Eprt(_) | Epsv(_) | Mlsd(_) | Mlst(_) | Mfmt(..) | Raw(_) => None,
        }
    }
}

/// Formats the `EPRT` argument `|1|a.b.c.d|port|` or `|2|ipv6|port|`.
pub fn eprt_argument(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("|1|{}|{}|", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("|2|{}|{}|", a.ip(), a.port()),
    }
}
