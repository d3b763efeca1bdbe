//! Test harness: a node on 127.0.0.1 with its store in a temp dir, an HTTP helper and a
//! small WebSocket client. Every wait is bounded by [`WAIT`].

use std::{collections::HashMap, collections::VecDeque, net::SocketAddr, pin::Pin, time::Duration};

use actix_web::rt::time::timeout;
use actix_web::web::Bytes;
use awc::{
    error::WsProtocolError,
    ws::{Frame, Message},
};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Longest a test waits for any one thing (a frame, a close, an HTTP answer).
pub const WAIT: Duration = Duration::from_secs(10);

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// A running node and what keeps it alive.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// HTTP client.
    pub client: awc::Client,
    _running: Option<chatnode::server::Running>,
    _dir: Option<TempDir>,
}

/// Starts a node on 127.0.0.1:0 with a fresh data dir; `overrides` are env-style
/// settings, e.g. `("CHATNODE__SESSION__HEARTBEAT_TIMEOUT_SECS", "1")`.
pub async fn spawn_app(overrides: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("CHATNODE__SERVER__BIND".into(), "127.0.0.1:0".into());
    env.insert(
        "CHATNODE__SERVER__DATA_DIR".into(),
        dir.path().to_string_lossy().into_owned(),
    );
    env.insert("CHATNODE__SERVER__WORKERS".into(), "2".into());
    // Every test user registers from 127.0.0.1.
    env.insert("CHATNODE__LIMITS__LOGINS_PER_MIN".into(), "10000".into());
    for (k, v) in overrides {
        env.insert((*k).to_string(), (*v).to_string());
    }
    let settings = chatnode::config::Settings::load_with_env(None, Some(env)).expect("settings");
    let running = chatnode::server::start(settings)
        .await
        .expect("node starts");
    let client = awc::Client::builder().timeout(WAIT).finish();
    TestApp {
        addr: running.addr,
        client,
        _running: Some(running),
        _dir: Some(dir),
    }
}

/// Calls `probe` every 20 ms until what it returns satisfies `done` (bounded by [`WAIT`]);
/// the last value, for the caller's assertion.
pub async fn poll_until<T, F, Fut>(mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = std::time::Instant::now() + WAIT;
    let mut value = probe().await;
    while !done(&value) && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        value = probe().await;
    }
    value
}

/// The value of one counter or gauge in /metrics text.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {text}"))
}

/// The node's /metrics text.
pub async fn metrics_text(app: &TestApp) -> String {
    let m = app.call("GET", "/metrics", None, None).await;
    String::from_utf8_lossy(&m.body).to_string()
}

/// An HTTP answer: status and body.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Raw body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Value::Null` if empty).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

impl TestApp {
    /// Talks to a node that runs elsewhere (another process).
    pub fn at(addr: SocketAddr) -> TestApp {
        TestApp {
            addr,
            client: awc::Client::builder().timeout(WAIT).finish(),
            _running: None,
            _dir: None,
        }
    }

