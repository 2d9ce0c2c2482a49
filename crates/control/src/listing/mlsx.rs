//! RFC 3659 §7 machine listings (`MLSD` data lines, `MLST` reply lines).
//!
//! ```text
//! modify=20240102030405;perm=adfr;size=1234;type=file;unique=FD00U1A2;UNIX.group=1000;UNIX.mode=0644;UNIX.owner=1000; a; b c.txt
//! ```

use super::{
    compact_lossy, lossy, parse_mdtm_time, parse_u64, strip_eol, CompactString, Entry, EntryKind,
    EntryRef, ListingError,
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
    parse_mlsx_ref(line).map(Entry::from)
}

/// [`parse_mlsx_line`] without allocating: the entry borrows `line`.
///
/// # Errors
///
/// As [`parse_mlsx_line`].
pub fn parse_mlsx_ref(line: &[u8]) -> Result<EntryRef<'_>, ListingError> {
    let raw = strip_eol(line);
    // (where the facts start in `raw`, the facts, the name)
    let (at, facts, name, found) = match raw.strip_prefix(b" ") {
        // An `MLST` reply line (one leading space), or an `MLSD` line with
        // no facts at all (" name"): prefer the former when it parses.
        Some(rest) => match split_facts(rest) {
            Ok((facts, name, found)) => (1, facts, name, found),
            Err(err) if rest.is_empty() => return Err(err),
            Err(_) => (1, &b""[..], rest, [None; FACT_COUNT]),
        },
        None => {
            let (facts, name, found) = split_facts(raw)?;
            (0, facts, name, found)
        }
    };
    let get = |f: Fact| found.get(f as usize).copied().flatten();
    let text = |f: Fact| get(f).filter(|v| !v.is_empty());

    let (kind, link_target) = match get(Fact::Type) {
        Some(t) => parse_type(t),
        None => (EntryKind::Other(String::from("unknown")), None),
    };
    let size = get(Fact::Size)
        .or_else(|| get(Fact::Sizd))
        .and_then(parse_u64);
    let modified = get(Fact::Modify).and_then(parse_mdtm_time);
    let permissions = get(Fact::UnixMode)
        .and_then(mode_to_rwx)
        .or_else(|| text(Fact::Perm).map(compact_lossy));
    let owner = text(Fact::UnixOwnername)
        .or_else(|| text(Fact::UnixOwner))
        .or_else(|| text(Fact::UnixUid));
    let group = text(Fact::UnixGroupname)
        .or_else(|| text(Fact::UnixGroup))
        .or_else(|| text(Fact::UnixGid));

    Ok(EntryRef {
        name,
        kind,
        size,
        modified,
        permissions,
        link_target,
        owner,
        group,
        raw,
        facts_span: (at, at + facts.len()),
    })
}

/// The facts interpreted (indexes into the parser's slots).
#[derive(Clone, Copy)]
enum Fact {
    Type,
    Size,
    Sizd,
    Modify,
    UnixMode,
    Perm,
    UnixOwnername,
    UnixOwner,
    UnixUid,
    UnixGroupname,
    UnixGroup,
    UnixGid,
}

const FACT_COUNT: usize = 12;

/// The interpreted fact a name stands for (case-insensitive): the name is
/// lowercased on the stack (the longest is 14 bytes) and matched whole.
fn fact_of(key: &[u8]) -> Option<Fact> {
    let mut buf = [0u8; 14];
    let lower = buf.get_mut(..key.len())?;
    for (l, k) in lower.iter_mut().zip(key) {
        *l = k.to_ascii_lowercase();
    }
    Some(match &*lower {
        b"type" => Fact::Type,
        b"size" => Fact::Size,
        b"sizd" => Fact::Sizd,
        b"perm" => Fact::Perm,
        b"modify" => Fact::Modify,
        b"unix.uid" => Fact::UnixUid,
        b"unix.gid" => Fact::UnixGid,
        b"unix.mode" => Fact::UnixMode,
        b"unix.owner" => Fact::UnixOwner,
        b"unix.group" => Fact::UnixGroup,
        b"unix.ownername" => Fact::UnixOwnername,
        b"unix.groupname" => Fact::UnixGroupname,
        _ => return None,
    })
}

