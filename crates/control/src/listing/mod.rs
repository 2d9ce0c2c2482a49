//! Directory-listing parsers: `MLSD`/`MLST` facts, Unix `ls -l` and DOS/IIS
//! `LIST` output, plus an incremental line splitter for the data stream.
//!
//! # Formats
//!
//! * **`LIST`** (RFC 959 §4.1.3) sends "a list of files" whose format the RFC
//!   leaves to the server: it is meant for humans. In practice almost every
//!   server prints either Unix `ls -l` lines (vsftpd, ProFTPD, Pure-FTPd,
//!   pyftpdlib, FileZilla Server, Serv-U, busybox) or the DOS `dir` layout of
//!   IIS/Windows NT. [`parse_list_line`] tries [`parse_unix_line`], then
//!   [`parse_dos_line`]; a row neither understands comes back as
//!   [`ListLine::Unparsed`] with its bytes, so nothing is silently dropped.
//!   `LIST` times are in the *server's* local time zone and often lack the
//!   year (`Mon DD HH:MM`) or the time of day (`Mon DD YYYY`); see
//!   [`Modified`].
//! * **`NLST`** (RFC 959 §4.1.3) sends bare names, one per line. It needs no
//!   parser: split it with [`LineSplitter`] and wrap each line in
//!   [`RawName`].
//! * **`MLSD`/`MLST`** (RFC 3659 §7) send machine-readable
//!   `fact=value;fact=value; name` lines with UTC timestamps. Parse them with
//!   [`parse_mlsx_line`].
//!
//! Names are kept as raw bytes ([`RawName`]): FTP has no mandated encoding,
//! and a name that is not UTF-8 must survive a listing so that it can be
//! sent back (in `RETR`, `CWD`, ...) byte for byte.
//!
//! None of the parsers panic on any input, and none of them allocate without
//! bound: [`LineSplitter`] caps both the line length and the listing size.
//!
//! ```
//! use ftpkit_control::listing::{parse_list_line, EntryKind, ListLine};
//!
//! let line = b"drwxr-xr-x    2 1000     1000         4096 Mar 03  2021 pub";
//! let ListLine::Entry(entry) = parse_list_line(line, 2024) else { panic!() };
//! assert_eq!(entry.name.as_bytes(), b"pub");
//! assert_eq!(entry.kind, EntryKind::Dir);
//! ```

pub use compact_str::CompactString;
use std::borrow::Cow;
use std::fmt;

mod dos;
mod lines;
mod mlsx;
mod time;
mod unix;

pub use self::dos::{parse_dos_line, parse_dos_ref};
pub use self::lines::LineSplitter;
pub use self::mlsx::{parse_mlsx_line, parse_mlsx_ref};
pub use self::time::parse_mdtm_time;
pub use self::unix::{parse_unix_line, parse_unix_ref};

/// A file name as the server sent it: raw bytes, not necessarily UTF-8.
///
/// Conversion to text is lossy and only meant for display; keep the
/// `RawName` itself to address the file on the server again.
///
/// ```
/// use ftpkit_control::listing::RawName;
/// let name = RawName::from(b"caf\xe9.txt".to_vec());
/// assert_eq!(name.as_bytes(), b"caf\xe9.txt");
/// assert_eq!(name.to_string_lossy(), "caf\u{fffd}.txt");
/// assert_eq!(format!("{name:?}"), r#""caf\xe9.txt""#);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RawName(Vec<u8>);

impl RawName {
    /// The name's bytes, exactly as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the name, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The name as text, with invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The name as text, if it is valid UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the name has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the name can be used as one component of a local path
    /// without escaping the directory it is joined to.
    ///
    /// Returns `false` for an empty name, `.` and `..`, names containing
    /// `/`, `\`, NUL or any other control byte (below 0x20, or 0x7f), and
    /// names starting with a drive letter such as `C:`. Recursive downloads
    /// must skip (or rename) entries for which this is `false`: a hostile
    /// server could otherwise write outside the target directory.
    ///
    /// ```
    /// use ftpkit_control::listing::RawName;
    /// assert!(RawName::from("report 2024.pdf").is_safe_component());
    /// assert!(!RawName::from("..").is_safe_component());
    /// assert!(!RawName::from("../etc/passwd").is_safe_component());
    /// assert!(!RawName::from("C:evil").is_safe_component());
    /// ```
    pub fn is_safe_component(&self) -> bool {
        let b = self.as_bytes();
        if b.is_empty() || b == b"." || b == b".." {
            return false;
        }
        if b.iter()
            .any(|&c| c == b'/' || c == b'\\' || c < 0x20 || c == 0x7f)
        {
            return false;
        }
        !matches!(b, [letter, b':', ..] if letter.is_ascii_alphabetic())
    }
}

