//! The store: the only code that knows sled, its trees and its key layouts.
//!
//! Trees are named for what they map (key_value):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | name | format version, id counters |
//! | `username_user` | username | [`UserRecord`] |
//! | `tokenhash_token` | SHA-256 of a token | [`TokenRecord`] |
//! | `usertoken_index` | user ++ 0 ++ SHA-256 of a token | () : a user's tokens ([`accounts`](self::Store::user_tokens)) |
//! | `inviteid_invite` | invite id (8 bytes) | [`InviteRecord`] |
//! | `convid_conv` | conv (BE u64) | [`ConvRecord`] |
//! | `pair_convid` | user ++ 0 ++ user (sorted) | conv of their direct chat |
//! | `convid_lastseq` | conv | last seq (BE u64), the gapless-seq guard |
//! | `convseq_message` | conv ++ seq | [`MessageRecord`]: a message in its current state, or an event (the newest of a conversation) |
//! | `convseq_chunk` | conv ++ first seq | [`ChunkRecord`]: up to 128 older entries, sealed by [`compaction`] |
//! | `convid_compaction` | conv | how far sealing and dedupe pruning have come ([`compaction`]) |
//! | `senderclientid_convseq` | sender ++ 0 ++ client_id | conv ++ seq (dedupe) |
//! | `userconv_state` | user ++ 0 ++ conv | [`MemberState`] |
//! | `mediaid_media` | media id | [`MediaRecord`] |
//! | `mediaconv_ref` | media id ++ 0 ++ conv | last seq there that links it (BE u64; empty in older stores) |
//! | `name_vapidkey`, `subid_subscription`, `usersubid_sub`, `tokensubid_sub`, `endpoint_subid`, `userconv_push` | see [`push`] | Web Push key, subscriptions, waiting pushes |
//!
//! A message and everything it changes (dedupe entry, last seq, members' unread,
//! mentions and hidden flags, media references) are written in one sled transaction;
//! an event (edit, reaction, recall) also writes its target's folded state in it, so after a
//! crash either all of it is there or none. The offline queue of a user is not a copy:
//! it is the range after `delivered_seq` of each of the user's conversations in
//! `convseq_message`, so it can never point at a missing message or disagree with it:
//! "every queue entry points at a stored message" holds by construction, and
//! [`Store::check`] has no queue to verify beyond the members' `delivered_seq`.
//!
//! Around the hot path: [`Store::check`] verifies every invariant of a stopped store
//! (`chatnode check`), [`Store::repair_on_start`] re-derives what a crash could leave
//! behind before a node serves, and [`Store::snapshot`] streams a consistent copy of
//! every tree while the node writes (`chatnode backup`).

mod accounts;
mod check;
mod codec;
pub mod commit;
pub mod compaction;
mod conversations;
mod events;
mod feed;
mod guard;
mod history;
mod media;
mod messages;
pub mod migrations;
pub mod push;
pub mod records;
mod recount;
mod repair;
mod retention;
mod snapshot;
mod ticket;
mod tx;

#[cfg(test)]
mod integrity_tests;

