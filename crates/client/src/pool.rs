//! A connection pool for tokio services: reuse of logged-in sessions with a
//! health check, idle expiry, keepalive, reconnection, and transfers that
//! retry with resume.
//!
//! ```no_run
//! # async fn f() -> ftpkit::Result<()> {
//! use ftpkit::pool::{Pool, PoolConfig};
//! use ftpkit::{Config, Credentials};
//!
//! let pool = Pool::new(PoolConfig::default());
//! let mut config = Config::new("ftp.example.com");
//! config.credentials = Some(Credentials::new("alice", "s3cret"));
//! {
//!     let mut conn = pool.get(&config).await?; // derefs to `Client`
//!     conn.cwd("/incoming").await?;
//! } // back to the pool
//! pool.retry_download(&config, "/incoming/big.iso", "big.iso", 3).await?;
//! # Ok(()) }
//! ```
//!
//! ## Which connection is reused
//!
//! A connection is reused only for a [`Config`] with the same [`PoolKey`]:
//! host (case-insensitive), port, `HOST` name, user, password, account,
//! security mode, data protection, every TLS setting (system roots, CA files
//! and certificates, verification mode, pin, versions, server name) and the
//! client certificate (SHA-256 of each certificate of the chain, and of the
//! private key), and also the connector (the same `Arc`), the timeouts, data mode, passive address, EPSV/EPRT
//! policy, TYPE and decoder limits, so that a pooled client always behaves as
//! its caller's configuration says. Two configurations that differ in any of
//! these never share a connection (the class of bug of curl's
//! CVE-2023-27535). Secrets (password, account, private key) are kept only as
//! HMAC-SHA-256 tags under a random per-process key, and never printed.
//!
//! ## Life of a connection
//!
//! - A semaphore per key bounds the connections of that key
//!   ([`PoolConfig::max_per_key`]): a checkout waits while that many are in
//!   use.
//! - [`Pool::get`] takes the most recently returned idle connection; one idle
//!   for longer than [`PoolConfig::idle_timeout`] is closed, and with
//!   [`HealthCheck::Noop`] a `NOOP` must succeed (within the reply deadline)
//!   or the connection is closed and the next one tried; when none is left, a
//!   new connection is made.
//! - Dropping the [`Pooled`] handle returns the connection, unless it is
//!   broken ([`Client::is_broken`]), in the middle of an operation (a
//!   transfer dropped half-way), or [`PoolConfig::max_idle_per_key`] are
//!   already idle.
//! - With [`PoolConfig::keepalive`], a background task sends `NOOP` on idle
//!   connections at that interval; it holds only a weak reference, so
//!   dropping the last [`Pool`] stops it.
//!
//! The pool does not restore the working directory a user changed (use
//! absolute paths, or `cwd` after each checkout); the `TYPE` is restored on
//! checkout when it differs from the configuration.
//!
//! Each checkout has a `debug` `tracing` span (`ftpkit_pool`, with host and
//! port), entered again when the connection is returned.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use ftpkit_control::command::TransferType;
use ftpkit_control::reply::DecoderLimits;
use ring::{digest, hmac};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::client::Client;
use crate::config::{
    Config, DataMode, DataProtection, ExtendedCommands, PassiveAddress, Pipelining, Security,
    Timeouts,
};
use crate::error::{Error, ErrorKind, Result};
use crate::tls::{Pin, SystemRoots, TlsVersion, Verification};

/// What is checked before an idle connection is handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HealthCheck {
    /// `NOOP`, which must succeed within the reply deadline. The default.
    #[default]
    Noop,
    /// Nothing: the connection is handed out as it is (a dead one then fails
    /// on first use).
    None,
}

/// Settings of a [`Pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections per key, idle or in use. Default 4. At least 1.
    pub max_per_key: usize,
    /// Most idle connections kept per key. Default 4.
    pub max_idle_per_key: usize,
    /// An idle connection older than this is closed instead of reused.
    /// Default 60 s.
    pub idle_timeout: Duration,
    /// Check done before an idle connection is reused.
    pub health_check: HealthCheck,
    /// Interval of `NOOP`s on idle connections, so the server does not close
    /// them. Default 30 s; `None` disables the background task.
    pub keepalive: Option<Duration>,
    /// Pause before the first retry of [`Pool::retry_download`] and
    /// [`Pool::retry_upload`], doubled at each retry (up to 5 s). Default
    /// 200 ms.
    pub retry_backoff: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_per_key: 4,
            max_idle_per_key: 4,
            idle_timeout: Duration::from_secs(60),
            health_check: HealthCheck::Noop,
            keepalive: Some(Duration::from_secs(30)),
            retry_backoff: Duration::from_millis(200),
        }
    }
}

