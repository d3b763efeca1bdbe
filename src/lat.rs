//! TEMPORARY latency probes.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
pub struct Hist([AtomicU64; 2000]);
#[allow(clippy::declare_interior_mutable_const)]
const Z: AtomicU64 = AtomicU64::new(0);
pub static H: [Hist; 4] = [Hist([Z; 2000]), Hist([Z; 2000]), Hist([Z; 2000]), Hist([Z; 2000])];
pub fn rec(i: usize, d: Duration) {
    let b = ((d.as_micros() / 100) as usize).min(1999);
    H[i].0[b].fetch_add(1, Ordering::Relaxed);
}
pub fn start() {
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_secs(4));
        let mut line = String::new();
        for (i, h) in H.iter().enumerate() {
            let v: Vec<u64> = h.0.iter().map(|a| a.swap(0, Ordering::Relaxed)).collect();
            let n: u64 = v.iter().sum();
            if n == 0 { continue; }
            let q = |p: f64| { let t = (n as f64 * p) as u64; let mut c = 0; for (b, x) in v.iter().enumerate() { c += x; if c >= t { return b as f64 / 10.0; } } 200.0 };
            let sum: f64 = v.iter().enumerate().map(|(b, x)| *x as f64 * b as f64 / 10.0).sum();
            let max = v.iter().rposition(|x| *x > 0).unwrap_or(0) as f64 / 10.0;
            let over1: u64 = v[10..].iter().sum();
            line += &format!(" H{i}: n={n} p50={} p99={} p999={} max={max} >1ms={over1} sum={:.0}ms |", q(0.5), q(0.99), q(0.999), sum);
        }
        eprintln!("LAT{line}");
    });
}
