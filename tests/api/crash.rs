//! The crash test: SIGKILL the real binary under load at random moments, restart it on
//! the same data dir, and prove that nothing acked was lost or doubled.
//!
//! Each round: start the node; every client connects and drains its offline queue
//! (which must be exactly the messages after its `delivered_seq`); clients re-send every
//! message they had sent without an ack, with the same client_id (a message stored
//! before the crash must get its stored seq back); then all clients send flat out,
//! several messages in flight each, confirming `delivered` and `read` as messages
//! arrive, until the node is killed with SIGKILL after a random delay (seeded), so kills
//! land at any point of the group commit. The crashed store must pass `chatnode check`
//! as it is, before any start-up repair.
//!
//! At the end the node restarts once more, the last unacked messages are re-sent, and
//! the whole history is fetched: every acked message is stored exactly once, at the seq
//! its ack named; seqs are 1..last in order; no client_id was acked with two seqs; and
//! after a graceful stop `chatnode check` passes (unread counters, dedupe, guards).
//!
//! `CRASH_ROUNDS` (default 3) kills, `CRASH_SEED` the seed, `CRASH_DURABILITY` the
//! setting under test (default `sync`):
//! `CRASH_ROUNDS=20 cargo test --release --test api crash -- --nocapture`

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    path::Path,
    process::{Child, Command},
    rc::Rc,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::rt::time::{sleep, timeout};
use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

/// Bound on every single wait.
const WAIT: Duration = Duration::from_secs(15);
/// Clients (users); each sends to the shared group and to one direct conversation.
const USERS: usize = 6;
/// Messages each client keeps in flight.
const WINDOW: usize = 4;

// ---- the node process -------------------------------------------------------------

/// A `chatnode` process on a data dir; killed if dropped while running.
pub(crate) struct Node {
    child: Option<Child>,
    pub(crate) addr: SocketAddr,
}

impl Node {
    /// Starts the binary on 127.0.0.1:0 and waits for its `listening` line; lines that
    /// report start-up repairs are collected into `repairs`.
    pub(crate) fn start(data_dir: &Path, repairs: Arc<Mutex<Vec<String>>>) -> Node {
        let (child, addr) = crate::harness::start_binary(
            data_dir,
            &[
                ("CHATNODE__SERVER__WORKERS", "2"),
                ("CHATNODE__LIMITS__MESSAGES_PER_SEC", "100000"),
                ("CHATNODE__LIMITS__LOGINS_PER_MIN", "100000"),
                ("CHATNODE__STORAGE__DURABILITY", &durability()),
            ],
            move |line| {
                if line.contains("repaired:") || line.contains("start-up check:") {
                    eprintln!("node: {line}");
                    repairs.lock().unwrap().push(line);
                }
            },
        );
        Node {
            child: Some(child),
            addr,
        }
    }

    /// `kill -9`: no flush, no goodbye.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .arg("-9")
                .arg(child.id().to_string())
                .status();
            assert!(status.is_ok_and(|s| s.success()), "kill -9 failed");
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub(crate) fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + WAIT;
            loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    assert!(status.success(), "the node exited with {status} on SIGTERM");
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "the node did not stop on SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The durability setting under test: "sync" unless `CRASH_DURABILITY` says otherwise
/// (`relaxed` shows what the test catches: acked messages lost in a kill).
fn durability() -> String {
    std::env::var("CRASH_DURABILITY").unwrap_or_else(|_| "sync".into())
}

/// Runs `chatnode check` on `data_dir`; whether it passed, and what it printed.
pub(crate) fn run_check(data_dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chatnode"))
        .arg("check")
        .env_clear()
        .env("CHATNODE__SERVER__DATA_DIR", data_dir)
        .env("RUST_LOG", "error")
        .output()
        .expect("run chatnode check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

// ---- HTTP ---------------------------------------------------------------------------

fn http() -> awc::Client {
    awc::Client::builder().timeout(WAIT).finish()
}

async fn call(method: &str, url: String, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let client = http();
    let mut req = match method {
        "POST" => client.post(url),
        _ => client.get(url),
    };
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut resp = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    }
    .expect("HTTP request");
    let bytes = resp
        .body()
        .limit(64 * 1024 * 1024)
        .await
        .expect("HTTP body");
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    (resp.status().as_u16(), json)
}

/// Every message of `conv`, by paging `after`.
async fn history(addr: SocketAddr, token: &str, conv: u64) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let after = out.last().map_or(0, |m| m["seq"].as_u64().unwrap());
        let url =
            format!("http://{addr}/api/conversations/{conv}/messages?after={after}&limit=100");
        let (status, page) = call("GET", url, Some(token), None).await;
        assert_eq!(status, 200, "history page: {page}");
        let msgs = page["messages"].as_array().unwrap().clone();
        let more = page["has_more"].as_bool().unwrap();
        out.extend(msgs);
        if !more {
            return out;
        }
    }
}

