//! The push worker: one task on a thread of its own (so encryption, signing and slow
//! push services never run on the actors' thread), fed by the bounded queue.
//!
//! Per (user, conversation) it keeps one slot: the first push goes at once, and within
//! the next `push.coalesce_secs` at most one more, at the window's end, carrying the
//! newest message. A push that is waiting (for its window, or for a retry after 429/5xx)
//! is kept in the store (`userconv_push`), so a restart picks it up; it is deleted once
//! every subscription has answered for good. Retries back off (2 s doubling, at most
//! 10 min, or the service's `Retry-After`) until `push.ttl_secs` after the message.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    rc::Rc,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use actix::Addr;
use futures_util::future::join_all;
use tokio::sync::{mpsc, Notify};

use super::deliver::{self, Outcome, Payload};
use super::endpoint;
use super::vapid::Vapid;
use super::{Offer, PushStats};
use crate::actors::registry::{AnyOnline, Registry};
use crate::config::Settings;
use crate::error::Result;
use crate::store::{now_ms, push::PendingPushRecord, records::StoredConvKind, Store};

/// Most push requests in flight at once; the rest wait in their slots.
const MAX_IN_FLIGHT: usize = 32;
/// Offers taken from the queue per store write.
const BATCH: usize = 256;

type Key = (String, u64);

#[derive(Default)]
struct Slot {
    /// When the last push of this slot started (the coalescing window opens there).
    last_sent_ms: Option<u64>,
    /// What is still to go out.
    waiting: Option<PendingPushRecord>,
    /// A delivery of this slot is in flight.
    busy: bool,
}

/// The answers of one delivery.
struct Finished {
    key: Key,
    seq: u64,
    /// The user had a socket open at send time: nothing was sent.
    online: bool,
    /// Per subscription id.
    outcomes: Vec<(String, Outcome)>,
}

/// What the worker needs; built by [`spawn`].
struct Worker {
    store: Arc<Store>,
    registry: Addr<Registry>,
    settings: Arc<Settings>,
    vapid: Vapid,
    stats: Arc<PushStats>,
    client: Rc<awc::Client>,
    slots: HashMap<Key, Slot>,
    timers: BinaryHeap<Reverse<(u64, String, u64)>>,
    in_flight: usize,
}