// ----- the key ------------------------------------------------------------

/// An HMAC-SHA-256 tag of a secret under the per-process key. Never printed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Tag([u8; 32]);

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

fn tag(secret: &[u8]) -> Tag {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let rng = ring::rand::SystemRandom::new();
        hmac::Key::generate(hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            // No system randomness: fall back to something per process.
            let seed = format!("{:?}{:?}", Instant::now(), std::process::id());
            hmac::Key::new(hmac::HMAC_SHA256, seed.as_bytes())
        })
    });
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(key, secret).as_ref());
    Tag(out)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CredentialsKey {
    user: Vec<u8>,
    password: Tag,
    account: Option<Tag>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientCertKey {
    /// SHA-256 of each certificate, end-entity first.
    chain: Vec<[u8; 32]>,
    key: Tag,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TlsKey {
    system_roots: SystemRoots,
    ca_files: Vec<PathBuf>,
    ca_certificates: Vec<[u8; 32]>,
    verification: Verification,
    pin: Option<Pin>,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
    server_name: Option<String>,
    client_cert: Option<ClientCertKey>,
}

/// The transport ([`Config::connector`]), compared by identity: only the
/// same `Arc` (a clone of the configuration) matches. Holding it keeps the
/// address unique while the key lives.
#[derive(Clone)]
struct ConnectorKey(Arc<dyn crate::connector::Connector>);

impl PartialEq for ConnectorKey {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl Eq for ConnectorKey {}

impl fmt::Debug for ConnectorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectorKey({:p})", Arc::as_ptr(&self.0))
    }
}

/// Settings that change how a client behaves, not whom it talks to as whom.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BehaviourKey {
    connector: Option<ConnectorKey>,
    timeouts: Timeouts,
    data_mode: DataMode,
    passive_address: PassiveAddress,
    extended: ExtendedCommands,
    pipelining: Pipelining,
    transfer_type: TransferType,
    limits: DecoderLimits,
}

/// What two [`Config`]s must share for a pooled connection to be reused;
/// see the [module documentation](self). Secrets are kept as keyed tags and
/// `Debug` prints them as `[REDACTED]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolKey {
    host: String,
    port: u16,
    virtual_host: Option<String>,
    credentials: Option<CredentialsKey>,
    security: Security,
    data_protection: DataProtection,
    tls: TlsKey,
    behaviour: BehaviourKey,
}

impl Hash for PoolKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // A subset of the fields compared by `Eq`: equal keys hash equally.
        self.host.hash(state);
        self.port.hash(state);
        self.virtual_host.hash(state);
        self.credentials.hash(state);
        self.security.hash(state);
        self.data_protection.hash(state);
        self.tls.hash(state);
    }
}

impl PoolKey {
    /// The key of `config`. Every field of [`Config`] and
    /// [`TlsOptions`](crate::tls::TlsOptions) is named below (no `..`), so
    /// that a new setting does not compile until the key says whether it
    /// matters (CVE-2023-27535: a pooled connection reused under other
    /// security settings).
    pub fn new(config: &Config) -> Self {
        let Config {
            host,
            port: _, // through `control_port()`, which also reads `security`
            security,
            data_protection,
            tls,
            credentials,
            virtual_host,
            timeouts,
            data_mode,
            passive_address,
            extended,
            pipelining,
            transfer_type,
            limits,
            connector,
        } = config;
        let crate::tls::TlsOptions {
            system_roots,
            ca_files,
            ca_certificates,
            verification,
            pin,
            min_version,
            max_version,
            client_identity,
            server_name,
        } = tls;
        let credentials = credentials.as_ref().map(|c| CredentialsKey {
            user: c.user.as_bytes().to_vec(),
            password: tag(c.password.expose_secret().as_bytes()),
            account: c
                .account
                .as_ref()
                .map(|a| tag(a.expose_secret().as_bytes())),
        });
        let client_cert = client_identity.as_ref().map(|id| ClientCertKey {
            chain: id.chain().iter().map(|c| sha256(c.as_ref())).collect(),
            key: tag(&id.key.pool_identity()),
        });
        Self {
            host: host.to_ascii_lowercase(),
            port: config.control_port(),
            virtual_host: virtual_host.clone(),
            credentials,
            security: *security,
            data_protection: *data_protection,
            tls: TlsKey {
                system_roots: *system_roots,
                ca_files: ca_files.clone(),
                ca_certificates: ca_certificates.iter().map(|c| sha256(c.as_ref())).collect(),
                verification: *verification,
                pin: *pin,
                min_version: *min_version,
                max_version: *max_version,
                server_name: server_name.clone(),
                client_cert,
            },
            behaviour: BehaviourKey {
                connector: connector.clone().map(ConnectorKey),
                timeouts: *timeouts,
                data_mode: data_mode.clone(),
                passive_address: *passive_address,
                extended: *extended,
                pipelining: *pipelining,
                transfer_type: *transfer_type,
                limits: *limits,
            },
        }
    }