    /// The node's data dir (nodes started by [`spawn_app`] only).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.as_ref().expect("a node of spawn_app").path()
    }

    /// Takes the in-process node out, to shut it down (panics for one in another process).
    pub fn take_running(&mut self) -> chatnode::server::Running {
        self._running.take().expect("an in-process node")
    }

    /// The in-process node (`None` for one in another process).
    pub fn running(&self) -> Option<&chatnode::server::Running> {
        self._running.as_ref()
    }

    /// http://ADDR + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// ws://ADDR/ws + query.
    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws{}", self.addr, query)
    }

    /// One HTTP request; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let sent = match body {
            Some(b) => req.send_json(&b).await,
            None => req.send().await,
        };
        let mut resp = sent.unwrap_or_else(|e| panic!("HTTP {path}: {e}"));
        let body = resp.body().limit(16 << 20).await.expect("HTTP body");
        Answer {
            status: resp.status().as_u16(),
            body,
        }
    }

    /// GET, answering (status, JSON body).
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let a = self.call("GET", path, Some(token), None).await;
        (a.status, a.json())
    }

    /// A search (`GET path`) polled until it answers `n` hits: the index makes a message
    /// searchable within a commit interval of its ack, not at once.
    pub async fn search_until(&self, path: &str, token: &str, n: usize) -> Value {
        let hits = |v: &Value| v["hits"].as_array().map_or(0, |h| h.len());
        let (_, v) = poll_until(|| self.get(path, token), |(_, v)| hits(v) == n).await;
        v
    }

    /// POST with a JSON body, answering (status, JSON body).
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let a = self.call("POST", path, Some(token), Some(body)).await;
        (a.status, a.json())
    }

    /// Registers `name` (asserting 201) and returns its token.
    pub async fn register(&self, name: &str) -> String {
        let a = self
            .call(
                "POST",
                "/api/register",
                None,
                Some(json!({"username": name, "password": PASSWORD})),
            )
            .await;
        assert_eq!(a.status, 201, "register {name}: {:?}", a.body);
        let v = a.json();
        assert_eq!(v["user"], name);
        v["token"].as_str().expect("token").to_string()
    }

    /// Logs `name` in (asserting 200) and returns a new token.
    pub async fn login(&self, name: &str) -> String {
        let a = self
            .call(
                "POST",
                "/api/login",
                None,
                Some(json!({"username": name, "password": PASSWORD})),
            )
            .await;
        assert_eq!(a.status, 200, "login {name}: {:?}", a.body);
        a.json()["token"].as_str().expect("token").to_string()
    }

    /// Creates (or finds) the direct conversation of the token's owner with `other`.
    pub async fn direct(&self, token: &str, other: &str) -> u64 {
        let (status, v) = self
            .post(
                "/api/conversations",
                token,
                json!({"kind": "direct", "members": [other]}),
            )
            .await;
        assert!(
            status == 201 || status == 200,
            "direct with {other}: {status} {v}"
        );
        v["conv"].as_u64().expect("conv id")
    }

    /// Creates a group of the token's owner and `members`.
    pub async fn group(&self, token: &str, name: &str, members: &[&str]) -> u64 {
        let (status, v) = self
            .post(
                "/api/conversations",
                token,
                json!({"kind": "group", "name": name, "members": members}),
            )
            .await;
        assert_eq!(status, 201, "group {name}: {v}");
        v["conv"].as_u64().expect("conv id")
    }

    /// The caller's view of one conversation (asserting 200).
    pub async fn conversation(&self, token: &str, conv: u64) -> Value {
        let (status, v) = self.get(&format!("/api/conversations/{conv}"), token).await;
        assert_eq!(status, 200, "conversation {conv}: {v}");
        v
    }

    /// The caller's conversation list (asserting 200).
    pub async fn conversations(&self, token: &str) -> Vec<Value> {
        let (status, v) = self.get("/api/conversations", token).await;
        assert_eq!(status, 200, "conversation list: {v}");
        v.as_array().expect("list").clone()
    }

    /// The whole stored history of `conv`, fetched page by page over HTTP.
    pub async fn history(&self, token: &str, conv: u64) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            let after = out.last().map(|m| m["seq"].as_u64().unwrap()).unwrap_or(0);
            let (status, page) = self
                .get(
                    &format!("/api/conversations/{conv}/messages?after={after}&limit=100"),
                    token,
                )
                .await;
            assert_eq!(status, 200, "history of {conv}: {page}");
            out.extend(
                page["messages"]
                    .as_array()
                    .expect("messages")
                    .iter()
                    .cloned(),
            );
            if !page["has_more"].as_bool().expect("has_more") {
                return out;
            }
        }
    }

    /// Polls the caller's view of `conv` until the number `field` reaches `at_least`
    /// (bounded by [`WAIT`]); the view.
    pub async fn wait_for_state(
        &self,
        token: &str,
        conv: u64,
        field: &str,
        at_least: u64,
    ) -> Value {
        let start = std::time::Instant::now();
        loop {
            let v = self.conversation(token, conv).await;
            if v[field].as_u64().expect("a number") >= at_least {
                return v;
            }
            assert!(
                start.elapsed() < WAIT,
                "{field} never reached {at_least}: {v}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A socket authenticated with `?token=`, past `auth_ok` and the offline drain.
    pub async fn connect(&self, token: &str) -> WsClient {
        let mut ws = WsClient::open(self.client.ws(self.ws_url(&format!("?token={token}")))).await;
        ws.ready().await;
        ws
    }
}

/// What one read from a socket gave.
enum Incoming {
    Json(Value),
    /// A close frame (with its code, if any).
    Closed(Option<u16>),
    /// The connection ended without a close frame.
    Eof,
}

/// A WebSocket client that reads JSON frames with bounded waits.
pub struct WsClient {
    tx: Pin<Box<dyn Sink<Message, Error = WsProtocolError>>>,
    rx: Pin<Box<dyn Stream<Item = Result<Frame, WsProtocolError>>>>,
    backlog: VecDeque<Value>,
    /// `message` frames of the offline drain (between `auth_ok` and `sync_done`).
    pub drained: Vec<Value>,
    /// The `auth_ok` frame, once [`WsClient::ready`] saw it.
    pub auth_ok: Value,
    /// The subprotocol the node chose.
    pub protocol: Option<String>,
    /// Set once the socket ended: `Some(code)` for a close frame, `None` for a bare EOF.
    closed: Option<Option<Option<u16>>>,
    pings: u64,
}

impl WsClient {
    /// Connects (no authentication step).
    pub async fn open(req: awc::ws::WebsocketsRequest) -> WsClient {
        let (resp, io) = timeout(WAIT, req.max_frame_size(64 << 20).connect())
            .await
            .expect("WebSocket handshake timed out")
            .unwrap_or_else(|e| panic!("WebSocket handshake failed: {e}"));
        let protocol = resp
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (tx, rx) = io.split();
        WsClient {
            tx: Box::pin(tx),
            rx: Box::pin(rx),
            backlog: VecDeque::new(),
            drained: Vec::new(),
            auth_ok: Value::Null,
            protocol,
            closed: None,
            pings: 0,
        }
    }

    /// Waits for `auth_ok`, then collects the drain up to `sync_done`.
    pub async fn ready(&mut self) {
        self.auth_ok = self.next_of_type("auth_ok").await;
        let mut others = Vec::new();
        loop {
            let f = self.next_frame().await;
            match f["type"].as_str() {
                Some("sync_done") => {
                    // Frames of other types wait in the backlog, in order.
                    self.backlog.extend(others);
                    return;
                }
                Some("message") => self.drained.push(f),
                _ => others.push(f),
            }
        }
    }

    /// Sends one JSON frame.
    pub async fn send_json(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::Text(text.to_string().into())).await;
    }

    /// Sends any frame.
    pub async fn send(&mut self, msg: Message) {
        timeout(WAIT, self.tx.send(msg))
            .await
            .expect("send timed out")
            .unwrap_or_else(|e| panic!("send failed: {e}"));
    }

    /// Queues frames and flushes them together (for concurrent writers).
    pub async fn send_many(&mut self, frames: Vec<Value>) {
        for f in frames {
            timeout(WAIT, self.tx.feed(Message::Text(f.to_string().into())))
                .await
                .expect("feed timed out")
                .unwrap_or_else(|e| panic!("feed failed: {e}"));
        }
        timeout(WAIT, self.tx.flush())
            .await
            .expect("flush timed out")
            .unwrap_or_else(|e| panic!("flush failed: {e}"));
    }

    /// A `send` frame of a text message.
    pub async fn send_msg(&mut self, conv: u64, client_id: &str, body: &str) {
        self.send_json(json!({"type": "send", "conv": conv, "client_id": client_id, "kind": "text", "body": body}))
            .await;
    }

    /// Sends a text message and waits for its `ack`.
    pub async fn send_acked(&mut self, conv: u64, client_id: &str, body: &str) -> Value {
        self.send_msg(conv, client_id, body).await;
        self.ack_for(client_id).await
    }

    /// The `ack` for `client_id` (failing on an `error` that answers it).
    pub async fn ack_for(&mut self, client_id: &str) -> Value {
        let f = self
            .next_matching(|f| {
                (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == client_id
                    || f["type"] == "error" && f["ref"] == client_id
            })
            .await;
        assert_eq!(f["type"], "ack", "expected an ack for {client_id}, got {f}");
        f
    }

    async fn read(&mut self, wait: Duration) -> Option<Incoming> {
        match self.closed {
            Some(Some(code)) => return Some(Incoming::Closed(code)),
            Some(None) => return Some(Incoming::Eof),
            None => {}
        }
        loop {
            let item = match timeout(wait, self.rx.next()).await {
                Err(_) => return None,
                Ok(item) => item,
            };
            let frame: Result<Frame, WsProtocolError> = match item {
                None => {
                    self.closed = Some(None);
                    return Some(Incoming::Eof);
                }
                Some(f) => f,
            };
            match frame {
                Ok(Frame::Text(bytes)) => {
                    let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                        panic!("node sent a text frame that is not JSON ({e}): {bytes:?}")
                    });
                    assert!(v["type"].is_string(), "frame without type: {v}");
                    return Some(Incoming::Json(v));
                }
                Ok(Frame::Close(reason)) => {
                    let code = reason.map(|r| u16::from(r.code));
                    self.closed = Some(Some(code));
                    return Some(Incoming::Closed(code));
                }
                Ok(Frame::Ping(p)) => self.send(Message::Pong(p)).await,
                Ok(Frame::Binary(b)) => panic!("node sent a binary frame: {b:?}"),
                Ok(_) => {}
                Err(e) => {
                    self.closed = Some(None);
                    panic!("WebSocket protocol error: {e}");
                }
            }
        }
    }

    /// The next frame: first from the backlog, else from the socket (fails after [`WAIT`]
    /// or if the socket closes).
    pub async fn next_frame(&mut self) -> Value {
        if let Some(f) = self.backlog.pop_front() {
            return f;
        }
        match self.read(WAIT).await {
            Some(Incoming::Json(v)) => v,
            Some(Incoming::Closed(code)) => {
                panic!("socket closed (code {code:?}) while waiting for a frame")
            }
            Some(Incoming::Eof) => panic!("connection ended while waiting for a frame"),
            None => panic!("no frame within {WAIT:?}"),
        }
    }

    /// A frame already on the socket, waiting at most `wait`; `None` if none came.
    pub async fn try_frame(&mut self, wait: Duration) -> Option<Value> {
        if let Some(f) = self.backlog.pop_front() {
            return Some(f);
        }
        match self.read(wait).await {
            Some(Incoming::Json(v)) => Some(v),
            Some(Incoming::Closed(code)) => panic!("socket closed (code {code:?}) unexpectedly"),
            Some(Incoming::Eof) => panic!("connection ended unexpectedly"),
            None => None,
        }
    }

    /// A frame already on the socket, waiting at most `wait` (`Ok(None)` if none came),
    /// or `Err(code)` once the node closed the socket.
    pub async fn try_frame_or_close(
        &mut self,
        wait: Duration,
    ) -> Result<Option<Value>, Option<u16>> {
        if let Some(f) = self.backlog.pop_front() {
            return Ok(Some(f));
        }
        match self.read(wait).await {
            Some(Incoming::Json(v)) => Ok(Some(v)),
            Some(Incoming::Closed(code)) => Err(code),
            Some(Incoming::Eof) => panic!("connection ended without a close frame"),
            None => Ok(None),
        }
    }

    /// The first frame (backlog first) that `pred` accepts; the frames skipped stay in the
    /// backlog in order.
    pub async fn next_matching(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i).unwrap();
        }
        loop {
            match self.read(WAIT).await {
                Some(Incoming::Json(v)) if pred(&v) => return v,
                Some(Incoming::Json(v)) => self.backlog.push_back(v),
                Some(Incoming::Closed(code)) => panic!(
                    "socket closed (code {code:?}) while waiting for a frame; skipped: {:?}",
                    self.backlog
                ),
                Some(Incoming::Eof) => panic!(
                    "connection ended while waiting for a frame; skipped: {:?}",
                    self.backlog
                ),
                None => panic!(
                    "no matching frame within {WAIT:?}; skipped: {:?}",
                    self.backlog
                ),
            }
        }
    }

    /// The next frame of type `t`; frames of other types stay in the backlog.
    pub async fn next_of_type(&mut self, t: &str) -> Value {
        self.next_matching(|f| f["type"] == t).await
    }

    /// The next `error` frame, whose code must be `code`.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let e = self.next_of_type("error").await;
        assert_eq!(e["code"], code, "unexpected error frame: {e}");
        e
    }

    /// Round trip: a `ping` and its `pong`. Everything the node sent before the pong is
    /// then in the backlog.
    pub async fn barrier(&mut self) {
        self.pings += 1;
        let ts = 1_000_000 + self.pings;
        self.send_json(json!({"type": "ping", "ts": ts})).await;
        let pong = self
            .next_matching(|f| f["type"] == "pong" && f["ts"] == ts)
            .await;
        assert_eq!(pong["ts"], ts);
    }

    /// Removes and returns every backlog frame of type `t`.
    pub fn take_of_type(&mut self, t: &str) -> Vec<Value> {
        let (taken, kept): (Vec<Value>, Vec<Value>) =
            self.backlog.drain(..).partition(|f| f["type"] == t);
        self.backlog = kept.into();
        taken
    }

    /// After a barrier, asserts that no frame of type `t` came.
    pub async fn assert_none_of_type(&mut self, t: &str) {
        self.barrier().await;
        let got = self.take_of_type(t);
        assert!(got.is_empty(), "expected no `{t}` frame, got {got:?}");
    }

    /// Reads until the node closes the socket; the close code (frames before it stay in
    /// the backlog).
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.read(WAIT).await {
                Some(Incoming::Json(v)) => self.backlog.push_back(v),
                Some(Incoming::Closed(code)) => return code,
                Some(Incoming::Eof) => panic!(
                    "connection ended without a close frame; got {:?}",
                    self.backlog
                ),
                None => panic!("socket not closed within {WAIT:?}; got {:?}", self.backlog),
            }
        }
    }

    /// Closes the socket from this side; the node must answer the closing handshake
    /// with a close frame (RFC 6455 5.5.1).
    pub async fn close(mut self) {
        assert!(self.closed.is_none(), "socket already closed");
        self.send(Message::Close(Some(awc::ws::CloseCode::Normal.into())))
            .await;
        loop {
            match self.read(WAIT).await {
                Some(Incoming::Json(_)) => {}
                Some(Incoming::Closed(_)) => return,
                Some(Incoming::Eof) => {
                    panic!("the node dropped the connection without answering the close")
                }
                None => panic!("the node did not answer the close within {WAIT:?}"),
            }
        }
    }
}

