//! `211` replies to FEAT (RFC 2389 §3).

use std::collections::BTreeMap;

use crate::command::HashAlgorithm;
use crate::reply::Reply;

/// One line of a FEAT reply: the feature name (upper-cased) and its
/// parameters as the server wrote them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    /// Upper-cased name, e.g. `MLST`.
    pub name: String,
    /// The rest of the line, trimmed, e.g. `type*;size*;modify*;`.
    pub params: String,
}

/// The extensions a server announced in its FEAT reply.
///
/// ```
/// # use ftpkit_control::{parse::FeatureSet, reply::{decode_reply, Decoded, DecoderLimits}};
/// let raw = b"211-Features:\r\n MDTM\r\n REST STREAM\r\n MLST type*;size*;modify*;\r\n UTF8\r\n211 End\r\n";
/// let Decoded::Complete { reply, .. } = decode_reply(raw, DecoderLimits::default()) else { unreachable!() };
/// let feat = FeatureSet::parse(&reply);
/// assert!(feat.supports("mdtm"));
/// assert!(feat.supports_rest_stream());
/// assert_eq!(feat.params("MLST"), Some("type*;size*;modify*;"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureSet {
    features: BTreeMap<String, String>,
}

impl FeatureSet {
    /// Parses a FEAT reply. A single-line reply (no features) or a negative
    /// reply gives the empty set. The first and last lines (`Features:` and
    /// `End`) are headers and skipped.
    pub fn parse(reply: &Reply) -> Self {
        let mut features = BTreeMap::new();
        if !reply.code().is_completion() {
            return Self { features };
        }
        let lines = reply.lines();
        let body = lines
            .get(1..lines.len().saturating_sub(1))
            .unwrap_or_default();
        for line in body {
            let text = String::from_utf8_lossy(line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let (name, params) = text.split_once(' ').unwrap_or((text, ""));
            features
                .entry(name.to_ascii_uppercase())
                .or_insert_with(|| params.trim().to_owned());
        }
        Self { features }
    }

    /// Builds a set from feature lines, for tests and drivers.
    pub fn from_features<I: IntoIterator<Item = Feature>>(iter: I) -> Self {
        Self {
            features: iter.into_iter().map(|f| (f.name, f.params)).collect(),
        }
    }

    /// Whether a feature was announced (name compared case-insensitively).
    pub fn supports(&self, name: &str) -> bool {
        self.features.contains_key(&name.to_ascii_uppercase())
    }

    /// The parameters of a feature.
    pub fn params(&self, name: &str) -> Option<&str> {
        self.features
            .get(&name.to_ascii_uppercase())
            .map(String::as_str)
    }

    /// All features, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = Feature> + '_ {
        self.features.iter().map(|(n, p)| Feature {
            name: n.clone(),
            params: p.clone(),
        })
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// Whether no feature was announced.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// `UTF8` (RFC 2640 §3.2): the server accepts `OPTS UTF8 ON`.
    pub fn supports_utf8(&self) -> bool {
        self.supports("UTF8")
    }

    /// `REST STREAM` (RFC 3659 §5): byte offsets for REST.
    pub fn supports_rest_stream(&self) -> bool {
        self.params("REST").is_some_and(|p| {
            p.split_ascii_whitespace()
                .any(|w| w.eq_ignore_ascii_case("STREAM"))
        })
    }

    /// `MLST` (RFC 3659 §7): MLSD and MLST are available.
    pub fn supports_mlsx(&self) -> bool {
        self.supports("MLST") || self.supports("MLSD")
    }

    /// The MLST facts offered, and whether each is on by default (`*`).
    pub fn mlst_facts(&self) -> Vec<(String, bool)> {
        self.params("MLST")
            .unwrap_or_default()
            .split(';')
            .filter(|f| !f.is_empty())
            .map(|f| match f.strip_suffix('*') {
                Some(name) => (name.to_ascii_lowercase(), true),
                None => (f.to_ascii_lowercase(), false),
            })
            .collect()
    }

    /// Whether `AUTH TLS` is listed (RFC 4217 §6).
    pub fn supports_auth_tls(&self) -> bool {
        self.params("AUTH").is_some_and(|p| {
            p.split(|c: char| c == ';' || c.is_whitespace())
                .any(|m| m.eq_ignore_ascii_case("TLS"))
        })
    }

    /// The algorithms of the `HASH` command, the selected one first
    /// (`HASH SHA-256*;SHA-1;MD5`).
    pub fn hash_algorithms(&self) -> Vec<HashAlgorithm> {
        let Some(p) = self.params("HASH") else {
            return Vec::new();
        };
        let mut v: Vec<(bool, HashAlgorithm)> = p
            .split(';')
            .filter_map(|n| {
                let (n, sel) = n.strip_suffix('*').map_or((n, false), |n| (n, true));
                HashAlgorithm::from_hash_name(n.trim()).map(|a| (sel, a))
            })
            .collect();
        v.sort_by_key(|(sel, _)| !*sel);
        v.into_iter().map(|(_, a)| a).collect()
    }

    /// The vendor hash commands the server lists (`XCRC`, `XMD5`, ...).
    pub fn vendor_hashes(&self) -> Vec<HashAlgorithm> {
        [
            HashAlgorithm::Sha512,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha1,
            HashAlgorithm::Md5,
            HashAlgorithm::Crc32,
        ]
        .into_iter()
        .filter(|a| self.supports(a.verb()))
        .collect()
    }
}