use std::{
    fs::{self, OpenOptions},
    path::{Path, PathBuf},
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

pub use accounts::{Admission, Invite, InviteRecord, LAST_SEEN_EVERY_MS, MAX_INVITES_PER_USER};
pub use check::{CheckReport, CheckStats};
pub use codec::FORMAT_VERSION;
pub use commit::{CommitStats, GroupCommit};
pub use compaction::{CompactionState, CompactionStats, Step as CompactionStep, KEEP_NEWEST};
pub use conversations::MembershipChange;
pub use events::{Counts, QueuedEvent, MAX_REACTIONS};
pub use feed::{Feed, StoreEvent, StoredEntry};
pub use guard::{copy_dir as copy_store_files, newest_backup};
pub use media::{valid_media_id, PART_SUFFIX, THUMB_SUFFIX};
pub use messages::{
    media_id_of, AppendWaiter, Appended, DeliveredMark, Landed, NewMessage, OfflineCursor, Page,
    QueuedMessage, QueuedWrite, Refused, SearchHits,
};
/// How the versioned records are encoded and decoded (layout byte + bincode); public
/// for the benches and the fuzzer.
pub use records::{decode as decode_record, encode as encode_record};
pub use records::{
    ChunkRecord, ConvRecord, MediaRecord, MemberState, MessageRecord, StoredConvKind, StoredKind,
    TokenRecord, UserRecord, CHUNK_SEQS,
};
pub use repair::StartupRepair;
pub use retention::ExpiredBatch;
pub use snapshot::{Importer, SnapshotSink, SnapshotSummary, TreeDump};
pub use ticket::Ticket;

use crate::config::{Durability, Settings};
use crate::error::{Error, Result};
use messages::MessageTreeSet;
use records::decode;

/// The message for a store stamped with another format version than this build's.
pub fn format_error(found: &[u8]) -> String {
    match found {
        [v] if *v > FORMAT_VERSION => format!(
            "the store has format version {v}, newer than this build of chatnode {} reads \
             ({FORMAT_VERSION}): run the newer chatnode that wrote it, or restore a backup \
             made for this version",
            env!("CARGO_PKG_VERSION")
        ),
        [v] => format!(
            "the store has format version {v}, older than this build reads \
             ({FORMAT_VERSION}), and no migration from it exists: run the older chatnode, \
             back up and restore"
        ),
        other => format!("the store's format version {other:?} is unreadable"),
    }
}

/// The `meta` keys of the high-water marks: users, conversations, messages ever stored.
pub(crate) const SEEN_KEYS: [&str; 3] = ["seen_users", "seen_convs", "seen_messages"];

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The opened store. Shared as `Arc<Store>`; every method is safe to call from any thread.
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    users: sled::Tree,
    tokens: sled::Tree,
    user_tokens: sled::Tree,
    invites: sled::Tree,
    /// Held by account changes that depend on all accounts (first admin, last admin).
    accounts_lock: parking_lot::Mutex<()>,
    convs: sled::Tree,
    pairs: sled::Tree,
    last_seqs: sled::Tree,
    messages: sled::Tree,
    chunks: sled::Tree,
    /// Per conversation, how far compaction has come ([`compaction`]).
    compaction: sled::Tree,
    /// Held shared by every scan of history, exclusively by sealing ([`history`]).
    history_lock: parking_lot::RwLock<()>,
    /// What compaction has done since the store was opened, for /metrics.
    compacted: compaction::Counters,
    dedupe: sled::Tree,
    members: sled::Tree,
    media: sled::Tree,
    media_refs: sled::Tree,
    push: push::PushTrees,
    media_dir: PathBuf,
    log_path: PathBuf,
    commit: GroupCommit,
    /// Held shared by every write, exclusively by a snapshot for the instant of its cut.
    gate: Arc<parking_lot::RwLock<()>>,
    /// Where `store.clean` goes once the store is closed cleanly; `None` until the store
    /// was accepted on open (a refused store must not look cleanly stopped).
    clean_marker: parking_lot::Mutex<Option<PathBuf>>,
    /// What became durable, for the search index.
    feed: Arc<Feed>,
}

impl Drop for Store {
    /// Stops the group-commit thread (after a last flush) so the store's files are
    /// closed when the last handle goes, and leaves the clean-stop marker.
    fn drop(&mut self) {
        self.commit.stop();
        if let Some(marker) = self.clean_marker.lock().take() {
            if !self.commit.failed() && self.db.flush().is_ok() {
                let _ = fs::write(marker, b"");
            }
        }
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// data_dir; the store lives in data_dir/store, media in data_dir/media.
    pub data_dir: PathBuf,
    /// When writes count as done.
    pub durability: Durability,
    /// sled page cache, MiB.
    pub cache_mb: u64,
    /// Background flush period in relaxed mode.
    pub flush_every_ms: u64,
    /// Where automatic backups go (named when a damaged store is refused).
    pub backup_dir: PathBuf,
}

impl StoreOptions {
    /// The store options of a node's settings.
    pub fn from_settings(s: &Settings) -> Self {
        StoreOptions {
            data_dir: s.server.data_dir.clone(),
            durability: s.storage.durability,
            cache_mb: s.storage.cache_mb,
            flush_every_ms: s.storage.flush_every_ms,
            backup_dir: s.backup_dir(),
        }
    }
}

/// Whether [`Store::open_with`] may create a store that is not there yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenMode {
    /// The node: create data_dir/store and data_dir/media if missing.
    Create,
    /// The admin commands: the store must exist and be stamped already; nothing is created.
    Existing,
}

