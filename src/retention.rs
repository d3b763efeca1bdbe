//! `messages.retain_secs`: one pass over every conversation, deleting what is older.
//!
//! The store deletes a batch at a time ([`Store::expire_batch`]); between batches this
//! waits for the batch to be durable, drops its search-index entries, deletes media that
//! nothing links any more, and pauses, so a pass over a million expired messages is
//! spread thinly between the sends it runs beside.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use crate::error::Result;
use crate::store::{now_ms, Store, StoreEvent};

/// Messages deleted per transaction: a few ms of sled's write lock.
const BATCH: usize = 256;

/// Shortest pause after each full batch.
const PAUSE: Duration = Duration::from_millis(5);

/// Pause after a batch, as a multiple of the time the batch's transaction took: the
/// deleting takes at most a quarter of the store's write time, less when sends make
/// each transaction slower (measured: docs/benchmarks.md, "Retention under load").
const PAUSE_FACTOR: u32 = 3;

/// Deletes every message stored more than `retain_secs` ago; how many were deleted.
pub async fn expire(store: &Store, retain_secs: u64, stop: &AtomicBool) -> Result<usize> {
    let cutoff = now_ms().saturating_sub(retain_secs.saturating_mul(1000));
    let mut total = 0;
    for conv in store.conversation_ids()? {
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(total);
            }
            let started = std::time::Instant::now();
            let Some(batch) = store.expire_batch(conv, cutoff, BATCH)? else {
                break;
            };
            let took = started.elapsed();
            store.commit().durable(batch.ticket).await?;
            store.feed().send(StoreEvent::Expired {
                conv,
                upto: batch.upto,
            });
            for id in &batch.unlinked_media {
                store.delete_media_if_unreferenced(id).await?;
            }
            total += batch.deleted;
            if batch.deleted < BATCH {
                break;
            }
            tokio::time::sleep(PAUSE.max(took * PAUSE_FACTOR)).await;
        }
    }
    Ok(total)
}
