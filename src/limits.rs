//! Rate limits: a token bucket per session, and a per-address window for logins.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    time::{Duration, Instant},
};

use parking_lot::Mutex;

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> Self {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// At most `per_min` events per key per minute: logins per client address, failed
/// logins per username.
pub struct WindowLimiter<K> {
    per_min: u32,
    windows: Mutex<HashMap<K, (Instant, u32)>>,
}

/// Register and login attempts per client address.
pub type LoginLimiter = WindowLimiter<IpAddr>;

impl<K: Hash + Eq> WindowLimiter<K> {
    /// A limiter allowing `per_min` events a minute per key.
    pub fn new(per_min: u32) -> Self {
        WindowLimiter {
            per_min,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an event for `key`; `false` if it is over the limit.
    pub fn allow(&self, key: K) -> bool {
        self.count(key, 1) <= self.per_min
    }

    /// Whether `key` is still under the limit, without counting.
    pub fn under_limit(&self, key: K) -> bool {
        self.count(key, 0) < self.per_min
    }

    fn count(&self, key: K, add: u32) -> u32 {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        let mut windows = self.windows.lock();
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < minute);
        }
        let entry = windows.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= minute {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(add);
        entry.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let mut b = TokenBucket::new(1, 3);
        assert!(b.try_take() && b.try_take() && b.try_take());
        assert!(!b.try_take());
    }

    #[test]
    fn login_limiter_counts_per_address() {
        let l = LoginLimiter::new(2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        assert!(l.allow(a) && l.allow(a));
        assert!(!l.allow(a));
        assert!(l.allow(b));
        let f = WindowLimiter::new(1);
        assert!(f.under_limit("bob"));
        assert!(f.allow("bob"));
        assert!(!f.under_limit("bob"));
    }
}
