//! [`TlsData`]: the client side of TLS on a data connection, driven through
//! rustls's unbuffered API.
//!
//! Received TLS bytes go from the socket straight into one buffer, where
//! rustls decrypts them in place. rustls 0.23 then moves each decrypted
//! record into a buffer of its own (`ReadTraffic` holds the record it hands
//! out), and the record is copied from there into the reader's buffer: two
//! copies of the plaintext. The buffered `ClientConnection` behind
//! tokio-rustls made three (from a read buffer into rustls's, then the same
//! two), and a read call per 16 KiB record without the read buffer.
//! Outgoing data is encrypted into one buffer that goes to the socket as it
//! is.
//!
//! The guarantees are those of the buffered stack: a read returns end of
//! data only after the server's `close_notify`, and a TCP end without it is
//! [`io::ErrorKind::UnexpectedEof`] (a possibly truncated download); a
//! shutdown sends `close_notify` before the FIN; TLS 1.3 tickets that arrive
//! on the data connection reach the session's store.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, InsufficientSizeError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The buffer received TLS bytes land in, and are decrypted in.
pub const TLS_READ_BUFFER: usize = 128 * 1024;

/// Plaintext encrypted per write at most.
const WRITE_CHUNK: usize = 128 * 1024;

/// Room for one record's header, tag and padding, beyond its plaintext.
const RECORD_OVERHEAD: usize = 64;

/// The largest TLS record on the wire (RFC 8446, 5.2): a read always leaves
/// room for at least one.
const MAX_RECORD: usize = 5 + 16384 + 256;

/// Most decrypted bytes held for later when no reader asked for them (data
/// the server sends during an upload, or with its last handshake flight).
const STASH_LIMIT: usize = TLS_READ_BUFFER + MAX_RECORD;

/// A TLS client connection over TCP, for one data connection.
pub struct TlsData {
    tcp: TcpStream,
    conn: UnbufferedClientConnection,
    incoming: Incoming,
    outgoing: Outgoing,
    /// Decrypted bytes no reader has taken yet, from `stash_pos`.
    stash: Vec<u8>,
    stash_pos: usize,
    /// The server's `close_notify` arrived.
    peer_closed: bool,
    /// Our `close_notify` is queued.
    close_queued: bool,
    /// The socket reached its end.
    tcp_eof: bool,
    /// A socket error met after data was handed to the reader: the next
    /// read returns it.
    failed: Option<io::Error>,
}

impl std::fmt::Debug for TlsData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsData")
            .field("tcp", &self.tcp)
            .field("peer_closed", &self.peer_closed)
            .field("close_queued", &self.close_queued)
            .field("tcp_eof", &self.tcp_eof)
            .finish_non_exhaustive()
    }
}

/// Received TLS bytes: `buf[start..end]` are not yet processed.
struct Incoming {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

/// Encoded TLS bytes: `buf[start..end]` are not yet sent. The buffer
/// keeps its length (zeroed once, as it grows), so encoding into it costs
/// no clearing.
struct Outgoing {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// What one call of rustls came to.
enum Turn {
    /// Something was done (a record encoded, a close noted): call again.
    Again,
    /// Decrypted bytes went to the reader.
    Delivered,
    /// The plaintext given was encrypted, this many bytes of it.
    Encrypted(usize),
    /// Our `close_notify` is queued.
    CloseQueued,
    /// rustls needs more bytes from the server.
    NeedInput,
    /// Nothing to do: the handshake is over and no data is waiting.
    Idle,
    /// Both sides sent `close_notify`.
    Closed,
}

/// What the caller of [`TlsData::turn`] wants done in this turn.
enum Intent<'a, 'b> {
    /// Decrypted data goes here.
    Read(&'a mut ReadBuf<'b>),
    /// This plaintext is to be encrypted.
    Write(&'a [u8]),
    /// Our `close_notify` is to be queued.
    Close,
    /// Only progress (handshake, post-handshake messages).
    Progress,
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Outgoing {
    /// What is encoded and not yet sent.
    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Appends what `encode` writes into at least `room` bytes of spare
    /// room, growing it as `encode` asks.
    fn append<E>(
        &mut self,
        room: usize,
        mut encode: impl FnMut(&mut [u8]) -> Result<usize, E>,
        required: impl Fn(&E) -> Option<usize>,
    ) -> Result<(), E> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let mut room = room;
        loop {
            if self.buf.len() < self.end + room {
                self.buf.resize(self.end + room, 0);
            }
            match encode(self.buf.get_mut(self.end..).unwrap_or_default()) {
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) => match required(&e) {
                    Some(need) if need > room => room = need,
                    _ => return Err(e),
                },
            }
        }
    }
}

fn encode_size(e: &EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}

fn encrypt_size(e: &EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}

fn encode_failed(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("TLS record encoding failed: {e}"))
}

impl TlsData {
    /// Makes the TLS handshake on `tcp` as `config` says (which shares the
    /// control session's store, so the handshake resumes it).
    pub async fn connect(
        tcp: TcpStream,
        config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
    ) -> io::Result<Self> {
        let conn = UnbufferedClientConnection::new(config, server_name).map_err(invalid)?;
        let mut tls = TlsData {
            tcp,
            conn,
            incoming: Incoming {
                buf: vec![0u8; TLS_READ_BUFFER].into_boxed_slice(),
                start: 0,
                end: 0,
            },
            outgoing: Outgoing {
                buf: Vec::new(),
                start: 0,
                end: 0,
            },
            stash: Vec::new(),
            stash_pos: 0,
            peer_closed: false,
            close_queued: false,
            tcp_eof: false,
            failed: None,
        };
        match std::future::poll_fn(|cx| tls.poll_handshake(cx)).await {
            Ok(()) => Ok(tls),
            Err(e) => {
                tls.send_alert();
                Err(e)
            }
        }
    }

