//! Parsers for the payload of specific replies and command arguments.
//!
//! | reply / argument | parser | defined in |
//! |---|---|---|
//! | `227` PASV | [`parse_pasv`] | RFC 959 §4.1.2, §4.2.2 |
//! | `229` EPSV | [`parse_epsv`] | RFC 2428 §3 |
//! | `PORT` argument | [`parse_port_argument`] | RFC 959 §4.1.2 |
//! | `EPRT` argument | [`parse_eprt_argument`] | RFC 2428 §2 |
//! | `257` PWD / MKD | [`parse_pwd`] | RFC 959 Appendix II |
//! | `213` SIZE | [`parse_size`] | RFC 3659 §4 |
//! | `213` MDTM | [`parse_mdtm`] | RFC 3659 §3 |
//! | `211` FEAT | [`FeatureSet::parse`] | RFC 2389 §3 |
//! | `150` mark `(N bytes)` | [`announced_size`] | vsftpd, ProFTPD practice |
//! | `350` to `REST` | [`rest_confirms`] | RFC 3659 §5.3 |
//!
//! Every parser takes bytes from the network and returns a [`ParseError`]
//! rather than panicking, whatever the input.

mod active;
mod feat;
mod file_status;
mod passive;
mod pwd;
mod transfer;

pub use crate::command::eprt_argument;
pub use active::{parse_eprt_argument, parse_port_argument};
pub use feat::{Feature, FeatureSet};
pub use file_status::{parse_mdtm, parse_size};
pub use passive::{parse_epsv, parse_pasv};
pub use pwd::parse_pwd;
pub use transfer::{announced_size, rest_confirms};

/// Why a reply or argument could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The reply has an unexpected code for this parser.
    #[error("unexpected reply code {0}")]
    UnexpectedCode(u16),
    /// The expected fields were not found.
    #[error("expected {0} not found")]
    Missing(&'static str),
    /// A number was out of its range (a PASV byte above 255, a port of 0 or
    /// above 65535...).
    #[error("{0} out of range")]
    OutOfRange(&'static str),
    /// A path held control bytes.
    #[error("control byte in path")]
    ControlByte,
    /// Anything else malformed.
    #[error("malformed {0}")]
    Malformed(&'static str),
}
