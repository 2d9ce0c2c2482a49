//! Listings as `futures::Stream`s: rows are parsed as they arrive, without
//! collecting the whole listing.

use std::collections::VecDeque;

use ftpkit_control::listing::{parse_list_line, parse_mlsx_line, LineSplitter, ListLine, RawName};
use ftpkit_control::{Arg, Command};
use futures::stream::{self, Stream, StreamExt};
use tokio::io::AsyncReadExt;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::Download;

/// Longest listing line (8 KiB) and largest listing (1 GiB: the stream
/// holds one buffer, not the listing).
const LINE_MAX: usize = 8 * 1024;
const LISTING_MAX: u64 = 1024 * 1024 * 1024;

enum State<'a> {
    Start(&'a mut Client, Command),
    Reading {
        dl: Box<Download<'a>>,
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

/// The raw lines (terminators removed) of a listing command, as they
/// arrive. The stream borrows the client; dropping it early aborts the
/// listing on the client's next call. An error ends the stream.
pub fn line_stream(
    client: &mut Client,
    cmd: Command,
) -> impl Stream<Item = Result<Vec<u8>>> + Send + '_ {
    stream::unfold(State::Start(client, cmd), |mut st| async move {
        loop {
            match st {
                State::Done => return None,
                State::Start(client, cmd) => match client.open_data(cmd, None).await {
                    Ok(opened) => {
                        st = State::Reading {
                            dl: Box::new(Download::new(client, opened.stream, opened.info)),
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
                    mut split,
                    mut buf,
                    mut pending,
                    eof,
                } => {
                    if let Some(line) = pending.pop_front() {
                        let next = State::Reading {
                            dl,
                            split,
                            buf,
                            pending,
                            eof,
                        };
                        return Some((Ok(line), next));
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

/// A directory listing as a stream of rows: `MLSD` when the server's FEAT
/// lists `MLST` (each entry as [`ListLine::Entry`]; a malformed line is an
/// error item and the stream goes on), else `LIST` parsed like
/// [`Client::list`] (blank and `total` rows left out).
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
    let mlsd = client.features().supports_mlsx();
    let cmd = if mlsd {
        Command::Mlsd(arg)
    } else {
        Command::List(arg)
    };
    let year = super::current_year();
    line_stream(client, cmd).filter_map(move |line| {
        let item = match line {
            Err(e) => Some(Err(e)),
            Ok(l) if mlsd => (!l.is_empty()).then(|| {
                parse_mlsx_line(&l)
                    .map(ListLine::Entry)
                    .map_err(|e| Error::new(ErrorKind::Protocol, format!("MLSD line: {e}")))
            }),
            Ok(l) => match parse_list_line(&l, year) {
                ListLine::Skip => None,
                other => Some(Ok(other)),
            },
        };
        std::future::ready(item)
    })
}

/// `NLST` as a stream of names (blank lines left out).
pub fn nlst_stream<'a>(
    client: &'a mut Client,
    path: Option<&str>,
) -> impl Stream<Item = Result<RawName>> + Send + 'a {
    let cmd = Command::Nlst(path.map(Arg::from));
    line_stream(client, cmd).filter_map(|line| {
        std::future::ready(match line {
            Ok(l) if l.is_empty() => None,
            other => Some(other.map(RawName::from)),
        })
    })
}