    /// The host, lower-cased.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The control port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

// ----- the pool -------------------------------------------------------------

struct Idle {
    client: Client,
    /// When it was returned by its last user.
    since: Instant,
    /// Last time it was known alive (return or keepalive NOOP).
    checked: Instant,
}

struct Slot {
    counters: Arc<Counters>,
    permits: Arc<Semaphore>,
    idle: Mutex<VecDeque<Idle>>,
}

impl Slot {
    fn idle(&self) -> MutexGuard<'_, VecDeque<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counters of a [`Pool`] since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Connections opened.
    pub opened: u64,
    /// Checkouts served by an idle connection.
    pub reused: u64,
    /// Idle connections closed: expired, failed health check or keepalive,
    /// or beyond `max_idle_per_key`.
    pub closed_idle: u64,
    /// Connections not returned because broken or mid-operation.
    pub dropped_broken: u64,
}

#[derive(Default)]
struct Counters {
    opened: AtomicU64,
    reused: AtomicU64,
    closed_idle: AtomicU64,
    dropped_broken: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

struct Inner {
    config: PoolConfig,
    counters: Arc<Counters>,
    slots: Mutex<HashMap<PoolKey, Arc<Slot>>>,
    keepalive: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Inner {
    fn slots(&self) -> MutexGuard<'_, HashMap<PoolKey, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let handle = self
            .keepalive
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            h.abort();
        }
    }
}

/// A pool of FTP connections, keyed by [`PoolKey`]. Cheap to clone (the
/// clones share the connections).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.inner.slots();
        f.debug_struct("Pool")
            .field("config", &self.inner.config)
            .field("keys", &slots.len())
            .finish()
    }
}

