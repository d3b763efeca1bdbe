//! WebSocket connections to the node, spread over 127.0.0.x source addresses, and the
//! frames the tool reads.
//!
//! One source address has ~28k ephemeral ports; binding each socket to the next of
//! several loopback addresses before connecting goes past that at 50k connections.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    tungstenite::{protocol::WebSocketConfig, Message},
    WebSocketStream,
};

use crate::Res;

/// An open WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// How long connecting and authenticating may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where to connect, and from which source addresses.
pub struct Target {
    /// The node (loopback only).
    pub addr: SocketAddr,
    sources: Vec<Ipv4Addr>,
    next: AtomicUsize,
}

impl Target {
    /// Connects to `addr` from 127.0.0.1 .. 127.0.0.`sources`.
    pub fn new(addr: SocketAddr, sources: u8) -> Res<Self> {
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{addr} is not a loopback address; the load tool only drives local nodes"
            ));
        }
        let sources = (1..=sources.max(1))
            .map(|i| Ipv4Addr::new(127, 0, 0, i))
            .collect();
        Ok(Target {
            addr,
            sources,
            next: AtomicUsize::new(0),
        })
    }

    /// Opens a WebSocket authenticated by `?token=` (not yet read: see [`Target::open_authed`]).
    pub async fn open(&self, token: &str) -> Res<Ws> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| format!("socket: {e}"))?;
        if self.addr.is_ipv4() {
            socket
                .bind(SocketAddr::new(self.sources[i].into(), 0))
                .map_err(|e| format!("bind {}: {e}", self.sources[i]))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        // Small buffers: 50k idle clients must not cost the tool gigabytes.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let url = format!("ws://{}/ws?token={token}", self.addr);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
            .await
            .map_err(|e| format!("websocket handshake: {e}"))?;
        Ok(ws)
    }

    /// Opens a socket and reads until `sync_done`; returns it, the time it took, and
    /// the `message` frames of the offline drain.
    pub async fn open_authed(&self, token: &str) -> Res<(Ws, Duration, Vec<Msg>)> {
        let started = Instant::now();
        tokio::time::timeout(OPEN_TIMEOUT, async {
            let mut ws = self.open(token).await?;
            let mut drained = Vec::new();
            let mut authed = false;
            loop {
                match next_frame(&mut ws).await? {
                    Some(Incoming::AuthOk {}) => authed = true,
                    Some(Incoming::Message { msg }) => drained.push(msg),
                    Some(Incoming::SyncDone {}) if authed => {
                        return Ok((ws, started.elapsed(), drained))
                    }
                    Some(Incoming::Error { code, message, .. }) => {
                        return Err(format!("node refused the socket: {code}: {message}"))
                    }
                    Some(_) => {}
                    None => return Err("closed before sync_done".into()),
                }
            }
        })
        .await
        .map_err(|_| format!("no sync_done within {OPEN_TIMEOUT:?}"))?
    }
}

/// A message as the tool reads it (other fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Msg {
    /// Conversation.
    pub conv: u64,
    /// Seq.
    pub seq: u64,
    /// Sender's dedupe id.
    pub client_id: String,
    /// Body: the load tool writes its send time in microseconds here.
    pub body: String,
}

/// The node frames the tool looks at; everything else is `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Incoming {
    /// Authenticated.
    AuthOk {},
    /// A pushed or drained message.
    Message {
        /// The message.
        msg: Msg,
    },
    /// A send is durable.
    Ack {
        /// The sender's id.
        client_id: String,
        /// Its seq.
        seq: u64,
    },
    /// Part of a sync.
    SyncBatch {
        /// Conversation.
        conv: u64,
        /// Messages.
        messages: Vec<Msg>,
        /// More after these.
        #[serde(default)]
        has_more: bool,
    },
    /// A page of history.
    History {
        /// Conversation.
        conv: u64,
        /// Messages, ascending by seq.
        messages: Vec<Msg>,
        /// More in the direction asked.
        #[serde(default)]
        has_more: bool,
    },
    /// End of a drain or sync.
    SyncDone {},
    /// Answer to `ping`.
    Pong {},
    /// A refused frame.
    Error {
        /// Protocol error code.
        code: String,
        /// Text.
        message: String,
        /// client_id or frame type.
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    /// Anything else (receipts, presence, conv_update, ...).
    #[serde(other)]
    Other,
}

/// The next frame, `None` once the socket is closed. Cancel-safe.
pub async fn next_frame(ws: &mut Ws) -> Res<Option<Incoming>> {
    loop {
        match ws.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(format!("websocket: {e}")),
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str())
                    .map(Some)
                    .map_err(|e| format!("bad frame from node ({e}): {}", text.as_str()));
            }
            Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Ok(_)) => {}
        }
    }
}

/// Queues a text frame (call [`flush`] to send what is queued).
pub async fn feed(ws: &mut Ws, text: String) -> Res<()> {
    ws.feed(Message::text(text))
        .await
        .map_err(|e| format!("websocket send: {e}"))
}

/// Sends everything queued.
pub async fn flush(ws: &mut Ws) -> Res<()> {
    ws.flush()
        .await
        .map_err(|e| format!("websocket flush: {e}"))
}

/// Sends one text frame now.
pub async fn send(ws: &mut Ws, text: String) -> Res<()> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("websocket send: {e}"))
}
