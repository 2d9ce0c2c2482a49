//! DOS/Windows `dir` style `LIST` rows (IIS, Windows NT FTP service).
//!
//! ```text
//! 01-15-20  10:30AM       <DIR>          Folder Name
//! 01-15-2020  10:30PM                 1234 file.txt
//! 2020-01-15  22:30               1,048,576 report.pdf
//! ```

use super::time::{calendar_date, clock_time, digits, local_time, parse_hhmm};
use super::{refine_dir_kind, strip_eol, Entry, EntryKind, EntryRef};

/// IIS and `cmd.exe` pad `<DIR>` to a 14-character column and add one
/// separator space: 10 spaces in all between `<DIR>` and the name.
const DIR_GAP: usize = 10;

/// Parses one DOS/IIS style row, or returns `None` if it is not one.
///
/// The date is `MM-DD-YY`, `MM-DD-YYYY` or `YYYY-MM-DD` (`-` or `/`
/// separated); two-digit years below 70 are 20xx, the others 19xx. The time
/// is `HH:MM` with an optional `AM`/`PM` (attached or after a space) or in
/// 24-hour form, optionally with seconds. Then comes `<DIR>`, a link marker
/// (`<SYMLINK>`, `<SYMLINKD>`, `<JUNCTION>`, whose name may end in
/// ` [target]`), or the size, optionally with `,` thousands separators.
///
/// The name starts after exactly one space following the size, so leading
/// spaces survive. After `<DIR>` and the link markers the name starts after
/// the usual 10-space gap when there is one (keeping further leading spaces),
/// otherwise after all the spaces. A name of only spaces is taken as
/// padding, not a name, and the row is rejected. Times are the server's
/// local time.
///
/// A trailing CRLF or LF is ignored.
pub fn parse_dos_line(line: &[u8]) -> Option<Entry> {
    parse_dos_ref(line).map(Entry::from)
}

/// [`parse_dos_line`] without allocating: the entry borrows `line`.
pub fn parse_dos_ref(line: &[u8]) -> Option<EntryRef<'_>> {
    let line = strip_eol(line);
    let mut cur = Cursor { line, pos: 0 };

    let date = parse_dos_date(cur.token()?)?;
    let time_tok = cur.token()?;
    let (clock, mut pm) = match time_tok {
        [t @ .., a, b'M' | b'm'] if matches!(a, b'A' | b'a' | b'P' | b'p') => {
            (t, Some(matches!(a, b'P' | b'p')))
        }
        t => (t, None),
    };
    let (mut time, has_seconds) = parse_hhmm(clock)?;
    if pm.is_none() {
        let save = cur.pos;
        match cur.token() {
            Some(t) if t.eq_ignore_ascii_case(b"AM") => pm = Some(false),
            Some(t) if t.eq_ignore_ascii_case(b"PM") => pm = Some(true),
            _ => cur.pos = save,
        }
    }
    if let Some(pm) = pm {
        let hour = u32::from(time.hour());
        if !(1..=12).contains(&hour) {
            return None;
        }
        let hour24 = match (hour, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, false) => h,
            (h, true) => h + 12,
        };
        time = clock_time(hour24, u32::from(time.minute()), u32::from(time.second()))?;
    }

    let kind_tok = cur.token()?;
    let gap_start = cur.pos;
    let gap = line
        .get(gap_start..)?
        .iter()
        .take_while(|&&b| b == b' ')
        .count();
    if gap == 0 {
        return None;
    }
    let (kind, size, name_start) = match kind_tok {
        b"<DIR>" => (EntryKind::Dir, None, gap_start + skip(gap)),
        b"<SYMLINK>" | b"<SYMLINKD>" | b"<JUNCTION>" => {
            (EntryKind::Symlink, None, gap_start + skip(gap))
        }
        size => (EntryKind::File, Some(parse_size(size)?), gap_start + 1),
    };
    // Windows has no names made only of spaces: that is column padding.
    let rest = line
        .get(name_start..)
        .filter(|r| r.iter().any(|&b| b != b' '))?;
    let (name, link_target) = match (&kind, rest) {
        (EntryKind::Symlink, [.., b']']) => match memchr::memmem::rfind(rest, b" [") {
            Some(open) if open > 0 => (
                rest.get(..open)?,
                rest.get(open + 2..rest.len() - 1).filter(|t| !t.is_empty()),
            ),
            _ => (rest, None),
        },
        _ => (rest, None),
    };

    Some(EntryRef {
        kind: refine_dir_kind(kind, name),
        name,
        size,
        modified: Some(local_time(date, time, has_seconds, false)),
        permissions: None,
        link_target,
        owner: None,
        group: None,
        facts_span: (0, 0),
        raw: line,
    })
}

/// How many gap spaces to skip after `<DIR>`.
fn skip(gap: usize) -> usize {
    if gap >= DIR_GAP {
        DIR_GAP
    } else {
        gap
    }
}

/// Walks space-separated columns; the first column must start the line.
struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The next column, skipping spaces before it (none before the first).
    fn token(&mut self) -> Option<&'a [u8]> {
        let line = self.line;
        let mut start = self.pos;
        if start > 0 {
            while line.get(start) == Some(&b' ') {
                start += 1;
            }
        }
        let len = line
            .get(start..)?
            .iter()
            .take_while(|&&b| b != b' ')
            .count();
        if len == 0 {
            return None;
        }
        self.pos = start + len;
        line.get(start..start + len)
    }
}

/// `MM-DD-YY`, `MM-DD-YYYY`, `YYYY-MM-DD`, with `-` or `/`.
fn parse_dos_date(tok: &[u8]) -> Option<::time::Date> {
    let sep = *tok.iter().find(|b| matches!(b, b'-' | b'/'))?;
    let mut parts = tok.split(|&b| b == sep);
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (year, month, day) = if a.len() == 4 {
        if b.len() != 2 || c.len() != 2 {
            return None;
        }
        (digits(a)?, digits(b)?, digits(c)?)
    } else {
        if a.len() != 2 || b.len() != 2 {
            return None;
        }
        let year = match c.len() {
            2 => {
                let yy = digits(c)?;
                if yy < 70 {
                    2000 + yy
                } else {
                    1900 + yy
                }
            }
            4 => digits(c)?,
            _ => return None,
        };
        (year, digits(a)?, digits(b)?)
    };
    calendar_date(i32::try_from(year).ok()?, month, day)
}

/// `1234` or `1,234,567`.
fn parse_size(tok: &[u8]) -> Option<u64> {
    if tok.first() == Some(&b',') || tok.last() == Some(&b',') {
        return None;
    }
    let mut value: u64 = 0;
    let mut any = false;
    for &b in tok {
        match b {
            b'0'..=b'9' => {
                value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                any = true;
            }
            b',' => {}
            _ => return None,
        }
    }
    any.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size(b"1,234"), Some(1234));
        assert_eq!(parse_size(b"0"), Some(0));
        assert_eq!(parse_size(b",1"), None);
        assert_eq!(parse_size(b"1,"), None);
        assert_eq!(parse_size(b"-1"), None);
        assert_eq!(parse_size(b"99999999999999999999"), None);
    }
}