impl From<Vec<u8>> for RawName {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for RawName {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl From<&str> for RawName {
    fn from(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }
}

impl From<String> for RawName {
    fn from(s: String) -> Self {
        Self(s.into_bytes())
    }
}

impl From<RawName> for Vec<u8> {
    fn from(name: RawName) -> Self {
        name.0
    }
}

impl AsRef<[u8]> for RawName {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Quoted, with Rust string escapes; bytes that are not UTF-8 show as `\xNN`.
impl fmt::Debug for RawName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                fmt::Display::fmt(&c.escape_debug(), f)?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

/// Lossy text (invalid UTF-8 becomes U+FFFD).
impl fmt::Display for RawName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

/// What kind of file system object an entry describes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file (`-`, MLSx `type=file`, DOS size column).
    File,
    /// A directory (`d`, MLSx `type=dir`, DOS `<DIR>`).
    Dir,
    /// The listed directory itself (MLSx `type=cdir`, or a `LIST` directory
    /// entry named `.`).
    CurrentDir,
    /// The parent of the listed directory (MLSx `type=pdir`, or a `LIST`
    /// directory entry named `..`).
    ParentDir,
    /// A symbolic link (`l`, MLSx `type=OS.unix=slink:…` or
    /// `OS.unix=symlink`, DOS `<SYMLINK>`/`<SYMLINKD>`/`<JUNCTION>`).
    Symlink,
    /// A block device (`b`).
    BlockDevice,
    /// A character device (`c`).
    CharDevice,
    /// A named pipe (`p`).
    Pipe,
    /// A Unix socket (`s`).
    Socket,
    /// Anything else, with the server's (lowercased, lossy) word for it,
    /// e.g. the value of an unknown MLSx `type` fact. An MLSx line without a
    /// `type` fact gives `Other("unknown")`.
    Other(String),
}

impl EntryKind {
    /// Whether this is a directory, including `.`/`..`.
    pub fn is_dir(&self) -> bool {
        matches!(
            self,
            EntryKind::Dir | EntryKind::CurrentDir | EntryKind::ParentDir
        )
    }
}

/// How much of a [`Modified`] timestamp the server actually reported.
///
/// Fields below the precision are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    /// Only the date (`LIST` lines of the `Mon DD YYYY` form).
    Day,
    /// Date, hours and minutes.
    Minute,
    /// Down to whole seconds (MLSx, MDTM).
    Second,
    /// With a fractional second (MLSx/MDTM `.fff` suffix).
    Subsecond,
}

/// A modification time as reported by a listing or an `MDTM` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Modified {
    /// The date and time, without a zone.
    pub at: ::time::PrimitiveDateTime,
    /// `true` if `at` is UTC (MLSx `modify`, `MDTM`); `false` if it is the
    /// server's local time (`LIST`), whose offset is unknown.
    pub utc: bool,
    /// Which fields of `at` were actually reported.
    pub precision: Precision,
    /// `true` if the year was not in the listing and was filled in by the
    /// parser from the caller's `current_year` (Unix `Mon DD HH:MM` rows).
    /// See [`Modified::resolve_year`].
    pub year_inferred: bool,
}

impl Modified {
    /// Corrects a guessed year once the current date is known.
    ///
    /// `ls` prints `Mon DD HH:MM` (no year) for files modified within the
    /// last six months, so such a row names a date at most a few months in
    /// the past. [`parse_list_line`] only knows the current *year* and
    /// puts the date there; in January a file from November thus lands ten
    /// months in the future. This method moves an inferred date that lies
    /// more than one day after `today` (one day of slack for time zones)
    /// back by one year. Timestamps whose year was reported are returned
    /// unchanged.
    ///
    /// ```
    /// use ftpkit_control::listing::{parse_list_line, ListLine};
    /// use time::{Date, Month};
    ///
    /// let line = b"-rw-r--r--    1 0        0             12 Nov 20 10:00 old.txt";
    /// let ListLine::Entry(e) = parse_list_line(line, 2025) else { panic!() };
    /// let m = e.modified.unwrap();
    /// assert_eq!(m.at.year(), 2025);
    /// let today = Date::from_calendar_date(2025, Month::January, 15).unwrap();
    /// assert_eq!(m.resolve_year(today).at.year(), 2024);
    /// ```
    #[must_use]
    pub fn resolve_year(self, today: ::time::Date) -> Self {
        if !self.year_inferred {
            return self;
        }
        let limit = today.next_day().unwrap_or(today);
        if self.at.date() <= limit {
            return self;
        }
        match self.at.replace_year(self.at.year() - 1) {
            Ok(at) => Self { at, ..self },
            Err(_) => self,
        }
    }
}

