//! Parser benchmarks of issue #6: ftpkit's reply decoder, and its Unix
//! `LIST`, DOS `LIST` and `MLSD` parsers beside suppaftp's
//! (`suppaftp::list::ListParser::{parse_posix, parse_dos, parse_mlsd}`),
//! each on the same generated 100,000-line input. Both sides get the lines
//! already split (no line ending), ftpkit as bytes, suppaftp as `&str`.
//! Throughput is in lines (criterion "elements") per second.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ftpkit_control::listing::{
    parse_dos_line, parse_dos_ref, parse_mlsx_line, parse_mlsx_ref, parse_unix_line, parse_unix_ref,
};
use ftpkit_control::reply::{DecoderLimits, ReplyDecoder};
use suppaftp::list::ListParser;

const LINES: usize = 100_000;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A cheap deterministic sequence, so sizes and dates vary.
fn mix(i: usize) -> u64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x
}

fn unix_lines() -> Vec<String> {
    (0..LINES)
        .map(|i| {
            let r = mix(i);
            let month = MONTHS[(r % 12) as usize];
            let day = 1 + (r >> 8) % 28;
            let size = (r >> 16) % 50_000_000;
            let dir = i % 10 == 0;
            let (mode, kind) = if dir {
                ("drwxr-xr-x", "dir")
            } else {
                ("-rw-r--r--", "file")
            };
            if i % 2 == 0 {
                let (h, m) = ((r >> 40) % 24, (r >> 48) % 60);
                format!("{mode}    1 ftp      ftp      {size:>10} {month} {day:>2} {h:02}:{m:02} {kind}-{i:06}.bin")
            } else {
                let year = 2000 + (r >> 40) % 24;
                format!("{mode}    1 1000     1000     {size:>10} {month} {day:>2}  {year} {kind}-{i:06}.bin")
            }
        })
        .collect()
}

fn dos_lines() -> Vec<String> {
    (0..LINES)
        .map(|i| {
            let r = mix(i);
            let (mo, d, y) = (1 + r % 12, 1 + (r >> 8) % 28, (r >> 16) % 30);
            let (h, m) = (1 + (r >> 24) % 12, (r >> 32) % 60);
            let ampm = if i % 2 == 0 { "AM" } else { "PM" };
            if i % 10 == 0 {
                format!(
                    "{mo:02}-{d:02}-{y:02}  {h:02}:{m:02}{ampm}       <DIR>          dir-{i:06}"
                )
            } else {
                let size = (r >> 40) % 50_000_000;
                format!(
                    "{mo:02}-{d:02}-{y:02}  {h:02}:{m:02}{ampm}       {size:>12} file-{i:06}.bin"
                )
            }
        })
        .collect()
}

fn mlsd_lines() -> Vec<String> {
    (0..LINES)
        .map(|i| {
            let r = mix(i);
            let (y, mo, d) = (2000 + r % 24, 1 + (r >> 8) % 12, 1 + (r >> 16) % 28);
            let (h, mi, s) = ((r >> 24) % 24, (r >> 32) % 60, (r >> 40) % 60);
            if i % 10 == 0 {
                format!("type=dir;modify={y}{mo:02}{d:02}{h:02}{mi:02}{s:02};UNIX.mode=0755;UNIX.uid=1000;UNIX.gid=1000; dir-{i:06}")
            } else {
                let size = (r >> 44) % 50_000_000;
                format!("type=file;size={size};modify={y}{mo:02}{d:02}{h:02}{mi:02}{s:02};UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=1000; file-{i:06}.bin")
            }
        })
        .collect()
}

/// A control-connection transcript of 100,000 lines: single-line replies
/// and multi-line FEAT-style replies.
fn reply_stream() -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut lines = 0;
    let mut i = 0;
    while lines < LINES {
        if i % 10 == 9 {
            out.extend_from_slice(b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n");
            lines += 10;
        } else {
            out.extend_from_slice(
                format!(
                    "227 Entering Passive Mode (127,0,0,1,{},{}).\r\n",
                    83 + i % 50,
                    i % 256
                )
                .as_bytes(),
            );
            lines += 1;
        }
        i += 1;
    }
    (out, lines)
}

fn bench_parsers(c: &mut Criterion) {
    // Every line must parse on both sides: error paths are not measured.
    let unix = unix_lines();
    let dos = dos_lines();
    let mlsd = mlsd_lines();
    for l in &unix {
        assert!(parse_unix_line(l.as_bytes(), 2026).is_some(), "ftpkit: {l}");
        assert!(ListParser::parse_posix(l).is_ok(), "suppaftp: {l}");
    }
    for l in &dos {
        assert!(parse_dos_line(l.as_bytes()).is_some(), "ftpkit: {l}");
        assert!(ListParser::parse_dos(l).is_ok(), "suppaftp: {l}");
    }
    for l in &mlsd {
        assert!(parse_mlsx_line(l.as_bytes()).is_ok(), "ftpkit: {l}");
        assert!(ListParser::parse_mlsd(l).is_ok(), "suppaftp: {l}");
    }

    let (stream, reply_lines) = reply_stream();
    let mut g = c.benchmark_group("reply_decoder");
    g.throughput(Throughput::Elements(reply_lines as u64));
    g.bench_function("ftpkit", |b| {
        b.iter(|| {
            let mut d = ReplyDecoder::new(DecoderLimits::default());
            d.push(black_box(&stream));
            let mut n = 0usize;
            while let Some(r) = d.decode().unwrap() {
                n += r.lines().len();
            }
            assert_eq!(n, reply_lines);
        });
    });
    g.finish();

    // ftpkit's parsers as a program that keeps the rows would call them:
    // the borrowed entry (`parse_*_ref`, no allocation), and the owned
    // `Entry` (`parse_*_line`: the borrowed one, then `Entry::from`).
    type Parse = fn(&str) -> bool;
    type Case<'a> = (&'a str, &'a [String], Parse, Parse, Parse);
    let cases: [Case<'_>; 3] = [
        (
            "list_unix",
            &unix,
            |l| black_box(parse_unix_ref(l.as_bytes(), 2026)).is_some(),
            |l| black_box(parse_unix_line(l.as_bytes(), 2026)).is_some(),
            |l| black_box(ListParser::parse_posix(l)).is_ok(),
        ),
        (
            "list_dos",
            &dos,
            |l| black_box(parse_dos_ref(l.as_bytes())).is_some(),
            |l| black_box(parse_dos_line(l.as_bytes())).is_some(),
            |l| black_box(ListParser::parse_dos(l)).is_ok(),
        ),
        (
            "mlsd",
            &mlsd,
            |l| black_box(parse_mlsx_ref(l.as_bytes())).is_ok(),
            |l| black_box(parse_mlsx_line(l.as_bytes())).is_ok(),
            |l| black_box(ListParser::parse_mlsd(l)).is_ok(),
        ),
    ];
    for (name, lines, ours, owned, theirs) in cases {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(lines.len() as u64));
        for (tool, parse) in [("ftpkit", ours), ("ftpkit owned", owned), ("suppaftp", theirs)] {
            g.bench_function(tool, |b| {
                b.iter(|| lines.iter().filter(|l| parse(black_box(l))).count());
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = parsers;
    config = Criterion::default().sample_size(10);
    targets = bench_parsers
}
criterion_main!(parsers);