// ---- clients ------------------------------------------------------------------------

/// What one client remembers across crashes (what a real app keeps on the device).
#[derive(Clone, Default)]
pub(crate) struct Client {
    user: String,
    /// Its login token.
    pub(crate) token: String,
    /// Where it sends: the group and its direct conversation.
    pub(crate) convs: Vec<u64>,
    /// Next client_id number.
    next: u64,
    /// Sent and not acked: client_id -> (conv, body).
    pending: BTreeMap<String, (u64, String)>,
}

/// What one client did in one round.
#[derive(Default)]
struct RoundLog {
    /// (client_id, conv, seq) per ack, in arrival order.
    acks: Vec<(String, u64, u64)>,
    /// Acks of re-sent client_ids.
    retried: Vec<(String, u64, u64)>,
    /// Re-sent messages that turned out stored before the crash (their seq came back).
    retried_found_stored: u64,
    /// Problems seen by the client (order, offline queue).
    problems: Vec<String>,
}

/// Tells the test when every client reached a point (a plain counter on one thread).
#[derive(Clone, Default)]
struct Gate(Rc<std::cell::Cell<usize>>);

impl Gate {
    fn arrive(&self) {
        self.0.set(self.0.get() + 1);
    }

    async fn all(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.0.get() < n {
            assert!(
                Instant::now() < deadline,
                "clients did not get ready in time"
            );
            sleep(Duration::from_millis(5)).await;
        }
    }
}

fn frame_json(frame: &Frame) -> Option<Value> {
    match frame {
        Frame::Text(b) => serde_json::from_slice(b).ok(),
        _ => None,
    }
}