/// Starts the worker on a new thread; it runs until `stop` is notified or every
/// [`PushHandle`](super::PushHandle) is gone.
pub fn spawn(
    rx: mpsc::Receiver<Offer>,
    store: Arc<Store>,
    registry: Addr<Registry>,
    settings: Arc<Settings>,
    vapid: Vapid,
    stats: Arc<PushStats>,
    stop: Arc<Notify>,
) {
    let arbiter = actix::Arbiter::new();
    // the client is made on the worker's thread (it is not Send), so only the closure
    // that builds the task crosses threads
    arbiter.spawn_fn(move || {
        actix::spawn(async move {
            let client = awc::Client::builder()
                .disable_redirects()
                .timeout(Duration::from_secs(settings.push.request_timeout_secs))
                .connector(awc::Connector::new().timeout(Duration::from_secs(5)))
                .finish();
            let worker = Worker {
                store,
                registry,
                settings,
                vapid,
                stats,
                client: Rc::new(client),
                slots: HashMap::new(),
                timers: BinaryHeap::new(),
                in_flight: 0,
            };
            worker.run(rx, stop).await;
            actix::Arbiter::current().stop();
        });
    });
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Offer>, stop: Arc<Notify>) {
        if let Err(e) = self.load() {
            tracing::error!(error = %e, "push: cannot read the waiting pushes");
        }
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        let mut offers = Vec::with_capacity(BATCH);
        loop {
            self.fire_due(&done_tx);
            let wait = self.next_wait();
            tokio::select! {
                n = rx.recv_many(&mut offers, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.stats.queued.fetch_sub(n as u64, Ordering::Relaxed);
                    let batch = std::mem::take(&mut offers);
                    if let Err(e) = self.accept(batch).await {
                        tracing::warn!(error = %e, "push: offers not kept");
                    }
                }
                Some(done) = done_rx.recv() => {
                    if let Err(e) = self.finished(done).await {
                        tracing::warn!(error = %e, "push: answers not recorded");
                    }
                }
                () = tokio::time::sleep(wait) => {}
                () = stop.notified() => break,
            }
        }
    }

    fn coalesce_ms(&self) -> u64 {
        self.settings.push.coalesce_secs.saturating_mul(1000)
    }

    fn ttl_ms(&self) -> u64 {
        self.settings.push.ttl_secs.saturating_mul(1000)
    }

    fn schedule(&mut self, key: &Key, due_ms: u64) {
        self.timers.push(Reverse((due_ms, key.0.clone(), key.1)));
    }

    fn count_waiting(&self) {
        let n = self.slots.values().filter(|s| s.waiting.is_some()).count();
        self.stats.waiting.store(n as u64, Ordering::Relaxed);
    }

    /// How long until the next timer (or a while, if none can fire).
    fn next_wait(&self) -> Duration {
        match self.timers.peek() {
            Some(Reverse((due, _, _))) if self.in_flight < MAX_IN_FLIGHT => {
                Duration::from_millis(due.saturating_sub(now_ms()).max(1))
            }
            _ => Duration::from_secs(3600),
        }
    }

    /// Takes up what was waiting when the node stopped.
    fn load(&mut self) -> Result<()> {
        for (user, conv, record) in self.store.pending_pushes()? {
            let key = (user, conv);
            let due = record.due_ms;
            self.slots.entry(key.clone()).or_default().waiting = Some(record);
            self.schedule(&key, due);
        }
        self.count_waiting();
        Ok(())
    }

    /// Puts offers into their slots, keeping what changed in one store write.
    async fn accept(&mut self, offers: Vec<Offer>) -> Result<()> {
        let now = now_ms();
        let (window, ttl) = (self.coalesce_ms(), self.ttl_ms());
        let mut changed = Vec::new();
        for offer in offers {
            for user in offer.users {
                if self.store.push_subscriptions_of(&user)?.is_empty() {
                    continue;
                }
                match self.store.member_state(&user, offer.conv)? {
                    Some(state) if !state.muted => {}
                    _ => continue,
                }
                let key = (user, offer.conv);
                let slot = self.slots.entry(key.clone()).or_default();
                let deadline_ms = offer.ts.saturating_add(ttl);
                let record = match slot.waiting.take() {
                    Some(mut w) => {
                        // the newest wins, to every subscription, when the slot's time comes
                        if offer.seq > w.seq {
                            w.seq = offer.seq;
                            w.subscriptions.clear();
                            w.deadline_ms = deadline_ms;
                        }
                        w
                    }
                    None => {
                        let due_ms = match slot.last_sent_ms {
                            Some(t) if now < t.saturating_add(window) => t.saturating_add(window),
                            _ => now,
                        };
                        PendingPushRecord {
                            seq: offer.seq,
                            due_ms,
                            deadline_ms,
                            attempts: 0,
                            subscriptions: Vec::new(),
                        }
                    }
                };
                let due = record.due_ms;
                slot.waiting = Some(record.clone());
                changed.push((key.0.clone(), key.1, record));
                self.schedule(&key, due);
            }
        }
        self.count_waiting();
        self.store.put_pending_pushes(&changed).await
    }

    /// Starts the deliveries whose time has come.
    fn fire_due(&mut self, done: &mpsc::UnboundedSender<Finished>) {
        let now = now_ms();
        while self.in_flight < MAX_IN_FLIGHT {
            let Some(Reverse((due, _, _))) = self.timers.peek() else {
                break;
            };
            if *due > now {
                break;
            }
            let Some(Reverse((due, user, conv))) = self.timers.pop() else {
                break;
            };
            let key = (user, conv);
            let Some(slot) = self.slots.get_mut(&key) else {
                continue;
            };
            let Some(waiting) = slot.waiting.clone() else {
                continue;
            };
            if slot.busy || waiting.due_ms != due {
                // a stale timer: the slot has another one (or its delivery will reschedule)
                continue;
            }
            if now > waiting.deadline_ms {
                slot.waiting = None;
                let (store, seq, k) = (self.store.clone(), waiting.seq, key.clone());
                actix::spawn(async move {
                    let _ = store.delete_pending_push(&k.0, k.1, seq).await;
                });
                continue;
            }
            slot.busy = true;
            slot.last_sent_ms = Some(now);
            self.in_flight += 1;
            let job = Delivery {
                key,
                record: waiting,
                store: self.store.clone(),
                registry: self.registry.clone(),
                settings: self.settings.clone(),
                vapid: self.vapid.clone(),
                stats: self.stats.clone(),
                client: self.client.clone(),
            };
            let done = done.clone();
            actix::spawn(async move {
                let _ = done.send(job.run().await);
            });
        }
    }

    /// Records a delivery's answers: deletes gone subscriptions, plans retries, and
    /// forgets (in the store too) what is done.
    async fn finished(&mut self, done: Finished) -> Result<()> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let now = now_ms();
        let window = self.coalesce_ms();
        let mut gone = Vec::new();
        let mut retry = Vec::new();
        let mut retry_after: Option<u64> = None;
        for (id, outcome) in &done.outcomes {
            match outcome {
                Outcome::Sent => {}
                Outcome::Gone => gone.push(id.clone()),
                Outcome::Retry { after, .. } => {
                    retry.push(id.clone());
                    if let Some(a) = after {
                        retry_after = Some(retry_after.map_or(*a, |b| b.max(*a)));
                    }
                }
                Outcome::Failed(status) => {
                    tracing::warn!(status, user = %done.key.0, "push refused by the push service")
                }
            }
        }
        if !gone.is_empty() {
            self.store.delete_push_subscriptions(&gone).await?;
        }
        let Some(slot) = self.slots.get_mut(&done.key) else {
            return Ok(());
        };
        slot.busy = false;
        if done.online {
            slot.last_sent_ms = None;
        }
        let Some(mut waiting) = slot.waiting.take() else {
            return Ok(());
        };
        let mut keep = None;
        if waiting.seq > done.seq {
            // a newer message came in meanwhile: it goes at the window's end
            waiting.due_ms = waiting
                .due_ms
                .max(slot.last_sent_ms.map_or(now, |t| t.saturating_add(window)));
            keep = Some(waiting);
        } else if !retry.is_empty() {
            let backoff = 2000u64
                .saturating_mul(1 << waiting.attempts.min(9))
                .min(600_000);
            let delay = retry_after.map_or(backoff, |s| s.clamp(1, 3600) * 1000);
            waiting.attempts += 1;
            waiting.due_ms = now.saturating_add(delay);
            waiting.subscriptions = retry;
            if waiting.due_ms <= waiting.deadline_ms {
                keep = Some(waiting);
            }
        }
        let key = done.key.clone();
        match keep {
            Some(w) => {
                let due = w.due_ms;
                slot.waiting = Some(w.clone());
                self.schedule(&key, due);
                self.count_waiting();
                self.store
                    .put_pending_pushes(&[(key.0.clone(), key.1, w)])
                    .await
            }
            None => {
                let deleted = self
                    .store
                    .delete_pending_push(&key.0, key.1, done.seq)
                    .await;
                self.count_waiting();
                deleted
            }
        }
    }
}

