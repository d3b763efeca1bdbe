//! A cheap monotonic millisecond clock shared by sessions and the supervisor.

use std::{sync::OnceLock, time::Instant};

static START: OnceLock<Instant> = OnceLock::new();

/// Milliseconds since the process started; never goes backwards.
pub fn mono_ms() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}