impl Pool {
    /// A new, empty pool. With [`PoolConfig::keepalive`] set and a tokio
    /// runtime current, starts the keepalive task (outside a runtime there
    /// is no keepalive).
    pub fn new(mut config: PoolConfig) -> Self {
        config.max_per_key = config.max_per_key.clamp(1, Semaphore::MAX_PERMITS);
        let inner = Arc::new(Inner {
            config,
            counters: Arc::default(),
            slots: Mutex::new(HashMap::new()),
            keepalive: Mutex::new(None),
        });
        if let Some(every) = config.keepalive.filter(|d| !d.is_zero()) {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    let task = rt.spawn(keepalive_loop(Arc::downgrade(&inner), every));
                    *inner
                        .keepalive
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
                }
                Err(_) => tracing::warn!("Pool::new outside a tokio runtime: no keepalive"),
            }
        }
        Self { inner }
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// Counters since the pool was made.
    pub fn stats(&self) -> PoolStats {
        let c = &self.inner.counters;
        PoolStats {
            opened: c.opened.load(Ordering::Relaxed),
            reused: c.reused.load(Ordering::Relaxed),
            closed_idle: c.closed_idle.load(Ordering::Relaxed),
            dropped_broken: c.dropped_broken.load(Ordering::Relaxed),
        }
    }

    fn slot(&self, key: &PoolKey) -> Arc<Slot> {
        let mut slots = self.inner.slots();
        slots
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    counters: self.inner.counters.clone(),
                    permits: Arc::new(Semaphore::new(self.inner.config.max_per_key)),
                    idle: Mutex::new(VecDeque::new()),
                })
            })
            .clone()
    }

    /// A connection for `config`: an idle one with the same [`PoolKey`]
    /// that passes the health check, or a new one. Waits while
    /// [`PoolConfig::max_per_key`] connections of that key are in use.
    pub async fn get(&self, config: &Config) -> Result<Pooled> {
        let key = PoolKey::new(config);
        let span = tracing::debug_span!("ftpkit_pool", host = %key.host, port = key.port);
        let slot = self.slot(&key);
        let (client, permit, reused) = self
            .checkout(&slot, config)
            .instrument(span.clone())
            .await?;
        Ok(Pooled {
            client: Some(client),
            permit: Some(permit),
            slot,
            max_idle: self.inner.config.max_idle_per_key,
            reused,
            span,
        })
    }

    async fn checkout(
        &self,
        slot: &Slot,
        config: &Config,
    ) -> Result<(Client, OwnedSemaphorePermit, bool)> {
        let cfg = self.inner.config;
        let permit = slot
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::new(ErrorKind::Misuse, "the pool is closed"))?;
        loop {
            let popped = slot.idle().pop_back();
            let Some(idle) = popped else { break };
            let mut client = idle.client;
            if idle.since.elapsed() >= cfg.idle_timeout {
                tracing::debug!("idle connection expired; closing it");
                bump(&slot.counters.closed_idle);
                close(client);
                continue;
            }
            if client.is_broken() {
                tracing::debug!("idle connection broken; dropping it");
                bump(&slot.counters.closed_idle);
                continue;
            }
            if cfg.health_check == HealthCheck::Noop {
                if let Err(e) = client.noop().await {
                    tracing::debug!(error = %e, "health check failed; trying another connection");
                    bump(&slot.counters.closed_idle);
                    close(client);
                    continue;
                }
            }
            if client.transfer_type() != Some(config.transfer_type) {
                if let Err(e) = client.set_type(config.transfer_type).await {
                    tracing::debug!(error = %e, "restoring TYPE failed; trying another connection");
                    bump(&slot.counters.closed_idle);
                    close(client);
                    continue;
                }
            }
            tracing::debug!("reusing an idle connection");
            bump(&slot.counters.reused);
            return Ok((client, permit, true));
        }
        tracing::debug!("opening a new connection");
        let client = Client::connect(config.clone()).await?;
        bump(&slot.counters.opened);
        Ok((client, permit, false))
    }

    /// Idle connections kept for `config`'s key.
    pub fn idle_count(&self, config: &Config) -> usize {
        let key = PoolKey::new(config);
        let slot = self.inner.slots().get(&key).cloned();
        slot.map_or(0, |s| s.idle().len())
    }

    /// Connections of `config`'s key in use (checked out, or being checked
    /// by the keepalive task).
    pub fn in_use_count(&self, config: &Config) -> usize {
        let key = PoolKey::new(config);
        let slot = self.inner.slots().get(&key).cloned();
        slot.map_or(0, |s| {
            self.inner.config.max_per_key - s.permits.available_permits()
        })
    }

    /// Closes every idle connection (`QUIT`, each within its quit deadline).
    pub async fn close_idle(&self) {
        let slots: Vec<Arc<Slot>> = self.inner.slots().values().cloned().collect();
        let mut quits = Vec::new();
        for slot in slots {
            let drained: Vec<Idle> = slot.idle().drain(..).collect();
            quits.extend(drained.into_iter().map(|i| i.client.quit()));
        }
        for r in futures::future::join_all(quits).await {
            if let Err(e) = r {
                tracing::debug!(error = %e, "QUIT of an idle connection failed");
            }
        }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let base = self.inner.config.retry_backoff;
        base.saturating_mul(1u32 << retry.min(16))
            .min(Duration::from_secs(5).max(base))
    }

    /// Downloads `remote` into the file `local`, retrying up to `retries`
    /// times when the attempt fails with a transient error
    /// ([`Error::is_transient`], which includes a short file) or on a
    /// dropped connection: each retry takes a (new) connection and resumes
    /// the partial file.
    ///
    /// Each attempt is one [`download_file`](crate::ops::download_file)
    /// with [`Verify::SizeWhenKnown`](crate::ops::Verify::SizeWhenKnown):
    /// the data goes to the partial file ([`crate::ops::part_path`]), which
    /// the first attempt starts afresh and which is renamed to `local` only
    /// once complete and checked against the server's `SIZE` (unchecked
    /// when the server does not implement `SIZE`). A file at `local` never
    /// holds a partial download; when every attempt fails, what arrived is
    /// left in the partial file. Needs [`TransferType::Binary`] (the
    /// default), since offsets are bytes of the file. Returns the file's
    /// size.
    pub async fn retry_download(
        &self,
        config: &Config,
        remote: &str,
        local: impl AsRef<Path>,
        retries: u32,
    ) -> Result<u64> {
        let local = local.as_ref();
        self.retry_file(config, Direction::Down { remote, local }, retries)
            .await
    }

    /// Uploads the file `local` to `remote`, retrying up to `retries` times
    /// when the attempt fails with a transient error or on a dropped
    /// connection. Each attempt is one
    /// [`upload_file`](crate::ops::upload_file) on a (new) connection: the
    /// first replaces the file, each retry resumes at the server's `SIZE`
    /// (`REST` + `STOR`; the whole file again where the server cannot
    /// restart). At the end the server's `SIZE` must equal the local size
    /// (unchecked when the server does not implement `SIZE`); a server that
    /// holds fewer bytes is [`ErrorKind::Truncated`], retried. Needs
    /// [`TransferType::Binary`]. Returns the file's size.
    pub async fn retry_upload(
        &self,
        config: &Config,
        local: impl AsRef<Path>,
        remote: &str,
        retries: u32,
    ) -> Result<u64> {
        let local = local.as_ref();
        self.retry_file(config, Direction::Up { local, remote }, retries)
            .await
    }

    /// The one retry loop of both directions: each attempt takes a
    /// connection and runs the library's file routine
    /// ([`download_file`](crate::ops::download_file) or
    /// [`upload_file`](crate::ops::upload_file)), resuming after the first,
    /// with [`Verify::SizeWhenKnown`](crate::ops::Verify::SizeWhenKnown).
    async fn retry_file(&self, config: &Config, dir: Direction<'_>, retries: u32) -> Result<u64> {
        let (what, remote) = match dir {
            Direction::Down { remote, .. } => ("download", remote),
            Direction::Up { remote, .. } => ("upload", remote),
        };
        check_binary(config, what)?;
        let mut retry = 0;
        loop {
            let opts = crate::ops::FileOptions::new()
                .resume(retry > 0)
                .verify(crate::ops::Verify::SizeWhenKnown);
            let attempt = match self.get(config).await {
                Ok(mut conn) => {
                    let r = match dir {
                        Direction::Down { remote, local } => {
                            crate::ops::download_file(&mut conn, remote, local, &opts).await
                        }
                        Direction::Up { local, remote } => {
                            crate::ops::upload_file(&mut conn, local, remote, &opts).await
                        }
                    };
                    r.map_err(|e| Failure::on(&conn, e))
                }
                Err(e) => Err(Failure::new(e)),
            };
            match attempt {
                Ok(r) => return Ok(r.size),
                Err(f) if f.retry && retry < retries => {
                    tracing::warn!(retry, error = %f.error, remote, "{what} failed; resuming");
                    tokio::time::sleep(self.backoff(retry)).await;
                    retry += 1;
                }
                Err(f) => return Err(f.error),
            }
        }
    }
}

