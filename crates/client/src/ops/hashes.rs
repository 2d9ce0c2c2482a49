//! Server-side hashes (`HASH`, `XSHA256`/`XSHA1`/`XMD5`/`XCRC`/`XSHA512`)
//! and the same hashes computed locally.

use std::path::Path;

use ftpkit_control::command::HashAlgorithm;
use ftpkit_control::{Arg, Command};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

/// A hash being computed locally.
pub(crate) enum LocalHasher {
    Ring(ring::digest::Context),
    Md5(md5::Md5),
    Crc32(u32),
}

impl LocalHasher {
    pub(crate) fn new(alg: HashAlgorithm) -> Self {
        use ring::digest;
        match alg {
            HashAlgorithm::Sha1 => {
                Self::Ring(digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY))
            }
            HashAlgorithm::Sha256 => Self::Ring(digest::Context::new(&digest::SHA256)),
            HashAlgorithm::Sha512 => Self::Ring(digest::Context::new(&digest::SHA512)),
            HashAlgorithm::Md5 => Self::Md5(<md5::Md5 as md5::Digest>::new()),
            HashAlgorithm::Crc32 => Self::Crc32(!0),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Ring(c) => c.update(data),
            Self::Md5(m) => md5::Digest::update(m, data),
            Self::Crc32(c) => *c = crc32_update(*c, data),
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Self::Ring(c) => c.finish().as_ref().to_vec(),
            Self::Md5(m) => md5::Digest::finalize(m).to_vec(),
            Self::Crc32(c) => (!c).to_be_bytes().to_vec(),
        }
    }
}

/// CRC-32 (IEEE 802.3, as `XCRC` and `HASH CRC32`), bitwise-by-nibble.
fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    const T: [u32; 16] = [
        0x0000_0000,
        0x1db7_1064,
        0x3b6e_20c8,
        0x26d9_30ac,
        0x76dc_4190,
        0x6b6b_51f4,
        0x4db2_6158,
        0x5005_713c,
        0xedb8_8320,
        0xf00f_9344,
        0xd6d6_a3e8,
        0xcb61_b38c,
        0x9b64_c2b0,
        0x86d3_d2d4,
        0xa00a_e278,
        0xbdbd_f21c,
    ];
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..2 {
            let idx = (crc & 0xf) as usize;
            crc = (crc >> 4) ^ T.get(idx).copied().unwrap_or(0);
        }
    }
    crc
}

/// Hashes a local file (on the blocking pool).
pub async fn local_file_hash(path: &Path, alg: HashAlgorithm) -> Result<Vec<u8>> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
        use std::io::Read;
        let mut f = std::fs::File::open(&path)
            .map_err(|e| Error::from_io(&format!("opening {}", path.display()), e))?;
        let mut h = LocalHasher::new(alg);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| Error::from_io(&format!("reading {}", path.display()), e))?;
            if n == 0 {
                break;
            }
            h.update(buf.get(..n).unwrap_or_default());
        }
        Ok(h.finish())
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Io, format!("hashing task failed: {e}")))?
}

fn digest_len(alg: HashAlgorithm) -> usize {
    match alg {
        HashAlgorithm::Crc32 => 4,
        HashAlgorithm::Md5 => 16,
        HashAlgorithm::Sha1 => 20,
        HashAlgorithm::Sha256 => 32,
        HashAlgorithm::Sha512 => 64,
    }
}