impl Store {
    /// Opens (or creates) the store under `opts.data_dir`.
    pub fn open(opts: &StoreOptions) -> Result<Store> {
        Self::open_with(opts, OpenMode::Create)
    }

    /// Opens a store that must already exist (for `chatnode check` and `backup`), so a
    /// mistyped data dir is reported instead of silently checking a new, empty store.
    pub fn open_existing(opts: &StoreOptions) -> Result<Store> {
        Self::open_with(opts, OpenMode::Existing)
    }

    /// Whether a store has been created under `data_dir`.
    pub fn exists_in(data_dir: &Path) -> bool {
        data_dir.join("store").join("db").is_file()
    }

    fn open_with(opts: &StoreOptions, mode: OpenMode) -> Result<Store> {
        let store_dir = opts.data_dir.join("store");
        let media_dir = opts.data_dir.join("media");
        if mode == OpenMode::Existing && !Self::exists_in(&opts.data_dir) {
            return Err(Error::Internal(format!(
                "there is no chatnode store in {:?} (expected {:?})",
                opts.data_dir,
                store_dir.join("db")
            )));
        }
        if mode == OpenMode::Create {
            fs::create_dir_all(&store_dir)?;
            fs::create_dir_all(&media_dir)?;
        }
        let existed = store_dir.join("db").is_file();
        let preserved = guard::Preserved::take(&opts.data_dir, &store_dir);
        let _ = fs::remove_file(guard::clean_marker(&opts.data_dir));
        match Self::open_dir(opts, mode, existed) {
            Ok(store) => {
                preserved.discard();
                *store.clean_marker.lock() = Some(guard::clean_marker(&opts.data_dir));
                Ok(store)
            }
            Err(e) => {
                preserved.put_back();
                Err(e)
            }
        }
    }

    /// [`Store::open_with`] once the files are preserved: sled's open, the trees, the
    /// format and the high-water marks.
    fn open_dir(opts: &StoreOptions, mode: OpenMode, existed: bool) -> Result<Store> {
        let store_dir = opts.data_dir.join("store");
        let media_dir = opts.data_dir.join("media");
        let flush_every = match opts.durability {
            Durability::Relaxed => Some(opts.flush_every_ms.max(1)),
            Durability::Sync => Some(1000),
        };
        let config = sled::Config::new()
            .path(&store_dir)
            .cache_capacity(opts.cache_mb.saturating_mul(1024 * 1024))
            .flush_every_ms(flush_every);
        let db = guard::open_sled(config, &store_dir, opts)?;
        let log_file = OpenOptions::new().read(true).open(store_dir.join("db"))?;
        let tree = |name: &str| db.open_tree(name);
        let gate = Arc::new(parking_lot::RwLock::new(()));
        let trees = MessageTreeSet {
            last_seqs: tree("convid_lastseq")?,
            messages: tree("convseq_message")?,
            chunks: tree("convseq_chunk")?,
            dedupe: tree("senderclientid_convseq")?,
            members: tree("userconv_state")?,
            media_refs: tree("mediaconv_ref")?,
        };
        let feed = Arc::new(Feed::default());
        let writer = commit::BatchWriter {
            trees: trees.clone(),
            gate: gate.clone(),
            meta: tree("meta")?,
            feed: feed.clone(),
        };
        let store = Store {
            meta: tree("meta")?,
            users: tree("username_user")?,
            tokens: tree("tokenhash_token")?,
            user_tokens: tree("usertoken_index")?,
            invites: tree("inviteid_invite")?,
            accounts_lock: parking_lot::Mutex::new(()),
            convs: tree("convid_conv")?,
            pairs: tree("pair_convid")?,
            last_seqs: trees.last_seqs,
            messages: trees.messages,
            chunks: trees.chunks,
            compaction: tree("convid_compaction")?,
            history_lock: parking_lot::RwLock::new(()),
            compacted: compaction::Counters::default(),
            dedupe: trees.dedupe,
            members: trees.members,
            media: tree("mediaid_media")?,
            media_refs: trees.media_refs,
            push: push::PushTrees::open(&db)?,
            commit: GroupCommit::start(
                db.clone(),
                log_file,
                store_dir.join("blobs"),
                opts.durability,
                Some(writer),
            )?,
            media_dir,
            log_path: store_dir.join("db"),
            gate,
            feed,
            db,
            clean_marker: parking_lot::Mutex::new(None),
        };
        store.check_format(mode, existed, opts)?;
        if mode == OpenMode::Create {
            store.check_marks(opts)?;
            store.mark_seen()?;
        }
        Ok(store)
    }

