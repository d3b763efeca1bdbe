//! The compactor thread: seals older history into chunks and prunes old dedupe entries
//! (`store::compaction`), so the store's memory and disk stay flat in the number of
//! messages it keeps.
//!
//! It walks every conversation, one bounded step (one transaction) at a time, pausing as
//! long as each step took, at a lower CPU priority than the node: under a burst it falls
//! behind and catches up when the node is quiet. Nothing waits for its steps to be
//! durable: a step lost in a crash is simply done again.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Weak,
    },
    thread,
    time::{Duration, Instant},
};

use crate::error::Result;
use crate::store::{now_ms, Store};

/// Pause between passes that found nothing to do.
const IDLE: Duration = Duration::from_secs(2);

/// Shortest pause after a step.
const MIN_PAUSE: Duration = Duration::from_millis(1);

/// How much nicer than the node the compactor runs.
const NICE: libc::c_int = 10;

/// Starts the thread for `store`; it ends when `stop` is set or the store is gone.
pub fn start(
    store: &Arc<Store>,
    dedupe_window_secs: u64,
    stop: Arc<AtomicBool>,
) -> std::io::Result<thread::JoinHandle<()>> {
    let weak = Arc::downgrade(store);
    thread::Builder::new()
        .name("compactor".into())
        .spawn(move || run(weak, dedupe_window_secs, stop))
}

fn run(store: Weak<Store>, window_secs: u64, stop: Arc<AtomicBool>) {
    crate::background::lower_priority(NICE);
    while !stop.load(Ordering::SeqCst) {
        let Some(strong) = store.upgrade() else {
            return;
        };
        let worked = match pass(&strong, window_secs, &stop) {
            Ok(steps) => steps,
            Err(e) => {
                tracing::warn!(error = %e, "compaction pass failed");
                0
            }
        };
        drop(strong);
        if worked == 0 {
            let until = Instant::now() + IDLE;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// One walk over every conversation, doing every step there is; how many steps.
pub fn pass(store: &Store, window_secs: u64, stop: &AtomicBool) -> Result<usize> {
    let mut steps = 0;
    let mut behind = 0;
    for (conv, last) in store.last_seqs()? {
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(steps);
            }
            let started = Instant::now();
            let window_ms = window_secs.saturating_mul(1000);
            let step = match store.prune_dedupe_next(conv, now_ms(), window_ms)? {
                Some(step) => Some(step),
                None => store.seal_next(conv)?,
            };
            if step.is_none() {
                break;
            }
            steps += 1;
            thread::sleep(started.elapsed().max(MIN_PAUSE));
        }
        behind += store.unsealed_behind(conv, last)?;
    }
    store.compaction_pass_done(behind);
    Ok(steps)
}