    /// The socket.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The TLS state (version, cipher suite, how the handshake went).
    pub fn state(&self) -> &rustls::CommonState {
        &self.conn
    }

    /// Drives the handshake until application data may flow.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_send(cx))?;
            match self.turn(&mut Intent::Progress)? {
                Turn::Again | Turn::Delivered => {}
                Turn::NeedInput | Turn::Idle | Turn::Closed if self.conn.is_handshaking() => {
                    if self.tcp_eof {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the data connection during the TLS handshake",
                        )));
                    }
                    ready!(self.poll_receive(cx))?;
                }
                _ => return self.poll_send(cx),
            }
        }
    }

    /// After a failed handshake: sends the alert rustls queued (a rejected
    /// certificate, say), if the socket takes it at once.
    fn send_alert(&mut self) {
        for _ in 0..4 {
            if !matches!(self.turn(&mut Intent::Progress), Ok(Turn::Again)) {
                break;
            }
        }
        let _ = self.tcp.try_write(self.outgoing.pending());
    }

    /// One call of rustls on the received bytes, handled as `intent` says.
    fn turn(&mut self, intent: &mut Intent<'_, '_>) -> io::Result<Turn> {
        let Incoming { buf, start, end } = &mut self.incoming;
        let status = self
            .conn
            .process_tls_records(buf.get_mut(*start..*end).unwrap_or_default());
        let mut discard = status.discard;
        let turn = match status.state.map_err(invalid)? {
            ConnectionState::ReadTraffic(mut records) => {
                let mut delivered = false;
                loop {
                    if let Intent::Read(out) = intent {
                        // Once something is delivered, a record that does
                        // not fit waits for the next read.
                        let fits = records
                            .peek_len()
                            .is_some_and(|n| n.get() <= out.remaining());
                        if delivered && !fits {
                            break;
                        }
                    }
                    let Some(record) = records.next_record() else {
                        break;
                    };
                    let record = record.map_err(invalid)?;
                    discard += record.discard;
                    let payload = record.payload;
                    match intent {
                        Intent::Read(out) => {
                            let n = payload.len().min(out.remaining());
                            let (now, later) = payload.split_at(n);
                            out.put_slice(now);
                            self.stash.extend_from_slice(later);
                            delivered = true;
                        }
                        _ => self.stash.extend_from_slice(payload),
                    }
                    if self.stash.len() > STASH_LIMIT {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "the server sent data on the data connection that nobody reads",
                        ));
                    }
                }
                if delivered {
                    Turn::Delivered
                } else {
                    Turn::Again
                }
            }
            ConnectionState::EncodeTlsData(mut e) => {
                self.outgoing
                    .append(RECORD_OVERHEAD, |out| e.encode(out), encode_size)
                    .map_err(encode_failed)?;
                Turn::Again
            }
            // The encoded records stay in `outgoing` until sent: every
            // wait for the server sends them first.
            ConnectionState::TransmitTlsData(t) => {
                t.done();
                Turn::Again
            }
            ConnectionState::BlockedHandshake => Turn::NeedInput,
            ConnectionState::PeerClosed => {
                self.peer_closed = true;
                Turn::Again
            }
            ConnectionState::Closed => {
                self.peer_closed = true;
                Turn::Closed
            }
            ConnectionState::WriteTraffic(mut w) => match intent {
                Intent::Write(data) => {
                    let room = data.len() + (data.len() / 16384 + 1) * RECORD_OVERHEAD;
                    self.outgoing
                        .append(room, |out| w.encrypt(data, out), encrypt_size)
                        .map_err(encode_failed)?;
                    Turn::Encrypted(data.len())
                }
                Intent::Close => {
                    self.outgoing
                        .append(
                            RECORD_OVERHEAD,
                            |out| w.queue_close_notify(out),
                            encrypt_size,
                        )
                        .map_err(encode_failed)?;
                    self.close_queued = true;
                    Turn::CloseQueued
                }
                Intent::Read(_) | Intent::Progress => Turn::Idle,
            },
            _ => {
                return Err(io::Error::other(
                    "unexpected TLS state on a client data connection",
                ))
            }
        };
        *start += discard;
        if *start == *end {
            *start = 0;
            *end = 0;
        }
        Ok(turn)
    }

    /// Reads from the socket into the free end of the buffer.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let inc = &mut self.incoming;
        if inc.buf.len() - inc.end < MAX_RECORD {
            // Move the unprocessed part (less than a record, once rustls
            // has taken the whole ones) to the front.
            inc.buf.copy_within(inc.start..inc.end, 0);
            inc.end -= inc.start;
            inc.start = 0;
        }
        let mut rb = ReadBuf::new(inc.buf.get_mut(inc.end..).unwrap_or_default());
        if rb.remaining() == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS message larger than the data connection's read buffer",
            )));
        }
        ready!(Pin::new(&mut self.tcp).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            self.tcp_eof = true;
        }
        inc.end += n;
        Poll::Ready(Ok(()))
    }

    /// Sends everything encoded.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.outgoing.pending().is_empty() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, self.outgoing.pending()))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.outgoing.start += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Lets rustls handle what arrived (post-handshake messages), encoding
    /// what it answers, until it is idle.
    fn settle(&mut self) -> io::Result<()> {
        loop {
            match self.turn(&mut Intent::Progress)? {
                Turn::Again | Turn::Delivered => {}
                _ => return Ok(()),
            }
        }
    }
}

