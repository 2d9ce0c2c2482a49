//! [`Client`]'s commands without a data connection: directories, files,
//! sizes and times, `SITE`, `STAT`, `HELP`, raw commands.

use ftpkit_control::command::TransferType;
use ftpkit_control::listing::Modified;
use ftpkit_control::parse::{parse_mdtm, parse_pwd, parse_size, FeatureSet};
use ftpkit_control::{Arg, Command, Reply};

use super::{Client, Cwd};
use crate::error::{Error, ErrorKind, Result};

impl Client {
    /// `PWD`: the working directory, as raw bytes.
    pub async fn pwd_raw(&mut self) -> Result<Vec<u8>> {
        self.ready().await?;
        self.exchange_pwd().await
    }

    /// `PWD` on an idle session, parsed.
    pub(super) async fn exchange_pwd(&mut self) -> Result<Vec<u8>> {
        let r = self.exchange_ok("PWD", Command::Pwd).await?;
        parse_pwd(&r).map_err(|e| Error::new(ErrorKind::Protocol, format!("PWD reply: {e}")))
    }

    /// `PWD`: the working directory (lossy UTF-8).
    pub async fn pwd(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.pwd_raw().await?).into_owned())
    }

    /// `CWD`, then `PWD`: the client keeps the absolute path, so that a
    /// renewed session (see [`SessionStats::refreshes`](crate::tls::SessionStats::refreshes)) returns there.
    pub async fn cwd(&mut self, path: impl Into<Arg>) -> Result<()> {
        self.command_ok("CWD", Command::Cwd(path.into())).await?;
        self.learn_cwd().await
    }

    /// `CDUP`, then `PWD` (see [`cwd`](Self::cwd)).
    pub async fn cdup(&mut self) -> Result<()> {
        self.command_ok("CDUP", Command::Cdup).await?;
        self.learn_cwd().await
    }

    /// Asks `PWD` after a directory change; a server whose `PWD` fails
    /// leaves the directory unknown (a renewal then asks again).
    async fn learn_cwd(&mut self) -> Result<()> {
        self.cwd = match self.pwd_raw().await {
            Ok(p) => Cwd::Known(p),
            Err(e) if e.kind() == ErrorKind::ServerReply => Cwd::Unknown,
            Err(e) => return Err(e),
        };
        Ok(())
    }

    /// `MKD`: creates a directory; returns the path the server reports.
    pub async fn mkdir(&mut self, path: impl Into<Arg>) -> Result<Vec<u8>> {
        let path = path.into();
        let r = self.command_ok("MKD", Command::Mkd(path.clone())).await?;
        Ok(parse_pwd(&r).unwrap_or_else(|_| path.as_bytes().to_vec()))
    }

    /// `RMD`.
    pub async fn rmdir(&mut self, path: impl Into<Arg>) -> Result<()> {
        self.command_ok("RMD", Command::Rmd(path.into()))
            .await
            .map(drop)
    }

    /// `DELE`.
    pub async fn delete(&mut self, path: impl Into<Arg>) -> Result<()> {
        self.command_ok("DELE", Command::Dele(path.into()))
            .await
            .map(drop)
    }

    /// `RNFR` + `RNTO`. Both names are checked before anything is sent.
    pub async fn rename(&mut self, from: impl Into<Arg>, to: impl Into<Arg>) -> Result<()> {
        let (from, to) = (from.into(), to.into());
        Command::Rnto(to.clone()).validate()?;
        let r = self.command(Command::Rnfr(from)).await?;
        if r.code() != ftpkit_control::ReplyCode::PENDING {
            return Err(Error::from_reply("RNFR", r));
        }
        self.command_ok("RNTO", Command::Rnto(to)).await.map(drop)
    }

    /// `SIZE` (RFC 3659 §4), in the current TYPE.
    pub async fn size(&mut self, path: impl Into<Arg>) -> Result<u64> {
        let r = self.command_ok("SIZE", Command::Size(path.into())).await?;
        parse_size(&r).map_err(|e| Error::new(ErrorKind::Protocol, format!("SIZE reply: {e}")))
    }

    /// [`size`](Self::size), with `None` when the server cannot tell: a
    /// permanent negative reply (5yz: no `SIZE` command, no such file, not
    /// a plain file). A transient (4yz) reply or a broken session is still
    /// an error.
    pub async fn size_if_known(&mut self, path: impl Into<Arg>) -> Result<Option<u64>> {
        match self.size(path).await {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::ServerReply && !e.is_transient() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `MDTM` (RFC 3659 §3): modification time, UTC.
    pub async fn modified(&mut self, path: impl Into<Arg>) -> Result<Modified> {
        let r = self.command_ok("MDTM", Command::Mdtm(path.into())).await?;
        parse_mdtm(&r).map_err(|e| Error::new(ErrorKind::Protocol, format!("MDTM reply: {e}")))
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<()> {
        self.command_ok("NOOP", Command::Noop).await.map(drop)
    }

    /// `TYPE`: sets the representation type of later transfers.
    pub async fn set_type(&mut self, t: TransferType) -> Result<()> {
        self.command_ok("TYPE", Command::Type(t)).await.map(drop)
    }

    /// `SITE` command; returns the reply.
    pub async fn site(&mut self, args: impl Into<Arg>) -> Result<Reply> {
        self.command_ok("SITE", Command::Site(args.into())).await
    }

    /// `SYST`.
    pub async fn syst(&mut self) -> Result<String> {
        let r = self.command_ok("SYST", Command::Syst).await?;
        Ok(String::from_utf8_lossy(r.first_line()).into_owned())
    }

    /// A raw command line with a single reply; returns the reply whatever
    /// its code. The line is checked for CR, LF and NUL like any argument.
    /// Commands with their own method (transfers, AUTH, USER...) are
    /// refused.
    pub async fn quote(&mut self, line: impl Into<Arg>) -> Result<Reply> {
        let line = line.into();
        let verb = line
            .as_bytes()
            .split(|&b| b == b' ')
            .next()
            .map(<[u8]>::to_ascii_uppercase);
        if matches!(verb.as_deref(), Some(b"CWD" | b"CDUP" | b"XCWD" | b"XCUP")) {
            self.cwd = Cwd::Unknown;
        }
        self.command(Command::Raw(line)).await
    }

    /// The TYPE currently set.
    pub fn transfer_type(&self) -> Option<TransferType> {
        self.control.session.transfer_type()
    }
    /// Creates a directory and every missing parent, like `mkdir -p`
    /// (`MKD`, RFC 959 §4.1.3, for each component).
    ///
    /// A component whose `MKD` is refused with a 5yz reply is accepted only
    /// if it is in fact an existing directory, checked with `CWD` into it
    /// and back to the working directory (`PWD`); any other refusal is
    /// returned. The working directory is unchanged at the end.
    pub async fn mkdir_all(&mut self, path: impl Into<Arg>) -> Result<()> {
        let path = path.into();
        let bytes = path.as_bytes();
        let mut prefix: Vec<u8> = if bytes.starts_with(b"/") {
            b"/".to_vec()
        } else {
            Vec::new()
        };
        let mut home: Option<Vec<u8>> = None;
        for part in bytes.split(|&b| b == b'/') {
            if part.is_empty() || part == b"." {
                continue;
            }
            if !prefix.is_empty() && !prefix.ends_with(b"/") {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(part);
            let r = self
                .command(Command::Mkd(Arg::from(prefix.clone())))
                .await?;
            if !r.code().is_negative() {
                continue;
            }
            if r.code().is_transient() {
                return Err(Error::from_reply("MKD", r));
            }
            // 5yz: fine only when the directory is already there.
            let home = match &home {
                Some(h) => h.clone(),
                None => home.insert(self.pwd_raw().await?).clone(),
            };
            let cwd = self
                .command(Command::Cwd(Arg::from(prefix.clone())))
                .await?;
            if cwd.code().is_negative() {
                return Err(Error::from_reply("MKD", r));
            }
            self.command_ok("CWD (back)", Command::Cwd(Arg::from(home)))
                .await?;
        }
        Ok(())
    }

    /// Sets the modification time of a file with `MFMT`
    /// (draft-somers-ftp-mfxx, the de-facto extension to RFC 3659 that
    /// vsftpd, ProFTPD and Pure-FTPd implement). `time` is UTC.
    ///
    /// Fails with [`ErrorKind::Unsupported`] without sending anything when
    /// the server's FEAT reply did not announce `MFMT`.
    pub async fn set_modified(
        &mut self,
        path: impl Into<Arg>,
        time: time::PrimitiveDateTime,
    ) -> Result<()> {
        if !self.features().supports("MFMT") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "the server does not announce MFMT in FEAT",
            ));
        }
        self.command_ok("MFMT", Command::Mfmt(time, path.into()))
            .await
            .map(drop)
    }

    /// `STAT` (RFC 959 §4.1.3): without a path, the server's status of the
    /// session; with one, a listing of it over the control connection
    /// (211/212/213). A negative reply is an error.
    pub async fn stat(&mut self, path: Option<&str>) -> Result<Reply> {
        self.command_ok("STAT", Command::Stat(path.map(Arg::from)))
            .await
    }

    /// `HELP` (RFC 959 §4.1.3): the server's help text, in general or on a
    /// command (211/214). A negative reply is an error.
    pub async fn help(&mut self, topic: Option<&str>) -> Result<Reply> {
        self.command_ok("HELP", Command::Help(topic.map(Arg::from)))
            .await
    }

    /// Sends `FEAT` again (RFC 2389 §3) and returns the features the
    /// server announces now, for servers whose features change after
    /// login or `AUTH`.
    ///
    /// The session's own [`features`](Self::features) are not changed:
    /// only the session state machine in `ftpkit-control` updates them.
    /// A server that does not implement FEAT (500/502) gives the empty set.
    pub async fn refresh_features(&mut self) -> Result<FeatureSet> {
        let r = self.command(Command::Feat).await?;
        let code = r.code();
        if code == ftpkit_control::ReplyCode::SYNTAX_ERROR
            || code == ftpkit_control::ReplyCode::NOT_IMPLEMENTED
        {
            return Ok(FeatureSet::default());
        }
        if code.is_negative() {
            return Err(Error::from_reply("FEAT", r));
        }
        Ok(FeatureSet::parse(&r))
    }
}
