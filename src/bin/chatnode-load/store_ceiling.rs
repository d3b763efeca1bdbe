//! The store-only ceiling of `pairs`: the same records per message as the node writes,
//! through the same store calls (the message queued for the group commit, which numbers
//! it and writes message + dedupe entry + last seq + both members' state in one
//! transaction per group and fsyncs; a queued `delivered` every so often), with no
//! network, no JSON and no actors. One task per conversation keeps `window` messages
//! waiting for durability, like a conversation actor under load.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use chatnode::config::Durability;
use chatnode::store::AppendWaiter;
use chatnode::store::{
    now_ms, DeliveredMark, Landed, MessageRecord, QueuedMessage, QueuedWrite, Store, StoreOptions,
    StoredKind,
};
use futures_util::{stream::FuturesOrdered, StreamExt};

use crate::ceiling::Rate;
use crate::Res;

/// Runs `convs` writers for `secs` in a fresh store under `scratch`; messages/s.
pub async fn run(
    scratch: &Path,
    convs: usize,
    window: usize,
    delivered_every: u64,
    secs: f64,
) -> Res<Rate> {
    let dir = scratch_dir(scratch, "store-ceiling")?;
    let outcome = measure(&dir, convs, window, delivered_every, secs).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// A fresh directory under `scratch`.
pub fn scratch_dir(scratch: &Path, name: &str) -> Res<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = scratch.join(format!(
        "chatnode-load-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {dir:?}: {e}"))?;
    Ok(dir)
}

async fn measure(
    dir: &Path,
    convs: usize,
    window: usize,
    delivered_every: u64,
    secs: f64,
) -> Res<Rate> {
    let store = Arc::new(
        Store::open(&StoreOptions {
            data_dir: dir.to_path_buf(),
            durability: Durability::Sync,
            cache_mb: 64,
            flush_every_ms: 500,
            backup_dir: std::path::PathBuf::from("backups"),
        })
        .map_err(|e| format!("open store: {e}"))?,
    );
    let mut chats = Vec::with_capacity(convs);
    for i in 0..convs {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        let (conv, record, _) = store
            .find_or_create_direct(&a, &b)
            .await
            .map_err(|e| format!("create conversation: {e}"))?;
        chats.push((conv, Arc::<[String]>::from(record.members), a, b));
    }
    let start = Instant::now();
    let stop_at = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = chats
        .into_iter()
        .map(|(conv, members, a, b)| {
            let store = store.clone();
            tokio::spawn(async move {
                writer(
                    &store,
                    conv,
                    &members,
                    &a,
                    &b,
                    window,
                    delivered_every,
                    stop_at,
                )
                .await
            })
        })
        .collect();
    let mut ops = 0;
    for t in tasks {
        ops += t.await.map_err(|e| format!("writer task: {e}"))??;
    }
    Ok(Rate {
        ops,
        elapsed: start.elapsed(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn writer(
    store: &Store,
    conv: u64,
    members: &Arc<[String]>,
    sender: &str,
    receiver: &str,
    window: usize,
    delivered_every: u64,
    stop_at: Instant,
) -> Res<u64> {
    let mut waiting = FuturesOrdered::new();
    let mut seq = 0u64;
    let mut durable = 0u64;
    loop {
        while waiting.len() < window && Instant::now() < stop_at {
            seq += 1;
            let client_id = format!("{sender}-{seq}");
            let record = MessageRecord {
                sender: sender.to_string(),
                client_id,
                kind: StoredKind::Text,
                body: now_ms().to_string(),
                media_url: None,
                ts: now_ms(),
                ..MessageRecord::default()
            };
            let message = QueuedMessage {
                conv,
                record,
                members: members.clone(),
            };
            waiting.push_back(queued(|done| {
                store.queue(QueuedWrite::Message(message), done)
            }));
            if delivered_every > 0 && seq.is_multiple_of(delivered_every) {
                let mark = DeliveredMark {
                    user: receiver.to_string(),
                    conv,
                    upto: seq,
                };
                waiting.push_back(queued(|done| {
                    store.queue(QueuedWrite::Delivered(mark), done)
                }));
            }
        }
        match waiting.next().await {
            Some(Ok(true)) => durable += 1,
            Some(Ok(false)) => {}
            Some(Err(e)) => return Err(format!("durable: {e}")),
            None => return Ok(durable),
        }
    }
}

/// A write waiting for durability: true for a stored message (counted), false for a
/// `delivered`.
type Settling = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<bool, chatnode::error::Error>> + Send>,
>;

/// Queues a write through `queue` and waits for where it landed.
fn queued(queue: impl FnOnce(AppendWaiter)) -> Settling {
    let (tx, rx) = tokio::sync::oneshot::channel();
    queue(Box::new(move |outcome| {
        let _ = tx.send(outcome);
    }));
    Box::pin(async move {
        let landed = rx
            .await
            .map_err(|_| chatnode::error::Error::Internal("group commit stopped".into()))??;
        match landed {
            Landed::Stored { .. } => Ok(true),
            Landed::Delivered { .. } | Landed::Event { .. } | Landed::Unchanged { .. } => Ok(false),
            Landed::Duplicate { .. } => Err(chatnode::error::Error::Internal(
                "dedupe hit in a fresh store".into(),
            )),
        }
    })
}
