//! What the server can do: from FEAT when it answered, otherwise learned
//! from the replies to the commands themselves.
//!
//! A server that refuses FEAT (linux-ftpd-ssl answers it with `500`) may
//! still implement `SIZE`, `MDTM` and `MLSD`. Trusting the empty feature
//! list would make a mirror transfer every file again on each run (no
//! times to compare). So a command RFC 3659 would have listed is
//! [`Support::Unknown`] until it is tried: its first reply says (`500`/`502`
//! for no, anything that shows the command was understood for yes), and
//! the answer is kept for the session.

use std::collections::BTreeMap;

use crate::parse::FeatureSet;
use crate::ReplyCode;

/// Whether the server implements a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Support {
    /// FEAT lists it, or it answered as a command it knows.
    Yes,
    /// FEAT answered without it, or it answered `500`/`502`.
    No,
    /// FEAT was refused (or not asked) and the command not tried yet: try
    /// it, and fall back on `500`/`502`.
    Unknown,
}

/// The commands whose support is tracked, with the FEAT name that announces
/// each.
const TRACKED: &[(&str, &str)] = &[
    ("SIZE", "SIZE"),
    ("MDTM", "MDTM"),
    ("MLSD", "MLST"),
    ("MLST", "MLST"),
    ("MFMT", "MFMT"),
    ("REST", "REST"),
];

/// The FEAT name announcing `verb`, when its support is tracked.
fn feature_of(verb: &str) -> Option<(&'static str, &'static str)> {
    TRACKED
        .iter()
        .find(|(v, _)| v.eq_ignore_ascii_case(verb))
        .copied()
}

/// Support of the tracked commands for one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// FEAT answered with a positive reply (its list is then complete for
    /// the RFC 3659 commands).
    feat_answered: bool,
    learned: BTreeMap<&'static str, bool>,
}

impl Capabilities {
    /// After FEAT: `answered` when its reply was positive.
    pub fn feat_reply(&mut self, answered: bool) {
        self.feat_answered = answered;
    }

    /// Whether `verb` is implemented, with `features` from FEAT.
    pub fn support(&self, verb: &str, features: &FeatureSet) -> Support {
        let Some((verb, feature)) = feature_of(verb) else {
            return Support::Unknown;
        };
        match self.learned.get(verb) {
            Some(true) => Support::Yes,
            Some(false) => Support::No,
            None if features.supports(feature) => Support::Yes,
            None if self.feat_answered => Support::No,
            None => Support::Unknown,
        }
    }

    /// Learns from the reply `code` to `verb` (a tracked command's first
    /// final or preliminary reply). `500`/`502` (and `504` to `REST`, a
    /// parameter it does not take) mean no; a positive, pending or
    /// permanent reply about the argument (`550`, `501`, `553`) shows the
    /// command is known; transient replies say nothing.
    pub fn learn(&mut self, verb: &str, code: ReplyCode) {
        let Some((verb, _)) = feature_of(verb) else {
            return;
        };
        let n = code.as_u16();
        let known = match n {
            500 | 502 => false,
            504 if verb == "REST" => false,
            _ if code.is_transient() => return,
            _ => true,
        };
        self.learned.insert(verb, known);
    }

    /// Whether `verb`'s support is tracked (and so learned from replies).
    pub fn tracks(verb: &str) -> bool {
        feature_of(verb).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{decode_reply, Decoded, DecoderLimits};

    fn feat(lines: &str) -> FeatureSet {
        let raw = format!("211-Features:\r\n{lines}211 End\r\n");
        let Decoded::Complete { reply, .. } =
            decode_reply(raw.as_bytes(), DecoderLimits::default())
        else {
            panic!("undecodable FEAT reply")
        };
        FeatureSet::parse(&reply)
    }

    fn code(n: u16) -> ReplyCode {
        ReplyCode::new(n).unwrap_or_else(|| panic!("{n}"))
    }

    #[test]
    fn feat_answered_decides_until_a_reply_says_otherwise() {
        let f = feat(" SIZE\r\n MLST type*;size*;\r\n");
        let mut c = Capabilities::default();
        c.feat_reply(true);
        assert_eq!(c.support("SIZE", &f), Support::Yes);
        assert_eq!(c.support("mlsd", &f), Support::Yes);
        assert_eq!(c.support("MDTM", &f), Support::No);
        c.learn("MDTM", code(213));
        assert_eq!(c.support("MDTM", &f), Support::Yes);
    }

    #[test]
    fn without_feat_commands_are_unknown_until_tried() {
        let none = FeatureSet::default();
        let mut c = Capabilities::default();
        c.feat_reply(false);
        for v in ["SIZE", "MDTM", "MLSD", "REST"] {
            assert_eq!(c.support(v, &none), Support::Unknown, "{v}");
        }
        c.learn("MLSD", code(500));
        c.learn("SIZE", code(550));
        c.learn("MDTM", code(421));
        c.learn("REST", code(504));
        assert_eq!(c.support("MLSD", &none), Support::No);
        assert_eq!(c.support("MLST", &none), Support::Unknown);
        assert_eq!(c.support("SIZE", &none), Support::Yes);
        assert_eq!(c.support("MDTM", &none), Support::Unknown);
        assert_eq!(c.support("REST", &none), Support::No);
        // Untracked commands say nothing.
        c.learn("NOOP", code(502));
        assert_eq!(c.support("NOOP", &none), Support::Unknown);
    }
}
