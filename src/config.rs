//! Settings: config/default.toml (compiled in), then an optional `--config FILE`, then
//! `CHATNODE__SECTION__KEY` environment variables, the environment winning.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

/// The defaults, compiled in so the binary runs with no files around it.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// A setting that stops start-up; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("bad setting: {0}")]
pub struct SettingsError(pub String);

/// All settings of a node.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Listening address, data directory, workers.
    pub server: ServerSettings,
    /// WebSocket session timing and frame size.
    pub session: SessionSettings,
    /// Registration and tokens.
    pub accounts: AccountSettings,
    /// Message limits and recall.
    pub messages: MessageSettings,
    /// Durability and cache.
    pub storage: StorageSettings,
    /// Rate and size limits.
    pub limits: LimitSettings,
    /// Optional TLS.
    pub tls: TlsSettings,
    /// Automatic backups.
    pub backup: BackupSettings,
    /// Group roles.
    pub groups: GroupSettings,
    /// Uploads: size, quota, orphan clean-up.
    pub media: MediaSettings,
    /// Web Push.
    pub push: PushSettings,
    /// How the log looks.
    pub log: LogSettings,
    /// The search index.
    pub search: SearchSettings,
}

/// `[search]`: whether search keeps an index (not in PROTOCOL.md: this node's own).
#[derive(Debug, Clone, Deserialize)]
pub struct SearchSettings {
    /// Keep the index in data_dir/search (false: search scans the store with a budget,
    /// which saves the indexer's ~15 MB and its CPU on a very small box).
    pub index: bool,
}

/// `[log]`: the shape of the log on stderr (which lines: `RUST_LOG`).
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// Text or JSON lines.
    pub format: LogFormat,
}

/// `log.format`: how a log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event; coloured only on a terminal.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[backup]`: the node's own periodic, verified backups.
#[derive(Debug, Clone, Deserialize)]
pub struct BackupSettings {
    /// Seconds between two automatic backups; 0 = none.
    pub every_secs: u64,
    /// How many automatic backups are kept (the oldest go first).
    pub keep: usize,
    /// Where they are written; empty = data_dir/backups.
    pub dir: PathBuf,
}

/// `[groups]`
#[derive(Debug, Clone, Deserialize)]
pub struct GroupSettings {
    /// Whether non-admin members may add members (PROTOCOL.md `groups.members_can_add`).
    pub members_can_add: bool,
}

/// `[media]`
#[derive(Debug, Clone, Deserialize)]
pub struct MediaSettings {
    /// Largest upload, MiB.
    pub max_upload_mb: u64,
    /// What one user's uploads may add up to, MiB.
    pub quota_mb: u64,
    /// Uploads referenced by no message are deleted after this many seconds.
    pub orphan_ttl_secs: u64,
}

impl MediaSettings {
    /// Largest upload in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_mb.saturating_mul(1 << 20)
    }

    /// Per-user quota in bytes.
    pub fn quota_bytes(&self) -> u64 {
        self.quota_mb.saturating_mul(1 << 20)
    }
}

/// `[push]`: Web Push notifications (PROTOCOL.md v1.1).
#[derive(Debug, Clone, Deserialize)]
pub struct PushSettings {
    /// Web Push on or off.
    pub enabled: bool,
    /// VAPID `sub`.
    pub contact: String,
    /// Whether the message text goes into the encrypted payload.
    pub include_body: bool,
    /// TTL header and retry horizon.
    pub ttl_secs: u64,
    /// At most one push per user and conversation in this time.
    pub coalesce_secs: u64,
    /// Origins allowed despite http:// or private addresses; a TOML array, or
    /// comma-separated in the environment.
    #[serde(deserialize_with = "list_or_commas")]
    pub allowed_endpoints: Vec<String>,
    /// Most subscriptions per user.
    pub max_subscriptions_per_user: usize,
    /// Longest one push request may take (connect to answer), so a push service that
    /// stays silent costs a retry, not a slot for good.
    pub request_timeout_secs: u64,
    /// Offers the push queue holds; past it they are dropped (counted), never waited for.
    pub queue_size: usize,
}

