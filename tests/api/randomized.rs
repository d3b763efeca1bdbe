//! Randomized: devices connect, disconnect, sync, read, confirm and send in a seeded
//! random order; every frame is checked against what the node acknowledged, and at the
//! end every device's view must equal the stored history and every unread counter must
//! match the history.
//!
//! Steps run one at a time and every send waits for its ack, so at each step the test
//! knows exactly what is stored. Set CHATNODE_TEST_SEED to replay one seed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use serde_json::{json, Value};

use crate::harness::{spawn_app, TestApp, WsClient, WAIT};

const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];
const STEPS: usize = 150;

/// One device (socket owner) of a user.
struct Device {
    user: usize,
    token: String,
    ws: Option<WsClient>,
    /// Everything this device has seen, per conversation.
    have: HashMap<u64, BTreeMap<u64, Value>>,
    /// Highest seq seen on the current socket per conversation (drain, live, sync).
    max_seen: HashMap<u64, u64>,
    /// Syncs asked and not yet answered: conv -> last seq sent in the request.
    asked: HashMap<u64, u64>,
    /// Conversations whose last batch said has_more.
    more: Vec<u64>,
    /// `ack` frames not yet claimed.
    acks: HashMap<String, Value>,
    /// Messages sent from the current socket: it must never get them as `message`.
    sent_here: HashSet<(u64, u64)>,
    /// Messages received before the test saw their ack (concurrent senders); checked at
    /// the end of the step.
    unverified: Vec<Value>,
}

/// What the node acknowledged, and what members asked for.
struct World {
    /// conv -> members (user indexes).
    convs: Vec<(u64, Vec<usize>)>,
    /// conv -> stored messages by seq (gapless, checked after every step).
    stored: HashMap<u64, BTreeMap<u64, Value>>,
    /// (user, client_id) -> (conv, body, ack) of every message sent.
    sent: Vec<Vec<(u64, String, String, Value)>>,
    /// (user, conv) -> highest `read` / `delivered` sent.
    read: HashMap<(usize, u64), u64>,
    delivered: HashMap<(usize, u64), u64>,
    next_id: u64,
}

impl World {
    fn convs_of(&self, user: usize) -> Vec<u64> {
        self.convs
            .iter()
            .filter(|(_, m)| m.contains(&user))
            .map(|(c, _)| *c)
            .collect()
    }

    fn last(&self, conv: u64) -> u64 {
        self.stored.get(&conv).map(|v| v.len() as u64).unwrap_or(0)
    }

    /// Records an acknowledged new message.
    fn acked(&mut self, user: usize, conv: u64, cid: String, body: String, ack: Value) -> Value {
        assert_eq!(ack["conv"], conv, "ack for another conversation: {ack}");
        let seq = ack["seq"].as_u64().unwrap();
        let msg = json!({
            "conv": conv, "seq": seq, "sender": USERS[user], "client_id": cid, "kind": "text",
            "body": body, "media_url": null, "ts": ack["ts"], "recalled": false,
            "reply_to": null, "mentions": [], "edited_ts": null, "reactions": {}
        });
        let old = self.stored.get_mut(&conv).unwrap().insert(seq, msg.clone());
        assert!(
            old.is_none(),
            "seq {seq} of {conv} acked twice: {old:?} and {msg}"
        );
        self.sent[user].push((conv, cid, body, ack));
        msg
    }

    /// Seqs are gapless: 1..=n in every conversation.
    fn check_gapless(&self) {
        for (conv, msgs) in &self.stored {
            let seqs: Vec<u64> = msgs.keys().copied().collect();
            assert_eq!(
                seqs,
                (1..=msgs.len() as u64).collect::<Vec<_>>(),
                "gap in {conv}"
            );
        }
    }
}

impl Device {
    fn ws(&mut self) -> &mut WsClient {
        self.ws.as_mut().expect("connected")
    }

    /// Largest n with 1..=n all seen.
    fn contiguous(&self, conv: u64) -> u64 {
        let mut n = 0;
        if let Some(have) = self.have.get(&conv) {
            for (&seq, _) in have.iter() {
                if seq != n + 1 {
                    break;
                }
                n = seq;
            }
        }
        n
    }