fn from_hex(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let nib = |c: u8| (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    s.chunks(2)
        .map(|p| match p {
            [a, b] => Some(nib(*a)? << 4 | nib(*b)?),
            _ => None,
        })
        .collect()
}

/// Finds the digest of `alg` in a hash reply's text: the first
/// whitespace-separated token of exactly the right number of hex digits.
/// `text` is a reply line without its code: `HASH` replies are
/// `213 SHA-256 0-49 <hex> name`; vendor commands answer `250 <hex>` or
/// `213 <hex>` (some append the name).
pub(crate) fn parse_hash_reply(text: &[u8], alg: HashAlgorithm) -> Option<Vec<u8>> {
    let want = digest_len(alg) * 2;
    text.split(|c| c.is_ascii_whitespace())
        .filter(|t| t.len() == want)
        .find_map(from_hex)
        // XCRC replies of some servers drop leading zeros.
        .or_else(|| {
            (alg == HashAlgorithm::Crc32)
                .then(|| {
                    text.split(|c| c.is_ascii_whitespace())
                        .filter(|t| !t.is_empty() && t.len() < 8)
                        .find_map(|t| {
                            let s = std::str::from_utf8(t).ok()?;
                            u32::from_str_radix(s, 16).ok()
                        })
                        .map(|v| v.to_be_bytes().to_vec())
                })
                .flatten()
        })
}

impl Client {
    /// The server's hash of `path`, with the algorithm the server chose:
    /// `HASH` (draft-bryan-ftpext-hash) when FEAT lists it, otherwise the
    /// strongest vendor command FEAT lists (`XSHA512`, `XSHA256`, `XSHA1`,
    /// `XMD5`, `XCRC`). `None` when the server offers neither, or refuses
    /// the command for this file with a 500/502/504 (not implemented).
    pub async fn server_hash(
        &mut self,
        path: impl Into<Arg>,
    ) -> Result<Option<(HashAlgorithm, Vec<u8>)>> {
        let path = path.into();
        let (cmd, alg) = if let Some(&alg) = self.features().hash_algorithms().first() {
            (Command::Hash(path), alg)
        } else if let Some(&alg) = self.features().vendor_hashes().first() {
            (Command::XHash(alg, path), alg)
        } else {
            return Ok(None);
        };
        let verb = match &cmd {
            Command::Hash(_) => "HASH",
            _ => alg.verb(),
        };
        let r = self.command(cmd).await?;
        if matches!(r.code().as_u16(), 500 | 502 | 504) {
            return Ok(None);
        }
        if r.code().is_negative() {
            return Err(Error::from_reply(verb, r));
        }
        // A HASH reply names its algorithm; trust the name over FEAT.
        let line = r.first_line();
        let alg = if verb == "HASH" {
            line.split(|c| c.is_ascii_whitespace())
                .next()
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(HashAlgorithm::from_hash_name)
                .unwrap_or(alg)
        } else {
            alg
        };
        let digest = r
            .lines()
            .iter()
            .find_map(|l| parse_hash_reply(l, alg))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol,
                    format!("{verb} reply without a {} digest", alg.hash_name()),
                )
            })?;
        Ok(Some((alg, digest)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn local_hashes() {
        let mut h = LocalHasher::new(HashAlgorithm::Crc32);
        h.update(b"123456789");
        assert_eq!(hex(&h.finish()), "cbf43926");
        let mut h = LocalHasher::new(HashAlgorithm::Md5);
        h.update(b"abc");
        assert_eq!(hex(&h.finish()), "900150983cd24fb0d6963f7d28e17f72");
        let mut h = LocalHasher::new(HashAlgorithm::Sha256);
        h.update(b"abc");
        assert_eq!(
            hex(&h.finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn replies() {
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let r = format!("SHA-256 0-3 {sha} a.txt");
        assert_eq!(
            hex(&parse_hash_reply(r.as_bytes(), HashAlgorithm::Sha256).unwrap()),
            sha
        );
        let r = sha.to_uppercase();
        assert_eq!(
            hex(&parse_hash_reply(r.as_bytes(), HashAlgorithm::Sha256).unwrap()),
            sha
        );
        assert_eq!(
            parse_hash_reply(b"4f2", HashAlgorithm::Crc32),
            Some(vec![0, 0, 4, 0xf2])
        );
        assert_eq!(parse_hash_reply(b"nope", HashAlgorithm::Md5), None);
    }
}