/// One client's round: connect and drain, check the queue, re-send unacked, then send
/// flat out until the connection dies (the kill) or `stop` is set.
async fn client_round(
    addr: SocketAddr,
    mut client: Client,
    drained: Gate,
    go: Gate,
    resent: Gate,
    load: bool,
) -> (Client, RoundLog) {
    let mut log = RoundLog::default();
    let url = format!("ws://{addr}/ws?token={}", client.token);
    let (_, mut ws) = timeout(
        WAIT,
        awc::Client::new()
            .ws(url)
            .max_frame_size(16 << 20)
            .connect(),
    )
    .await
    .expect("connect in time")
    .expect("WebSocket connect");

    // 1. the offline queue: exactly the messages after delivered_seq, in seq order
    let mut queued: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    loop {
        let frame = timeout(WAIT, ws.next())
            .await
            .expect("offline drain in time");
        let Some(Ok(frame)) = frame else {
            panic!("socket closed during the drain")
        };
        let Some(v) = frame_json(&frame) else {
            continue;
        };
        match v["type"].as_str() {
            Some("message") => {
                let m = &v["msg"];
                queued
                    .entry(m["conv"].as_u64().unwrap())
                    .or_default()
                    .push(m["seq"].as_u64().unwrap());
            }
            Some("sync_done") => break,
            _ => {}
        }
    }
    drained.arrive();
    drained.all(USERS).await;
    let mut last_at_connect: HashMap<u64, u64> = HashMap::new();
    for &conv in &client.convs {
        let (status, view) = call(
            "GET",
            format!("http://{addr}/api/conversations/{conv}"),
            Some(&client.token),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let (delivered, last) = (
            view["delivered_seq"].as_u64().unwrap(),
            view["last_seq"].as_u64().unwrap(),
        );
        last_at_connect.insert(conv, last);
        let want: Vec<u64> = (delivered + 1..=last).collect();
        let got = queued.remove(&conv).unwrap_or_default();
        if got != want {
            log.problems.push(format!(
                "{}: offline queue of conversation {conv} was {:?}.. ({} messages), expected {}..={last}",
                client.user,
                got.first(),
                got.len(),
                delivered + 1
            ));
        }
    }
    go.arrive();
    go.all(USERS).await;

    // 2. re-send what was sent but not acked before the crash, same client_ids
    let retry: Vec<(String, (u64, String))> = client.pending.clone().into_iter().collect();
    for (id, (conv, body)) in retry {
        let frame =
            json!({"type": "send", "conv": conv, "client_id": id, "kind": "text", "body": body});
        ws.send(Message::Text(frame.to_string().into()))
            .await
            .expect("send a retry");
        loop {
            let frame = timeout(WAIT, ws.next()).await.expect("retry ack in time");
            let Some(Ok(frame)) = frame else {
                panic!("socket closed during retries")
            };
            let Some(v) = frame_json(&frame) else {
                continue;
            };
            match v["type"].as_str() {
                Some("ack") if v["client_id"] == id.as_str() => {
                    let seq = v["seq"].as_u64().unwrap();
                    if seq <= last_at_connect.get(&conv).copied().unwrap_or(0) {
                        log.retried_found_stored += 1;
                    }
                    log.retried
                        .push((id.clone(), v["conv"].as_u64().unwrap(), seq));
                    client.pending.remove(&id);
                    break;
                }
                Some("error") if v["ref"] == id.as_str() => panic!("retry of {id} failed: {v}"),
                _ => {}
            }
        }
    }
    resent.arrive();
    if !load {
        let _ = ws.close().await;
        return (client, log);
    }

    // 3. load until the node dies
    let mut in_flight = 0usize;
    let mut last_ack: HashMap<u64, u64> = HashMap::new();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut received = 0u64;
    'load: loop {
        while in_flight < WINDOW {
            client.next += 1;
            let id = format!("{}-{}", client.user, client.next);
            let conv = client.convs[(client.next % client.convs.len() as u64) as usize];
            let body = format!("{id} body");
            client.pending.insert(id.clone(), (conv, body.clone()));
            let frame = json!({"type": "send", "conv": conv, "client_id": id, "kind": "text", "body": body});
            if ws
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                break 'load;
            }
            in_flight += 1;
        }
        let frame = match timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(frame))) => frame,
            _ => break, // closed, reset or silent: the node is gone
        };
        if let Frame::Close(_) = frame {
            break;
        }
        let Some(v) = frame_json(&frame) else {
            continue;
        };
        match v["type"].as_str() {
            Some("ack") => {
                let id = v["client_id"].as_str().unwrap().to_string();
                let (conv, seq) = (v["conv"].as_u64().unwrap(), v["seq"].as_u64().unwrap());
                if client.pending.remove(&id).is_some() {
                    in_flight -= 1;
                }
                // acks of one session in one conversation come in send order = seq order
                let prev = last_ack.insert(conv, seq).unwrap_or(0);
                if seq <= prev {
                    log.problems.push(format!(
                        "{}: ack {id} has seq {seq} after seq {prev} in {conv}",
                        client.user
                    ));
                }
                log.acks.push((id, conv, seq));
            }
            Some("error") => {
                // not acked: stays pending and is re-sent after the restart
                if let Some(id) = v["ref"].as_str() {
                    if client.pending.contains_key(id) {
                        in_flight -= 1;
                        eprintln!("{}: {id} answered {v}", client.user);
                    }
                }
            }
            Some("message") => {
                let m = &v["msg"];
                let (conv, seq) = (m["conv"].as_u64().unwrap(), m["seq"].as_u64().unwrap());
                let top = seen.entry(conv).or_insert(0);
                *top = (*top).max(seq);
                received += 1;
                if received.is_multiple_of(16) {
                    let f = json!({"type": "delivered", "conv": conv, "seq": *top});
                    let _ = ws.send(Message::Text(f.to_string().into())).await;
                }
                if received.is_multiple_of(37) {
                    let f = json!({"type": "read", "conv": conv, "seq": *top});
                    let _ = ws.send(Message::Text(f.to_string().into())).await;
                }
            }
            _ => {}
        }
    }
    (client, log)
}