/// One push of one slot to the user's subscriptions.
struct Delivery {
    key: Key,
    record: PendingPushRecord,
    store: Arc<Store>,
    registry: Addr<Registry>,
    settings: Arc<Settings>,
    vapid: Vapid,
    stats: Arc<PushStats>,
    client: Rc<awc::Client>,
}

impl Delivery {
    async fn run(self) -> Finished {
        let (user, conv) = (self.key.0.clone(), self.key.1);
        let mut finished = Finished {
            key: self.key.clone(),
            seq: self.record.seq,
            online: false,
            outcomes: Vec::new(),
        };
        let online = self
            .registry
            .send(AnyOnline { user: user.clone() })
            .await
            .unwrap_or(false);
        if online {
            finished.online = true;
            return finished;
        }
        let payload = match self.payload(&user, conv) {
            Ok(Some(p)) => p,
            Ok(None) => return finished,
            Err(e) => {
                tracing::warn!(error = %e, "push: cannot build the payload");
                return finished;
            }
        };
        let subs = match self.store.push_subscriptions_of(&user) {
            Ok(subs) => subs,
            Err(e) => {
                tracing::warn!(error = %e, "push: cannot list subscriptions");
                return finished;
            }
        };
        let wanted = &self.record.subscriptions;
        let sends = subs
            .into_iter()
            .filter(|(id, _)| wanted.is_empty() || wanted.contains(id))
            .map(|(id, sub)| {
                let payload = payload.clone();
                let this = &self;
                async move {
                    // a subscription outlives its token only until here
                    if matches!(this.store.token(&sub.token_hash), Ok(None)) {
                        return (id, Outcome::Gone);
                    }
                    (id, this.send_one(&sub, &payload).await)
                }
            });
        finished.outcomes = join_all(sends).await;
        finished
    }