/// One parsed listing row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file name (for symlinks without the ` -> target` part).
    pub name: RawName,
    /// File, directory, link, ...
    pub kind: EntryKind,
    /// Size in bytes as listed. For directories this is whatever the server
    /// printed (Unix block size, MLSx `sizd`); `None` if absent, and for
    /// device files, which list `major, minor` instead.
    pub size: Option<u64>,
    /// Last modification time.
    pub modified: Option<Modified>,
    /// Unix permission bits in `ls` form (`rwxr-xr-x`, without the type
    /// character or an ACL marker). For MLSx, the `UNIX.mode` fact converted
    /// to that form if present, else the RFC 3659 `perm` fact verbatim
    /// (e.g. `adfrw`); both are also in [`Entry::facts`]. Short strings
    /// like these are stored inline ([`CompactString`]), without a heap
    /// allocation.
    pub permissions: Option<CompactString>,
    /// Symlink target: the part after ` -> ` in `LIST`, the `slink:` path
    /// of MLSx `type=OS.unix=slink:…`, the `[target]` of a DOS link.
    pub link_target: Option<RawName>,
    /// Owner (`LIST` column, MLSx `UNIX.ownername`/`UNIX.owner`/`UNIX.uid`).
    pub owner: Option<CompactString>,
    /// Group (`LIST` column, MLSx `UNIX.groupname`/`UNIX.group`/`UNIX.gid`).
    pub group: Option<CompactString>,
    /// The whole line as received (without its line terminator).
    pub raw: Vec<u8>,
    /// Where the MLSx facts stand in `raw` (empty for `LIST` rows): they
    /// are read from there on demand ([`Entry::facts`]), never copied.
    pub(crate) facts_span: (usize, usize),
}

impl Entry {
    /// An entry with only a name and a kind; every other field empty.
    pub fn new(name: RawName, kind: EntryKind) -> Self {
        Self {
            name,
            kind,
            size: None,
            modified: None,
            permissions: None,
            link_target: None,
            owner: None,
            group: None,
            facts_span: (0, 0),
            raw: Vec::new(),
        }
    }

    /// Whether this is a directory, including `.`/`..` entries.
    pub fn is_dir(&self) -> bool {
        self.kind.is_dir()
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// The raw value of an MLSx fact (`name` is matched case-insensitively;
    /// the first of repeated facts).
    pub fn fact(&self, name: &str) -> Option<&[u8]> {
        fact_in(&self.raw, self.facts_span, name)
    }

    /// All MLSx facts in line order, as `(name, value)` exactly as received
    /// (compare names case-insensitively). Empty for `LIST` rows.
    pub fn facts(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        facts_in(&self.raw, self.facts_span)
    }
}

/// One parsed listing row that borrows its line: what the parsers produce
/// without allocating ([`parse_mlsx_ref`], [`parse_unix_ref`],
/// [`parse_dos_ref`]). The name, link target, owner and group are views of
/// the line, as received. `Entry::from` makes the owned [`Entry`] (the
/// `parse_*_line` functions are exactly that); a caller that keeps only some
/// rows (a filter by name or kind) converts only those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// The file name (for symlinks without the ` -> target` part).
    pub name: &'a [u8],
    /// As [`Entry::kind`].
    pub kind: EntryKind,
    /// As [`Entry::size`].
    pub size: Option<u64>,
    /// As [`Entry::modified`].
    pub modified: Option<Modified>,
    /// As [`Entry::permissions`] (inline: no allocation).
    pub permissions: Option<CompactString>,
    /// As [`Entry::link_target`].
    pub link_target: Option<&'a [u8]>,
    /// The owner column or fact, as received.
    pub owner: Option<&'a [u8]>,
    /// The group column or fact, as received.
    pub group: Option<&'a [u8]>,
    /// The whole line (without its line terminator).
    pub raw: &'a [u8],
    pub(crate) facts_span: (usize, usize),
}

impl<'a> EntryRef<'a> {
    /// Whether this is a directory, including `.`/`..` entries.
    pub fn is_dir(&self) -> bool {
        self.kind.is_dir()
    }

    /// The raw value of an MLSx fact, as [`Entry::fact`].
    pub fn fact(&self, name: &str) -> Option<&'a [u8]> {
        fact_in(self.raw, self.facts_span, name)
    }
}

impl From<EntryRef<'_>> for Entry {
    fn from(e: EntryRef<'_>) -> Self {
        Entry {
            name: RawName::from(e.name),
            kind: e.kind,
            size: e.size,
            modified: e.modified,
            permissions: e.permissions,
            link_target: e.link_target.map(RawName::from),
            owner: e.owner.map(compact_lossy),
            group: e.group.map(compact_lossy),
            raw: e.raw.to_vec(),
            facts_span: e.facts_span,
        }
    }
}

/// The MLSx facts at `span` of `raw`, in line order.
fn facts_in(raw: &[u8], span: (usize, usize)) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
    mlsx::facts_of(raw.get(span.0..span.1).unwrap_or_default())
}