/// Which way [`Pool::retry_file`] moves a file.
#[derive(Clone, Copy)]
enum Direction<'a> {
    Down { remote: &'a str, local: &'a Path },
    Up { local: &'a Path, remote: &'a str },
}

/// Offsets are bytes of the file only in TYPE I.
fn check_binary(config: &Config, what: &str) -> Result<()> {
    if config.transfer_type == TransferType::Binary {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidArgument,
        format!("retry_{what} resumes at byte offsets and needs TYPE I (binary)"),
    ))
}

/// A failed attempt and whether it may be retried.
struct Failure {
    error: Error,
    retry: bool,
}

impl Failure {
    fn new(error: Error) -> Self {
        let retry = error.is_transient();
        Self { error, retry }
    }

    /// An error on `conn`: retried when transient or when the connection
    /// dropped.
    fn on(conn: &Client, error: Error) -> Self {
        let retry = error.is_transient() || conn.is_broken();
        Self { error, retry }
    }
}

/// Closes a connection that will not be reused: `QUIT` in the background
/// when it is usable and a runtime is current, otherwise just the socket.
fn close(client: Client) {
    if client.is_broken() || !client.is_idle() {
        return;
    }
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            if let Err(e) = client.quit().await {
                tracing::debug!(error = %e, "QUIT failed");
            }
        });
    }
}

