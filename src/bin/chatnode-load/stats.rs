//! Latency percentiles and the node's memory, read from /proc.

use std::time::Duration;

use crate::Res;

/// Latencies in microseconds; percentiles by sorting (runs are bounded, so this is small).
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    /// Records one latency.
    pub fn push(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    /// Adds all of `other`.
    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The `p` quantile (0.0-1.0), or `None` if nothing was recorded.
    pub fn quantile(&mut self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = ((self.0.len() as f64) * p).ceil() as usize;
        let i = rank.clamp(1, self.0.len()) - 1;
        Some(Duration::from_micros(u64::from(self.0[i])))
    }

    /// "p50 / p99 / p999" in milliseconds.
    pub fn summary(&mut self) -> String {
        let ms = |d: Option<Duration>| match d {
            Some(d) => format!("{:.2}", d.as_secs_f64() * 1000.0),
            None => "-".into(),
        };
        format!(
            "{} / {} / {} ms",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.quantile(0.999))
        )
    }
}

/// Resident memory of process `pid` in KiB (VmRSS in /proc/PID/status).
pub fn rss_kib(pid: u32) -> Res<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in {path}"))
}

/// The soft limit on open files of process `pid` (the "self" process if `None`).
pub fn open_files_limit(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/limits"),
        None => "/proc/self/limits".into(),
    };
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// A rate per second, with thousands separators.
pub fn per_sec(count: u64, elapsed: Duration) -> String {
    let rate = count as f64 / elapsed.as_secs_f64().max(1e-9);
    format!("{}/s", thousands(rate.round() as u64))
}

/// 12345678 -> "12,345,678".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Samples a process's RSS in the background until stopped: its peak over the span.
pub struct RssSampler {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    /// Starts sampling `pid` every `every` (the first reading at once).
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut peak = 0;
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Ok(kib) = rss_kib(pid) {
                            peak = peak.max(kib);
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
            if let Ok(kib) = rss_kib(pid) {
                peak = peak.max(kib);
            }
            peak
        });
        RssSampler { stop, task }
    }

    /// Stops sampling; the peak in KiB (0 if the process could not be read).
    pub async fn peak_kib(self) -> u64 {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(0)
    }
}

/// KiB as "M.m MiB".
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A difference of two KiB readings as "+M.m MiB" (or "-").
pub fn mib_delta(after: u64, before: u64) -> String {
    let d = after as f64 - before as f64;
    format!(
        "{}{:.1} MiB",
        if d < 0.0 { "-" } else { "+" },
        d.abs() / 1024.0
    )
}
