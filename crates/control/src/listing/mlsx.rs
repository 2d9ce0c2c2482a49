//! RFC 3659 §7 machine listings (`MLSD` data lines, `MLST` reply lines).
//!
//! ```text
//! modify=20240102030405;perm=adfr;size=1234;type=file;unique=FD00U1A2;UNIX.group=1000;UNIX.mode=0644;UNIX.owner=1000; a; b c.txt
//! ```

use super::{
    lossy, parse_mdtm_time, parse_u64, strip_eol, Entry, EntryKind, ListingError, RawName,
};

/// Parses one `MLSD` line or one `MLST` reply entry line.
///
/// The line is `fact=value;fact=value; name` (RFC 3659 §7.2): the facts end
/// at the first space, and the name is **everything** after that single
/// space, so names containing spaces, `;` or `=` survive, as do leading
/// spaces in a name. An `MLST` reply line starts with one extra space
/// (RFC 3659 §7.2.1), which is stripped; so is a trailing CRLF or LF. (A
/// line starting with a space whose first column is not a list of facts is
/// taken as an `MLSD` line with no facts: the name follows the space.)
///
/// Fact names are case-insensitive and stored lowercased in
/// [`Entry::facts`] with their raw values; a fact that appears twice keeps
/// both, and the first one is interpreted. These are interpreted:
///
/// | fact | field |
/// | --- | --- |
/// | `type` | `file`, `dir`, `cdir`, `pdir`, `OS.unix=slink:target` / `OS.unix=symlink` (also `link`/`slink`), `OS.unix=blkdev`/`chrdev`/`blk-M/m`/`chr-M/m`/`fifo`/`socket`; others give [`EntryKind::Other`] with the lowercased value |
/// | `size`, else `sizd` | [`Entry::size`] |
/// | `modify` | [`Entry::modified`] (UTC); an invalid time is ignored |
/// | `UNIX.mode` (octal, also `0o644`), else `perm` | [`Entry::permissions`] |
/// | `UNIX.ownername`, `UNIX.owner`, `UNIX.uid` | [`Entry::owner`], first present |
/// | `UNIX.groupname`, `UNIX.group`, `UNIX.gid` | [`Entry::group`], first present |
///
/// # Errors
///
/// [`ListingError::MalformedMlsx`] if there is no space (no name), the name
/// is empty, or a fact has no `=` or an empty name.
pub fn parse_mlsx_line(line: &[u8]) -> Result<Entry, ListingError> {
    let raw = strip_eol(line);
    let (facts, name) = match raw.strip_prefix(b" ") {
        // An `MLST` reply line (one leading space), or an `MLSD` line with
        // no facts at all (" name"): prefer the former when it parses.
        Some(rest) => split_facts(rest).or_else(|err| {
            if rest.is_empty() {
                Err(err)
            } else {
                Ok((Vec::new(), rest))
            }
        })?,
        None => split_facts(raw)?,
    };

    let get = |key: &str| -> Option<&[u8]> {
        facts
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    };
    let text = |key: &str| get(key).filter(|v| !v.is_empty()).map(lossy);

    let (kind, link_target) = match get("type") {
        Some(t) => parse_type(t),
        None => (EntryKind::Other(String::from("unknown")), None),
    };
    let size = get("size").or_else(|| get("sizd")).and_then(parse_u64);
    let modified = get("modify").and_then(parse_mdtm_time);
    let permissions = get("unix.mode")
        .and_then(mode_to_rwx)
        .or_else(|| text("perm"));
    let owner = text("unix.ownername")
        .or_else(|| text("unix.owner"))
        .or_else(|| text("unix.uid"));
    let group = text("unix.groupname")
        .or_else(|| text("unix.group"))
        .or_else(|| text("unix.gid"));

    Ok(Entry {
        name: RawName::from(name),
        kind,
        size,
        modified,
        permissions,
        link_target,
        owner,
        group,
        facts,
        raw: raw.to_vec(),
    })
}

/// Facts as stored in [`Entry::facts`].
type Facts = Vec<(String, Vec<u8>)>;

/// Splits `facts; name` at the first space and parses the facts.
fn split_facts(line: &[u8]) -> Result<(Facts, &[u8]), ListingError> {
    let space = memchr::memchr(b' ', line).ok_or(ListingError::MalformedMlsx {
        reason: "no space before the name",
    })?;
    let facts_part = line.get(..space).unwrap_or_default();
    let name = line.get(space + 1..).unwrap_or_default();
    if name.is_empty() {
        return Err(ListingError::MalformedMlsx {
            reason: "empty name",
        });
    }
    let mut facts = Vec::new();
    for fact in facts_part.split(|&b| b == b';').filter(|f| !f.is_empty()) {
        let eq =
            memchr::memchr(b'=', fact)
                .filter(|&eq| eq > 0)
                .ok_or(ListingError::MalformedMlsx {
                    reason: "fact without a name or '='",
                })?;
        let key = lossy(fact.get(..eq).unwrap_or_default()).to_ascii_lowercase();
        let value = fact.get(eq + 1..).unwrap_or_default().to_vec();
        facts.push((key, value));
    }
    Ok((facts, name))
}