async fn keepalive_loop(pool: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (slots, idle_timeout) = {
            let Some(inner) = pool.upgrade() else { return };
            let slots: Vec<Arc<Slot>> = inner.slots().values().cloned().collect();
            (slots, inner.config.idle_timeout)
        };
        for slot in slots {
            keepalive_slot(&slot, every, idle_timeout).await;
        }
    }
}

/// Pings the idle connections of one key not known alive for half of
/// `every` (so each is pinged about once per tick);
/// closes expired and failing ones. Each connection being pinged holds a
/// permit, so the bound per key stays exact.
async fn keepalive_slot(slot: &Slot, every: Duration, idle_timeout: Duration) {
    let count = slot.idle().len();
    for _ in 0..count {
        let Ok(permit) = slot.permits.clone().try_acquire_owned() else {
            return;
        };
        let taken = {
            let mut idle = slot.idle();
            let pos = idle.iter().position(|i| {
                i.checked.elapsed() >= every / 2 || i.since.elapsed() >= idle_timeout
            });
            pos.and_then(|p| idle.remove(p))
        };
        let Some(mut conn) = taken else { return };
        if conn.since.elapsed() >= idle_timeout {
            tracing::debug!("keepalive: idle connection expired; closing it");
            bump(&slot.counters.closed_idle);
            close(conn.client);
            continue;
        }
        match conn.client.noop().await {
            Ok(()) => {
                conn.checked = Instant::now();
                slot.idle().push_front(conn);
            }
            Err(e) => {
                tracing::debug!(error = %e, "keepalive NOOP failed; dropping the connection");
                bump(&slot.counters.closed_idle);
                close(conn.client);
            }
        }
        drop(permit);
    }
}

/// A connection checked out of a [`Pool`]; derefs to [`Client`]. Dropping
/// it returns the connection to the pool (see the [module
/// documentation](self)).
pub struct Pooled {
    client: Option<Client>,
    permit: Option<OwnedSemaphorePermit>,
    slot: Arc<Slot>,
    max_idle: usize,
    reused: bool,
    span: tracing::Span,
}

impl fmt::Debug for Pooled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("client", &self.client)
            .field("reused", &self.reused)
            .finish()
    }
}

impl Pooled {
    /// Whether the connection came from the pool (rather than being new).
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// Closes the connection instead of returning it (`QUIT` in the
    /// background).
    pub fn discard(mut self) {
        if let Some(c) = self.client.take() {
            close(c);
        }
    }

    /// Takes the connection out of the pool for good; its place in the
    /// per-key bound is freed.
    pub fn detach(mut self) -> Client {
        match self.client.take() {
            Some(c) => c,
            None => unreachable!("a Pooled always holds its client until dropped"),
        }
    }
}

impl Deref for Pooled {
    type Target = Client;

