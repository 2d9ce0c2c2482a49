//! Listings as `futures::Stream`s: rows are parsed as they arrive, without
//! collecting the whole listing.

use std::collections::VecDeque;

use ftpkit_control::listing::{parse_list_line, parse_mlsx_line, LineSplitter, ListLine, RawName};
use ftpkit_control::{Arg, Command};
use futures::stream::{self, Stream, StreamExt};
use tokio::io::AsyncReadExt;

use ftpkit_control::capabilities::Support;

use crate::client::Client;
use crate::client::{Download, Opened};
use crate::error::{Error, ErrorKind, Result};

/// Longest listing line (8 KiB) and largest listing (1 GiB: the stream
/// holds one buffer, not the listing).
const LINE_MAX: usize = 8 * 1024;
const LISTING_MAX: u64 = 1024 * 1024 * 1024;

/// How the listing's lines are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// As they come (a raw command, NLST).
    Raw,
    /// MLSD facts.
    Mlsd,
    /// `ls`-style LIST rows.
    List,
}

/// What to open.
enum Open {
    /// A listing command as given.
    Command(Command),
    /// A directory: MLSD or LIST, chosen as [`list_stream`] says.
    Directory(Option<Arg>),
}

enum State<'a> {
    Start(&'a mut Client, Open),
    Reading {
        dl: Box<Download<'a>>,
        format: Format,
        split: LineSplitter,
        buf: Vec<u8>,
        pending: VecDeque<Vec<u8>>,
        eof: bool,
    },
    Done,
}

fn too_large(e: ftpkit_control::listing::ListingError) -> Error {
    Error::new(ErrorKind::Protocol, format!("listing: {e}"))
}

/// Whether a server that hands the `LIST` argument to `ls` would
/// take `path` for several arguments or an option
/// (INETUTILS-LIST-SPLITS-ARGUMENT): such paths are listed from inside.
fn needs_detour(path: &[u8]) -> bool {
    path.contains(&b' ') || path.first() == Some(&b'-')
}

/// Keeps a listing's detour held while its data connection opens (a
/// renewal then returns into the directory), and releases it however the
/// opening ends, cancellation included.
struct HeldDetour<'c>(&'c mut Client);

impl Drop for HeldDetour<'_> {
    fn drop(&mut self) {
        self.0.release_detour();
    }
}

/// `cmd` (a listing command without argument) from inside `into`.
async fn open_inside(client: &mut Client, into: Arg, cmd: Command) -> Result<Opened> {
    client.begin_detour(into).await?;
    let held = HeldDetour(client);
    held.0.open_data(cmd, None).await
}

/// Opens the data connection of a listing; returns how to read its lines.
async fn open_listing(client: &mut Client, what: Open) -> Result<(Opened, Format)> {
    match what {
        Open::Command(cmd) => Ok((client.open_data(cmd, None).await?, Format::Raw)),
        Open::Directory(arg) => {
            if client.support("MLSD") != Support::No {
                match client.open_data(Command::Mlsd(arg.clone()), None).await {
                    Ok(o) => return Ok((o, Format::Mlsd)),
                    // The server said it has no MLSD (learned for the
                    // session): LIST instead.
                    Err(e) if client.support("MLSD") == Support::No => {
                        tracing::debug!(error = %e, "no MLSD; listing with LIST");
                    }
                    Err(e) => return Err(e),
                }
            }
            match arg {
                Some(a) if needs_detour(a.as_bytes()) => Ok((
                    open_inside(client, a, Command::List(None)).await?,
                    Format::List,
                )),
                arg => Ok((
                    client.open_data(Command::List(arg), None).await?,
                    Format::List,
                )),
            }
        }
    }
}

