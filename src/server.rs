//! Starting and stopping a node: open the store, start the actors, bind HTTP (and TLS).

use std::{
    net::SocketAddr,
    sync::{atomic::AtomicU64, atomic::AtomicUsize, Arc},
    time::Duration,
};

use actix::Actor;
use actix_http::HttpService;
use actix_service::{fn_service, map_config};
use actix_web::{
    dev::{AppConfig, ServerHandle},
    web, App, HttpServer,
};

use crate::actors::{
    hub::Hub,
    registry::Registry,
    supervisor::{CloseAll, Supervisor},
};
use crate::admin::socket::AdminSocket;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::limits::{LoginLimiter, WindowLimiter};
use crate::maintenance::Maintenance;
use crate::metrics::Metrics;
use crate::node::{Node, PushNode};
use crate::push::{self, vapid::Vapid, Offer, PushHandle};
use crate::store::{Store, StoreOptions};
use crate::{http, tls};

type PushInbox = tokio::sync::mpsc::Receiver<Offer>;

/// A node that is serving.
pub struct Running {
    /// Where HTTP/WebSocket is served (the real port if 0 was asked for).
    pub addr: SocketAddr,
    /// Where /metrics is served, if on its own address.
    pub metrics_addr: Option<SocketAddr>,
    /// The node's shared handles.
    pub node: Node,
    handles: Vec<ServerHandle>,
    /// data_dir/admin.sock, through which `chatnode backup` reaches this node.
    admin: Option<AdminSocket>,
    /// The served certificate, when TLS is on.
    certificate: Option<Arc<tls::Certificate>>,
    /// Orphan uploads and retention.
    maintenance: Option<Maintenance>,
}

/// The HTTP/1 service of one worker, for either kind of socket: the app serves requests,
/// `http::ws::serve` the upgrades (the WebSocket takes the connection over; that module
/// says why).
macro_rules! http_service {
    ($node:expr, $separate_metrics:expr) => {{
        let (node, ws_node) = ($node.clone(), $node.clone());
        let app = App::new()
            .app_data(web::Data::new(node))
            .configure(|cfg| http::routes(cfg, !$separate_metrics));
        HttpService::build()
            .keep_alive(Duration::from_secs(75))
            .client_request_timeout(Duration::from_secs(10))
            .client_disconnect_timeout(Duration::from_secs(2))
            // An `ack` is small: held back until the client acknowledged the previous
            // segment, it waited up to a whole send interval (Nagle's algorithm).
            .tcp_nodelay(true)
            .upgrade(fn_service(move |(req, framed)| {
                http::ws::serve(ws_node.clone(), req, framed)
            }))
            .finish(map_config(app, |()| AppConfig::default()))
    }};
}

/// Opens the store and starts serving; must run inside an actix System.
pub async fn start(settings: Settings) -> Result<Running> {
    let settings = Arc::new(settings);
    let store = Arc::new(Store::open(&StoreOptions::from_settings(&settings))?);
    startup_repair(&store)?;
    let search = Arc::new(match settings.search.index {
        true => crate::search::Search::start(&store),
        false => crate::search::Search::default(),
    });
    crate::admin::auto_backup::start(Arc::downgrade(&store), &settings);
    let (push, push_inbox) = push_channel(&settings);
    let registry = Registry::new(store.clone(), settings.limits.max_sessions_per_user)
        .with_push(push.clone())
        .start();
    let push = start_push(push, push_inbox, &store, &registry, &settings).await?;
    let hub = Hub::new(store.clone(), registry.clone(), settings.clone()).start();
    let supervisor = Supervisor::new(
        settings.heartbeat_timeout(),
        Duration::from_secs(settings.session.auth_timeout_secs),
    )
    .start();
    let node = Node {
        logins: Arc::new(LoginLimiter::new(settings.limits.logins_per_min)),
        failed_logins: Arc::new(WindowLimiter::new(
            settings.limits.failed_logins_per_user_per_min,
        )),
        metrics: Arc::new(Metrics::default()),
        connections: Arc::new(AtomicUsize::new(0)),
        per_ip: Default::default(),
        next_session: Arc::new(AtomicU64::new(1)),
        push,
        search,
        settings: settings.clone(),
        store,
        registry,
        hub,
        supervisor,
    };

    let separate_metrics = !settings.server.metrics_bind.is_empty();
    let bind = settings
        .bind_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let listener =
        listen(bind).map_err(|e| Error::Internal(format!("cannot listen on {bind}: {e}")))?;
    let addr = listener.local_addr()?;
    let builder = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .max_concurrent_connections(settings.limits.max_connections.saturating_add(1024))
        .workers(worker_count(settings.server.workers));
    let app_node = node.clone();
    let tls = tls::server_config(&settings.tls)?;
    let certificate = tls.as_ref().map(|t| t.certificate.clone());
    let builder = match tls {
        Some(tls::Tls { config, .. }) => builder.listen("chatnode-tls", listener, move || {
            http_service!(app_node, separate_metrics).rustls_0_23(config.clone())
        }),
        None => builder.listen("chatnode", listener, move || {
            http_service!(app_node, separate_metrics).tcp()
        }),
    }?;
    let server = builder.run();
    let mut handles = vec![server.handle()];
    actix_web::rt::spawn(server);

    let mut metrics_addr = None;
    if separate_metrics {
        let metrics_node = node.clone();
        let m = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(metrics_node.clone()))
                .route("/metrics", web::get().to(http::metrics))
        })
        .disable_signals()
        .workers(1)
        .bind(&settings.server.metrics_bind)
        .map_err(|e| {
            Error::Internal(format!(
                "cannot listen on {}: {e}",
                settings.server.metrics_bind
            ))
        })?;
        metrics_addr = m.addrs().first().copied();
        let m = m.run();
        handles.push(m.handle());
        actix_web::rt::spawn(m);
    }
    let admin = match AdminSocket::start(node.clone(), &settings.server.data_dir) {
        Ok(admin) => Some(admin),
        Err(e) => {
            tracing::warn!(error = %e, "no admin socket: `chatnode backup` cannot reach this node");
            None
        }
    };
    let maintenance = Some(Maintenance::start(&node.store, &settings)?);
    Ok(Running {
        addr,
        metrics_addr,
        node,
        handles,
        admin,
        certificate,
        maintenance,
    })
}

