//! Counters served at GET /metrics in the Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters, bumped on the hot paths with relaxed atomics.
#[derive(Default)]
pub struct Metrics {
    /// WebSocket sockets opened.
    pub ws_opened: AtomicU64,
    /// Client frames received.
    pub frames_in: AtomicU64,
    /// Frames answered with `bad_frame`.
    pub bad_frames: AtomicU64,
    /// Frames refused with `rate_limited`.
    pub rate_limited: AtomicU64,
    /// `send` frames accepted for storing.
    pub sends: AtomicU64,
    /// Sockets closed because their pushes piled up past `session.max_backlog_bytes`.
    pub ws_too_far_behind: AtomicU64,
}

/// Adds one to a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// Renders the counters and the given gauges.
    pub fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        let counters = [
            (
                "chatnode_ws_opened_total",
                "WebSocket sockets opened",
                &self.ws_opened,
            ),
            (
                "chatnode_frames_in_total",
                "client frames received",
                &self.frames_in,
            ),
            (
                "chatnode_bad_frames_total",
                "frames answered with bad_frame",
                &self.bad_frames,
            ),
            (
                "chatnode_rate_limited_total",
                "frames refused with rate_limited",
                &self.rate_limited,
            ),
            ("chatnode_sends_total", "send frames accepted", &self.sends),
            (
                "chatnode_ws_too_far_behind_total",
                "sockets closed because pushes piled up past session.max_backlog_bytes",
                &self.ws_too_far_behind,
            ),
        ];
        for (name, help, c) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                c.load(Ordering::Relaxed)
            ));
        }
        for (name, help, v) in gauges {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
            ));
        }
        out
    }
}