    fn complete(&self, world: &World) -> bool {
        world.convs_of(self.user).iter().all(|&c| {
            self.contiguous(c) == world.last(c)
                && self.have.get(&c).map_or(0, |h| h.len() as u64) == world.last(c)
        })
    }

    /// A message the node sent this device: it must be exactly what was acknowledged.
    fn record(&mut self, world: &World, m: &Value, how: &str) {
        let conv = m["conv"].as_u64().unwrap();
        let seq = m["seq"].as_u64().unwrap();
        assert!(
            world.convs_of(self.user).contains(&conv),
            "{} got a message of a conversation it is not in: {m}",
            USERS[self.user]
        );
        match world.stored.get(&conv).and_then(|v| v.get(&seq)) {
            Some(expected) => assert_eq!(m, expected, "{how}: message differs from the acked one"),
            None => self.unverified.push(m.clone()),
        }
        if let Some(old) = self.have.entry(conv).or_default().insert(seq, m.clone()) {
            assert_eq!(&old, m, "{how}: two different messages at {conv}/{seq}");
        }
    }

    /// Checks and takes in one frame.
    fn absorb(&mut self, world: &World, f: &Value) {
        match f["type"].as_str().unwrap() {
            "message" => {
                let m = &f["msg"];
                let conv = m["conv"].as_u64().unwrap();
                let seq = m["seq"].as_u64().unwrap();
                assert!(
                    !self.sent_here.contains(&(conv, seq)),
                    "{}: the socket that sent {conv}/{seq} got it back as a message",
                    USERS[self.user]
                );
                let seen = self.max_seen.entry(conv).or_insert(0);
                assert!(seq > *seen, "{}: message {conv}/{seq} after {seen} on the same socket (reordered or doubled)", USERS[self.user]);
                *seen = seq;
                self.record(world, m, "message");
            }
            "sync_batch" => {
                let conv = f["conv"].as_u64().unwrap();
                let after = self
                    .asked
                    .remove(&conv)
                    .unwrap_or_else(|| panic!("unasked sync_batch: {f}"));
                let msgs = f["messages"].as_array().unwrap();
                for (i, m) in msgs.iter().enumerate() {
                    assert_eq!(
                        m["seq"].as_u64().unwrap(),
                        after + 1 + i as u64,
                        "sync_batch is not the exact gap: {f}"
                    );
                    self.record(world, m, "sync_batch");
                }
                let end = after + msgs.len() as u64;
                let seen = self.max_seen.entry(conv).or_insert(0);
                *seen = (*seen).max(end);
                if f["has_more"].as_bool().unwrap() {
                    assert!(end < world.last(conv), "has_more with nothing more: {f}");
                    self.more.push(conv);
                } else {
                    assert_eq!(
                        end,
                        world.last(conv),
                        "sync_batch stopped short without has_more: {f}"
                    );
                }
            }
            "ack" => {
                self.acks
                    .insert(f["client_id"].as_str().unwrap().to_string(), f.clone());
            }
            "error" => panic!("{}: unexpected error frame {f}", USERS[self.user]),
            _ => {}
        }
    }

