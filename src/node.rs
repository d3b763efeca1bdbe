//! The shared handles of a running node, given to every route and session.

use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Arc,
};

use actix::Addr;

use crate::actors::{hub::Hub, registry::Registry, supervisor::Supervisor};
use crate::config::Settings;
use crate::limits::LoginLimiter;
use crate::metrics::Metrics;
use crate::store::Store;

/// Everything a request or a session needs; cheap to clone.
#[derive(Clone)]
pub struct Node {
    /// Settings in force.
    pub settings: Arc<Settings>,
    /// The store.
    pub store: Arc<Store>,
    /// Who is online.
    pub registry: Addr<Registry>,
    /// Conversation actors.
    pub hub: Addr<Hub>,
    /// Heartbeat sweeps.
    pub supervisor: Addr<Supervisor>,
    /// Counters for /metrics.
    pub metrics: Arc<Metrics>,
    /// Register/login attempts per address.
    pub logins: Arc<LoginLimiter>,
    /// Open sockets, against `limits.max_connections`.
    pub connections: Arc<AtomicUsize>,
    /// Source of session ids.
    pub next_session: Arc<AtomicU64>,
}

/// A place among `limits.max_connections`, given back when dropped.
pub struct ConnectionSlot(Arc<AtomicUsize>);

impl Node {
    /// Takes a connection slot, or `None` at the limit.
    pub fn take_slot(&self) -> Option<ConnectionSlot> {
        let max = self.settings.limits.max_connections;
        self.connections
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| ConnectionSlot(self.connections.clone()))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