impl AsyncRead for TlsData {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if let Some(held) = this.stash.get(this.stash_pos..).filter(|h| !h.is_empty()) {
            let n = held.len().min(buf.remaining());
            buf.put_slice(held.get(..n).unwrap_or_default());
            this.stash_pos += n;
            if this.stash_pos == this.stash.len() {
                this.stash.clear();
                this.stash_pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = this.failed.take() {
            return Poll::Ready(Err(e));
        }
        // Fills the reader's buffer with every record at hand, reading the
        // socket while it has bytes, and returns when it would wait.
        let mut delivered = false;
        loop {
            // Answers rustls owes (a key update) go out without holding up
            // the reading.
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
            match this.turn(&mut Intent::Read(buf))? {
                Turn::Delivered => {
                    delivered = true;
                    if buf.remaining() < MAX_RECORD {
                        return Poll::Ready(Ok(()));
                    }
                }
                Turn::Closed => return Poll::Ready(Ok(())),
                Turn::Again => {}
                _ if this.peer_closed || (delivered && this.tcp_eof) => return Poll::Ready(Ok(())),
                _ if this.tcp_eof => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the data connection without TLS close_notify",
                    )))
                }
                _ => match this.poll_receive(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) if delivered => {
                        // What arrived goes to the reader now; the next
                        // read fails.
                        this.failed = Some(e);
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending if delivered => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

impl AsyncWrite for TlsData {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.close_queued {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let chunk = data.get(..data.len().min(WRITE_CHUNK)).unwrap_or(data);
        loop {
            match this.turn(&mut Intent::Write(chunk))? {
                Turn::Encrypted(n) => {
                    // Sent as far as the socket takes it now; the rest goes
                    // before the next write, or at flush.
                    if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                        return Poll::Ready(Err(e));
                    }
                    return Poll::Ready(Ok(n));
                }
                Turn::Again | Turn::Delivered => {}
                _ => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.settle()?;
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while !this.close_queued {
            match this.turn(&mut Intent::Close)? {
                Turn::Again | Turn::Delivered => {}
                // Closed already, or never open: nothing to say.
                _ => break,
            }
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