/// Interprets a `type` fact value.
fn parse_type(value: &[u8]) -> (EntryKind, Option<RawName>) {
    let lower = value.to_ascii_lowercase();
    let kind = match lower.as_slice() {
        b"file" => EntryKind::File,
        b"dir" => EntryKind::Dir,
        b"cdir" => EntryKind::CurrentDir,
        b"pdir" => EntryKind::ParentDir,
        _ => match lower.strip_prefix(b"os.unix=") {
            Some(b"symlink" | b"slink" | b"link") => EntryKind::Symlink,
            Some(rest) if rest.starts_with(b"slink:") || rest.starts_with(b"symlink:") => {
                // Keep the target's bytes exactly, not lowercased.
                let colon = b"os.unix=".len() + rest.iter().take_while(|&&b| b != b':').count();
                let target = value
                    .get(colon + 1..)
                    .filter(|t| !t.is_empty())
                    .map(RawName::from);
                return (EntryKind::Symlink, target);
            }
            // `blkdev`, `chrdev`, and RFC 3659's own examples `blk-11/108`,
            // `chr-13/29` (with the device numbers).
            Some(rest) if device_word(rest, &[b"blk", b"blkdev", b"block"]) => {
                EntryKind::BlockDevice
            }
            Some(rest) if device_word(rest, &[b"chr", b"chrdev", b"char"]) => EntryKind::CharDevice,
            Some(b"fifo" | b"pipe") => EntryKind::Pipe,
            Some(b"socket" | b"sock") => EntryKind::Socket,
            _ => EntryKind::Other(lossy(&lower)),
        },
    };
    (kind, None)
}

/// Whether `rest` is one of `words`, alone or followed by `-numbers`.
fn device_word(rest: &[u8], words: &[&[u8]]) -> bool {
    let word = rest.split(|&b| b == b'-').next().unwrap_or_default();
    words.contains(&word)
}

/// `0644` / `100755` / `4755` → `rw-r--r--` / `rwxr-xr-x` / `rwsr-xr-x`.
/// Also accepts Python's `0o644` (pyftpdlib under Python 3 sends that).
fn mode_to_rwx(value: &[u8]) -> Option<String> {
    let value = value
        .strip_prefix(b"0o")
        .or_else(|| value.strip_prefix(b"0O"))
        .unwrap_or(value);
    if value.is_empty() || value.len() > 11 || !value.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    let mode = value
        .iter()
        .fold(0u64, |acc, &d| (acc << 3) | u64::from(d - b'0'));
    let bit = |mask: u64, c: char| if mode & mask != 0 { c } else { '-' };
    let special =
        |x: u64, special: u64, set: char, unset: char| match (mode & x != 0, mode & special != 0) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => 'x',
            (false, false) => '-',
        };
    Some(
        [
            bit(0o400, 'r'),
            bit(0o200, 'w'),
            special(0o100, 0o4000, 's', 'S'),
            bit(0o040, 'r'),
            bit(0o020, 'w'),
            special(0o010, 0o2000, 's', 'S'),
            bit(0o004, 'r'),
            bit(0o002, 'w'),
            special(0o001, 0o1000, 't', 'T'),
        ]
        .iter()
        .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_to_rwx(b"0644").as_deref(), Some("rw-r--r--"));
        assert_eq!(mode_to_rwx(b"755").as_deref(), Some("rwxr-xr-x"));
        assert_eq!(mode_to_rwx(b"100755").as_deref(), Some("rwxr-xr-x"));
        assert_eq!(mode_to_rwx(b"4755").as_deref(), Some("rwsr-xr-x"));
        assert_eq!(mode_to_rwx(b"2644").as_deref(), Some("rw-r-Sr--"));
        assert_eq!(mode_to_rwx(b"1777").as_deref(), Some("rwxrwxrwt"));
        assert_eq!(mode_to_rwx(b"1776").as_deref(), Some("rwxrwxrwT"));
        assert_eq!(mode_to_rwx(b"0o644").as_deref(), Some("rw-r--r--"));
        assert_eq!(mode_to_rwx(b"0x1"), None);
        assert_eq!(mode_to_rwx(b"0o"), None);
        assert_eq!(mode_to_rwx(b""), None);
    }
}