    fn deref(&self) -> &Client {
        match &self.client {
            Some(c) => c,
            None => unreachable!("a Pooled always holds its client until dropped"),
        }
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.client {
            Some(c) => c,
            None => unreachable!("a Pooled always holds its client until dropped"),
        }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let _span = self.span.enter();
        if let Some(client) = self.client.take() {
            if client.is_broken() {
                tracing::debug!("connection broken; not returned to the pool");
                bump(&self.slot.counters.dropped_broken);
            } else if !client.is_idle() {
                tracing::debug!("connection in the middle of an operation; closed");
                bump(&self.slot.counters.dropped_broken);
            } else {
                let mut idle = self.slot.idle();
                if idle.len() < self.max_idle {
                    let now = Instant::now();
                    idle.push_back(Idle {
                        client,
                        since: now,
                        checked: now,
                    });
                    tracing::debug!("connection returned to the pool");
                } else {
                    drop(idle);
                    tracing::debug!("enough idle connections; closing this one");
                    bump(&self.slot.counters.closed_idle);
                    close(client);
                }
            }
        }
        // The connection is idle (or gone) before its permit is released, so
        // a waiting checkout finds it.
        drop(self.permit.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ClientIdentity;
    use ftpkit_control::Credentials;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    fn base() -> Config {
        let mut c = Config::new("ftp.example.com");
        c.credentials = Some(Credentials::new("alice", "s3cret"));
        c
    }

    fn differs(change: impl FnOnce(&mut Config)) {
        let a = base();
        let mut b = base();
        change(&mut b);
        assert_ne!(PoolKey::new(&a), PoolKey::new(&b));
    }

    fn identity(cert: &[u8], key: &[u8]) -> ClientIdentity {
        ClientIdentity::new(
            vec![CertificateDer::from(cert.to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
        )
    }

    #[test]
    fn identical_configs_share_a_key() {
        assert_eq!(PoolKey::new(&base()), PoolKey::new(&base()));
        let mut upper = base();
        upper.host = "FTP.Example.COM".into();
        assert_eq!(PoolKey::new(&base()), PoolKey::new(&upper));
    }

    #[test]
    fn host_port_and_virtual_host() {
        differs(|c| c.host = "ftp2.example.com".into());
        differs(|c| c.port = 2121);
        differs(|c| c.virtual_host = Some("other".into()));
    }

    #[test]
    fn credentials() {
        differs(|c| c.credentials = None);
        differs(|c| c.credentials = Some(Credentials::new("bob", "s3cret")));
        differs(|c| c.credentials = Some(Credentials::new("Alice", "s3cret")));
        differs(|c| c.credentials = Some(Credentials::new("alice", "S3cret")));
        differs(|c| {
            c.credentials = Some(Credentials::new("alice", "s3cret").with_account("acct"));
        });
        let with = |a: &str| {
            let mut c = base();
            c.credentials = Some(Credentials::new("alice", "s3cret").with_account(a));
            PoolKey::new(&c)
        };
        assert_ne!(with("one"), with("two"));
        assert_eq!(with("one"), with("one"));
    }

    #[test]
    fn security_and_protection() {
        differs(|c| c.security = Security::Explicit);
        differs(|c| c.security = Security::Implicit);
        differs(|c| c.data_protection = DataProtection::Clear);
    }

    #[test]
    fn tls_settings() {
        differs(|c| c.tls.system_roots = SystemRoots::Exclude);
        differs(|c| c.tls.ca_files = vec!["/etc/ca.pem".into()]);
        differs(|c| c.tls.ca_certificates = vec![CertificateDer::from(vec![1, 2, 3])]);
        differs(|c| c.tls.verification = Verification::DangerAcceptInvalidCertificates);
        differs(|c| c.tls.pin = Some(Pin::Certificate([7; 32])));
        differs(|c| c.tls.min_version = Some(TlsVersion::Tls13));
        differs(|c| c.tls.max_version = Some(TlsVersion::Tls12));
        differs(|c| c.tls.server_name = Some("other.example.com".into()));
        let ca = |der: Vec<u8>| {
            let mut c = base();
            c.tls.ca_certificates = vec![CertificateDer::from(der)];
            PoolKey::new(&c)
        };
        assert_ne!(ca(vec![1]), ca(vec![2]));
    }

    #[test]
    fn client_certificate() {
        differs(|c| c.tls.client_identity = Some(identity(b"cert", b"key")));
        let with = |cert: &[u8], key: &[u8]| {
            let mut c = base();
            c.tls.client_identity = Some(identity(cert, key));
            PoolKey::new(&c)
        };
        assert_eq!(with(b"cert", b"key"), with(b"cert", b"key"));
        assert_ne!(with(b"cert", b"key"), with(b"other cert", b"key"));
        assert_ne!(with(b"cert", b"key"), with(b"cert", b"other key"));
    }

    #[test]
    fn behaviour() {
        differs(|c| c.timeouts = Timeouts::all(Duration::from_secs(1)));
        differs(|c| c.data_mode = DataMode::Active(Default::default()));
        differs(|c| c.extended = ExtendedCommands::Never);
        differs(|c| c.pipelining = Pipelining::Off);
        differs(|c| c.transfer_type = TransferType::Ascii);
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut c = base();
        c.credentials = Some(Credentials::new("alice", "hunter2").with_account("acct-secret"));
        c.tls.client_identity = Some(identity(b"cert", b"private-key"));
        let text = format!("{:?}", PoolKey::new(&c));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("acct-secret"), "{text}");
        assert!(text.contains("[REDACTED]"), "{text}");
    }
}