// ---- the test -----------------------------------------------------------------------

/// Totals over all rounds, printed as the summary line.
#[derive(Default, Debug)]
struct Tally {
    /// client_id -> (sender, conv, seq) of its ack.
    acked: HashMap<String, (String, u64, u64)>,
    killed_in_flight: u64,
    retried_found_stored: u64,
    retried_stored_now: u64,
    problems: Vec<String>,
}

impl Tally {
    fn ack(&mut self, user: &str, id: &str, conv: u64, seq: u64) {
        if let Some((_, c, s)) = self.acked.get(id) {
            if (*c, *s) != (conv, seq) {
                self.problems
                    .push(format!("{id} acked as {c}/{s} and as {conv}/{seq}"));
            }
            return;
        }
        self.acked
            .insert(id.to_string(), (user.to_string(), conv, seq));
    }
}

/// Registers the users and opens the conversations.
pub(crate) async fn set_up(addr: SocketAddr) -> Vec<Client> {
    let mut clients = Vec::new();
    for i in 0..USERS {
        let user = format!("crash{i}");
        let (status, v) = call(
            "POST",
            format!("http://{addr}/api/register"),
            None,
            Some(json!({"username": user, "password": "correct horse battery"})),
        )
        .await;
        assert_eq!(status, 201, "register: {v}");
        clients.push(Client {
            user,
            token: v["token"].as_str().unwrap().to_string(),
            ..Client::default()
        });
    }
    let names: Vec<String> = clients.iter().map(|c| c.user.clone()).collect();
    let (status, group) = call(
        "POST",
        format!("http://{addr}/api/conversations"),
        Some(&clients[0].token),
        Some(json!({"kind": "group", "name": "crash", "members": names[1..]})),
    )
    .await;
    assert_eq!(status, 201, "group: {group}");
    let group = group["conv"].as_u64().unwrap();
    for pair in 0..USERS / 2 {
        let (a, b) = (2 * pair, 2 * pair + 1);
        let (status, direct) = call(
            "POST",
            format!("http://{addr}/api/conversations"),
            Some(&clients[a].token),
            Some(json!({"kind": "direct", "members": [names[b]]})),
        )
        .await;
        assert!(status == 201 || status == 200, "direct: {direct}");
        let direct = direct["conv"].as_u64().unwrap();
        clients[a].convs = vec![group, direct];
        clients[b].convs = vec![group, direct];
    }
    clients
}

/// Runs one round on a started node; kills it after `kill_after` if given.
async fn round(
    node: &mut Node,
    clients: Vec<Client>,
    kill_after: Option<Duration>,
    tally: &mut Tally,
) -> Vec<Client> {
    let (drained, go, resent) = (Gate::default(), Gate::default(), Gate::default());
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| {
            actix_web::rt::spawn(client_round(
                node.addr,
                c,
                drained.clone(),
                go.clone(),
                resent.clone(),
                kill_after.is_some(),
            ))
        })
        .collect();
    resent.all(USERS).await;
    if let Some(delay) = kill_after {
        sleep(delay).await;
        node.kill9();
    }
    let mut out = Vec::new();
    for t in tasks {
        let (client, log) = timeout(WAIT * 2, t)
            .await
            .expect("client finishes")
            .expect("client task");
        // found stored before the crash, or stored now: both fine, told apart for the summary
        tally.retried_found_stored += log.retried_found_stored;
        tally.retried_stored_now += log.retried.len() as u64 - log.retried_found_stored;
        for (id, conv, seq) in &log.retried {
            tally.ack(&client.user, id, *conv, *seq);
        }
        for (id, conv, seq) in &log.acks {
            tally.ack(&client.user, id, *conv, *seq);
        }
        tally.problems.extend(log.problems);
        if kill_after.is_some() {
            tally.killed_in_flight += client.pending.len() as u64;
        }
        out.push(client);
    }
    out
}