    /// Refuses a store written by a newer build (before anything is written) or one
    /// without a readable version; migrates an older one forward when the node opens it
    /// (the admin commands read it as it is); stamps a new one.
    fn check_format(&self, mode: OpenMode, existed: bool, opts: &StoreOptions) -> Result<()> {
        use migrations::FormatState;
        match self.format_state()? {
            FormatState::Current => Ok(()),
            FormatState::Older(v) if mode == OpenMode::Create => self.migrate_from(v),
            FormatState::Older(_) => Ok(()),
            FormatState::Newer(v) => Err(Error::Internal(format_error(&[v]))),
            FormatState::Unreadable(v) => Err(Error::Internal(format_error(&v))),
            FormatState::Missing if existed => Err(guard::refusal(
                &opts.data_dir,
                &opts.backup_dir,
                &format!(
                    "its files were there but it came back without its format version \
                     ({} users, {} conversations left)",
                    self.users.len(),
                    self.convs.len()
                ),
            )),
            FormatState::Missing
                if mode == OpenMode::Create && self.convs.is_empty() && self.users.is_empty() =>
            {
                self.meta
                    .insert(migrations::FORMAT_KEY, &[FORMAT_VERSION])?;
                Ok(())
            }
            FormatState::Missing => Err(Error::Internal(
                "the store has no format version: it is not a chatnode store, or it was \
                 damaged; run `chatnode check` or restore a backup"
                    .into(),
            )),
        }
    }

    /// What the store holds now, as the high-water marks count it: users,
    /// conversations, and messages ever stored (the sum of last seqs: retention does not
    /// lower it).
    fn counts_now(&self) -> Result<[u64; 3]> {
        let mut messages = 0u64;
        for v in self.last_seqs.iter().values() {
            messages = messages.saturating_add(codec::read_be(&v?)?);
        }
        Ok([self.users.len() as u64, self.convs.len() as u64, messages])
    }

    /// The high-water marks in `meta` (0 where none was written).
    fn marks(&self) -> Result<[u64; 3]> {
        let mut out = [0u64; 3];
        for (slot, key) in out.iter_mut().zip(SEEN_KEYS) {
            if let Some(v) = self.meta.get(key)? {
                *slot = codec::read_be(&v)?;
            }
        }
        Ok(out)
    }

    /// Refuses a store that holds less than its marks say it once held.
    fn check_marks(&self, opts: &StoreOptions) -> Result<()> {
        let (now, marks) = (self.counts_now()?, self.marks()?);
        let lost: Vec<String> = ["users", "conversations", "messages"]
            .iter()
            .zip(now.iter().zip(marks))
            .filter(|(_, (now, mark))| **now < *mark)
            .map(|(what, (now, mark))| format!("{now} {what} where it had {mark}"))
            .collect();
        if lost.is_empty() {
            return Ok(());
        }
        Err(guard::refusal(
            &opts.data_dir,
            &opts.backup_dir,
            &format!("it came back emptier than it was: {}", lost.join(", ")),
        ))
    }