    /// Reads (checking every frame) until `pred` accepts one.
    async fn pump_until(&mut self, world: &World, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let f = self.ws().next_frame().await;
            self.absorb(world, &f);
            if pred(&f) {
                return f;
            }
        }
    }

    /// Takes in whatever is already on the socket.
    async fn pump_available(&mut self, world: &World) {
        while let Some(f) = self.ws().try_frame(Duration::ZERO).await {
            self.absorb(world, &f);
        }
    }

    /// `sync` of every conversation from the contiguous position, paging while has_more.
    async fn full_sync(&mut self, world: &World, limit: u64) {
        let mut convs = world.convs_of(self.user);
        while !convs.is_empty() {
            let mut req = serde_json::Map::new();
            for &c in &convs {
                let from = self.contiguous(c);
                req.insert(c.to_string(), json!(from));
                self.asked.insert(c, from);
            }
            self.ws()
                .send_json(json!({"type": "sync", "convs": req, "limit": limit}))
                .await;
            self.pump_until(world, |f| f["type"] == "sync_done").await;
            assert!(self.asked.is_empty(), "no sync_batch for {:?}", self.asked);
            convs = std::mem::take(&mut self.more);
        }
        assert!(
            self.complete(world),
            "{} is not complete after a full sync",
            USERS[self.user]
        );
    }

    /// Connects with one of the four ways to authenticate, checks the offline drain
    /// against the user's delivered positions, then syncs.
    async fn connect(&mut self, app: &TestApp, world: &World, rng: &mut StdRng) {
        let views = app.conversations(&self.token).await;
        let mut expected: HashMap<u64, Vec<Value>> = HashMap::new();
        for v in &views {
            let conv = v["conv"].as_u64().unwrap();
            let delivered = v["delivered_seq"].as_u64().unwrap() as usize;
            let pending: Vec<Value> = world.stored[&conv]
                .values()
                .skip(delivered)
                .cloned()
                .collect();
            if !pending.is_empty() {
                expected.insert(conv, pending);
            }
        }
        let t = &self.token;
        let mut ws = match rng.gen_range(0..4) {
            0 => WsClient::open(app.client.ws(app.ws_url(&format!("?token={t}")))).await,
            1 => WsClient::open(app.client.ws(app.ws_url("")).bearer_auth(t)).await,
            2 => {
                WsClient::open(
                    app.client
                        .ws(app.ws_url(""))
                        .protocols(["chatnode.v1".to_string(), format!("token.{t}")]),
                )
                .await
            }
            _ => {
                let mut ws = WsClient::open(app.client.ws(app.ws_url(""))).await;
                ws.send_json(json!({"type": "auth", "token": t})).await;
                ws
            }
        };
        ws.ready().await;
        let drained = std::mem::take(&mut ws.drained);
        self.ws = Some(ws);
        self.max_seen.clear();
        self.acks.clear();
        self.sent_here.clear();
        let mut got: HashMap<u64, Vec<Value>> = HashMap::new();
        for f in &drained {
            self.absorb(world, f);
            got.entry(f["msg"]["conv"].as_u64().unwrap())
                .or_default()
                .push(f["msg"].clone());
        }
        assert_eq!(
            got, expected,
            "{}: the offline drain is not what lies after delivered_seq",
            USERS[self.user]
        );
        let limit = rng.gen_range(1..=8);
        self.full_sync(world, limit).await;
    }
}