/// A list setting: a TOML array, or one comma-separated string (the environment).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        One(String),
    }
    let items = match Either::deserialize(d)? {
        Either::List(items) => items,
        Either::One(s) => s.split(',').map(str::to_string).collect(),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Address and port for HTTP and WebSocket.
    pub bind: String,
    /// Store and media directory.
    pub data_dir: PathBuf,
    /// Separate address for /metrics; empty = same as `bind`.
    pub metrics_bind: String,
    /// Grace period on shutdown.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads; 0 = one per core less one, at least one.
    pub workers: usize,
}

/// `[session]`
#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    /// Told to clients as heartbeat_ms.
    pub heartbeat_interval_secs: u64,
    /// Silence before close 4000.
    pub heartbeat_timeout_secs: u64,
    /// Time allowed before the first `auth` frame.
    pub auth_timeout_secs: u64,
    /// Largest WebSocket frame.
    pub max_frame_bytes: usize,
    /// Bytes of pushed frames a session may have waiting before it is closed (4000).
    pub max_backlog_bytes: usize,
}

/// `[accounts]`
#[derive(Debug, Clone, Deserialize)]
pub struct AccountSettings {
    /// Whether /api/register is open.
    pub registration_open: bool,
    /// Token lifetime in seconds.
    pub token_ttl_secs: u64,
    /// Who may create invites.
    pub invites: InvitePolicy,
    /// Who `GET /api/users` shows.
    pub directory: Directory,
    /// Base URL for invite links; empty = the request's own origin.
    pub public_url: String,
}

/// `accounts.invites`: who may create invites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitePolicy {
    /// Admins only (the default).
    Admins,
    /// Every user.
    Members,
}

impl InvitePolicy {
    /// The setting's value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitePolicy::Admins => "admins",
            InvitePolicy::Members => "members",
        }
    }
}

/// `accounts.directory`: whom `GET /api/users?q=` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Directory {
    /// Every user.
    All,
    /// Users who share a conversation with the caller (the default).
    Contacts,
    /// Nobody: only exact usernames through `GET /api/users/{user}`.
    Off,
}

impl Directory {
    /// The setting's value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Directory::All => "all",
            Directory::Contacts => "contacts",
            Directory::Off => "off",
        }
    }
}

/// `[messages]`
#[derive(Debug, Clone, Deserialize)]
pub struct MessageSettings {
    /// Recall window in seconds.
    pub recall_window_secs: u64,
    /// Largest message body in bytes.
    pub max_body_bytes: usize,
    /// How long after sending a sender may edit, seconds (0: never).
    pub edit_window_secs: u64,
    /// Messages older than this many seconds are deleted; 0 keeps them forever.
    pub retain_secs: u64,
}

/// When an `ack` may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After flush + fsync, grouped.
    Sync,
    /// After the write reached the store's memory; background flush.
    Relaxed,
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
pub struct StorageSettings {
    /// Ack policy.
    pub durability: Durability,
    /// Background flush period in relaxed mode.
    pub flush_every_ms: u64,
    /// sled page cache in MiB.
    pub cache_mb: u64,
    /// How long a (sender, client_id) is remembered for dedupe, in seconds; older
    /// entries are pruned by the compactor (not in PROTOCOL.md: this node's own).
    pub dedupe_window_secs: u64,
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    /// Frames per second per session (burst of the same size).
    pub messages_per_sec: u32,
    /// Register/login attempts per minute per client address.
    pub logins_per_min: u32,
    /// Most open sockets.
    pub max_connections: usize,
    /// Most open sockets from one client address.
    pub max_connections_per_ip: usize,
    /// Most authenticated sockets per user.
    pub max_sessions_per_user: usize,
    /// Failed logins per username per minute.
    pub failed_logins_per_user_per_min: u32,
    /// Most members in a group.
    pub max_group_members: usize,
}

/// `[tls]`
#[derive(Debug, Clone, Deserialize)]
pub struct TlsSettings {
    /// PEM certificate chain path; empty = no TLS.
    pub cert: String,
    /// PEM private key path; empty = no TLS.
    pub key: String,
}

