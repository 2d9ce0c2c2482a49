//! Unix `ls -l` style `LIST` rows.
//!
//! ```text
//! drwxr-xr-x    2 1000     1000         4096 Mar 03 14:07 pub
//! -rw-r--r--+   1 ftp      ftp       1048576 Nov  1  2019 with acl.bin
//! lrwxrwxrwx    1 0        0              11 Jan 05  2022 latest -> v1.2/
//! crw-rw-rw-    1 root     root         1,   3 Jan  1  2020 null
//! ```
//!
//! The row is located by its date columns (`Mon DD HH:MM`, `Mon DD YYYY`, or
//! `YYYY-MM-DD HH:MM`); the column before them is the size (or the
//! `major, minor` pair of a device), and the columns between the mode and the
//! size are the link count, owner and group, any of which some servers omit.
//! The name is everything after the *single* space that follows the time or
//! year column, so leading and repeated spaces in names survive.

use ::time::{PrimitiveDateTime, Time};

use super::time::{calendar_date, digits, local_time, month_abbrev, parse_hhmm};
use super::{
    compact_lossy, parse_u64, refine_dir_kind, strip_eol, token_spans, CompactString, Entry,
    EntryKind, EntryRef, Modified, Precision,
};

/// Upper bound on the columns examined before the name; far more than any
/// real server prints (mode, links, owner, group, size, three date columns).
const MAX_TOKENS: usize = 24;

/// Parses one Unix `ls -l` style row, or returns `None` if it is not one.
///
/// Accepts the mode column `[-dlbcps]` followed by nine permission
/// characters (`rwxsStTl-`) and an optional ACL/xattr/SELinux marker
/// (`+`, `@`, `.`); an optional link count; optional owner and group (a
/// group containing spaces is kept whole); the size, or `major, minor` for
/// devices; and the date in one of these forms (one or more spaces between
/// columns):
///
/// * `Mon DD HH:MM` — recent files. The year is not listed: it is set to
///   `current_year` and [`Modified::year_inferred`] is `true`; see
///   [`Modified::resolve_year`] to correct it once the full date is known.
///   (A `Feb 29` that does not exist in `current_year` is tried in the year
///   before, and left out if it does not exist there either.)
/// * `Mon DD YYYY` — older files, [`Precision::Day`].
/// * `YYYY-MM-DD HH:MM` — `ls --time-style=long-iso`.
///
/// Symlink rows (`l`) are split at the **first** ` -> `: a link whose own
/// name contains ` -> ` is rare, and a target containing it is kept whole.
/// The rows of other types are never split. Directory rows named `.`/`..`
/// get [`EntryKind::CurrentDir`]/[`EntryKind::ParentDir`].
///
/// A trailing CRLF or LF is ignored.
pub fn parse_unix_line(line: &[u8], current_year: i32) -> Option<Entry> {
    parse_unix_ref(line, current_year).map(Entry::from)
}

/// [`parse_unix_line`] without allocating: the entry borrows `line`.
pub fn parse_unix_ref(line: &[u8], current_year: i32) -> Option<EntryRef<'_>> {
    let line = strip_eol(line);
    let tokens = token_spans::<MAX_TOKENS>(line);
    let (mode_start, mode_end) = *tokens.first()?;
    if mode_start != 0 {
        return None;
    }
    let (kind, permissions) = parse_mode(line.get(mode_start..mode_end)?)?;

    // Find the leftmost date preceded by a valid size column. At least the
    // mode and the size come before it.
    let is_device = matches!(kind, EntryKind::BlockDevice | EntryKind::CharDevice);
    let (date_index, date, size, first_size_index) = (2..tokens.len()).find_map(|i| {
        let date = parse_date(line, &tokens, i, current_year)?;
        let (size, first_size_index) = size_columns(line, &tokens, i, is_device)?;
        Some((i, date, size, first_size_index))
    })?;

    // Link count, owner, group.
    let mut owner = None;
    let mut group = None;
    let mid = tokens.get(1..first_size_index).unwrap_or(&[]);
    let mid_bytes = |span: &[(usize, usize)]| -> Option<&[u8]> {
        let &(start, _) = span.first()?;
        let &(_, end) = span.last()?;
        line.get(start..end)
    };
    let is_count =
        |span: &(usize, usize)| parse_u64(line.get(span.0..span.1).unwrap_or(b"")).is_some();
    match mid {
        [] => {}
        [only] => {
            if !is_count(only) {
                owner = mid_bytes(std::slice::from_ref(only));
            }
        }
        [first, second] => {
            if is_count(first) {
                // Link count and owner; no group column.
                owner = mid_bytes(std::slice::from_ref(second));
            } else {
                owner = mid_bytes(std::slice::from_ref(first));
                group = mid_bytes(std::slice::from_ref(second));
            }
        }
        [first, rest @ ..] => {
            let rest = if is_count(first) {
                rest
            } else {
                // No link count: first column is the owner already.
                mid
            };
            if let Some((o, g)) = rest.split_first() {
                owner = mid_bytes(std::slice::from_ref(o));
                group = mid_bytes(g);
            }
        }
    }

    // Name: after exactly one space following the last date column.
    let &(_, date_end) = tokens.get(date_index + date.columns - 1)?;
    if line.get(date_end) != Some(&b' ') {
        return None;
    }
    let rest = line.get(date_end + 1..)?;
    if rest.is_empty() {
        return None;
    }
    let (name, link_target) = if kind == EntryKind::Symlink {
        match memchr::memmem::find(rest, b" -> ") {
            Some(arrow) if arrow > 0 => (
                rest.get(..arrow)?,
                rest.get(arrow + 4..).filter(|t| !t.is_empty()),
            ),
            _ => (rest, None),
        }
    } else {
        (rest, None)
    };

    Some(EntryRef {
        kind: refine_dir_kind(kind, name),
        name,
        size,
        modified: date.modified,
        permissions: Some(permissions),
        link_target,
        owner,
        group,
        facts_span: (0, 0),
        raw: line,
    })
}

