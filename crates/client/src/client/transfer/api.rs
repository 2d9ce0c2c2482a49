//! The transfer methods of [`Client`].

use std::time::SystemTime;

use ftpkit_control::listing::{
    parse_list_line, parse_mlsx_line, Entry, LineSplitter, ListLine, RawName,
};
use ftpkit_control::{Arg, Command, Event};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::{Download, TransferInfo, Upload};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

use crate::ops::COPY_BUFFER;

/// Most bytes a listing may have (64 MiB) and longest line (8 KiB).
const LISTING_MAX: u64 = 64 * 1024 * 1024;
const LISTING_LINE_MAX: usize = 8 * 1024;

impl Client {
    /// `RETR`: starts a download.
    pub async fn retr(&mut self, path: impl Into<Arg>) -> Result<Download<'_>> {
        self.retr_from(path, 0).await
    }

    /// `REST offset` + `RETR`: starts a download at `offset` (resume).
    pub async fn retr_from(&mut self, path: impl Into<Arg>, offset: u64) -> Result<Download<'_>> {
        let opened = self
            .open_data(Command::Retr(path.into()), Some(offset))
            .await?;
        Ok(Download::new(self, opened.stream, opened.info))
    }

    /// `STOR`: starts an upload, replacing the file.
    pub async fn stor(&mut self, path: impl Into<Arg>) -> Result<Upload<'_>> {
        let opened = self.open_data(Command::Stor(path.into()), None).await?;
        Ok(Upload::new(self, opened.stream, opened.info, None))
    }

    /// Resumes an upload at `offset`: `REST offset` + `STOR` when the server
    /// announces `REST STREAM`, otherwise `APPE` (the server's file must then
    /// be exactly `offset` bytes long). Write the bytes from `offset` on.
    pub async fn stor_from(&mut self, path: impl Into<Arg>, offset: u64) -> Result<Upload<'_>> {
        if offset == 0 {
            return self.stor(path).await;
        }
        let cmd = if self.features().supports_rest_stream() {
            (Command::Stor(path.into()), Some(offset))
        } else {
            (Command::Appe(path.into()), None)
        };
        let opened = self.open_data(cmd.0, cmd.1).await?;
        Ok(Upload::new(self, opened.stream, opened.info, None))
    }

    /// `APPE`: appends to a file.
    pub async fn appe(&mut self, path: impl Into<Arg>) -> Result<Upload<'_>> {
        let opened = self.open_data(Command::Appe(path.into()), None).await?;
        Ok(Upload::new(self, opened.stream, opened.info, None))
    }

    /// `STOU`: uploads under a name the server chooses; see
    /// [`Upload::unique_name`].
    pub async fn stou(&mut self) -> Result<Upload<'_>> {
        let opened = self.open_data(Command::Stou, None).await?;
        let name = opened
            .info
            .mark
            .as_ref()
            .and_then(|m| stou_name(m.first_line()));
        Ok(Upload::new(self, opened.stream, opened.info, name))
    }

    /// `ABOR` on its own (no transfer in progress): returns the replies.
    pub async fn abort(&mut self) -> Result<Vec<ftpkit_control::Reply>> {
        self.ready().await?;
        self.control.session.abort()?;
        loop {
            if let Event::Aborted(r) = self.control.next_event().await? {
                return Ok(r);
            }
        }
    }

    /// Runs a listing command and returns its lines (line endings removed),
    /// bounded to 64 MiB and 8 KiB a line.
    pub async fn list_lines(&mut self, cmd: Command) -> Result<Vec<Vec<u8>>> {
        let opened = self.open_data(cmd, None).await?;
        let mut dl = Download::new(self, opened.stream, opened.info);
        let mut split = LineSplitter::with_limits(LISTING_LINE_MAX, LISTING_MAX);
        let mut lines = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let too_large = |e| Error::new(ErrorKind::Protocol, format!("listing: {e}"));
        loop {
            let n = dl.read(&mut buf).await.map_err(Error::from_io_error)?;
            if n == 0 {
                break;
            }
            split
                .push(buf.get(..n).unwrap_or_default())
                .map_err(too_large)?;
            while let Some(l) = split.next_line().map_err(too_large)? {
                lines.push(l.to_vec());
            }
        }
        while let Some(l) = split.finish().map_err(too_large)? {
            lines.push(l.to_vec());
        }
        Ok(lines)
    }

    /// A directory's rows through the library's one listing routine
    /// ([`ops::list_stream`](crate::ops::list_stream): MLSD or LIST as the
    /// server can, paths with a space listed from inside, rows no parser
    /// understands as [`ListLine::Unparsed`]), collected.
    ///
    /// Bounded: at most [`LIST_DIR_MAX_ROWS`] rows, beyond which the call
    /// fails with [`ErrorKind::Protocol`]. A row held costs about 260 bytes
    /// plus its length (the parsed [`Entry`] keeps the raw line), so a
    /// million one-byte names take about 300 MB: for listings that large,
    /// [`ops::list_stream`](crate::ops::list_stream) holds one buffer
    /// whatever the size.
    pub async fn list_dir(&mut self, path: Option<&str>) -> Result<Vec<ListLine>> {
        use futures::StreamExt;
        let mut rows = Vec::new();
        let mut stream = Box::pin(crate::ops::list_stream(self, path));
        while let Some(row) = stream.next().await {
            if rows.len() >= LIST_DIR_MAX_ROWS {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("listing of more than {LIST_DIR_MAX_ROWS} rows: use ops::list_stream"),
                ));
            }
            rows.push(row?);
        }
        Ok(rows)
    }

    /// `LIST`, parsed (Unix and DOS formats). Rows no parser understands
    /// come back as [`ListLine::Unparsed`].
    pub async fn list(&mut self, path: Option<&str>) -> Result<Vec<ListLine>> {
        let lines = self.list_lines(Command::List(path.map(Arg::from))).await?;
        let year = current_year();
        Ok(lines
            .iter()
            .map(|l| parse_list_line(l, year))
            .filter(|l| !matches!(l, ListLine::Skip))
            .collect())
    }

    /// `MLSD` (RFC 3659 §7), parsed. Empty lines are skipped; a line that
    /// is not a valid MLSx entry fails the whole call with
    /// [`ErrorKind::Protocol`] naming the parse error.
    pub async fn mlsd(&mut self, path: Option<&str>) -> Result<Vec<Entry>> {
        let lines = self.list_lines(Command::Mlsd(path.map(Arg::from))).await?;
        lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| {
                parse_mlsx_line(l)
                    .map_err(|e| Error::new(ErrorKind::Protocol, format!("MLSD line: {e}")))
            })
            .collect()
    }

    /// `NLST`: names only.
    pub async fn nlst(&mut self, path: Option<&str>) -> Result<Vec<RawName>> {
        let lines = self.list_lines(Command::Nlst(path.map(Arg::from))).await?;
        Ok(lines
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(RawName::from)
            .collect())
    }

    /// Downloads `path` into `writer` with 256 KiB buffers; returns the
    /// bytes written.
    pub async fn download_to<W: AsyncWrite + Unpin>(
        &mut self,
        path: impl Into<Arg>,
        offset: u64,
        writer: &mut W,
    ) -> Result<(u64, TransferInfo)> {
        let dl = self.retr_from(path, offset).await?;
        let mut reader = BufReader::with_capacity(COPY_BUFFER, dl);
        let n = tokio::io::copy_buf(&mut reader, writer)
            .await
            .map_err(Error::from_io_error)?;
        writer
            .flush()
            .await
            .map_err(|e| Error::from_io("flushing the local file", e))?;
        let info = reader.into_inner().info().clone();
        Ok((n, info))
    }

    /// Uploads everything from `reader` to `path` (at `offset`, see
    /// [`Client::stor_from`]) with 256 KiB buffers; returns the bytes sent.
    pub async fn upload_from<R: AsyncRead + Unpin>(
        &mut self,
        path: impl Into<Arg>,
        offset: u64,
        reader: R,
    ) -> Result<(u64, TransferInfo)> {
        let mut up = self.stor_from(path, offset).await?;
        let mut reader = BufReader::with_capacity(COPY_BUFFER, reader);
        let n = tokio::io::copy_buf(&mut reader, &mut up)
            .await
            .map_err(Error::from_io_error)?;
        up.shutdown().await.map_err(Error::from_io_error)?;
        Ok((n, up.info().clone()))
    }
}

/// Rows [`Client::list_dir`] collects at most.
pub const LIST_DIR_MAX_ROWS: usize = 1_000_000;

/// The year now, for LIST rows that omit it.
fn current_year() -> i32 {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .map(|t| t.year())
        .unwrap_or(2000)
}

/// The file name in a STOU mark: `150 FILE: name` (RFC 1123 §4.1.2.9).
fn stou_name(line: &[u8]) -> Option<Vec<u8>> {
    let text = line.trim_ascii();
    let pos = text
        .windows(5)
        .position(|w| w.eq_ignore_ascii_case(b"FILE:"))?;
    let name = text.get(pos + 5..)?.trim_ascii();
    (!name.is_empty()).then(|| name.to_vec())
}

#[cfg(test)]
mod tests {
    #[test]
    fn stou_names() {
        assert_eq!(
            super::stou_name(b"FILE: ftp123.tmp"),
            Some(b"ftp123.tmp".to_vec())
        );
        assert_eq!(super::stou_name(b"Opening data connection"), None);
    }
}