impl Settings {
    /// Where automatic backups go (`backup.dir`, or data_dir/backups when it is empty).
    pub fn backup_dir(&self) -> PathBuf {
        match self.backup.dir.as_os_str().is_empty() {
            true => self.server.data_dir.join("backups"),
            false => self.backup.dir.clone(),
        }
    }

    /// Defaults, then `file`, then the process environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, SettingsError> {
        Self::load_with_env(file, None)
    }

    /// Like [`Settings::load`], with the environment given as a map (tests use this so
    /// they never touch the process environment).
    pub fn load_with_env(
        file: Option<&std::path::Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path.to_path_buf()).required(true));
        }
        let environment = Environment::with_prefix("CHATNODE")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(env);
        let settings: Settings = builder
            .add_source(environment)
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| SettingsError(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Defaults only, for tests and tools.
    pub fn defaults() -> Result<Self, SettingsError> {
        Self::load_with_env(None, Some(HashMap::new()))
    }

    /// Checks that the values make sense together; names the key that does not.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |key: &str, why: &str| Err(SettingsError(format!("{key}: {why}")));
        if self.server.bind.parse::<SocketAddr>().is_err() {
            return bad("server.bind", "expected ADDRESS:PORT, e.g. 127.0.0.1:8080");
        }
        if !self.server.metrics_bind.is_empty()
            && self.server.metrics_bind.parse::<SocketAddr>().is_err()
        {
            return bad("server.metrics_bind", "expected ADDRESS:PORT or empty");
        }
        if self.server.data_dir.as_os_str().is_empty() {
            return bad("server.data_dir", "must not be empty");
        }
        if self.session.heartbeat_timeout_secs == 0 {
            return bad("session.heartbeat_timeout_secs", "must be at least 1");
        }
        if self.session.max_frame_bytes < 128 {
            return bad("session.max_frame_bytes", "must be at least 128");
        }
        if self.session.max_backlog_bytes < 65536 {
            return bad("session.max_backlog_bytes", "must be at least 65536");
        }
        if self.messages.max_body_bytes == 0 {
            return bad("messages.max_body_bytes", "must be at least 1");
        }
        if self.limits.messages_per_sec == 0 {
            return bad("limits.messages_per_sec", "must be at least 1");
        }
        if self.limits.logins_per_min == 0 {
            return bad("limits.logins_per_min", "must be at least 1");
        }
        if self.storage.cache_mb == 0 {
            return bad("storage.cache_mb", "must be at least 1");
        }
        if self.media.max_upload_mb == 0 {
            return bad("media.max_upload_mb", "must be at least 1");
        }
        if self.push.coalesce_secs > 3600 {
            return bad("push.coalesce_secs", "must be at most 3600");
        }
        if self.push.queue_size == 0 {
            return bad("push.queue_size", "must be at least 1");
        }
        if !(1..=300).contains(&self.push.request_timeout_secs) {
            return bad("push.request_timeout_secs", "must be 1 to 300");
        }
        if self.push.ttl_secs > 2419200 {
            return bad("push.ttl_secs", "must be at most 2419200 (28 days)");
        }
        let public_url = &self.accounts.public_url;
        if !(public_url.is_empty()
            || public_url.starts_with("https://")
            || public_url.starts_with("http://"))
        {
            return bad(
                "accounts.public_url",
                "expected empty or http(s)://HOST[:PORT][/PATH]",
            );
        }
        if self.tls.cert.is_empty() != self.tls.key.is_empty() {
            return bad("tls.cert / tls.key", "set both or neither");
        }
        Ok(())
    }

    /// The bind address, already validated.
    pub fn bind_addr(&self) -> Result<SocketAddr, SettingsError> {
        self.server
            .bind
            .parse()
            .map_err(|_| SettingsError("server.bind: not an address".into()))
    }

    /// Silence after which a session is closed.
    pub fn heartbeat_timeout(&self) -> Duration {
        Duration::from_secs(self.session.heartbeat_timeout_secs)
    }
}