/// `drwxr-xr-x`, `-rw-r--r--+`, `lrwxrwxrwx@`, `-rw-r--r--.`.
fn parse_mode(mode: &[u8]) -> Option<(EntryKind, CompactString)> {
    let mode = match mode {
        [head @ .., b'+' | b'@' | b'.'] if head.len() == 10 => head,
        _ => mode,
    };
    let [type_char, perms @ ..] = mode else {
        return None;
    };
    if perms.len() != 9
        || !perms.iter().all(|c| {
            matches!(
                c,
                b'r' | b'w' | b'x' | b's' | b'S' | b't' | b'T' | b'l' | b'-'
            )
        })
    {
        return None;
    }
    let kind = match type_char {
        b'-' => EntryKind::File,
        b'd' => EntryKind::Dir,
        b'l' => EntryKind::Symlink,
        b'b' => EntryKind::BlockDevice,
        b'c' => EntryKind::CharDevice,
        b'p' => EntryKind::Pipe,
        b's' => EntryKind::Socket,
        _ => return None,
    };
    Some((kind, compact_lossy(perms)))
}

/// Reads the size column(s) just before the date at column `date_index`:
/// returns the size (`None` for a device's `major, minor`) and the index of
/// the first size column.
fn size_columns(
    line: &[u8],
    tokens: &[(usize, usize)],
    date_index: usize,
    is_device: bool,
) -> Option<(Option<u64>, usize)> {
    let tok = |i: usize| -> Option<&[u8]> {
        let &(s, e) = tokens.get(i)?;
        line.get(s..e)
    };
    let size_index = date_index.checked_sub(1).filter(|&i| i >= 1)?;
    let size_tok = tok(size_index)?;
    if let Some(size) = parse_u64(size_tok) {
        let major_index = size_index - 1;
        match tok(major_index) {
            Some(p) if is_device && major_index >= 1 && is_major(p) => Some((None, major_index)),
            _ => Some((Some(size), size_index)),
        }
    } else if is_device && is_major_minor(size_tok) {
        Some((None, size_index))
    } else {
        None
    }
}

/// `1,` (major number followed by its comma, minor in the next column).
fn is_major(tok: &[u8]) -> bool {
    matches!(tok, [digits @ .., b','] if parse_u64(digits).is_some())
}

/// `1,3` in one column.
fn is_major_minor(tok: &[u8]) -> bool {
    let mut parts = tok.splitn(2, |&b| b == b',');
    matches!(
        (parts.next(), parts.next()),
        (Some(major), Some(minor)) if parse_u64(major).is_some() && parse_u64(minor).is_some()
    )
}

/// A date found in the columns of a row.
struct FoundDate {
    /// How many columns it spans (2 or 3).
    columns: usize,
    /// The parsed timestamp, `None` for a `Feb 29` that fits no nearby year.
    modified: Option<Modified>,
}

/// Tries to read a date starting at column `i`.
fn parse_date(
    line: &[u8],
    tokens: &[(usize, usize)],
    i: usize,
    current_year: i32,
) -> Option<FoundDate> {
    let tok = |i: usize| -> Option<&[u8]> {
        let &(s, e) = tokens.get(i)?;
        line.get(s..e)
    };
    let first = tok(i)?;

    // `Mon DD HH:MM` / `Mon DD YYYY`.
    if let Some(month) = month_abbrev(first) {
        let day_tok = tok(i + 1).filter(|d| (1..=2).contains(&d.len()))?;
        let day = digits(day_tok).filter(|d| (1..=31).contains(d))?;
        let third = tok(i + 2)?;
        if third.len() == 4 && third.iter().all(u8::is_ascii_digit) {
            let year = i32::try_from(digits(third)?).ok()?;
            let date = calendar_date(year, month, day)?;
            return Some(FoundDate {
                columns: 3,
                modified: Some(Modified {
                    at: PrimitiveDateTime::new(date, Time::MIDNIGHT),
                    utc: false,
                    precision: Precision::Day,
                    year_inferred: false,
                }),
            });
        }
        let (time, has_seconds) = parse_hhmm(third)?;
        let date = calendar_date(current_year, month, day).or_else(|| {
            // Only Feb 29 can fail here (the day was range-checked).
            (month == 2 && day == 29)
                .then(|| {
                    current_year
                        .checked_sub(1)
                        .and_then(|y| calendar_date(y, month, day))
                })
                .flatten()
        });
        return Some(FoundDate {
            columns: 3,
            modified: date.map(|date| local_time(date, time, has_seconds, true)),
        });
    }

    // `YYYY-MM-DD HH:MM`.
    if let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = first {
        let year = digits(&[*y1, *y2, *y3, *y4])?;
        let month = digits(&[*m1, *m2])?;
        let day = digits(&[*d1, *d2])?;
        let date = calendar_date(i32::try_from(year).ok()?, month, day)?;
        let (time, has_seconds) = parse_hhmm(tok(i + 1)?)?;
        return Some(FoundDate {
            columns: 2,
            modified: Some(local_time(date, time, has_seconds, false)),
        });
    }
    None
}