async fn run(seed: u64) {
    eprintln!("randomized: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = std::time::Instant::now();
    let trace = std::env::var("CHATNODE_TEST_TRACE").is_ok();
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "10000")]).await;
    let mut tokens = Vec::new();
    for u in USERS {
        tokens.push(app.register(u).await);
    }
    let everyone = app.group(&tokens[0], "all", &USERS[1..]).await;
    let d01 = app.direct(&tokens[0], "u1").await;
    let d12 = app.direct(&tokens[1], "u2").await;
    let d03 = app.direct(&tokens[3], "u0").await;
    let trio = app.group(&tokens[1], "trio", &["u2", "u3"]).await;
    let mut world = World {
        convs: vec![
            (everyone, vec![0, 1, 2, 3]),
            (d01, vec![0, 1]),
            (d12, vec![1, 2]),
            (d03, vec![0, 3]),
            (trio, vec![1, 2, 3]),
        ],
        stored: HashMap::new(),
        sent: vec![Vec::new(); USERS.len()],
        read: HashMap::new(),
        delivered: HashMap::new(),
        next_id: 0,
    };
    for (c, _) in &world.convs {
        world.stored.insert(*c, BTreeMap::new());
    }
    // u0 has two devices.
    let owners = [0usize, 0, 1, 2, 3];
    let mut devices: Vec<Device> = owners
        .iter()
        .map(|&user| Device {
            user,
            token: tokens[user].clone(),
            ws: None,
            have: HashMap::new(),
            max_seen: HashMap::new(),
            asked: HashMap::new(),
            more: Vec::new(),
            acks: HashMap::new(),
            sent_here: HashSet::new(),
            unverified: Vec::new(),
        })
        .collect();

    for step in 0..STEPS {
        step_once(
            step,
            &app,
            &mut world,
            &mut devices,
            &mut rng,
            trace,
            started,
        )
        .await;
        world.check_gapless();
        for dev in devices.iter_mut() {
            for m in std::mem::take(&mut dev.unverified) {
                let expected =
                    &world.stored[&m["conv"].as_u64().unwrap()][&m["seq"].as_u64().unwrap()];
                assert_eq!(
                    &m, expected,
                    "step {step}: {} got a message unlike the acked one",
                    USERS[dev.user]
                );
            }
        }
    }

    // Live delivery alone must complete every connected device; the others reconnect.
    for dev in devices.iter_mut() {
        if dev.ws.is_some() {
            while !dev.complete(&world) {
                let Some(f) = dev.ws().try_frame(WAIT).await else {
                    let missing: Vec<(u64, Vec<u64>)> = world
                        .convs_of(dev.user)
                        .into_iter()
                        .map(|c| {
                            (
                                c,
                                (1..=world.last(c))
                                    .filter(|s| {
                                        !dev.have.get(&c).is_some_and(|h| h.contains_key(s))
                                    })
                                    .collect(),
                            )
                        })
                        .collect();
                    panic!(
                        "{} (connected) never received by live push: {missing:?}",
                        USERS[dev.user]
                    );
                };
                dev.absorb(&world, &f);
            }
            dev.ws().barrier().await;
            dev.pump_available(&world).await;
        } else {
            dev.connect(&app, &world, &mut rng).await;
        }
    }
    let total: usize = world.stored.values().map(BTreeMap::len).sum();
    eprintln!(
        "randomized: seed {seed}: {total} messages stored, {:?}",
        started.elapsed()
    );
    assert!(total > 20, "the run should have sent something");

    // Every device's view equals the stored history, exactly.
    for (conv, members) in &world.convs {
        let history = app.history(&tokens[members[0]], *conv).await;
        let acked: Vec<Value> = world.stored[conv].values().cloned().collect();
        assert_eq!(history, acked, "stored history differs from the acks");
        for dev in devices.iter().filter(|d| members.contains(&d.user)) {
            let view: Vec<Value> = dev
                .have
                .get(conv)
                .map(|h| h.values().cloned().collect())
                .unwrap_or_default();
            assert_eq!(view, history, "{}'s view of {conv}", USERS[dev.user]);
        }
    }
    // Every unread counter equals others' messages after read_seq.
    for (user, token) in tokens.iter().enumerate() {
        for v in app.conversations(token).await {
            let conv = v["conv"].as_u64().unwrap();
            let read_seq = v["read_seq"].as_u64().unwrap();
            let delivered_seq = v["delivered_seq"].as_u64().unwrap();
            assert!(read_seq >= world.read.get(&(user, conv)).copied().unwrap_or(0));
            assert!(delivered_seq >= world.delivered.get(&(user, conv)).copied().unwrap_or(0));
            assert!(delivered_seq >= read_seq, "{v}");
            assert_eq!(v["last_seq"].as_u64().unwrap(), world.last(conv));
            let unread = world.stored[&conv]
                .values()
                .filter(|m| m["seq"].as_u64().unwrap() > read_seq && m["sender"] != USERS[user])
                .count() as u64;
            assert_eq!(
                v["unread"].as_u64().unwrap(),
                unread,
                "{}'s unread in {conv}: {v}",
                USERS[user]
            );
        }
    }
}

