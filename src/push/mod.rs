//! Web Push: the node is its own push application server (RFC 8030 delivery, RFC 8291
//! `aes128gcm` encryption, RFC 8292 VAPID), so a browser's push service and a LAN
//! UnifiedPush distributor work alike with no vendor account.
//!
//! The path of one push:
//!
//! - a conversation actor, once a message is durable, hands (conv, seq, sender, kind,
//!   members) to the [`registry`](crate::actors::registry) ([`OfflinePush`]);
//! - the registry keeps the members with no socket open, other than the sender, and
//!   offers them to the push queue with a `try_send` that never waits ([`PushHandle`]):
//!   a full queue drops the push (counted), never the ack;
//! - the [`worker`], on a thread of its own, coalesces per user and conversation, keeps
//!   what is waiting in the store, and posts through [`deliver`] after the [`endpoint`]
//!   guard has checked where the request goes.
//!
//! [`OfflinePush`]: crate::actors::registry::OfflinePush

pub mod deliver;
pub mod endpoint;
pub mod vapid;
pub mod worker;

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use tokio::sync::mpsc;

use crate::store::records::StoredKind;

/// A durable message some members are offline for.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Conversation.
    pub conv: u64,
    /// Seq of the message.
    pub seq: u64,
    /// When it was stored, ms (the TTL counts from here).
    pub ts: u64,
    /// Members with no socket open, the sender left out.
    pub users: Vec<String>,
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct PushStats {
    /// Pushes the push service took (201/202 or another 2xx).
    pub sent: AtomicU64,
    /// Answers 4xx (404/410 among them).
    pub failed_4xx: AtomicU64,
    /// Answers 5xx.
    pub failed_5xx: AtomicU64,
    /// No answer: connection refused, timeout, refused by the endpoint guard.
    pub failed_network: AtomicU64,
    /// Offers dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Offers in the queue now.
    pub queued: AtomicU64,
    /// Pushes waiting in the worker (coalescing windows, retries).
    pub waiting: AtomicU64,
}

/// Where offers go; cheap to clone. A disabled handle takes nothing.
#[derive(Clone, Default)]
pub struct PushHandle {
    tx: Option<mpsc::Sender<Offer>>,
    /// The queue's bound, for the log line of a drop.
    bound: usize,
    /// Counters, shared with the worker.
    pub stats: Arc<PushStats>,
}

impl PushHandle {
    /// A handle and the receiving end for [`worker::spawn`], the queue holding `bound`
    /// offers (`push.queue_size`, at least one); past it offers are dropped (counted).
    /// Each offer is one stored message with its offline recipients.
    pub fn channel(bound: usize) -> (PushHandle, mpsc::Receiver<Offer>) {
        let bound = bound.max(1);
        let (tx, rx) = mpsc::channel(bound);
        (
            PushHandle {
                tx: Some(tx),
                bound,
                stats: Arc::default(),
            },
            rx,
        )
    }

    /// A handle that drops every offer (push.enabled = false).
    pub fn disabled() -> PushHandle {
        PushHandle::default()
    }

    /// Whether pushes are on.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Hands an offer to the queue without waiting; a full or closed queue drops it.
    pub fn offer(&self, offer: Offer) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(offer) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(bound = self.bound, "push queue full: a push was dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Whether a message of this kind is worth waking a device for: not the node's own
/// `system` messages, not events (edit, reaction, recall).
pub fn worth_a_push(kind: StoredKind) -> bool {
    match kind {
        StoredKind::Text
        | StoredKind::Image
        | StoredKind::Voice
        | StoredKind::Video
        | StoredKind::File => true,
        StoredKind::System | StoredKind::Edit | StoredKind::Reaction | StoredKind::Recall => false,
    }
}
