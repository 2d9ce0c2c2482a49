//! Formatting: listing rows (names, long format, JSON), times, replies, and
//! stdout writes that tell a closed pipe from an error.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::time::SystemTime;

use ftpkit::{Entry, EntryKind, Modified, Reply};
use ftpkit_control::listing::Precision;
use serde::Serialize;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// stdout was closed under us (`ftpkit ls URL | head`): stop quietly.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Maps a stdout write error: a broken pipe becomes [`StdoutClosed`].
pub(crate) fn stdout_error(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("writing to stdout")
    }
}

/// Whether `e` comes from writing into a closed pipe (`get - | head`).
pub(crate) fn broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Buffered stdout; whether it is a terminal decides how names are shown.
pub(crate) struct Out {
    w: io::BufWriter<io::Stdout>,
    terminal: bool,
}

impl Out {
    pub(crate) fn new() -> Self {
        use std::io::IsTerminal;
        let stdout = io::stdout();
        let terminal = stdout.is_terminal();
        Self {
            w: io::BufWriter::new(stdout),
            terminal,
        }
    }

    /// Writes a line of text.
    pub(crate) fn line(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.w, "{text}").map_err(stdout_error)
    }

    /// Writes raw bytes then a newline: names are written as the server
    /// sent them when stdout is a pipe, and with control characters shown
    /// as `?` on a terminal (as `ls` does).
    pub(crate) fn raw_line(&mut self, parts: &[&[u8]]) -> anyhow::Result<()> {
        for p in parts {
            if self.terminal {
                let text = String::from_utf8_lossy(p);
                self.w.write_all(terminal_safe(&text).as_bytes())
            } else {
                self.w.write_all(p)
            }
            .map_err(stdout_error)?;
        }
        self.w.write_all(b"\n").map_err(stdout_error)
    }

    pub(crate) fn flush(&mut self) -> anyhow::Result<()> {
        self.w.flush().map_err(stdout_error)
    }
}

