//! Reply codes, typed by their first digit (RFC 959 §4.2).

use std::fmt;

/// The class of a reply, from its first digit (RFC 959 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// 1yz: positive preliminary; another reply follows.
    PositivePreliminary,
    /// 2yz: positive completion.
    PositiveCompletion,
    /// 3yz: positive intermediate; the server waits for another command.
    PositiveIntermediate,
    /// 4yz: transient negative completion; trying again may work.
    TransientNegative,
    /// 5yz: permanent negative completion.
    PermanentNegative,
}

/// A three-digit reply code, 100 to 599 with each digit checked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// 110 restart marker.
    pub const RESTART_MARKER: Self = Self(110);
    /// 120 service ready in nnn minutes.
    pub const SERVICE_READY_SOON: Self = Self(120);
    /// 125 data connection already open; transfer starting.
    pub const DATA_ALREADY_OPEN: Self = Self(125);
    /// 150 file status okay; about to open data connection.
    pub const ABOUT_TO_OPEN_DATA: Self = Self(150);
    /// 200 command okay.
    pub const OK: Self = Self(200);
    /// 211 system status / FEAT.
    pub const SYSTEM_STATUS: Self = Self(211);
    /// 213 file status (SIZE, MDTM, STAT).
    pub const FILE_STATUS: Self = Self(213);
    /// 220 service ready.
    pub const SERVICE_READY: Self = Self(220);
    /// 221 closing control connection.
    pub const CLOSING: Self = Self(221);
    /// 225 data connection open, no transfer in progress.
    pub const DATA_OPEN_NO_TRANSFER: Self = Self(225);
    /// 226 closing data connection, transfer complete.
    pub const CLOSING_DATA: Self = Self(226);
    /// 227 entering passive mode.
    pub const PASSIVE_MODE: Self = Self(227);
    /// 229 entering extended passive mode.
    pub const EXTENDED_PASSIVE_MODE: Self = Self(229);
    /// 230 user logged in.
    pub const LOGGED_IN: Self = Self(230);
    /// 234 security exchange (AUTH) accepted.
    pub const AUTH_OK: Self = Self(234);
    /// 250 file action okay.
    pub const FILE_ACTION_OK: Self = Self(250);
    /// 257 path created / current directory.
    pub const PATH_CREATED: Self = Self(257);
    /// 331 user name okay, need password.
    pub const NEED_PASSWORD: Self = Self(331);
    /// 332 need account for login.
    pub const NEED_ACCOUNT: Self = Self(332);
    /// 350 pending further information (REST, RNFR).
    pub const PENDING: Self = Self(350);
    /// 421 service not available, closing control connection.
    pub const SERVICE_NOT_AVAILABLE: Self = Self(421);
    /// 425 can't open data connection.
    pub const CANT_OPEN_DATA: Self = Self(425);
    /// 426 connection closed; transfer aborted.
    pub const TRANSFER_ABORTED: Self = Self(426);
    /// 450 file unavailable (busy).
    pub const FILE_BUSY: Self = Self(450);
    /// 500 syntax error, command unrecognized.
    pub const SYNTAX_ERROR: Self = Self(500);
    /// 502 command not implemented.
    pub const NOT_IMPLEMENTED: Self = Self(502);
    /// 530 not logged in.
    pub const NOT_LOGGED_IN: Self = Self(530);
    /// 550 file unavailable.
    pub const FILE_UNAVAILABLE: Self = Self(550);

    /// Builds a code from a number from 100 to 599. RFC 959 defines second
    /// digits 0-5 only, but servers in the field use others, so any second
    /// and third digit is accepted.
    pub fn new(code: u16) -> Option<Self> {
        (100..600).contains(&code).then_some(Self(code))
    }

    /// Parses three ASCII digits.
    pub fn from_digits(d: [u8; 3]) -> Option<Self> {
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let [a, b, c] = d.map(|x| u16::from(x - b'0'));
        Self::new(a * 100 + b * 10 + c)
    }

    /// The numeric value.
    pub fn as_u16(self) -> u16 {
        self.0
    }

    /// The class given by the first digit.
    pub fn class(self) -> ReplyClass {
        match self.0 / 100 {
            1 => ReplyClass::PositivePreliminary,
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            _ => ReplyClass::PermanentNegative,
        }
    }

    /// 1yz.
    pub fn is_preliminary(self) -> bool {
        self.class() == ReplyClass::PositivePreliminary
    }

    /// 2yz.
    pub fn is_completion(self) -> bool {
        self.class() == ReplyClass::PositiveCompletion
    }

    /// 3yz.
    pub fn is_intermediate(self) -> bool {
        self.class() == ReplyClass::PositiveIntermediate
    }

    /// 4yz or 5yz.
    pub fn is_negative(self) -> bool {
        matches!(
            self.class(),
            ReplyClass::TransientNegative | ReplyClass::PermanentNegative
        )
    }

    /// 4yz: a transient failure; the same command may work later.
    pub fn is_transient(self) -> bool {
        self.class() == ReplyClass::TransientNegative
    }
}

impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