    /// Raises the high-water marks to what the store holds now (at start and at each
    /// automatic backup; the group commit raises the message mark as it writes). Not at
    /// shutdown: a stop changes nothing a backup taken just before it holds.
    pub fn mark_seen(&self) -> Result<()> {
        let (now, marks) = (self.counts_now()?, self.marks()?);
        let mut batch = sled::Batch::default();
        for ((key, now), mark) in SEEN_KEYS.iter().zip(now).zip(marks) {
            if now > mark {
                batch.insert(*key, &codec::be(now));
            }
        }
        self.meta.apply_batch(batch)?;
        Ok(())
    }

    /// What became durable, in order: the search index follows it.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// The data directory (the store lives in data_dir/store).
    pub fn data_dir(&self) -> &Path {
        self.media_dir.parent().unwrap_or(&self.media_dir)
    }

    /// The group-commit handle: wait on tickets and reads here.
    pub fn commit(&self) -> &GroupCommit {
        &self.commit
    }

    /// Runs `write` between the group-commit markers and returns its ticket.
    ///
    /// Refused up front once a flush has failed: nothing written then could be made
    /// durable, and keeping the unflushed set closed is what lets a restart recover a
    /// state every client agrees with. The snapshot gate is held (shared) for the write,
    /// so a backup can find a moment with no write half done.
    fn write<T>(&self, write: impl FnOnce() -> Result<T>) -> Result<(T, Ticket)> {
        if self.commit.failed() {
            return Err(Error::Internal(
                "the store refuses writes after a failed flush; restart the node".into(),
            ));
        }
        let _gate = self.gate.read();
        self.commit.begin_write();
        let result = write();
        let ticket = self.commit.end_write();
        if let Err(Error::Internal(detail)) = &result {
            // The caller answers `internal` without an ack; the reason is logged here.
            tracing::error!(%detail, "store write failed");
        }
        result.map(|v| (v, ticket))
    }

    /// Writes and waits until durable; for the HTTP paths that are not hot.
    async fn write_durably<T>(&self, write: impl FnOnce() -> Result<T>) -> Result<T> {
        let (value, ticket) = self.write(write)?;
        self.commit.durable(ticket).await?;
        Ok(value)
    }

    /// Flushes and fsyncs everything now, whatever the durability mode (shutdown).
    pub fn flush_now(&self) -> Result<()> {
        self.db.flush()?;
        commit::BlobSync::new(self.log_path.with_file_name("blobs")).sync_new()?;
        OpenOptions::new()
            .read(true)
            .open(&self.log_path)?
            .sync_data()?;
        Ok(())
    }

    /// Bytes on disk used by the store (for /metrics).
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Next id from a named counter in `meta` (conversations).
    fn next_id(&self, name: &str) -> Result<u64> {
        let _gate = self.gate.read();
        let next = self.meta.update_and_fetch(name, |old| {
            let n = old.and_then(|b| codec::read_be(b).ok()).unwrap_or(0) + 1;
            Some(codec::be(n).to_vec())
        })?;
        next.map(|b| codec::read_be(&b))
            .unwrap_or_else(|| Err(Error::Internal("id counter vanished".into())))
    }

    // ---- accounts -------------------------------------------------------------------

    /// Creates an account; `false` if the name is taken (or was, by a deleted account).
    pub async fn create_user(&self, name: &str, record: &UserRecord) -> Result<bool> {
        match self
            .create_account(name, record.clone(), Admission::default())
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The live account named `name`: `None` for an unknown or a deleted one (whose
    /// tombstone [`Store::account`] still shows).
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        self.live_account(name)
    }

    /// Stores a token under its hash (and in its user's index).
    pub async fn put_token(&self, token_hash: &[u8], record: &TokenRecord) -> Result<()> {
        self.put_token_indexed(token_hash, record).await
    }

    /// The token stored under `token_hash`.
    pub fn token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>> {
        self.tokens.get(token_hash)?.map(|v| decode(&v)).transpose()
    }

    /// Deletes a token (logout, expiry), then calls [`Store::on_tokens_revoked`].
    pub async fn delete_token(&self, token_hash: &[u8]) -> Result<()> {
        self.delete_token_indexed(token_hash).await.map(|_| ())
    }
}

/// sled's errors stop at the store's edge: to every caller they are internal errors.
impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Internal(format!("store: {e}"))
    }
}
