//! The shared handles of a running node, given to every route and session.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
};

use parking_lot::Mutex;

use actix::Addr;

use crate::actors::{hub::Hub, registry::Registry, session::SessionEnv, supervisor::Supervisor};
use crate::config::Settings;
use crate::limits::{LoginLimiter, WindowLimiter};
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
    /// Failed logins per username.
    pub failed_logins: Arc<WindowLimiter<String>>,
    /// Open sockets, against `limits.max_connections`.
    pub connections: Arc<AtomicUsize>,
    /// Open sockets per client address, against `limits.max_connections_per_ip`.
    pub per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// Source of session ids.
    pub next_session: Arc<AtomicU64>,
    /// Web Push: the queue, its counters, and the VAPID key (`None` when push is off).
    pub push: PushNode,
    /// The search index and its indexer.
    pub search: Arc<crate::search::Search>,
}

/// The push side of a node.
#[derive(Clone, Default)]
pub struct PushNode {
    /// Where offers go, and the counters.
    pub handle: crate::push::PushHandle,
    /// The VAPID key pair; `None` when `push.enabled` is false.
    pub vapid: Option<crate::push::vapid::Vapid>,
    /// Stops the worker (graceful shutdown).
    pub stop: Arc<tokio::sync::Notify>,
}

/// A place among `limits.max_connections` and the address's share, given back when dropped.
pub struct ConnectionSlot {
    total: Arc<AtomicUsize>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Node {
    /// Sends each member its view of a new conversation (`conv_update`).
    pub fn announce(&self, conv: u64, members: &[String]) -> crate::error::Result<()> {
        crate::actors::registry::announce(&self.store, &self.registry, conv, members)
    }

    /// The handles a WebSocket session uses.
    pub fn session_env(&self) -> SessionEnv {
        SessionEnv {
            settings: self.settings.clone(),
            store: self.store.clone(),
            registry: self.registry.clone(),
            hub: self.hub.clone(),
            supervisor: self.supervisor.clone(),
            metrics: self.metrics.clone(),
            next_session: self.next_session.clone(),
        }
    }

    /// Takes a connection slot for a client at `ip`, or `None` at either limit.
    pub fn take_slot(&self, ip: IpAddr) -> Option<ConnectionSlot> {
        let limits = &self.settings.limits;
        let max = limits.max_connections;
        self.connections
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        let mut per_ip = self.per_ip.lock();
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= limits.max_connections_per_ip {
            drop(per_ip);
            self.connections.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            total: self.connections.clone(),
            per_ip: self.per_ip.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.total.fetch_sub(1, Ordering::SeqCst);
        let mut per_ip = self.per_ip.lock();
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}