/// The first fact named `name` (case-insensitive) at `span` of `raw`.
fn fact_in<'a>(raw: &'a [u8], span: (usize, usize), name: &str) -> Option<&'a [u8]> {
    facts_in(raw, span)
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v)
}

/// The result of parsing one `LIST` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListLine {
    /// A file system entry.
    Entry(Entry),
    /// A row no parser understood, with its bytes (without line terminator).
    /// Callers may log it or show it; it is never dropped silently.
    Unparsed(Vec<u8>),
    /// A row that carries no entry: blank, or a `total N` header.
    Skip,
}

/// Errors from the listing parsers and [`LineSplitter`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListingError {
    /// A line exceeded the splitter's `max_line_len`.
    #[error("listing line longer than {max} bytes")]
    LineTooLong {
        /// The configured limit.
        max: usize,
    },
    /// The listing exceeded the splitter's `max_total`.
    #[error("listing larger than {max} bytes")]
    ListingTooLarge {
        /// The configured limit.
        max: u64,
    },
    /// An MLSx line was not `facts; name`.
    #[error("malformed MLSx line: {reason}")]
    MalformedMlsx {
        /// What was wrong.
        reason: &'static str,
    },
}

/// Parses one `LIST` line: Unix `ls -l` format first, then DOS/IIS.
///
/// A trailing CRLF or LF is ignored. Blank lines and `total N` headers give
/// [`ListLine::Skip`]; lines neither parser accepts give
/// [`ListLine::Unparsed`]. `current_year` fills in the year of Unix rows
/// that omit it (see [`Modified::resolve_year`]); pass the current year in
/// the server's time zone if known.
pub fn parse_list_line(line: &[u8], current_year: i32) -> ListLine {
    let line = strip_eol(line);
    if line.iter().all(|&b| b == b' ' || b == b'\t') || is_total_line(line) {
        return ListLine::Skip;
    }
    if let Some(entry) = parse_unix_line(line, current_year) {
        return ListLine::Entry(entry);
    }
    if let Some(entry) = parse_dos_line(line) {
        return ListLine::Entry(entry);
    }
    ListLine::Unparsed(line.to_vec())
}

/// Removes one trailing `\r\n` or `\n`.
pub(crate) fn strip_eol(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r', b'\n'] | [rest @ .., b'\n'] => rest,
        _ => line,
    }
}

/// `total 123` (also `total 1.5M`, any case) as printed by `ls -l`.
fn is_total_line(line: &[u8]) -> bool {
    let Some(rest) = line
        .get(..5)
        .filter(|w| w.eq_ignore_ascii_case(b"total"))
        .and_then(|_| line.get(5..))
    else {
        return false;
    };
    let digits = rest.trim_ascii_start();
    digits.len() < rest.len() && digits.first().is_some_and(u8::is_ascii_digit)
}

/// At most `N` `(start, end)` spans of a line, on the stack.
pub(crate) struct Spans<const N: usize> {
    spans: [(usize, usize); N],
    len: usize,
}

impl<const N: usize> std::ops::Deref for Spans<N> {
    type Target = [(usize, usize)];

    fn deref(&self) -> &Self::Target {
        self.spans.get(..self.len).unwrap_or_default()
    }
}

/// Splits at single spaces into `(start, end)` spans of non-space runs, at
/// most `N` of them (no allocation: a listing has many lines).
pub(crate) fn token_spans<const N: usize>(line: &[u8]) -> Spans<N> {
    let mut out = Spans {
        spans: [(0, 0); N],
        len: 0,
    };
    let mut i = 0;
    while let Some(slot) = out.spans.get_mut(out.len) {
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let start = i;
        while line.get(i).is_some_and(|&b| b != b' ') {
            i += 1;
        }
        *slot = (start, i);
        out.len += 1;
    }
    out
}

/// Parses an all-ASCII-digit slice (1..=19 digits) as `u64`.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Lossy text of a column (owner, group, ...).
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Lossy UTF-8 into a [`CompactString`] (inline up to 24 bytes).
pub(crate) fn compact_lossy(bytes: &[u8]) -> CompactString {
    match std::str::from_utf8(bytes) {
        Ok(s) => CompactString::new(s),
        Err(_) => CompactString::from_utf8_lossy(bytes),
    }
}

/// Maps `Dir` named `.`/`..` to `CurrentDir`/`ParentDir`.
pub(crate) fn refine_dir_kind(kind: EntryKind, name: &[u8]) -> EntryKind {
    match (kind, name) {
        (EntryKind::Dir, b".") => EntryKind::CurrentDir,
        (EntryKind::Dir, b"..") => EntryKind::ParentDir,
        (kind, _) => kind,
    }
}