/// The seqs of a list of message objects.
pub fn seqs(msgs: &[Value]) -> Vec<u64> {
    msgs.iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

/// The message objects of a list of `message` frames.
pub fn msgs_of(frames: &[Value]) -> Vec<Value> {
    frames.iter().map(|f| f["msg"].clone()).collect()
}

/// A child process, killed and reaped when dropped: a failing test leaves no node behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real `chatnode` binary on 127.0.0.1:0 with its store in `data_dir` and
/// `env` on top, and waits for its `chatnode listening on http(s)://ADDR` line. Every other
/// line of stdout and of stderr (the log) goes to `on_line`, and the log lines to this
/// test's stderr too; both are read to the end, so the node never blocks.
pub fn start_binary(
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
    on_line: impl FnMut(String) + Send + 'static,
) -> (std::process::Child, SocketAddr) {
    start_program(
        std::path::Path::new(env!("CARGO_BIN_EXE_chatnode")),
        data_dir,
        env,
        on_line,
    )
}

/// [`start_binary`] with another `chatnode` executable (an older build, for fixtures).
pub fn start_program(
    program: &std::path::Path,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
    on_line: impl FnMut(String) + Send + 'static,
) -> (std::process::Child, SocketAddr) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("CHATNODE__SERVER__BIND", "127.0.0.1:0")
        .env("CHATNODE__SERVER__DATA_DIR", data_dir)
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the chatnode binary");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let on_line = std::sync::Arc::new(std::sync::Mutex::new(on_line));
    let on_log_line = on_line.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            if let Ok(mut f) = on_log_line.lock() {
                f(line);
            }
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let line_addr = line.trim().strip_prefix("chatnode listening on ");
            match line_addr.and_then(|a| a.strip_prefix("http://").or(a.strip_prefix("https://"))) {
                Some(addr) => {
                    let _ = tx.send(addr.to_string());
                }
                None => {
                    if let Ok(mut f) = on_line.lock() {
                        f(line);
                    }
                }
            }
        }
    });
    match rx.recv_timeout(WAIT) {
        Ok(a) => (child, a.parse().expect("an address in the listening line")),
        Err(_) => {
            let _ = child.kill();
            panic!("the node did not print its address within {WAIT:?}");
        }
    }
}
