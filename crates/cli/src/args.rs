//! The command line (clap derive). The interface is fixed: scripts depend
//! on it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
URLs:
  ftp://[USER[:PASS]@]HOST[:PORT]/PATH[;type=a|i]   plain FTP (port 21)
  ftpes://...                                        explicit TLS, required (port 21)
  ftps://...                                         implicit TLS (port 990)
  PATH is relative to the login directory; use // or %2F for an absolute
  path (ftp://host//pub/file). Percent-encode special characters.

Credentials: --user, else the URL's, else --netrc, else anonymous. A missing
password comes from FTPKIT_PASSWORD, else a prompt when stdin is a terminal.

Exit status: 0 on success, 1 on any error (one line on stderr), 2 on usage
errors.";

/// ftpkit: an FTP/FTPS client.
#[derive(Debug, Parser)]
#[command(name = "ftpkit", version, about, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Cmd,
}

/// The security of the control connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TlsMode {
    /// Plain FTP.
    None,
    /// AUTH TLS on the plain port (required).
    Explicit,
    /// TLS from the first byte (port 990 by default).
    Implicit,
}

/// The highest TLS version offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TlsMax {
    /// TLS 1.2.
    #[value(name = "1.2")]
    Tls12,
    /// TLS 1.3.
    #[value(name = "1.3")]
    Tls13,
}