/// The push queue, or a handle that drops everything when `push.enabled` is false.
fn push_channel(settings: &Settings) -> (PushHandle, Option<PushInbox>) {
    match settings.push.enabled {
        true => {
            let (handle, inbox) = PushHandle::channel(settings.push.queue_size);
            (handle, Some(inbox))
        }
        false => (PushHandle::disabled(), None),
    }
}

/// Loads (on first start: makes) the VAPID key and starts the push worker.
async fn start_push(
    handle: PushHandle,
    inbox: Option<PushInbox>,
    store: &Arc<Store>,
    registry: &actix::Addr<Registry>,
    settings: &Arc<Settings>,
) -> Result<PushNode> {
    let Some(inbox) = inbox else {
        return Ok(PushNode::default());
    };
    let vapid = Vapid::load_or_create(store).await?;
    let stop = Arc::new(tokio::sync::Notify::new());
    push::worker::spawn(
        inbox,
        store.clone(),
        registry.clone(),
        settings.clone(),
        vapid.clone(),
        handle.stats.clone(),
        stop.clone(),
    );
    Ok(PushNode {
        handle,
        vapid: Some(vapid),
        stop,
    })
}

/// The fast start-up check: repairs what can be derived before anyone is served, one
/// log line per repair (docs/durability.md).
fn startup_repair(store: &Store) -> Result<()> {
    let started = std::time::Instant::now();
    let outcome = store.repair_on_start()?;
    for line in &outcome.repaired {
        tracing::warn!("repaired: {line}");
    }
    for line in &outcome.unrepairable {
        tracing::error!("start-up check: {line}");
    }
    tracing::info!(
        conversations = outcome.conversations,
        member_states = outcome.members,
        repairs = outcome.repaired.len(),
        ms = started.elapsed().as_millis() as u64,
        "start-up check done"
    );
    Ok(())
}

impl Running {
    /// Re-reads the TLS certificate and key (on SIGHUP); `false` if TLS is off. New
    /// connections get the new certificate, open ones keep theirs; on an error the
    /// certificate in use stays.
    pub fn reload_tls(&self) -> Result<bool> {
        match &self.certificate {
            Some(c) => c.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// Graceful stop: stop accepting, close every socket with 1001, flush the store.
    pub async fn shutdown(mut self) -> Result<()> {
        drop(self.admin.take());
        if let Some(mut m) = self.maintenance.take() {
            m.stop();
        }
        // Stop accepting first, so no new socket gets in while the open ones close; one
        // accepted just before is closed by the supervisor as soon as it registers.
        for handle in &self.handles {
            handle.pause().await;
        }
        let open = self
            .node
            .supervisor
            .send(CloseAll { code: 1001 })
            .await
            .unwrap_or(0);
        if open > 0 {
            // Let the close frames reach the sockets.
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        for handle in &self.handles {
            handle.stop(true).await;
        }
        self.node.push.stop.notify_one();
        self.node.search.stop(&self.node.store);
        self.node.store.flush_now()
    }
}

/// A listening socket on `addr` with a backlog for bursts of connects (std's is 128).
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The HTTP worker threads for the `server.workers` setting: 0 means one per core less
/// one, at least one. Under load the group-commit thread and the actor thread each keep
/// a core busy; measured on 2 cores (docs/benchmarks.md), one worker instead of two gave
/// ~10% more durable throughput and the same connect rate and ack latency.
fn worker_count(setting: usize) -> usize {
    if setting > 0 {
        return setting;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(1)
}
