//! The node's housekeeping thread: deletes orphan uploads (`media.orphan_ttl_secs`) and
//! expired messages (`messages.retain_secs`), off every actor and request thread; and
//! beside it the compactor's.
//!
//! It runs on a thread of its own with a one-thread async runtime (store writes wait for
//! the group commit like any other), holds the store only weakly (a node that is dropped
//! is not kept open by its housekeeping), and each pass is bounded: retention deletes in
//! small batches with a pause between them, so sends never wait behind it.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Weak,
    },
    thread,
    time::{Duration, Instant},
};

use crate::config::Settings;
use crate::media::sweep;
use crate::store::Store;

/// Longest pause between passes: PROTOCOL.md wants retention checked at least once a minute.
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// The running housekeeping thread; stopped (and joined) by [`Maintenance::stop`] or drop.
pub struct Maintenance {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// The compactor ([`crate::compactor`]), a thread of its own: its steps come one
    /// after another, while housekeeping waits on the group commit.
    compactor: Option<thread::JoinHandle<()>>,
}

/// How often a job with this age limit is run: as often as its limit, from once a second
/// up to once a minute.
fn interval_for(limit_secs: u64) -> Duration {
    Duration::from_secs(limit_secs.clamp(1, MAX_INTERVAL.as_secs()))
}

impl Maintenance {
    /// Starts the thread for `store` with the limits in `settings`.
    pub fn start(store: &Arc<Store>, settings: &Settings) -> std::io::Result<Maintenance> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = Arc::downgrade(store);
        let orphan_ttl = settings.media.orphan_ttl_secs;
        let retain = settings.messages.retain_secs;
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("maintenance".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                else {
                    tracing::error!("maintenance: no runtime; orphans and retention are off");
                    return;
                };
                rt.block_on(run(weak, flag, orphan_ttl, retain));
            })?;
        let compactor =
            crate::compactor::start(store, settings.storage.dedupe_window_secs, stop.clone())?;
        Ok(Maintenance {
            stop,
            thread: Some(thread),
            compactor: Some(compactor),
        })
    }

    /// Ends the thread after its current step and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in [self.thread.take(), self.compactor.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run(store: Weak<Store>, stop: Arc<AtomicBool>, orphan_ttl: u64, retain: u64) {
    let orphan_every = interval_for(orphan_ttl);
    let retain_every = interval_for(retain);
    let mut next_orphans = Instant::now() + orphan_every;
    let mut next_retention = Instant::now() + retain_every.min(Duration::from_secs(5));
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = Instant::now();
        if now >= next_orphans {
            next_orphans = now + orphan_every;
            let Some(store) = store.upgrade() else { return };
            match sweep::sweep_orphans(&store, orphan_ttl).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "orphan uploads deleted"),
                Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
            }
        }
        if retain > 0 && now >= next_retention {
            next_retention = now + retain_every;
            let Some(store) = store.upgrade() else { return };
            match crate::retention::expire(&store, retain, &stop).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "expired messages deleted"),
                Err(e) => tracing::warn!(error = %e, "retention pass failed"),
            }
        }
    }
}