/// One random step: a device connects, or a connected one acts; or several devices send
/// at once.
async fn step_once(
    step: usize,
    app: &TestApp,
    world: &mut World,
    devices: &mut [Device],
    rng: &mut StdRng,
    trace: bool,
    started: std::time::Instant,
) {
    let d = rng.gen_range(0..devices.len());
    let action = rng.gen_range(0..100);
    if trace {
        let online = devices[d].ws.is_some();
        eprintln!(
            "step {step}: device {d} (online {online}) action {action} at {:?}",
            started.elapsed()
        );
    }
    if devices[d].ws.is_none() {
        if action < 70 {
            devices[d].connect(app, world, rng).await;
        }
        return;
    }
    if (30..=39).contains(&action) {
        // Several devices send at once; messages may arrive before the test saw their ack.
        let mut senders: Vec<usize> = (0..devices.len())
            .filter(|&i| devices[i].ws.is_some())
            .collect();
        senders.shuffle(rng);
        senders.truncate(rng.gen_range(2..=4));
        let mut pending = Vec::new();
        for &i in &senders {
            let user = devices[i].user;
            let conv = *world.convs_of(user).choose(rng).unwrap();
            world.next_id += 1;
            let cid = format!("{}-{}", USERS[user], world.next_id);
            let body = format!("burst at step {step} from device {i}: {}", rng.gen::<u32>());
            devices[i].ws().send_msg(conv, &cid, &body).await;
            pending.push((i, conv, cid, body));
        }
        for (i, conv, cid, body) in pending {
            let dev = &mut devices[i];
            let ack = dev
                .pump_until(world, |f| {
                    f["type"] == "ack" && f["client_id"] == cid.as_str()
                })
                .await;
            let msg = world.acked(dev.user, conv, cid, body, ack);
            // The sending socket gets only the ack: it places the message itself.
            dev.sent_here.insert((conv, msg["seq"].as_u64().unwrap()));
            dev.record(world, &msg, "own");
        }
        return;
    }
    let dev = &mut devices[d];
    let user = dev.user;
    let conv = *world.convs_of(user).choose(rng).unwrap();
    match action {
        // Send, sometimes retrying an earlier client_id of this user.
        0..=29 => {
            if !world.sent[user].is_empty() && rng.gen_bool(0.15) {
                let (c, cid, body, ack) = world.sent[user].choose(rng).unwrap().clone();
                dev.ws().send_msg(c, &cid, &body).await;
                let got = dev
                    .pump_until(world, |f| {
                        f["type"] == "ack" && f["client_id"] == cid.as_str()
                    })
                    .await;
                assert_eq!(got, ack, "step {step}: a retry must get the first ack");
            } else {
                world.next_id += 1;
                let cid = format!("{}-{}", USERS[user], world.next_id);
                let body = format!("step {step} from device {d}: {}", rng.gen::<u32>());
                dev.ws().send_msg(conv, &cid, &body).await;
                let ack = dev
                    .pump_until(world, |f| {
                        f["type"] == "ack" && f["client_id"] == cid.as_str()
                    })
                    .await;
                assert_eq!(
                    ack["seq"].as_u64().unwrap(),
                    world.last(conv) + 1,
                    "step {step}: seqs must be gapless"
                );
                let msg = world.acked(user, conv, cid, body, ack);
                dev.sent_here.insert((conv, msg["seq"].as_u64().unwrap()));
                dev.record(world, &msg, "own");
            }
        }
        40..=51 => {
            let upto = dev.contiguous(conv);
            if upto > 0 {
                dev.ws()
                    .send_json(json!({"type": "read", "conv": conv, "seq": upto}))
                    .await;
                let r = world.read.entry((user, conv)).or_insert(0);
                *r = (*r).max(upto);
                app.wait_for_state(&dev.token, conv, "read_seq", upto).await;
            }
        }
        52..=61 => {
            let upto = dev.contiguous(conv);
            if upto > 0 {
                dev.ws()
                    .send_json(json!({"type": "delivered", "conv": conv, "seq": upto}))
                    .await;
                let r = world.delivered.entry((user, conv)).or_insert(0);
                *r = (*r).max(upto);
                app.wait_for_state(&dev.token, conv, "delivered_seq", upto)
                    .await;
            }
        }
        62..=69 => {
            let limit = rng.gen_range(1..=8);
            dev.full_sync(world, limit).await;
        }
        70..=84 => dev.pump_available(world).await,
        85..=89 => {
            dev.ws()
                .send_json(json!({"type": "typing", "conv": conv}))
                .await
        }
        _ => {
            dev.pump_available(world).await;
            dev.ws.take().unwrap().close().await;
        }
    }
}

#[actix_web::test]
async fn random_devices_converge_on_the_stored_history() {
    let seeds: Vec<u64> = match std::env::var("CHATNODE_TEST_SEED") {
        Ok(s) => vec![s.parse().expect("CHATNODE_TEST_SEED is a number")],
        Err(_) => vec![1, 2, 3],
    };
    for seed in seeds {
        run(seed).await;
    }
}