#[test]
fn crash() {
    let rounds: u64 = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00c0_ffee);
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let repairs = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tally = Tally::default();

    actix_web::rt::System::new().block_on(async {
        let mut node = Node::start(dir.path(), repairs.clone());
        let mut clients = set_up(node.addr).await;
        for r in 0..rounds {
            if r > 0 {
                node = Node::start(dir.path(), repairs.clone());
            }
            let delay = Duration::from_millis(rng.gen_range(150..1200));
            clients = round(&mut node, clients, Some(delay), &mut tally).await;
            // the crashed store, as the kill left it, before any start-up repair
            let (ok, report) = run_check(dir.path());
            assert!(ok, "round {r}: the crashed store fails `chatnode check`:\n{report}");
        }
        // the last restart: drain, re-send what is left, then verify everything
        node = Node::start(dir.path(), repairs.clone());
        let clients = round(&mut node, clients, None, &mut tally).await;
        let mut found = 0u64;
        let mut duplicated = 0u64;
        let mut stored: HashMap<String, (u64, u64)> = HashMap::new();
        let mut convs: Vec<u64> = clients.iter().flat_map(|c| c.convs.clone()).collect();
        convs.sort();
        convs.dedup();
        for conv in convs {
            let member = clients.iter().find(|c| c.convs.contains(&conv)).unwrap();
            let msgs = history(node.addr, &member.token, conv).await;
            for (i, m) in msgs.iter().enumerate() {
                let seq = m["seq"].as_u64().unwrap();
                if seq != i as u64 + 1 {
                    tally.problems.push(format!("conversation {conv}: position {} holds seq {seq}", i + 1));
                }
                let id = m["client_id"].as_str().unwrap_or_default().to_string();
                if id.is_empty() {
                    continue;
                }
                if stored.insert(id.clone(), (conv, seq)).is_some() {
                    duplicated += 1;
                    tally.problems.push(format!("{id} is stored twice"));
                }
            }
        }
        let mut lost = 0u64;
        for (id, (_, conv, seq)) in &tally.acked {
            match stored.get(id) {
                Some(at) if *at == (*conv, *seq) => found += 1,
                Some(at) => tally.problems.push(format!("{id} acked as {conv}/{seq}, stored at {at:?}")),
                None => {
                    lost += 1;
                    tally.problems.push(format!("{id} acked as {conv}/{seq} is not stored"));
                }
            }
        }
        let unacked_left: usize = clients.iter().map(|c| c.pending.len()).sum();
        node.terminate();
        let (ok, report) = run_check(dir.path());
        let repairs = repairs.lock().unwrap().len();
        println!(
            "crash: durability={} rounds={rounds} seed={seed} acked={} killed-in-flight={} found={found} lost={lost} \
             duplicated={duplicated} (re-sent after restart: {} already stored, {} stored then; \
             unacked left {unacked_left}; start-up repairs {repairs}) in {:.1} s",
            durability(),
            tally.acked.len(),
            tally.killed_in_flight,
            tally.retried_found_stored,
            tally.retried_stored_now,
            started.elapsed().as_secs_f64()
        );
        assert!(tally.problems.is_empty(), "problems:\n{}", tally.problems.join("\n"));
        assert_eq!(lost, 0);
        assert_eq!(duplicated, 0);
        assert_eq!(unacked_left, 0, "every re-sent message was acked");
        assert!(ok, "`chatnode check` after the final stop:\n{report}");
        assert!(tally.acked.len() as u64 > rounds, "the load did send messages");
    });
}