/// The lines of a listing with how to read them, as they arrive.
fn lines_of(
    client: &mut Client,
    what: Open,
) -> impl Stream<Item = Result<(Format, Vec<u8>)>> + Send + '_ {
    stream::unfold(State::Start(client, what), |mut st| async move {
        loop {
            match st {
                State::Done => return None,
                State::Start(client, what) => match open_listing(client, what).await {
                    Ok((opened, format)) => {
                        st = State::Reading {
                            dl: Box::new(Download::new(client, opened.stream, opened.info)),
                            format,
                            split: LineSplitter::with_limits(LINE_MAX, LISTING_MAX),
                            buf: vec![0u8; 64 * 1024],
                            pending: VecDeque::new(),
                            eof: false,
                        };
                    }
                    Err(e) => return Some((Err(e), State::Done)),
                },
                State::Reading {
                    mut dl,
                    format,
                    mut split,
                    mut buf,
                    mut pending,
                    eof,
                } => {
                    if let Some(line) = pending.pop_front() {
                        let next = State::Reading {
                            dl,
                            format,
                            split,
                            buf,
                            pending,
                            eof,
                        };
                        return Some((Ok((format, line)), next));
                    }
                    if eof {
                        return None;
                    }
                    let n = match dl.read(&mut buf).await {
                        Ok(n) => n,
                        Err(e) => return Some((Err(Error::from_io_error(e)), State::Done)),
                    };
                    let fed = if n == 0 {
                        let mut r = Ok(());
                        loop {
                            match split.finish() {
                                Ok(Some(l)) => pending.push_back(l.to_vec()),
                                Ok(None) => break,
                                Err(e) => {
                                    r = Err(e);
                                    break;
                                }
                            }
                        }
                        r
                    } else {
                        split.push(buf.get(..n).unwrap_or_default()).and_then(|()| {
                            while let Some(l) = split.next_line()? {
                                pending.push_back(l.to_vec());
                            }
                            Ok(())
                        })
                    };
                    if let Err(e) = fed {
                        return Some((Err(too_large(e)), State::Done));
                    }
                    st = State::Reading {
                        dl,
                        format,
                        split,
                        buf,
                        pending,
                        eof: n == 0,
                    };
                }
            }
        }
    })
}

/// The raw lines (terminators removed) of a listing command, as they
/// arrive. The stream borrows the client; dropping it early aborts the
/// listing on the client's next call. An error ends the stream.
pub fn line_stream(
    client: &mut Client,
    cmd: Command,
) -> impl Stream<Item = Result<Vec<u8>>> + Send + '_ {
    lines_of(client, Open::Command(cmd)).map(|r| r.map(|(_, l)| l))
}

/// A directory listing as a stream of rows, parsed as they arrive (the
/// memory held is one buffer, whatever the listing's size): the one
/// listing routine of the library, the CLI and mirror.
/// - `MLSD` when the server implements it: FEAT lists `MLST`, or FEAT was
///   refused and `MLSD` has not answered `500`/`502` yet (it is tried, and
///   the answer kept: [`Client::support`]). Otherwise `LIST`.
/// - A `LIST` of a path with a space or a leading `-` is made from inside
///   the directory (`CWD`, `LIST` with no argument), because servers that
///   run `ls` split the argument (INETUTILS-LIST-SPLITS-ARGUMENT); the next
///   call on the client changes back.
/// - Rows no parser understands (an `ls` error message, a malformed MLSD
///   line) come as [`ListLine::Unparsed`], never as entries. Blank and
///   `total` rows are left out. Inferred years of `LIST` rows are resolved
///   against today's date.
pub fn list_stream<'a>(
    client: &'a mut Client,
    path: Option<&str>,
) -> impl Stream<Item = Result<ListLine>> + Send + 'a {
    list_stream_arg(client, path.map(Arg::from))
}

/// [`list_stream`] with the path as raw bytes (names that are not UTF-8).
pub fn list_stream_arg(
    client: &mut Client,
    arg: Option<Arg>,
) -> impl Stream<Item = Result<ListLine>> + Send + '_ {
    let today = time::OffsetDateTime::now_utc().date();
    lines_of(client, Open::Directory(arg)).filter_map(move |line| {
        let item = match line {
            Err(e) => Some(Err(e)),
            Ok((_, l)) if l.is_empty() => None,
            Ok((Format::Mlsd, l)) => Some(Ok(match parse_mlsx_line(&l) {
                Ok(e) => ListLine::Entry(e),
                Err(_) => ListLine::Unparsed(l),
            })),
            Ok((_, l)) => match parse_list_line(&l, today.year()) {
                ListLine::Skip => None,
                ListLine::Entry(mut e) => {
                    e.modified = e.modified.map(|m| m.resolve_year(today));
                    Some(Ok(ListLine::Entry(e)))
                }
                other => Some(Ok(other)),
            },
        };
        std::future::ready(item)
    })
}

/// `NLST` as a stream of names (blank lines left out). The path is sent as
/// given: `NLST` with no argument is refused by some servers
/// (TWISTED-NLST-NEEDS-ARGUMENT), and `ls`-based servers prefix the names
/// with the argument rather than split it.
pub fn nlst_stream<'a>(
    client: &'a mut Client,
    path: Option<&str>,
) -> impl Stream<Item = Result<RawName>> + Send + 'a {
    lines_of(client, Open::Command(Command::Nlst(path.map(Arg::from)))).filter_map(|line| {
        std::future::ready(match line {
            Ok((_, l)) if l.is_empty() => None,
            other => Some(other.map(|(_, l)| RawName::from(l))),
        })
    })
}
