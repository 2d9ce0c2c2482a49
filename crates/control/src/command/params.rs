//! Parameter types of commands: TYPE, STRU, MODE, AUTH, PROT, EPSV, hashes.

/// Representation type for `TYPE` (RFC 959 §3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferType {
    /// `TYPE A`: ASCII, lines converted to and from CRLF on the wire.
    Ascii,
    /// `TYPE I`: image (binary), bytes unchanged. ftpkit's default.
    Binary,
    /// `TYPE E`: EBCDIC.
    Ebcdic,
    /// `TYPE L n`: local byte size.
    Local(u8),
}

/// File structure for `STRU` (RFC 959 §3.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileStructure {
    /// `STRU F`, the default.
    File,
    /// `STRU R`.
    Record,
    /// `STRU P`.
    Page,
}

/// Transfer mode for `MODE` (RFC 959 §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferMode {
    /// `MODE S`, the default and the only one ftpkit transfers in.
    Stream,
    /// `MODE B`.
    Block,
    /// `MODE C`.
    Compressed,
    /// `MODE Z` (deflate; draft-preston-ftpext-deflate).
    Deflate,
}

/// Mechanism named by `AUTH` (RFC 2228 §3, RFC 4217 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMechanism {
    /// `AUTH TLS` (RFC 4217 §4), what ftpkit sends.
    Tls,
    /// `AUTH SSL`, a legacy alias some old servers need.
    Ssl,
}

/// Data channel protection for `PROT` (RFC 2228 §3, RFC 4217 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtectionLevel {
    /// `PROT C`: clear data connections.
    Clear,
    /// `PROT S`: safe (integrity only); not used with TLS.
    Safe,
    /// `PROT E`: confidential; not used with TLS.
    Confidential,
    /// `PROT P`: private, data connections run TLS.
    Private,
}

/// Argument of `EPSV` (RFC 2428 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EpsvArg {
    /// `EPSV 1` (IPv4) or `EPSV 2` (IPv6): the network protocol to use.
    Protocol(u8),
    /// `EPSV ALL`: from now on only EPSV is used, for NAT-friendliness.
    All,
}

/// Algorithms of the vendor hash commands and of `OPTS HASH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// CRC-32, `XCRC`.
    Crc32,
    /// MD5, `XMD5`.
    Md5,
    /// SHA-1, `XSHA1`.
    Sha1,
    /// SHA-256, `XSHA256`.
    Sha256,
    /// SHA-512, `XSHA512`.
    Sha512,
}

impl HashAlgorithm {
    /// The vendor command verb for this algorithm.
    pub fn verb(self) -> &'static str {
        match self {
            HashAlgorithm::Crc32 => "XCRC",
            HashAlgorithm::Md5 => "XMD5",
            HashAlgorithm::Sha1 => "XSHA1",
            HashAlgorithm::Sha256 => "XSHA256",
            HashAlgorithm::Sha512 => "XSHA512",
        }
    }

    /// The name used by the `HASH` command and in its FEAT line
    /// (`HASH SHA-256*;SHA-1;MD5;CRC32`).
    pub fn hash_name(self) -> &'static str {
        match self {
            HashAlgorithm::Crc32 => "CRC32",
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha512 => "SHA-512",
        }
    }

    /// Parses a name from the `HASH` FEAT line, case-insensitively.
    pub fn from_hash_name(name: &str) -> Option<Self> {
        [
            HashAlgorithm::Crc32,
            HashAlgorithm::Md5,
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha512,
        ]
        .into_iter()
        .find(|a| a.hash_name().eq_ignore_ascii_case(name))
    }
}