/// `1 file`, `3 files`: a count with its noun.
pub(crate) fn count(n: impl TryInto<u64>, one: &str, many: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Control characters (terminal escapes) replaced by `?`: the one
/// sanitiser every server-supplied string passes before a terminal.
pub(crate) fn terminal_safe(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_control) {
        Cow::Owned(
            s.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// `file`, `dir`, `link` or `other`.
pub(crate) fn kind_word(kind: &EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir | EntryKind::CurrentDir | EntryKind::ParentDir => "dir",
        EntryKind::Symlink => "link",
        _ => "other",
    }
}

fn kind_char(kind: &EntryKind) -> char {
    match kind {
        EntryKind::File => '-',
        EntryKind::Dir | EntryKind::CurrentDir | EntryKind::ParentDir => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::BlockDevice => 'b',
        EntryKind::CharDevice => 'c',
        EntryKind::Pipe => 'p',
        EntryKind::Socket => 's',
        EntryKind::Other(_) => '?',
    }
}

/// RFC 3339. Times of unknown offset (LIST rows are in the server's local
/// time) get `-00:00`, RFC 3339's "unknown local offset" (§4.3), which the
/// `time` crate's RFC 3339 formatter cannot write.
pub(crate) fn rfc3339(m: &Modified) -> String {
    let mut s = formatted(
        m.at,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    );
    let ns = m.at.nanosecond();
    if m.precision == Precision::Subsecond && ns != 0 {
        let frac = format!("{ns:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(if m.utc { "Z" } else { "-00:00" });
    s
}

/// `YYYY-MM-DD HH:MM` (the time blank for day-precision rows), for the
/// long format.
fn short_time(m: &Modified) -> String {
    if m.precision == Precision::Day {
        formatted(m.at, format_description!("[year]-[month]-[day]      "))
    } else {
        formatted(
            m.at,
            format_description!("[year]-[month]-[day] [hour]:[minute]"),
        )
    }
}

/// A `SystemTime` in RFC 3339, UTC, to the second.
pub(crate) fn system_time(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    formatted(
        time::PrimitiveDateTime::new(t.date(), t.time()),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
    )
}

/// Formats a time with one of this module's descriptions. They name only
/// date and time components, which a `PrimitiveDateTime` always has, so the
/// fallback (the debug form) is for completeness, never expected.
fn formatted(at: time::PrimitiveDateTime, fmt: &[BorrowedFormatItem<'_>]) -> String {
    at.format(fmt).unwrap_or_else(|_| format!("{at:?}"))
}

/// One listing row of `ls --long`: type and permissions, size, time, name
/// (and link target).
pub(crate) fn long_line(e: &Entry) -> (String, Vec<u8>) {
    // Unknown is not "no permissions".
    let perms = e.permissions.as_deref().unwrap_or("?????????");
    let size = e.size.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let time = e
        .modified
        .as_ref()
        .map_or_else(|| " ".repeat(16), short_time);
    let prefix = format!("{}{perms:<9} {size:>12} {time} ", kind_char(&e.kind));
    let mut name = e.name.as_bytes().to_vec();
    if let Some(target) = &e.link_target {
        name.extend_from_slice(b" -> ");
        name.extend_from_slice(target.as_bytes());
    }
    (prefix, name)
}

/// One object of `ls --json`.
#[derive(Debug, Serialize)]
pub(crate) struct JsonEntry<'a> {
    name: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    size: Option<u64>,
    modified: Option<String>,
}

impl<'a> JsonEntry<'a> {
    pub(crate) fn new(e: &'a Entry) -> Self {
        Self {
            name: e.name.to_string_lossy(),
            kind: kind_word(&e.kind),
            size: e.size,
            modified: e.modified.as_ref().map(rfc3339),
        }
    }
}

/// A reply as the server sent it: `CODE text`, or `CODE-first` ... `CODE
/// last` for a multi-line reply.
pub(crate) fn reply_lines(r: &Reply) -> Vec<String> {
    let code = r.code();
    let lines = r.lines();
    let n = lines.len();
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let text = String::from_utf8_lossy(l);
            if n == 1 {
                format!("{code} {text}")
            } else if i == 0 {
                format!("{code}-{text}")
            } else if i + 1 == n {
                format!("{code} {text}")
            } else {
                text.into_owned()
            }
        })
        .collect()
}

/// Stderr for the `-v` protocol trace, with every control character but the
/// line end shown as `?`: the trace carries the server's replies verbatim.
pub(crate) struct SafeStderr;

impl Write for SafeStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let safe: String = text
            .chars()
            .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
            .collect();
        io::stderr().write_all(safe.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use ftpkit::RawName;
    use ftpkit_control::listing::{parse_list_line, parse_mlsx_line, ListLine};

    fn mlsd(line: &[u8]) -> Entry {
        parse_mlsx_line(line).unwrap()
    }

    #[test]
    fn rfc3339_times() {
        let e = mlsd(b"type=file;size=5;modify=20240102030405; a.txt");
        assert_eq!(rfc3339(&e.modified.unwrap()), "2024-01-02T03:04:05Z");
        let e = mlsd(b"type=file;modify=20240102030405.250; a.txt");
        assert_eq!(rfc3339(&e.modified.unwrap()), "2024-01-02T03:04:05.25Z");
        let ListLine::Entry(e) = parse_list_line(
            b"-rw-r--r--    1 0        0             12 Nov 20 10:00 old.txt",
            2024,
        ) else {
            panic!()
        };
        assert_eq!(rfc3339(&e.modified.unwrap()), "2024-11-20T10:00:00-00:00");
    }

    #[test]
    fn json_rows() {
        let e = mlsd(b"type=dir;modify=20240102030405; sub dir");
        let j = serde_json::to_string(&JsonEntry::new(&e)).unwrap();
        assert_eq!(
            j,
            r#"{"name":"sub dir","type":"dir","size":null,"modified":"2024-01-02T03:04:05Z"}"#
        );
        let mut e = Entry::new(RawName::from(b"caf\xe9".to_vec()), EntryKind::Symlink);
        e.size = Some(7);
        let j = serde_json::to_string(&JsonEntry::new(&e)).unwrap();
        assert_eq!(
            j,
            r#"{"name":"caf�","type":"link","size":7,"modified":null}"#
        );
    }

    #[test]
    fn long_rows() {
        let ListLine::Entry(e) = parse_list_line(
            b"lrwxrwxrwx    1 0        0              4 Jan 02  2020 l -> tgt",
            2024,
        ) else {
            panic!()
        };
        let (prefix, name) = long_line(&e);
        assert_eq!(prefix, "lrwxrwxrwx            4 2020-01-02       ");
        assert_eq!(name, b"l -> tgt");
    }

    #[test]
    fn terminal_escapes_neutralized() {
        assert_eq!(terminal_safe("a\x1b[2Jb"), "a?[2Jb");
        assert_eq!(terminal_safe("plain"), "plain");
    }
}
