//! The store's feed of what became durable, for the search index (and anything else that
//! follows the store): every entry the group commit wrote (messages and events), once
//! its flush is done, and retention's deletions.
//!
//! The feed never slows the ack path: the group commit hands a batch over after it has
//! answered the batch's waiters, sending is a channel push, and when the follower lags
//! by more than [`MAX_BACKLOG`] messages new batches are dropped. A follower must
//! therefore notice gaps (a seq that is not its last + 1) and read what it missed from
//! the store, which is also how it catches up after a restart.

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    mpsc,
};

use super::MessageRecord;

/// Messages waiting in the feed beyond which new batches are dropped.
pub const MAX_BACKLOG: usize = 100_000;

/// A stored entry as the group commit wrote it.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    /// Conversation.
    pub conv: u64,
    /// Its seq.
    pub seq: u64,
    /// What was stored.
    pub record: MessageRecord,
}

/// Something that became durable in the store.
#[derive(Debug, Clone)]
pub enum StoreEvent {
    /// Entries the group commit wrote, in seq order within each conversation.
    Stored(Vec<StoredEntry>),
    /// Every message of `conv` up to `upto` was deleted (retention).
    Expired {
        /// Conversation.
        conv: u64,
        /// Up to here.
        upto: u64,
    },
}

/// The sending side, owned by the store; one follower at a time.
#[derive(Default)]
pub struct Feed {
    sender: parking_lot::Mutex<Option<mpsc::Sender<StoreEvent>>>,
    /// Messages sent and not yet marked done by the follower.
    backlog: AtomicUsize,
    /// Whether a batch was dropped since the follower last asked.
    dropped: AtomicBool,
}

impl Feed {
    /// Starts following: from now on events go to the returned receiver (a previous
    /// follower's channel is closed).
    pub fn subscribe(&self) -> mpsc::Receiver<StoreEvent> {
        let (tx, rx) = mpsc::channel();
        *self.sender.lock() = Some(tx);
        self.backlog.store(0, Ordering::SeqCst);
        rx
    }

    /// Stops sending (the follower's receive ends).
    pub fn close(&self) {
        self.sender.lock().take();
    }

    /// Whether anyone follows (the group commit copies nothing otherwise).
    pub fn active(&self) -> bool {
        self.sender.lock().is_some()
    }

    /// Sends an event (a change or a deletion: always sent).
    pub fn send(&self, event: StoreEvent) {
        if let StoreEvent::Stored(entries) = &event {
            self.backlog.fetch_add(entries.len(), Ordering::SeqCst);
        }
        let mut sender = self.sender.lock();
        if let Some(tx) = sender.as_ref() {
            if tx.send(event).is_err() {
                sender.take();
            }
        }
    }

    /// Sends written entries, unless the follower lags too far (it will read them from
    /// the store when it sees the gap).
    pub(super) fn stored(&self, entries: Vec<StoredEntry>) {
        if entries.is_empty() {
            return;
        }
        if self.backlog.load(Ordering::SeqCst) > MAX_BACKLOG {
            self.dropped.store(true, Ordering::SeqCst);
            return;
        }
        self.send(StoreEvent::Stored(entries));
    }

    /// Whether entries were dropped since the last call (the follower then reads the
    /// store for what it missed).
    pub fn take_dropped(&self) -> bool {
        self.dropped.swap(false, Ordering::SeqCst)
    }

    /// Entries sent and not yet handled: how far the follower lags.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::SeqCst)
    }

    /// The follower has handled `n` stored entries.
    pub fn done(&self, n: usize) {
        let _ = self
            .backlog
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                Some(b.saturating_sub(n))
            });
    }
}
