//! The store-only ceiling of `pairs`: the same records per message as the node writes,
//! through the same store calls (client_id claim, then the message queued for the group
//! commit, which writes message + dedupe entry + last-seq guard + both members' state in
//! one transaction per group and fsyncs; a `delivered` update every so often), with no
//! network, no JSON and no actors. One task per conversation keeps `window` messages
//! waiting for durability, like a conversation actor under load.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use chatnode::config::Durability;
use chatnode::protocol::MessageKind;
use chatnode::store::{
    now_ms, GroupCommit, Landed, MessageRecord, QueuedMessage, Store, StoreOptions, Ticket,
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
                kind: MessageKind::Text,
                body: now_ms().to_string(),
                media_url: None,
                ts: now_ms(),
                recalled: false,
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            let message = QueuedMessage {
                conv,
                record,
                members: members.clone(),
            };
            store.append_queued(
                message,
                Box::new(move |outcome| {
                    let _ = tx.send(outcome);
                }),
            );
            waiting.push_back(Box::pin(async move {
                rx.await
                    .map_err(|_| chatnode::error::Error::Internal("group commit stopped".into()))?
                    .and_then(|landed| match landed {
                        Landed::Stored { .. } => Ok(true),
                        Landed::Duplicate { .. } => Err(chatnode::error::Error::Internal(
                            "dedupe hit in a fresh store".into(),
                        )),
                    })
            }) as Settling);
            if delivered_every > 0 && seq.is_multiple_of(delivered_every) {
                let updated = store
                    .update_member_state(receiver, conv, |s| {
                        s.delivered_seq = s.delivered_seq.max(seq)
                    })
                    .map_err(|e| format!("delivered: {e}"))?;
                if let Some((_, ticket)) = updated {
                    let commit = store.commit().clone();
                    waiting.push_back(Box::pin(settle(commit, ticket, false)) as Settling);
                }
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

/// A write waiting for durability: true for a message (counted), false for an update.
type Settling = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<bool, chatnode::error::Error>> + Send>,
>;

/// Waits for `ticket`; says whether it was a message (counted) or a `delivered` update.
async fn settle(
    commit: GroupCommit,
    ticket: Ticket,
    message: bool,
) -> Result<bool, chatnode::error::Error> {
    commit.durable(ticket).await.map(|_| message)
}