/// Options valid with every command.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Route control and data connections through a proxy:
    /// `socks5://[USER:PASS@]HOST:PORT` or `http://[USER:PASS@]HOST:PORT`
    /// (HTTP CONNECT). Passive mode only.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// Download one file over N sessions in parallel (REST ranges written
    /// into place); with `get` to a file. Default: chosen from the file's
    /// size and the round-trip time (2 to 4 for files of 64 MiB or more
    /// from 20 ms, else 1); 1 keeps one stream
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) segments: Option<u16>,
    /// Security of the control connection, overriding the URL's scheme
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    pub(crate) tls: Option<TlsMode>,
    /// Trust the CA certificates of this PEM file instead of the system's
    /// (repeatable)
    #[arg(long, global = true, value_name = "PEM")]
    pub(crate) ca_file: Vec<PathBuf>,
    /// Client certificate chain (PEM); the key may be in the same file
    #[arg(long, global = true, value_name = "PEM", conflicts_with_all = ["pkcs12", "cert_store", "pkcs11_module"])]
    pub(crate) cert: Option<PathBuf>,
    /// Private key of --cert (PEM), when it is in another file
    #[arg(long, global = true, value_name = "PEM", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// Client certificate and key from a PKCS#12 file
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with_all = ["cert_store", "pkcs11_module"]
    )]
    pub(crate) pkcs12: Option<PathBuf>,
    /// Password of --pkcs12 (and of PKCS#12 files in --cert-store)
    #[arg(
        long,
        global = true,
        value_name = "P",
        env = "FTPKIT_PKCS12_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) pkcs12_password: Option<String>,
    /// Certificate store (directory or bundle) to pick the client
    /// certificate from, by --cert-name
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        requires = "cert_name",
        conflicts_with = "pkcs11_module"
    )]
    pub(crate) cert_store: Option<PathBuf>,
    /// Name (CN or subject alternative name) of the client certificate in
    /// --cert-store or on the --token
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) cert_name: Option<String>,
    /// PKCS#11 module (shared library) of the token holding the client key;
    /// with --token and --cert-name (or --key-label). The key never leaves
    /// the token
    #[arg(long, global = true, value_name = "PATH", requires = "token")]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// Label of the token in --pkcs11-module
    #[arg(long, global = true, value_name = "LABEL", requires = "pkcs11_module")]
    pub(crate) token: Option<String>,
    /// The client certificate on the token is the one of the private key
    /// with this label (instead of --cert-name)
    #[arg(
        long,
        global = true,
        value_name = "LABEL",
        requires = "pkcs11_module",
        conflicts_with = "cert_name"
    )]
    pub(crate) key_label: Option<String>,
    /// Environment variable holding the token's user PIN (else it is asked
    /// for on the terminal); tried once
    #[arg(long, global = true, value_name = "VAR", requires = "pkcs11_module")]
    pub(crate) pin_env: Option<String>,
    /// Require the server certificate's SHA-256 fingerprint (as `ftpkit
    /// cert` prints it; colons optional)
    #[arg(long, global = true, value_name = "HEX")]
    pub(crate) pin_sha256: Option<String>,
    /// Do not verify the server's certificate (DANGEROUS; a pin is still
    /// checked)
    #[arg(long, global = true)]
    pub(crate) insecure: bool,
    /// Highest TLS version to offer
    #[arg(long, global = true, value_enum, value_name = "VERSION")]
    pub(crate) tls_max: Option<TlsMax>,
    /// Active mode; ADDR is the IP address to advertise, optionally with a
    /// port range
    #[arg(
        help = "Active mode (the server connects back); ADDR is the IP address to advertise \
                  (NAT), optionally with a port range: IP, IP:LOW-HIGH, [IPv6]:LOW-HIGH"
    )]
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub(crate) active: Option<String>,
    /// Use PASV/PORT only, never EPSV/EPRT
    #[arg(long, global = true)]
    pub(crate) no_epsv: bool,
    /// Never pipeline commands: the login's, and the next EPSV behind a
    /// transfer (by default both are, on vsftpd and GNU inetutils ftpd only)
    #[arg(long, global = true)]
    pub(crate) no_pipelining: bool,
    /// Deadline of each network step, in seconds
    #[arg(long, global = true, value_name = "SECS")]
    pub(crate) timeout: Option<f64>,
    /// User name, and optionally password, overriding the URL's
    #[arg(long, global = true, value_name = "USER[:PASS]")]
    pub(crate) user: Option<String>,
    /// Take credentials from the .netrc file ($NETRC, else ~/.netrc)
    #[arg(long, global = true)]
    pub(crate) netrc: bool,
    /// Print the protocol trace on stderr (passwords redacted)
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    /// No progress bar or notes
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// List a directory (MLSD when offered, else LIST)
    Ls {
        /// Directory URL
        url: String,
        /// Long format: type and permissions, size, time, name
        #[arg(short, long)]
        long: bool,
        /// One JSON object per line: {name, type, size, modified}; type is
        /// file, dir, link or other; modified is RFC 3339 (offset -00:00
        /// when the server's time zone is unknown, as in LIST) or null
        #[arg(long, conflicts_with = "long")]
        json: bool,
    },
    /// Download a file
    Get {
        /// File URL
        url: String,
        /// Local file or directory; `-` is stdout [default: the remote name]
        local: Option<PathBuf>,
        /// Continue a failed download (REST): the bytes a failed `get` kept
        /// in DIR/.ftpkit-partial/NAME, or else a shorter LOCAL cut short by
        /// another tool. A server without REST sends the whole file again
        #[arg(long)]
        resume: bool,
    },
    /// Upload a file
    Put {
        /// Local file; `-` is stdin
        local: PathBuf,
        /// Remote file URL; a URL ending in `/` gets the local file's name
        url: String,
        /// Continue a partial upload from the server's size (REST/STOR or
        /// APPE)
        #[arg(long, conflicts_with = "append")]
        resume: bool,
        /// Append to the remote file (APPE)
        #[arg(long)]
        append: bool,
        /// Store under a temporary name beside the target
        /// (.NAME.ftpkit-upload-…), check its size, then rename it onto the
        /// target: the target never holds a partial file
        #[arg(long, conflicts_with_all = ["resume", "append"])]
        atomic: bool,
    },
    /// Delete a file
    Rm {
        /// File URL
        url: String,
    },
    /// Create a directory
    Mkdir {
        /// Directory URL
        url: String,
        /// Create missing parents; an existing directory is no error
        #[arg(short = 'p', long)]
        parents: bool,
    },
    /// Remove an empty directory
    Rmdir {
        /// Directory URL
        url: String,
    },
    /// Rename or move a file or directory (RNFR/RNTO)
    Mv {
        /// URL of the file to rename
        url: String,
        /// New path on the same server (relative to the login directory
        /// unless it starts with /)
        #[arg(value_name = "NEWPATH")]
        new_path: OsString,
    },
    /// Print a file's size and modification time
    Stat {
        /// File URL
        url: String,
    },
    /// Print the server's certificate chain and TLS parameters
    Cert {
        /// Server URL (ftp:// is tried with explicit TLS)
        url: String,
    },
    /// Mirror a directory tree: URL to DIR, or with --reverse DIR to URL.
    /// Unchanged files (size and time) are skipped; names that could escape
    /// the target are refused and reported
    Mirror {
        /// The remote directory URL (with --reverse: the local directory)
        first: String,
        /// The local directory (with --reverse: the remote directory URL)
        second: String,
        /// Upload DIR to URL instead
        #[arg(long)]
        reverse: bool,
        /// Sessions transferring at once [default: chosen from the measured
        /// round-trip time, 4 to 16]
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: Option<u16>,
        /// Further attempts at a file after a dropped connection or a
        /// transient error, each resuming where the last one stopped
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=100))]
        retries: u32,
        /// Mirror only files matching GLOB (repeatable). A pattern without
        /// `/` matches names anywhere (`*.iso`); one with `/` the path from
        /// the mirror's root (`pub/*/README`)
        #[arg(long, value_name = "GLOB")]
        include: Vec<String>,
        /// Leave out files and folders matching GLOB (repeatable; same
        /// patterns as --include). Excluded files are never deleted
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// Print what would be transferred and deleted; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Delete what the target has and the source does not: local files
        /// (remote ones with --reverse), only inside the target
        #[arg(long)]
        delete: bool,
        /// Do not walk folders deeper than N below the top (an error each)
        #[arg(long, value_name = "N", default_value_t = 64)]
        max_depth: usize,
        /// Stop after N files (an error)
        #[arg(long, value_name = "N")]
        max_files: Option<u64>,
        /// Stop before the files' sizes pass N bytes (an error)
        #[arg(long, value_name = "N")]
        max_bytes: Option<u64>,
    },
    /// Send one raw command and print the reply
    Quote {
        /// Server URL
        url: String,
        /// The command line, e.g. "SITE CHMOD 644 file"
        #[arg(value_name = "CMD ARGS")]
        command: String,
    },
}

impl Cmd {
    /// The URL argument of every command.
    pub(crate) fn url(&self) -> &str {
        match self {
            Cmd::Ls { url, .. }
            | Cmd::Get { url, .. }
            | Cmd::Put { url, .. }
            | Cmd::Rm { url }
            | Cmd::Mkdir { url, .. }
            | Cmd::Rmdir { url }
            | Cmd::Mv { url, .. }
            | Cmd::Stat { url }
            | Cmd::Cert { url }
            | Cmd::Quote { url, .. } => url,
            Cmd::Mirror {
                first,
                second,
                reverse,
                ..
            } => {
                if *reverse {
                    second
                } else {
                    first
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