/// The `(name, value)` pairs of a facts part (`a=1;b=2;`), as received,
/// skipping empty chunks; a chunk without a name or an `=` is an error.
/// The one splitter of facts: [`split_facts`] checks and picks with it, and
/// [`Entry::facts`](super::Entry::facts) reads the checked facts back.
struct FactPairs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for FactPairs<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), ListingError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            // One pass finds the fact's end and its first `=` (facts are
            // short: a plain scan beats memchr's setup, measured).
            let mut eq = None;
            let mut end = self.rest.len();
            for (i, &b) in self.rest.iter().enumerate() {
                if b == b';' {
                    end = i;
                    break;
                }
                if b == b'=' && eq.is_none() {
                    eq = Some(i);
                }
            }
            let fact = self.rest.get(..end).unwrap_or_default();
            self.rest = self.rest.get(end + 1..).unwrap_or_default();
            if fact.is_empty() {
                continue;
            }
            let pair = eq
                .filter(|&eq| eq > 0)
                .map(|eq| {
                    (
                        fact.get(..eq).unwrap_or_default(),
                        fact.get(eq + 1..).unwrap_or_default(),
                    )
                })
                .ok_or(ListingError::MalformedMlsx {
                    reason: "fact without a name or '='",
                });
            return Some(pair);
        }
    }
}

/// The `(name, value)` pairs of facts that [`split_facts`] accepted.
pub(crate) fn facts_of(facts: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
    FactPairs { rest: facts }.filter_map(Result::ok)
}

/// The values of the interpreted facts, by [`Fact`].
type Found<'a> = [Option<&'a [u8]>; FACT_COUNT];

/// Splits `facts; name` at the first space, checks every fact and picks
/// the interpreted ones (the first of a repeated fact counts), in one pass.
fn split_facts(line: &[u8]) -> Result<(&[u8], &[u8], Found<'_>), ListingError> {
    let space = memchr::memchr(b' ', line).ok_or(ListingError::MalformedMlsx {
        reason: "no space before the name",
    })?;
    let facts = line.get(..space).unwrap_or_default();
    let name = line.get(space + 1..).unwrap_or_default();
    if name.is_empty() {
        return Err(ListingError::MalformedMlsx {
            reason: "empty name",
        });
    }
    let mut found: Found<'_> = [None; FACT_COUNT];
    for pair in (FactPairs { rest: facts }) {
        let (key, value) = pair?;
        if let Some(slot) = fact_of(key).and_then(|f| found.get_mut(f as usize)) {
            slot.get_or_insert(value);
        }
    }
    Ok((facts, name, found))
}

/// Interprets a `type` fact value.
fn parse_type(value: &[u8]) -> (EntryKind, Option<&[u8]>) {
    // The common values without allocating.
    for (word, kind) in [
        (&b"file"[..], EntryKind::File),
        (b"dir", EntryKind::Dir),
        (b"cdir", EntryKind::CurrentDir),
        (b"pdir", EntryKind::ParentDir),
    ] {
        if value.eq_ignore_ascii_case(word) {
            return (kind, None);
        }
    }
    let lower = value.to_ascii_lowercase();
    let kind = match lower.strip_prefix(b"os.unix=") {
        Some(b"symlink" | b"slink" | b"link") => EntryKind::Symlink,
        Some(rest) if rest.starts_with(b"slink:") || rest.starts_with(b"symlink:") => {
            // Keep the target's bytes exactly, not lowercased.
            let colon = b"os.unix=".len() + rest.iter().take_while(|&&b| b != b':').count();
            let target = value.get(colon + 1..).filter(|t| !t.is_empty());
            return (EntryKind::Symlink, target);
        }
        // `blkdev`, `chrdev`, and RFC 3659's own examples `blk-11/108`,
        // `chr-13/29` (with the device numbers).
        Some(rest) if device_word(rest, &[b"blk", b"blkdev", b"block"]) => EntryKind::BlockDevice,
        Some(rest) if device_word(rest, &[b"chr", b"chrdev", b"char"]) => EntryKind::CharDevice,
        Some(b"fifo" | b"pipe") => EntryKind::Pipe,
        Some(b"socket" | b"sock") => EntryKind::Socket,
        _ => EntryKind::Other(lossy(&lower)),
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
fn mode_to_rwx(value: &[u8]) -> Option<CompactString> {
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
    let rwx = [
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
    .map(|c| c as u8);
    // Nine ASCII letters: inline in the CompactString, no allocation.
    std::str::from_utf8(&rwx).ok().map(CompactString::new)
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
