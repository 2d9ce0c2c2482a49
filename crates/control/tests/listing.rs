//! Directory-listing parsers against listings in the formats real servers
//! print (fixtures under `tests/data/listing/`, each `.txt` with the entries
//! it must parse to in a `.entries` file), plus the line splitter's bounds
//! and property tests that no input panics.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ftpkit_control::listing::{
    parse_dos_line, parse_dos_ref, parse_list_line, parse_mdtm_time, parse_mlsx_line,
    parse_mlsx_ref, parse_unix_line, parse_unix_ref, Entry, EntryKind, LineSplitter, ListLine,
    ListingError, Modified, Precision, RawName,
};
use proptest::prelude::*;
use time::{Date, Month, PrimitiveDateTime, Time};

/// The year the fixtures' `Mon DD HH:MM` rows are read in.
const YEAR: i32 = 2024;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/listing/",
            $name
        ))
        .as_slice()
    };
}

// ---------------------------------------------------------------- helpers

fn dt(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> PrimitiveDateTime {
    dts(y, mo, d, h, mi, 0)
}

fn dts(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> PrimitiveDateTime {
    let date = Date::from_calendar_date(y, Month::try_from(mo).unwrap(), d).unwrap();
    PrimitiveDateTime::new(date, Time::from_hms(h, mi, s).unwrap())
}

/// All lines of a buffer through the splitter, as the client would see them.
fn split(data: &[u8]) -> Vec<Vec<u8>> {
    let mut s = LineSplitter::new();
    s.push(data).unwrap();
    let mut out = Vec::new();
    while let Some(line) = s.finish().unwrap() {
        out.push(line.to_vec());
    }
    out
}

/// Parses every line of a `LIST` fixture.
fn list(data: &[u8]) -> Vec<ListLine> {
    split(data)
        .iter()
        .map(|l| parse_list_line(l, YEAR))
        .collect()
}

/// Parses a `LIST` fixture that must contain only entries and skips.
fn list_entries(data: &[u8]) -> Vec<Entry> {
    list(data)
        .into_iter()
        .filter_map(|l| match l {
            ListLine::Entry(e) => Some(e),
            ListLine::Skip => None,
            ListLine::Unparsed(raw) => {
                panic!("unparsed: {:?}", String::from_utf8_lossy(&raw))
            }
        })
        .collect()
}

/// Parses an `MLSD` fixture; every line must parse.
fn mlsd_entries(data: &[u8]) -> Vec<Entry> {
    split(data)
        .iter()
        .map(|l| parse_mlsx_line(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// The expected essentials of one entry.
#[derive(Debug)]
struct Exp {
    name: Vec<u8>,
    kind: EntryKind,
    size: Option<u64>,
    at: PrimitiveDateTime,
}

/// The entries a fixture must parse to, from the `.entries` file beside
/// it: one tab-separated row per entry, `kind size time name`, with `-` for
/// no size, the time as `YYYY-MM-DD HH:MM[:SS]` and the name as the rest of
/// the row, spaces and all.
fn expected(file: &str) -> Vec<Exp> {
    let path = format!("{}/tests/data/listing/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|row| {
            let [kind, size, at, name] = row.splitn(4, '\t').collect::<Vec<_>>()[..] else {
                panic!("{file}: not 4 columns: {row:?}")
            };
            let kind = match kind {
                "file" => File,
                "dir" => Dir,
                "cdir" => CurrentDir,
                "pdir" => ParentDir,
                "link" => Symlink,
                "pipe" => Pipe,
                "socket" => Socket,
                "chardev" => CharDevice,
                "blockdev" => BlockDevice,
                other => panic!("{file}: unknown kind {other:?}"),
            };
            let size = (size != "-").then(|| size.parse().unwrap());
            Exp {
                name: name.as_bytes().to_vec(),
                kind,
                size,
                at: time_of(at),
            }
        })
        .collect()
}

/// Reads `YYYY-MM-DD HH:MM[:SS]`.
fn time_of(text: &str) -> PrimitiveDateTime {
    let num = |s: &str| -> u8 { s.parse().unwrap_or_else(|e| panic!("{text:?}: {e}")) };
    let (date, clock) = text.split_once(' ').unwrap();
    let (year, date) = date.split_once('-').unwrap();
    let [mo, d] = date.split('-').map(num).collect::<Vec<_>>()[..] else {
        panic!("{text:?}: no month and day")
    };
    let (h, mi, s) = match clock.split(':').map(num).collect::<Vec<_>>()[..] {
        [h, mi] => (h, mi, 0),
        [h, mi, s] => (h, mi, s),
        _ => panic!("{text:?}: no HH:MM"),
    };
    dts(year.parse().unwrap(), mo, d, h, mi, s)
}

/// Checks `entries` against the `.entries` file `file`.
fn check(entries: &[Entry], file: &str) {
    let expected = expected(file);
    assert_eq!(
        entries.len(),
        expected.len(),
        "entries: {:#?}",
        entries.iter().map(|e| &e.name).collect::<Vec<_>>()
    );
    for (e, x) in entries.iter().zip(&expected) {
        assert_eq!(e.name.as_bytes(), x.name, "{e:#?}");
        assert_eq!(e.kind, x.kind, "{e:#?}");
        assert_eq!(e.size, x.size, "{e:#?}");
        assert_eq!(e.modified.map(|m| m.at), Some(x.at), "{e:#?}");
    }
}

fn modified(e: &Entry) -> Modified {
    e.modified.unwrap_or_else(|| panic!("no time: {e:#?}"))
}

fn entry(line: &[u8]) -> Entry {
    entry_in(line, YEAR)
}

use EntryKind::{BlockDevice, CharDevice, CurrentDir, Dir, File, ParentDir, Pipe, Socket, Symlink};

// ------------------------------------------------------------ Unix LIST

#[test]
fn vsftpd_list() {
    let entries = list_entries(fixture!("vsftpd_list.txt"));
    check(&entries, "vsftpd_list.entries");
    let latest = &entries[5];
    assert_eq!(latest.link_target, Some(RawName::from("release-1.2")));
    assert_eq!(latest.permissions.as_deref(), Some("rwxrwxrwx"));
    let incoming = &entries[4];
    assert_eq!(incoming.permissions.as_deref(), Some("rwxrwsr-x"));
    assert_eq!(incoming.owner.as_deref(), Some("1000"));
    assert_eq!(incoming.group.as_deref(), Some("1001"));
    assert_eq!(entries[6].owner.as_deref(), Some("ftp"));

    // Year-less rows: minute precision, year taken from the caller.
    let m = modified(&entries[2]);
    assert_eq!(m.precision, Precision::Minute);
    assert!(m.year_inferred);
    assert!(!m.utc);
    // Rows with a year: day precision, nothing inferred.
    let m = modified(&entries[3]);
    assert_eq!(m.precision, Precision::Day);
    assert!(!m.year_inferred);

    // raw keeps the whole line without its CRLF.
    assert_eq!(
        entries[7].raw,
        b"-rw-r--r--    1 ftp      ftp           214 Mar 03 14:07 README"
    );
    assert!(entries.iter().all(|e| e.facts().next().is_none()));
}

/// Issue #15: the borrowed entries (`parse_*_ref`) are views of the line
/// (no copy of the name, link target, owner or group) and convert to the
/// owned entries of `parse_*_line`.
#[test]
fn borrowed_entries_view_the_line_and_own_on_demand() {
    let within = |line: &[u8], part: &[u8]| {
        let (l, p) = (line.as_ptr_range(), part.as_ptr_range());
        l.start <= p.start && p.end <= l.end
    };
    let line = b"lrwxrwxrwx    1 alice    staff          11 Jan 05  2022 latest -> v1.2/\r\n";
    let e = parse_unix_ref(line, YEAR).unwrap();
    assert_eq!(
        (e.name, e.link_target),
        (&b"latest"[..], Some(&b"v1.2/"[..]))
    );
    assert_eq!(
        (e.owner, e.group),
        (Some(&b"alice"[..]), Some(&b"staff"[..]))
    );
    for part in [e.name, e.raw, e.link_target.unwrap(), e.owner.unwrap()] {
        assert!(within(line, part));
    }
    assert_eq!(Entry::from(e), parse_unix_line(line, YEAR).unwrap());

    let line = b"modify=20240102030405;perm=adfr;size=1234;type=file;UNIX.owner=bob; a; b.txt";
    let e = parse_mlsx_ref(line).unwrap();
    assert_eq!(
        (e.name, e.size, e.owner),
        (&b"a; b.txt"[..], Some(1234), Some(&b"bob"[..]))
    );
    assert_eq!(e.fact("PERM"), Some(&b"adfr"[..]));
    assert!(within(line, e.name) && within(line, e.fact("size").unwrap()));
    assert_eq!(Entry::from(e), parse_mlsx_line(line).unwrap());
    assert!(parse_mlsx_ref(b"no-facts-and-no-space").is_err());

    let line = b"01-15-20  10:30AM       <DIR>          Folder Name";
    let e = parse_dos_ref(line).unwrap();
    assert!(e.is_dir() && within(line, e.name));
    assert_eq!(Entry::from(e), parse_dos_line(line).unwrap());
}

#[test]
fn proftpd_list() {
    let entries = list_entries(fixture!("proftpd_list.txt"));
    check(&entries, "proftpd_list.entries");
    // The ACL marker is not part of the permissions.
    assert_eq!(entries[2].permissions.as_deref(), Some("rw-r--r--"));
    assert_eq!(entries[2].owner.as_deref(), Some("alice"));
    assert_eq!(entries[2].group.as_deref(), Some("staff"));
    assert_eq!(entries[3].permissions.as_deref(), Some("rwsr-xr-x"));
    assert_eq!(entries[4].permissions.as_deref(), Some("rwxrwxrwt"));
}

#[test]
fn pureftpd_list() {
    let entries = list_entries(fixture!("pureftpd_list.txt"));
    check(&entries, "pureftpd_list.entries");
}

#[test]
fn pyftpdlib_list() {
    let entries = list_entries(fixture!("pyftpdlib_list.txt"));
    check(&entries, "pyftpdlib_list.entries");
    assert_eq!(entries[2].link_target, Some(RawName::from("music.mp3")));
    assert_eq!(entries[3].owner.as_deref(), Some("owner"));
    assert_eq!(entries[3].group.as_deref(), Some("group"));
}

#[test]
fn filezilla_server_list() {
    let entries = list_entries(fixture!("filezilla_list.txt"));
    check(&entries, "filezilla_list.entries");
}

#[test]
fn servu_list() {
    let entries = list_entries(fixture!("servu_list.txt"));
    check(&entries, "servu_list.entries");
    assert_eq!(entries[3].permissions.as_deref(), Some("rw-rw-rw-"));
}

#[test]
fn busybox_list_with_devices_pipes_sockets() {
    let lines = list(fixture!("busybox_list.txt"));
    assert_eq!(lines[0], ListLine::Skip, "total line");
    let entries = list_entries(fixture!("busybox_list.txt"));
    check(&entries, "busybox_list.entries");
    assert_eq!(entries[1].owner.as_deref(), Some("root"));
    assert_eq!(entries[2].group.as_deref(), Some("disk"));
    assert_eq!(entries[5].link_target, Some(RawName::from("/bin/busybox")));
}

#[test]
fn device_number_layouts() {
    for line in [
        &b"crw-rw-rw- 1 root root 1, 3 Jan 1 2020 null"[..],
        b"crw-rw-rw- 1 root root 1,3 Jan 1 2020 null",
        b"crw-rw-rw-   1 root     root       1,   3 Jan  1  2020 null",
    ] {
        let e = entry(line);
        assert_eq!(e.kind, CharDevice);
        assert_eq!(e.size, None);
        assert_eq!(e.name.as_bytes(), b"null");
        assert_eq!(e.owner.as_deref(), Some("root"));
        assert_eq!(e.group.as_deref(), Some("root"));
        assert_eq!(modified(&e).at, dt(2020, 1, 1, 0, 0));
    }
    // A device without its minor number is not understood.
    assert!(matches!(
        parse_list_line(b"crw-rw-rw- 1 root root 1, Jan 1 2020 null", YEAR),
        ListLine::Unparsed(_)
    ));
    // Only devices have a `major,minor` column.
    assert!(matches!(
        parse_list_line(b"-rw-rw-rw- 1 root root 1,3 Jan 1 2020 null", YEAR),
        ListLine::Unparsed(_)
    ));
}

#[test]
fn odd_names() {
    let lines = list(fixture!("odd_names_list.txt"));
    let names: Vec<&[u8]> = lines
        .iter()
        .filter_map(|l| match l {
            ListLine::Entry(e) => Some(e.name.as_bytes()),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            &b"name with  two  spaces.txt"[..],
            b"  two leading spaces",
            b"semi;colon;name",
            b"arrow -> in a regular name",
            b"link name",
            b"macos-xattr.txt",
            b"selinux-context.txt",
            b"Jan 5 10:00 looks like a date",
            b"trailing space ",
            b"group with space",
            b"no-group.txt",
            b"online",
            b"long-iso.txt",
            b"with-seconds.txt",
        ]
    );
    let e = |i: usize| match &lines[i] {
        ListLine::Entry(e) => e.clone(),
        other => panic!("{other:?}"),
    };
    // A regular file's name is never split at ` -> `.
    assert_eq!(e(3).kind, File);
    assert_eq!(e(3).link_target, None);
    // A symlink splits at the first ` -> `.
    assert_eq!(e(4).kind, Symlink);
    assert_eq!(
        e(4).link_target,
        Some(RawName::from("target -> with arrow"))
    );
    assert_eq!(e(5).group.as_deref(), Some("staff"));
    assert_eq!(e(7).size, Some(17));
    assert_eq!(modified(&e(7)).at, dt(YEAR, 3, 3, 14, 7));
    // A group name with a space stays whole.
    assert_eq!(e(9).owner.as_deref(), Some("ftp"));
    assert_eq!(e(9).group.as_deref(), Some("Domain Users"));
    // Link count and owner, no group.
    assert_eq!(e(10).owner.as_deref(), Some("1000"));
    assert_eq!(e(10).group, None);
    // No link count, owner only.
    assert_eq!(e(11).owner.as_deref(), Some("folder"));
    assert_eq!(e(11).size, Some(0));
    // ISO dates are complete.
    let m = modified(&e(12));
    assert_eq!(m.at, dt(2012, 2, 7, 0, 31));
    assert!(!m.year_inferred);
    let m = modified(&e(13));
    assert_eq!(m.at, dts(YEAR, 3, 3, 14, 7, 59));
    assert_eq!(m.precision, Precision::Second);
    // The error line is kept, the final blank line skipped.
    assert_eq!(
        lines[14],
        ListLine::Unparsed(b"ls: cannot open directory .: Permission denied".to_vec())
    );
    assert_eq!(lines[15], ListLine::Skip);
    assert_eq!(lines.len(), 16);
}

#[test]
fn unix_variants_from_the_wild() {
    // wu-ftpd: no group column.
    let e = entry(b"drwxr-xr-x   2 sys          512 Mar 27  2009 pub");
    assert_eq!((e.kind, e.size), (Dir, Some(512)));
    assert_eq!(e.owner.as_deref(), Some("sys"));
    // Hylafax-style numeric owner without group.
    let e = entry(b"drwxrwx---   2       10     4096 Jul 28 02:41 tmp");
    assert_eq!(e.owner.as_deref(), Some("10"));
    // Single-digit hour.
    let e = entry(b"drwxrwxrwx   1 owner    group               1024 Sep 13  0:30 audio");
    assert_eq!(modified(&e).at, dt(YEAR, 9, 13, 0, 30));
    // Unknown ids printed as (?).
    let e = entry(b"drwxr-xr-x   4 (?)      (?)          4096 Apr  8  2007 jigdo");
    assert_eq!(e.owner.as_deref(), Some("(?)"));
    // Name that is a single character, symlink without target.
    let e = entry(b"lrwxrwxrwx 1 0  0 26 Sep 18 2008 pub");
    assert_eq!((e.kind, e.link_target), (Symlink, None));
    // Month names in any case.
    let e = entry(b"-rw-r--r-- 1 a b 1 JAN 02 2001 upper");
    assert_eq!(modified(&e).at, dt(2001, 1, 2, 0, 0));
}

#[test]
fn unix_rejects() {
    for line in [
        &b"garbage"[..],
        b" foo",
        b"-rw-r--r-- ftp ftp",
        b"-rw-r--r-- 1 ftp ftp",
        b"-rw-r--r-- 1 ftp ftp 528 Foo 01 2007 README",
        b"-rw-r--r-- 1 ftp ftp -528 Nov 01  2007 README",
        b"-rw-r--r-- 1 ftp ftp 528 Nov 32  2007 README",
        b"-rw-r--r-- 1 ftp ftp 528 Feb 30  2007 README",
        b"-rw-r--r-- 1 ftp ftp 528 Nov 01 24:00 README",
        b"-rw-r--r-- 1 ftp ftp 528 Nov 01 12:60 README",
        b"drwxrwxrwx 2 root root  4096 2012-30-07 00:31 notas_servico",
        b"drwxr-xr-x 3 ftp ftp 4096 May 15 18:11",
        b"drwxr-xr-x 3 ftp ftp 4096 May 15 18:11 ",
        b"drwxr-xr-x   folder     0 May 15 18:11",
        b"xrwxr-xr-x 3 ftp ftp 4096 May 15 18:11 bad-type",
        b"drwxr-xr-q 3 ftp ftp 4096 May 15 18:11 bad-perm",
        b"drwxr-xr-x# 3 ftp ftp 4096 May 15 18:11 bad-suffix",
        b"-rw-r--r-- 1 ftp ftp 99999999999999999999 Nov 01  2007 overflow",
        b" -rw-r--r-- 1 ftp ftp 528 Nov 01  2007 leading-space",
    ] {
        assert_eq!(
            parse_unix_line(line, YEAR),
            None,
            "{:?}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(
            parse_list_line(line, YEAR),
            ListLine::Unparsed(line.to_vec()),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn year_inference_and_resolution() {
    let line = b"-rw-r--r-- 1 ftp ftp 1 Nov 20 10:00 f";
    let m = modified(&entry(line));
    assert_eq!(m.at, dt(YEAR, 11, 20, 10, 0));
    assert!(m.year_inferred);
    let jan = Date::from_calendar_date(2024, Month::January, 15).unwrap();
    assert_eq!(m.resolve_year(jan).at, dt(2023, 11, 20, 10, 0));
    let dec = Date::from_calendar_date(2024, Month::December, 1).unwrap();
    assert_eq!(m.resolve_year(dec).at, dt(2024, 11, 20, 10, 0));
    // One day of slack for time zones.
    let nov19 = Date::from_calendar_date(2024, Month::November, 19).unwrap();
    assert_eq!(m.resolve_year(nov19).at, dt(2024, 11, 20, 10, 0));
    // Rows with a year are left alone.
    let m = modified(&entry(b"-rw-r--r-- 1 ftp ftp 1 Nov 20  2024 f"));
    assert_eq!(m.resolve_year(jan).at, dt(2024, 11, 20, 0, 0));

    // Feb 29 with a non-leap current year: the year before if it is a leap
    // year, otherwise no time (but the entry is kept).
    let line = b"-rw-r--r-- 1 ftp ftp 1 Feb 29 10:00 leap";
    assert_eq!(modified(&entry_in(line, 2025)).at, dt(2024, 2, 29, 10, 0));
    let e = entry_in(line, 2027);
    assert_eq!((e.name.as_bytes(), e.modified), (&b"leap"[..], None));
}

fn entry_in(line: &[u8], year: i32) -> Entry {
    match parse_list_line(line, year) {
        ListLine::Entry(e) => e,
        other => panic!("{other:?}"),
    }
}

#[test]
fn skips_and_line_endings() {
    for line in [
        &b""[..],
        b"\r\n",
        b"\n",
        b"   ",
        b"total 12",
        b"total 0\r\n",
        b"Total 1.5M",
    ] {
        assert_eq!(parse_list_line(line, YEAR), ListLine::Skip, "{line:?}");
    }
    // Not a total line.
    assert!(matches!(
        parse_list_line(b"totally 12", YEAR),
        ListLine::Unparsed(_)
    ));
    assert!(matches!(
        parse_list_line(b"total", YEAR),
        ListLine::Unparsed(_)
    ));
    // CRLF and LF are stripped; a lone CR is part of the name.
    let base = b"-rw-r--r-- 1 ftp ftp 1 Nov 20 10:00 f".to_vec();
    for (suffix, name) in [(&b"\r\n"[..], &b"f"[..]), (b"\n", b"f"), (b"\r", b"f\r")] {
        let mut line = base.clone();
        line.extend_from_slice(suffix);
        assert_eq!(entry(&line).name.as_bytes(), name);
        assert_eq!(entry(&line).raw, [&base[..], &name[1..]].concat());
    }
}

// ------------------------------------------------------------- DOS LIST

#[test]
fn iis_dos_ampm() {
    let entries = list_entries(fixture!("iis_dos.txt"));
    check(&entries, "iis_dos.entries");
    for e in &entries {
        let m = modified(e);
        assert!(!m.utc && !m.year_inferred);
        assert_eq!(m.precision, Precision::Minute);
        assert_eq!((e.owner.as_ref(), e.permissions.as_ref()), (None, None));
    }
}

#[test]
fn iis_dos_four_digit_years() {
    let entries = list_entries(fixture!("iis_dos_4digit.txt"));
    check(&entries, "iis_dos_4digit.entries");
}

#[test]
fn windows_nt_24h_iso_and_separators() {
    let entries = list_entries(fixture!("windows_nt.txt"));
    check(&entries, "windows_nt.entries");
    assert_eq!(entries[5].link_target, Some(RawName::from("C:\\Users")));
    assert_eq!(entries[6].link_target, Some(RawName::from("v2")));
}

#[test]
fn dos_noon_and_midnight() {
    let at = |line: &[u8]| modified(&parse_dos_line(line).unwrap()).at;
    assert_eq!(
        at(b"12-25-10  12:00AM       <DIR>          M"),
        dt(2010, 12, 25, 0, 0)
    );
    assert_eq!(
        at(b"12-25-10  12:00PM       <DIR>          M"),
        dt(2010, 12, 25, 12, 0)
    );
    assert_eq!(
        at(b"12-25-10  01:00pm       <DIR>          M"),
        dt(2010, 12, 25, 13, 0)
    );
    assert_eq!(
        at(b"12-25-10  00:00         <DIR>          M"),
        dt(2010, 12, 25, 0, 0)
    );
    assert_eq!(
        at(b"12-25-10  13:00         <DIR>          M"),
        dt(2010, 12, 25, 13, 0)
    );
    let e = parse_dos_line(b"12-25-10  13:00:05              1 s").unwrap();
    assert_eq!(modified(&e).at, dts(2010, 12, 25, 13, 0, 5));
    assert_eq!(modified(&e).precision, Precision::Second);
}

#[test]
fn dos_rejects() {
    for line in [
        &b"garbage"[..],
        b"11-02-09  05:32PM       <GARBAGE>      NT",
        b"11-FEB-09 05:32PM       <DIR>          NT",
        b"11-02     05:32PM       <DIR>          NT",
        b"11-02-09  05:32PM                 -1   NT",
        b"13-25-10  12:00AM                  0 month",
        b"12-32-10  12:00AM                  0 day",
        b"02-29-23  12:00AM                  0 not-leap",
        b"12-25-10  13:00AM                  0 hour",
        b"12-25-10  00:30PM                  0 zero-pm",
        b"12-25-10  12:99AM                  0 minute",
        b"12-25-10  12:00ZM                  0 zm",
        b"12-25-10  24:00                    0 hour24",
        b"12-07-10  12:05AM       <DIR>    ",
        b"12-07-10  12:05AM       1234    ",
        b"12-07-10  12:05AM       1234  ",
        b"11-02-09  05:32PM       <DIR>",
        b"12-25-2010-1  12:00AM            0 four-parts",
        b"123-25-10  12:00AM               0 long-month",
        b"12-25-100  12:00AM               0 three-digit-year",
        b"12-25-10  12:00AM           ,1,234 bad-commas",
        b" 12-25-10  12:00AM               0 leading-space",
    ] {
        assert_eq!(
            parse_dos_line(line),
            None,
            "{:?}",
            String::from_utf8_lossy(line)
        );
        assert!(
            matches!(parse_list_line(line, YEAR), ListLine::Unparsed(_)),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

// ------------------------------------------------------------------ MLSx

#[test]
fn proftpd_mlsd() {
    let entries = mlsd_entries(fixture!("proftpd_mlsd.txt"));
    check(&entries, "proftpd_mlsd.entries");
    let a = &entries[2];
    // UNIX.mode wins over perm for `permissions`; both stay in the facts.
    assert_eq!(a.permissions.as_deref(), Some("rw-r--r--"));
    assert_eq!(a.fact("perm"), Some(&b"adfrw"[..]));
    assert_eq!(a.fact("PERM"), Some(&b"adfrw"[..]));
    // Names win over numeric ids.
    assert_eq!(a.owner.as_deref(), Some("alice"));
    assert_eq!(a.group.as_deref(), Some("alice"));
    assert_eq!(
        a.facts()
            .map(|(k, _)| String::from_utf8_lossy(k).to_ascii_lowercase())
            .collect::<Vec<_>>(),
        [
            "modify",
            "perm",
            "size",
            "type",
            "unique",
            "unix.group",
            "unix.groupname",
            "unix.mode",
            "unix.owner",
            "unix.ownername"
        ]
    );
    assert_eq!(a.fact("unique"), Some(&b"FD01U2A0002"[..]));
    let m = modified(a);
    assert!(m.utc && !m.year_inferred);
    assert_eq!(m.precision, Precision::Second);
    assert_eq!(entries[3].permissions.as_deref(), Some("rwxrwsr-x"));
    assert_eq!(
        entries[4].link_target,
        Some(RawName::from("/srv/ftp/release-1.2"))
    );
    assert_eq!(entries[5].link_target, None);
    assert_eq!(entries[7].raw, split(fixture!("proftpd_mlsd.txt"))[7]);
}

#[test]
fn pureftpd_mlsd() {
    let entries = mlsd_entries(fixture!("pureftpd_mlsd.txt"));
    check(&entries, "pureftpd_mlsd.entries");
    // Numeric ids are used when no names are given.
    assert_eq!(entries[5].owner.as_deref(), Some("1012"));
    assert_eq!(entries[5].group.as_deref(), Some("1014"));
    assert_eq!(entries[5].permissions.as_deref(), Some("rw-r--r--"));
}

#[test]
fn pyftpdlib_mlsd() {
    let entries = mlsd_entries(fixture!("pyftpdlib_mlsd.txt"));
    check(&entries, "pyftpdlib_mlsd.entries");
    // Python 3's `0o755` is understood.
    assert_eq!(entries[0].permissions.as_deref(), Some("rwxr-xr-x"));
    assert_eq!(entries[1].permissions.as_deref(), Some("rw-r--r--"));
    assert_eq!(entries[1].owner.as_deref(), Some("501"));
    assert_eq!(entries[1].group.as_deref(), Some("20"));
    // Without unix.mode, the RFC 3659 perm fact is used.
    assert_eq!(entries[2].permissions.as_deref(), Some("r"));
    assert_eq!(entries[2].owner, None);
}

#[test]
fn iis_mlsd_fractional_seconds() {
    let entries = mlsd_entries(fixture!("iis_mlsd.txt"));
    let m = modified(&entries[0]);
    assert_eq!(m.precision, Precision::Subsecond);
    assert_eq!(m.at.nanosecond(), 123_000_000);
    let m = modified(&entries[1]);
    assert_eq!(m.at.nanosecond(), 500_000_000);
    assert_eq!(entries[1].size, Some(1234));
    assert_eq!(modified(&entries[2]).precision, Precision::Second);
}

#[test]
fn rfc3659_example_listing() {
    let entries = mlsd_entries(fixture!("rfc3659_mlsd.txt"));
    let kinds: Vec<(&[u8], EntryKind)> = entries
        .iter()
        .map(|e| (e.name.as_bytes(), e.kind.clone()))
        .collect();
    assert_eq!(
        kinds[..10],
        [
            (&b"test"[..], CurrentDir),
            (b"..", ParentDir),
            (b"foobar", Symlink),
            (b"device", CharDevice),
            (b"block", BlockDevice),
            (b"writable", File),
            (b"promiscuous", Dir),
            (b"no-exec", Dir),
            (b"two words", File),
            (b" leading space", File),
        ]
    );
    assert_eq!(entries.len(), 15);
    assert_eq!(entries[2].link_target, Some(RawName::from("/foobar")));
    // Fact names are case-insensitive, kept as received.
    let (k, v) = entries[5].facts().next().unwrap();
    assert!(k.eq_ignore_ascii_case(b"type"));
    assert_eq!(v, b"file");
    assert_eq!(entries[5].fact("TYPE"), Some(&b"file"[..]));
    assert_eq!(entries[5].permissions.as_deref(), Some("awr"));
    // An empty perm is no permissions.
    assert_eq!(entries[7].permissions, None);
    assert_eq!(entries[7].fact("perm"), Some(&b""[..]));
    assert!(entries
        .iter()
        .all(|e| e.size.is_none() && e.modified.is_none()));
}

#[test]
fn mlst_reply_line() {
    // MLST's entry line starts with a space (RFC 3659 §7.2.1).
    let e =
        parse_mlsx_line(b" type=file;size=1024;modify=20230102120000; /pub/file.txt\r\n").unwrap();
    assert_eq!(e.name.as_bytes(), b"/pub/file.txt");
    assert_eq!(e.size, Some(1024));
    assert_eq!(
        e.raw,
        b" type=file;size=1024;modify=20230102120000; /pub/file.txt"
    );
    // An MLSD line without facts is just " name".
    let e = parse_mlsx_line(b" plain").unwrap();
    assert_eq!((e.name.as_bytes(), e.facts().count()), (&b"plain"[..], 0));
    assert_eq!(e.kind, EntryKind::Other("unknown".into()));
    let e = parse_mlsx_line(b" no facts here").unwrap();
    assert_eq!(e.name.as_bytes(), b"no facts here");
}

#[test]
fn mlsx_details() {
    // Names may contain `=` and `;`, and even look like facts.
    let e = parse_mlsx_line(b"type=file; a=b;c=d; e").unwrap();
    assert_eq!(e.name.as_bytes(), b"a=b;c=d; e");
    // Values may contain `=` (`unique==...`), the type value is matched
    // case-insensitively, other kinds keep their lowercased word.
    let e = parse_mlsx_line(b"Type=DIR;unique==keVO1; d").unwrap();
    assert_eq!(e.kind, Dir);
    assert_eq!(e.fact("unique"), Some(&b"=keVO1"[..]));
    let e = parse_mlsx_line(b"type=OS.z/OS=pds; d").unwrap();
    assert_eq!(e.kind, EntryKind::Other("os.z/os=pds".into()));
    for (ty, kind) in [
        ("OS.unix=fifo", Pipe),
        ("os.unix=socket", Socket),
        ("OS.unix=blkdev", BlockDevice),
        ("OS.unix=chrdev", CharDevice),
        ("OS.unix=slink", Symlink),
        ("OS.unix=slink:", Symlink),
    ] {
        let line = format!("type={ty}; n");
        assert_eq!(parse_mlsx_line(line.as_bytes()).unwrap().kind, kind, "{ty}");
    }
    // The link target keeps its case and bytes.
    let e = parse_mlsx_line(b"type=OS.Unix=SLink:/Mixed/\xff; n").unwrap();
    assert_eq!(e.link_target, Some(RawName::from(b"/Mixed/\xff".to_vec())));
    // size wins over sizd; the first of a repeated fact is interpreted.
    let e = parse_mlsx_line(b"sizd=1;size=2;size=3; n").unwrap();
    assert_eq!(e.size, Some(2));
    assert_eq!(e.facts().count(), 3);
    // Invalid values are ignored, not fatal.
    let e = parse_mlsx_line(b"type=file;size=x;modify=2024;UNIX.mode=999; n").unwrap();
    assert_eq!((e.size, e.modified, e.permissions), (None, None, None));
    // Missing trailing `;` before the space is tolerated.
    let e = parse_mlsx_line(b"type=file;size=5 n").unwrap();
    assert_eq!(e.size, Some(5));
    // unix.owner beats unix.uid.
    let e = parse_mlsx_line(b"unix.uid=0;UNIX.owner=root; n").unwrap();
    assert_eq!(e.owner.as_deref(), Some("root"));
}

#[test]
fn mlsx_errors() {
    let malformed = |line: &[u8]| {
        matches!(
            parse_mlsx_line(line),
            Err(ListingError::MalformedMlsx { .. })
        )
    };
    assert!(malformed(b"type=file;size=1;"));
    assert!(malformed(b"type=file; "));
    assert!(malformed(b""));
    assert!(malformed(b" "));
    assert!(malformed(b"type;size=1; name"));
    assert!(malformed(b"=file; name"));
    assert!(malformed(b"-rw-r--r-- 1 ftp ftp 1 Nov 20 10:00 f"));
    // Error messages are informative.
    let err = parse_mlsx_line(b"nospace").unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed MLSx line: no space before the name"
    );
}

// -------------------------------------------------------- non-UTF-8 names

#[test]
fn latin1_names_round_trip() {
    let lines = list(fixture!("latin1_list.txt"));
    let names: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| match l {
            ListLine::Entry(e) => e.name.as_bytes().to_vec(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            b"caf\xe9.txt".to_vec(),
            b"r\xe9sum\xe9s".to_vec(),
            b"na\xefve.txt".to_vec(),
            b"bad\xc3(utf8".to_vec(),
        ]
    );
    let ListLine::Entry(cafe) = &lines[0] else {
        unreachable!()
    };
    assert_eq!(cafe.name.to_str(), None);
    assert_eq!(cafe.name.to_string_lossy(), "caf\u{fffd}.txt");
    assert_eq!(cafe.name.to_string(), "caf\u{fffd}.txt");
    assert_eq!(format!("{:?}", cafe.name), r#""caf\xe9.txt""#);
    // The bytes go back out unchanged.
    assert_eq!(cafe.name.clone().into_bytes(), b"caf\xe9.txt");

    let entries = mlsd_entries(fixture!("latin1_mlsd.txt"));
    assert_eq!(entries[0].name.as_bytes(), b"caf\xe9.txt");
    assert_eq!(entries[1].name.as_bytes(), b"r\xe9sum\xe9s");
    assert_eq!(entries[1].kind, Dir);
}

// ------------------------------------------------------------------ names

#[test]
fn raw_name_safety() {
    for ok in [
        &b"file.txt"[..],
        b"with space",
        b" leading",
        b"...",
        b".hidden",
        b"caf\xe9",
        b"ab:c",
        b"1:",
        b"\xe2\x80\xae",
    ] {
        assert!(RawName::from(ok).is_safe_component(), "{ok:?}");
    }
    for bad in [
        &b""[..],
        b".",
        b"..",
        b"a/b",
        b"/etc",
        b"..\\x",
        b"a\\b",
        b"nul\0",
        b"tab\t",
        b"new\nline",
        b"cr\r",
        b"del\x7f",
        b"\x1b[31m",
        b"C:",
        b"c:evil",
        b"a:b",
        b"Z:\\x",
    ] {
        assert!(!RawName::from(bad).is_safe_component(), "{bad:?}");
    }
}

#[test]
fn raw_name_conversions() {
    let n = RawName::from("dir");
    assert_eq!(n, RawName::from(b"dir".to_vec()));
    assert_eq!(n, RawName::from(String::from("dir")));
    assert_eq!(n.len(), 3);
    assert!(!n.is_empty());
    assert_eq!(n.to_str(), Some("dir"));
    assert_eq!(n.as_ref(), b"dir");
    assert_eq!(Vec::from(n), b"dir");
    assert_eq!(format!("{:?}", RawName::from("a\"b\n")), r#""a\"b\n""#);
    assert!(RawName::default().is_empty());
}

#[test]
fn entry_helpers() {
    let mut e = Entry::new(RawName::from("x"), Dir);
    assert!(e.is_dir() && !e.is_file());
    e.kind = CurrentDir;
    assert!(e.is_dir());
    e.kind = File;
    assert!(e.is_file() && !e.is_dir());
    assert_eq!(e.fact("type"), None);
}

// ------------------------------------------------------------ MDTM times

#[test]
fn mdtm_times() {
    let m = parse_mdtm_time(b"20240303140700").unwrap();
    assert_eq!(m.at, dt(2024, 3, 3, 14, 7));
    assert!(m.utc);
    assert_eq!(m.precision, Precision::Second);
    for (frac, nanos) in [
        ("1", 100_000_000),
        ("12", 120_000_000),
        ("123", 123_000_000),
        ("000001", 1_000),
        ("123456789", 123_456_789),
    ] {
        let m = parse_mdtm_time(format!("19991231235959.{frac}").as_bytes()).unwrap();
        assert_eq!(m.at.nanosecond(), nanos, "{frac}");
        assert_eq!(m.precision, Precision::Subsecond);
    }
    for bad in [
        &b""[..],
        b"2024030314070",
        b"202403031407000",
        b"20241303140700",
        b"20240003140700",
        b"20240132140700",
        b"20240431140700",
        b"20230229140700",
        b"20240303240700",
        b"20240303146000",
        b"20240303140761",
        b"20240303140700.",
        b"20240303140700.1234567890",
        b"20240303140700.12a",
        b"20240303140700 ",
        b" 20240303140700",
        b"20240303140700\r\n",
        b"2024-3-03140700",
        b"+2024030314070",
        b"20240303140700.1.2",
    ] {
        assert_eq!(
            parse_mdtm_time(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(parse_mdtm_time(b"20240229000000").is_some());
}

// ---------------------------------------------------------- LineSplitter

const MULTI: &[u8] = b"first\r\nsecond\n\r\nfourth has a \r inside\r\n\nlast without end";

fn expected_multi() -> Vec<Vec<u8>> {
    [
        &b"first"[..],
        b"second",
        b"",
        b"fourth has a \r inside",
        b"",
        b"last without end",
    ]
    .iter()
    .map(|l| l.to_vec())
    .collect()
}

fn drain(s: &mut LineSplitter, out: &mut Vec<Vec<u8>>) {
    while let Some(line) = s.next_line().unwrap() {
        out.push(line.to_vec());
    }
}

#[test]
fn splitter_every_two_chunk_split_is_equal() {
    for data in [
        MULTI,
        fixture!("vsftpd_list.txt"),
        fixture!("busybox_list.txt"),
        fixture!("latin1_list.txt"),
    ] {
        let whole = split(data);
        for cut in 0..=data.len() {
            let mut s = LineSplitter::new();
            let mut out = Vec::new();
            s.push(&data[..cut]).unwrap();
            drain(&mut s, &mut out);
            s.push(&data[cut..]).unwrap();
            drain(&mut s, &mut out);
            while let Some(line) = s.finish().unwrap() {
                out.push(line.to_vec());
            }
            assert_eq!(out, whole, "cut at {cut}");
        }
    }
    assert_eq!(split(MULTI), expected_multi());
}

#[test]
fn splitter_byte_at_a_time() {
    let mut s = LineSplitter::new();
    let mut out = Vec::new();
    for b in MULTI {
        s.push(std::slice::from_ref(b)).unwrap();
        drain(&mut s, &mut out);
    }
    assert_eq!(
        s.finish().unwrap().as_deref(),
        Some(&b"last without end"[..])
    );
    assert_eq!(s.finish().unwrap(), None);
    out.push(b"last without end".to_vec());
    assert_eq!(out, expected_multi());
    assert_eq!(s.total_bytes(), MULTI.len() as u64);
    assert_eq!(s.buffered(), 0);
}

#[test]
fn splitter_finish_edge_cases() {
    let mut s = LineSplitter::new();
    assert_eq!(s.finish().unwrap(), None);
    s.push(b"a\r").unwrap();
    assert_eq!(s.next_line().unwrap(), None);
    // A CR at end of stream is the remains of a CRLF.
    assert_eq!(s.finish().unwrap().as_deref(), Some(&b"a"[..]));
    assert_eq!(s.finish().unwrap(), None);
    // A final empty line after a terminator is not a line.
    let mut s = LineSplitter::new();
    s.push(b"x\n").unwrap();
    assert_eq!(s.finish().unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(s.finish().unwrap(), None);
    // Empty pushes are harmless.
    let mut s = LineSplitter::with_limits(2, 10);
    s.push(b"ab\r").unwrap();
    s.push(b"").unwrap();
    s.push(b"\n").unwrap();
    assert_eq!(s.next_line().unwrap().as_deref(), Some(&b"ab"[..]));
}

#[test]
fn splitter_defaults() {
    let s = LineSplitter::default();
    assert_eq!(s.max_line_len(), 8 * 1024);
    assert_eq!(s.max_total(), 64 * 1024 * 1024);
}

#[test]
fn splitter_line_length_bound() {
    // Exactly at the limit, with either terminator, is fine.
    let mut s = LineSplitter::with_limits(4, 1000);
    s.push(b"abcd\r\nabcd\nabcd").unwrap();
    assert_eq!(s.next_line().unwrap().as_deref(), Some(&b"abcd"[..]));
    assert_eq!(s.next_line().unwrap().as_deref(), Some(&b"abcd"[..]));
    assert_eq!(s.finish().unwrap().as_deref(), Some(&b"abcd"[..]));

    // A CR that may start a CRLF does not count yet.
    let mut s = LineSplitter::with_limits(4, 1000);
    s.push(b"abcd\r").unwrap();
    s.push(b"\n").unwrap();
    assert_eq!(s.next_line().unwrap().as_deref(), Some(&b"abcd"[..]));

    // One byte over in a partial line fails at push: no unbounded growth.
    let mut s = LineSplitter::with_limits(4, 1000);
    s.push(b"abc").unwrap();
    assert_eq!(s.push(b"de"), Err(ListingError::LineTooLong { max: 4 }));
    // The error is sticky.
    assert_eq!(s.next_line(), Err(ListingError::LineTooLong { max: 4 }));
    assert_eq!(s.push(b"\n"), Err(ListingError::LineTooLong { max: 4 }));
    assert_eq!(s.finish(), Err(ListingError::LineTooLong { max: 4 }));
    assert_eq!(s.buffered(), 0);

    // A CR followed by more data counts.
    let mut s = LineSplitter::with_limits(4, 1000);
    s.push(b"abcd\r").unwrap();
    assert!(s.push(b"x").is_err());

    // A complete long line inside one chunk fails when reached.
    let mut s = LineSplitter::with_limits(4, 1000);
    s.push(b"ok\ntoo long\nok\n").unwrap();
    assert_eq!(s.next_line().unwrap().as_deref(), Some(&b"ok"[..]));
    assert_eq!(s.next_line(), Err(ListingError::LineTooLong { max: 4 }));

    // At end of stream a trailing CR is dropped, so it did not count.
    let mut s = LineSplitter::with_limits(4, 1000);
    s.push(b"x\nabcd\r").unwrap();
    assert_eq!(s.finish().unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(s.finish().unwrap().as_deref(), Some(&b"abcd"[..]));
    assert_eq!(s.finish().unwrap(), None);

    // A line of many MiB is refused long before it is buffered.
    let mut s = LineSplitter::new();
    let chunk = vec![b'a'; 4096];
    let mut pushed = 0;
    let err = loop {
        match s.push(&chunk) {
            Ok(()) => pushed += 1,
            Err(e) => break e,
        }
        assert!(pushed < 10, "never failed");
    };
    assert_eq!(err, ListingError::LineTooLong { max: 8192 });
    assert_eq!(err.to_string(), "listing line longer than 8192 bytes");
}

#[test]
fn splitter_total_bound() {
    let mut s = LineSplitter::with_limits(100, 10);
    s.push(b"12345\n").unwrap();
    s.push(b"1234").unwrap();
    assert_eq!(s.total_bytes(), 10);
    let err = s.push(b"5").unwrap_err();
    assert_eq!(err, ListingError::ListingTooLarge { max: 10 });
    assert_eq!(err.to_string(), "listing larger than 10 bytes");
    assert_eq!(
        s.next_line(),
        Err(ListingError::ListingTooLarge { max: 10 })
    );
    assert_eq!(s.buffered(), 0);
}

#[test]
fn splitter_feeds_parsers_in_any_chunking() {
    let data = fixture!("proftpd_mlsd.txt");
    let whole = mlsd_entries(data);
    for chunk_size in [1, 2, 3, 7, 64, 1000] {
        let mut s = LineSplitter::new();
        let mut got = Vec::new();
        for chunk in data.chunks(chunk_size) {
            s.push(chunk).unwrap();
            while let Some(line) = s.next_line().unwrap() {
                got.push(parse_mlsx_line(&line).unwrap());
            }
        }
        while let Some(line) = s.finish().unwrap() {
            got.push(parse_mlsx_line(&line).unwrap());
        }
        assert_eq!(got, whole, "chunk size {chunk_size}");
    }
}

// ------------------------------------------------------------ properties

fn name_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_parser_panics(data in proptest::collection::vec(any::<u8>(), 0..200), year in -10_000i32..10_000) {
        let line = parse_list_line(&data, year);
        // Never silently dropped: unparsed lines keep their bytes.
        if let ListLine::Unparsed(raw) = &line {
            prop_assert!(data.starts_with(raw));
        }
        let _ = parse_unix_line(&data, year);
        let _ = parse_dos_line(&data);
        let _ = parse_mlsx_line(&data);
        let _ = parse_mdtm_time(&data);
        let _ = RawName::from(data.clone()).is_safe_component();
        let _ = format!("{:?}", RawName::from(data));
    }

    #[test]
    fn structured_noise_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(&b" "[..]), Just(&b"  "[..]), Just(&b"-rw-r--r--"[..]), Just(&b"crw-rw-rw-"[..]),
                Just(&b"lrwxrwxrwx"[..]), Just(&b"1"[..]), Just(&b"1,"[..]), Just(&b"Feb"[..]),
                Just(&b"29"[..]), Just(&b"31"[..]), Just(&b"12:00"[..]), Just(&b"2024"[..]),
                Just(&b"-> "[..]), Just(&b"<DIR>"[..]), Just(&b"02-29-24"[..]), Just(&b"12:00PM"[..]),
                Just(&b"type=file;"[..]), Just(&b"modify=20240229120000.5;"[..]),
                Just(&b"size=99999999999999999999;"[..]), Just(&b"\r"[..]), Just(&b"\xff"[..]),
                Just(&b"2012-02-29"[..]), Just(&b"total"[..]), Just(&b";"[..]), Just(&b"="[..]),
            ],
            0..16,
        ),
        year in prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(2024), Just(2023), Just(-9999)],
    ) {
        let line = parts.concat();
        let _ = parse_list_line(&line, year);
        let _ = parse_mlsx_line(&line);
        let _ = parse_dos_line(&line);
    }

    #[test]
    fn unix_names_round_trip(name in name_bytes(), size in any::<u64>()) {
        let mut line = format!("-rw-r--r--   1 ftp      ftp   {size:>8} Mar  3 14:07 ").into_bytes();
        line.extend_from_slice(&name);
        let e = parse_unix_line(&line, YEAR).unwrap();
        prop_assert_eq!(e.name.as_bytes(), &name[..]);
        prop_assert_eq!(e.size, Some(size));
        prop_assert_eq!(e.raw, line);
    }

    #[test]
    fn dos_names_round_trip(
        name in name_bytes().prop_filter("not only spaces", |n| n.iter().any(|&b| b != b' ')),
        size in any::<u64>(),
    ) {
        let mut line = format!("03-03-24  02:07PM {size:>20} ").into_bytes();
        line.extend_from_slice(&name);
        let e = parse_dos_line(&line).unwrap();
        prop_assert_eq!(e.name.as_bytes(), &name[..]);
        prop_assert_eq!(e.size, Some(size));
    }

    #[test]
    fn mlsx_names_round_trip(name in name_bytes(), size in any::<u64>(), mlst in any::<bool>()) {
        let mut line = format!(
            "{}type=file;size={size};modify=20240303140700; ",
            if mlst { " " } else { "" }
        )
        .into_bytes();
        line.extend_from_slice(&name);
        let e = parse_mlsx_line(&line).unwrap();
        prop_assert_eq!(e.name.as_bytes(), &name[..]);
        prop_assert_eq!(e.size, Some(size));
    }

    #[test]
    fn splitter_matches_reference(
        data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..300),
        cuts in proptest::collection::vec(0usize..300, 0..6),
    ) {
        // Reference: split at LF, drop one CR before it, keep a final
        // unterminated line (minus a trailing CR).
        let mut expected: Vec<Vec<u8>> = Vec::new();
        let mut rest = &data[..];
        while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..lf];
            expected.push(line.strip_suffix(b"\r").unwrap_or(line).to_vec());
            rest = &rest[lf + 1..];
        }
        if !rest.is_empty() {
            expected.push(rest.strip_suffix(b"\r").unwrap_or(rest).to_vec());
        }

        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.sort_unstable();
        let mut s = LineSplitter::with_limits(1000, 1000);
        let mut out = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([data.len()]) {
            s.push(&data[from..cut]).unwrap();
            drain(&mut s, &mut out);
            from = cut;
        }
        while let Some(line) = s.finish().unwrap() {
            out.push(line.to_vec());
        }
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn mdtm_round_trips_valid_times(
        y in 1000i32..=9999, mo in 1u8..=12, d in 1u8..=28, h in 0u8..24, mi in 0u8..60, s in 0u8..60,
        frac in proptest::option::of(1u32..=999_999_999),
    ) {
        let mut text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}");
        if let Some(f) = frac {
            text.push_str(&format!(".{f:09}"));
        }
        let m = parse_mdtm_time(text.as_bytes()).unwrap();
        prop_assert_eq!(m.at, PrimitiveDateTime::new(
            Date::from_calendar_date(y, Month::try_from(mo).unwrap(), d).unwrap(),
            Time::from_hms_nano(h, mi, s, frac.unwrap_or(0)).unwrap(),
        ));
    }
}