    /// The payload for the slot's message; `None` when there is nothing to tell any
    /// more (recalled, or the user left the conversation).
    fn payload(&self, user: &str, conv: u64) -> Result<Option<Payload>> {
        let Some(message) = self.store.message(conv, self.record.seq)? else {
            return Ok(None);
        };
        let Some(state) = self.store.member_state(user, conv)? else {
            return Ok(None);
        };
        let Some(record) = self.store.conversation(conv)? else {
            return Ok(None);
        };
        if message.recalled || state.muted {
            return Ok(None);
        }
        let title = match record.kind {
            StoredConvKind::Group => record.name.clone(),
            StoredConvKind::Direct => self
                .store
                .user(&message.sender)?
                .and_then(|u| u.display_name)
                .unwrap_or_else(|| message.sender.clone()),
        };
        let kind = serde_json::to_value(message.kind.wire())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(Some(Payload {
            conv,
            seq: self.record.seq,
            sender: message.sender,
            title,
            body: match self.settings.push.include_body {
                true => message.body,
                false => String::new(),
            },
            kind,
            unread: state.unread,
        }))
    }

    async fn send_one(
        &self,
        sub: &crate::store::push::SubscriptionRecord,
        payload: &Payload,
    ) -> Outcome {
        let push = &self.settings.push;
        let target = match endpoint::check(&sub.endpoint, &push.allowed_endpoints).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "push: endpoint refused at send time");
                self.stats.failed_network.fetch_add(1, Ordering::Relaxed);
                return Outcome::Failed(0);
            }
        };
        let request = match deliver::prepare(
            sub,
            target,
            payload,
            &self.vapid,
            &push.contact,
            push.ttl_secs,
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "push: cannot prepare the request");
                return Outcome::Failed(0);
            }
        };
        let timeout = Duration::from_secs(push.request_timeout_secs);
        let outcome = deliver::send(&self.client, request, timeout).await;
        let counter = match &outcome {
            Outcome::Sent => &self.stats.sent,
            Outcome::Retry { status: 0, .. } => &self.stats.failed_network,
            Outcome::Retry { status, .. } | Outcome::Failed(status) if *status >= 500 => {
                &self.stats.failed_5xx
            }
            Outcome::Gone | Outcome::Retry { .. } | Outcome::Failed(_) => &self.stats.failed_4xx,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }
}
