//! Web Push against a mock push service on 127.0.0.1 (listed in
//! push.allowed_endpoints). The mock checks every VAPID JWT against the key from
//! /api/push/vapid with OpenSSL, and the test devices decrypt bodies with the `ece`
//! crate (OpenSSL again): neither shares code with the node's web-push-native.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{metric, metrics_text, poll_until, spawn_app, TestApp};

/// One request the mock push service got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    at: Instant,
}

#[derive(Default)]
struct MockState {
    got: Vec<Received>,
    /// Per path, answers to give in order (status, Retry-After value); then 201.
    script: HashMap<String, VecDeque<(u16, Option<String>)>>,
}

/// A push service on 127.0.0.1:0.
struct MockPush {
    addr: SocketAddr,
    state: Arc<Mutex<MockState>>,
    _server: actix_web::dev::ServerHandle,
}

async fn mock_receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<MockState>>>,
) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let path = req.path().to_string();
    let mut s = state.lock().unwrap();
    s.got.push(Received {
        path: path.clone(),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let answer = s.script.get_mut(&path).and_then(|q| q.pop_front());
    match answer {
        Some((status, after)) => {
            let mut r = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
            if let Some(a) = after {
                r.insert_header(("Retry-After", a));
            }
            r.finish()
        }
        None => HttpResponse::Created().finish(),
    }
}

impl MockPush {
    fn start() -> MockPush {
        let state = Arc::new(Mutex::new(MockState::default()));
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(mock_receive))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        MockPush {
            addr,
            state,
            _server: handle,
        }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn script(&self, path: &str, answers: &[(u16, Option<u64>)]) {
        let answers: Vec<_> = answers
            .iter()
            .map(|(status, after)| (*status, after.map(|a| a.to_string())))
            .collect();
        self.script_raw(path, &answers);
    }

    /// Like [`MockPush::script`], with `Retry-After` given verbatim (e.g. a date).
    fn script_raw(&self, path: &str, answers: &[(u16, Option<String>)]) {
        self.state
            .lock()
            .unwrap()
            .script
            .insert(path.to_string(), answers.iter().cloned().collect());
    }

    fn got(&self, path: &str) -> Vec<Received> {
        let s = self.state.lock().unwrap();
        s.got.iter().filter(|r| r.path == path).cloned().collect()
    }

    fn total(&self) -> usize {
        self.state.lock().unwrap().got.len()
    }

    /// Waits (bounded) until `path` got at least `n` requests; them.
    async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        let got = poll_until(|| async { self.got(path) }, |g| g.len() >= n).await;
        assert!(
            got.len() >= n,
            "{path} got {} pushes, expected {n}",
            got.len()
        );
        got
    }
}

/// A "push service" that is none: it accepts TCP connections on 127.0.0.1 and holds
/// them, either silent or after answering bytes that are not HTTP.
struct BrokenPush {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl BrokenPush {
    async fn start(garbage: bool) -> BrokenPush {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        // ends with the test's runtime
        actix_web::rt::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, SeqCst);
                if garbage {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let _ = socket.write_all(b"\x00\x7fnot HTTP at all\r\n\r\n").await;
                }
                held.push(socket);
            }
        });
        BrokenPush { addr, accepted }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(SeqCst)
    }

    /// Waits (bounded) until at least `n` connections came.
    async fn wait_for(&self, n: usize) {
        let got = poll_until(|| async { self.accepted() }, |&a| a >= n).await;
        assert!(
            got >= n,
            "{} got {got} connections, expected {n}",
            self.addr
        );
    }
}

/// A browser's push subscription: an `ece` key pair and auth secret.
struct Device {
    path: String,
    endpoint: String,
    keys: ece::EcKeyComponents,
    auth: [u8; 16],
}

impl Device {
    fn new(mock: &MockPush, name: &str) -> Device {
        Device::at(&mock.origin(), name)
    }

    /// A device whose push service is at `origin` (not necessarily a [`MockPush`]).
    fn at(origin: &str, name: &str) -> Device {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let path = format!("/push/{name}");
        Device {
            endpoint: format!("{origin}{path}"),
            path,
            keys: pair.raw_components().unwrap(),
            auth,
        }
    }

    fn subscription(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(self.keys.public_key()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            }
        })
    }

    async fn subscribe(&self, app: &TestApp, token: &str) -> String {
        let (status, v) = app
            .post("/api/push/subscriptions", token, self.subscription())
            .await;
        assert_eq!(status, 201, "subscribe: {v}");
        v["id"].as_str().expect("id").to_string()
    }

    /// Decrypts a push body (RFC 8291) with `ece`, as JSON.
    fn open(&self, r: &Received) -> Value {
        let plain = ece::decrypt(&self.keys, &self.auth, &r.body).expect("ece decrypts the push");
        serde_json::from_slice(&plain).expect("the payload is JSON")
    }
}

/// The node's VAPID public key (65-byte uncompressed point).
async fn vapid_key(app: &TestApp) -> Vec<u8> {
    let a = app.call("GET", "/api/push/vapid", None, None).await;
    assert_eq!(a.status, 200);
    let key = a.json()["public_key"].as_str().unwrap().to_string();
    URL_SAFE_NO_PAD.decode(key).unwrap()
}

/// Checks a push's headers and its VAPID JWT (signature with OpenSSL against `key`).
fn check_push_request(r: &Received, key: &[u8], origin: &str, conv: u64) {
    assert_eq!(r.headers["ttl"], "86400");
    assert_eq!(r.headers["urgency"], "high");
    assert_eq!(r.headers["topic"], conv.to_string());
    assert_eq!(r.headers["content-encoding"], "aes128gcm");
    let auth = &r.headers["authorization"];
    let rest = auth.strip_prefix("vapid ").expect("vapid scheme");
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("t=") {
            t = Some(v.to_string());
        }
        if let Some(v) = part.strip_prefix("k=") {
            k = Some(v.to_string());
        }
    }
    let (t, k) = (t.expect("t="), k.expect("k="));
    assert_eq!(
        URL_SAFE_NO_PAD.decode(&k).unwrap(),
        key,
        "k is the served key"
    );
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["aud"], origin);
    assert_eq!(claims["sub"], "mailto:admin@localhost");
    let now = unix_ms() / 1000;
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp}, now {now}");
    // ES256: r || s, each 32 bytes, over "header.claims"
    use openssl::{bn::BigNum, ec, ecdsa::EcdsaSig, nid::Nid, sha::sha256};
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    assert_eq!(sig.len(), 64);
    let group = ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    let point = ec::EcPoint::from_bytes(&group, key, &mut ctx).unwrap();
    let public = ec::EcKey::from_public_key(&group, &point).unwrap();
    let sig = EcdsaSig::from_private_components(
        BigNum::from_slice(&sig[..32]).unwrap(),
        BigNum::from_slice(&sig[32..]).unwrap(),
    )
    .unwrap();
    let digest = sha256(format!("{}.{}", parts[0], parts[1]).as_bytes());
    assert!(
        sig.verify(&digest, &public).unwrap(),
        "the VAPID JWT verifies"
    );
}

/// Now, ms since the epoch (the store's clock).
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The running node's store (the test reads what the worker planned).
fn store_of(app: &TestApp) -> &chatnode::store::Store {
    &app.running().expect("in-process node").node.store
}

/// The waiting pushes of `user` (conv, record), as the worker keeps them.
fn pending_of(app: &TestApp, user: &str) -> Vec<(u64, chatnode::store::push::PendingPushRecord)> {
    store_of(app)
        .pending_pushes()
        .unwrap()
        .into_iter()
        .filter(|(u, _, _)| u == user)
        .map(|(_, conv, record)| (conv, record))
        .collect()
}

async fn push_app(mock: &MockPush, extra: &[(&str, &str)]) -> TestApp {
    let origin = mock.origin();
    let mut env = vec![("CHATNODE__PUSH__ALLOWED_ENDPOINTS", origin.as_str())];
    env.extend_from_slice(extra);
    spawn_app(&env).await
}

async fn subscriptions(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, v) = app.get("/api/push/subscriptions", token).await;
    assert_eq!(status, 200, "{v}");
    v["subscriptions"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn vapid_key_and_subscription_routes() {
    let mock = MockPush::start();
    let app = push_app(
        &mock,
        &[("CHATNODE__PUSH__MAX_SUBSCRIPTIONS_PER_USER", "3")],
    )
    .await;
    let key = vapid_key(&app).await;
    assert_eq!(key.len(), 65);
    assert_eq!(key[0], 4, "uncompressed point");
    assert_eq!(vapid_key(&app).await, key, "the key is kept");

    let bob = app.register("bob").await;
    let phone = Device::new(&mock, "phone");
    let id = phone.subscribe(&app, &bob).await;
    assert_eq!(
        phone.subscribe(&app, &bob).await,
        id,
        "same endpoint, same id"
    );
    let subs = subscriptions(&app, &bob).await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["id"], id.as_str());
    assert_eq!(subs[0]["endpoint"], phone.endpoint.as_str());
    assert!(subs[0]["created"].as_u64().unwrap() > 0);

    // bad input: 400
    let mut bad = phone.subscription();
    bad["keys"]["p256dh"] = json!("AAAA");
    let mut bad_auth = phone.subscription();
    bad_auth["keys"]["auth"] = json!("!!");
    let mut long = phone.subscription();
    long["endpoint"] = json!(format!("{}/{}", mock.origin(), "a".repeat(10 * 1024)));
    let port = mock.addr.port();
    let mut refused = Vec::new();
    for endpoint in [
        "http://push.example.com/x".to_string(),
        "https://10.0.0.1/x".to_string(),
        "https://[::1]/x".to_string(),
        format!("https://localhost:{port}/x"),
        format!("http://localhost:{port}/x"),
    ] {
        let mut s = phone.subscription();
        s["endpoint"] = json!(endpoint);
        refused.push(s);
    }
    for body in [bad, bad_auth, long, json!({"endpoint": phone.endpoint})]
        .into_iter()
        .chain(refused)
    {
        let (status, v) = app
            .post("/api/push/subscriptions", &bob, body.clone())
            .await;
        assert_eq!(status, 400, "{body} -> {v}");
    }
    assert_eq!(subscriptions(&app, &bob).await.len(), 1);

    // the cap (3 here)
    for n in 0..2 {
        Device::new(&mock, &format!("more{n}"))
            .subscribe(&app, &bob)
            .await;
    }
    let (status, v) = app
        .post(
            "/api/push/subscriptions",
            &bob,
            Device::new(&mock, "one-too-many").subscription(),
        )
        .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "forbidden");

    // delete: the owner's only
    let ann = app.register("ann").await;
    let a = app
        .call(
            "DELETE",
            &format!("/api/push/subscriptions/{id}"),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(a.status, 404);
    let a = app
        .call(
            "DELETE",
            &format!("/api/push/subscriptions/{id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(subscriptions(&app, &bob).await.len(), 2);

    // logout deletes what that token made, and only that
    let laptop_token = app.login("bob").await;
    let laptop = Device::new(&mock, "laptop");
    laptop.subscribe(&app, &laptop_token).await;
    assert_eq!(subscriptions(&app, &bob).await.len(), 3);
    let a = app.call("POST", "/api/logout", Some(&bob), None).await;
    assert_eq!(a.status, 204);
    let left = subscriptions(&app, &laptop_token).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["endpoint"], laptop.endpoint.as_str());
    // a password change ends every token, and so every subscription
    let a = app
        .call(
            "POST",
            "/api/password",
            Some(&laptop_token),
            Some(json!({"old": crate::harness::PASSWORD, "new": "another long password"})),
        )
        .await;
    assert_eq!(a.status, 200);
    let fresh = a.json()["token"].as_str().unwrap().to_string();
    assert!(subscriptions(&app, &fresh).await.is_empty());

    let metrics = app.call("GET", "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(text.contains("chatnode_push_subscriptions 0"), "{text}");
    assert!(text.contains("chatnode_push_queue_depth"), "{text}");
}

#[actix_web::test]
async fn push_off_means_no_routes() {
    let app = spawn_app(&[("CHATNODE__PUSH__ENABLED", "false")]).await;
    let a = app.call("GET", "/api/push/vapid", None, None).await;
    assert_eq!(a.status, 404);
    let bob = app.register("bob").await;
    let (status, _) = app.get("/api/push/subscriptions", &bob).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn offline_members_get_an_encrypted_push_online_ones_and_senders_do_not() {
    let mock = MockPush::start();
    let app = push_app(&mock, &[]).await;
    let key = vapid_key(&app).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let conv = app.direct(&alice, "bob").await;
    let a = app
        .call(
            "PUT",
            "/api/me",
            Some(&alice),
            Some(json!({"display_name": "Alice L."})),
        )
        .await;
    assert_eq!(a.status, 200);
    let bob_phone = Device::new(&mock, "bob-phone");
    bob_phone.subscribe(&app, &bob).await;
    let alice_phone = Device::new(&mock, "alice-phone");
    alice_phone.subscribe(&app, &alice).await;

    let mut a = app.connect(&alice).await;
    let b = app.connect(&bob).await;
    // bob is online: seq 1 wakes no device
    a.send_acked(conv, "m1", "while you are here").await;
    b.close().await;
    a.next_matching(|f| f["type"] == "presence" && f["user"] == "bob" && f["online"] == false)
        .await;
    a.send_acked(conv, "m2", "are you there?").await;
    let got = mock.wait_for(&bob_phone.path, 1).await;
    check_push_request(&got[0], &key, &mock.origin(), conv);
    let payload = bob_phone.open(&got[0]);
    assert_eq!(
        payload,
        json!({"conv": conv, "seq": 2, "sender": "alice", "title": "Alice L.", "body": "",
               "kind": "text", "unread": 2})
    );

    // alice's own messages never woke her phone: the first push it gets is bob's
    a.close().await;
    let mut b = app.connect(&bob).await;
    b.send_acked(conv, "r1", "here now").await;
    let got = mock.wait_for(&alice_phone.path, 1).await;
    let payload = alice_phone.open(&got[0]);
    assert_eq!(payload["seq"], 3);
    assert_eq!(payload["sender"], "bob");
    assert_eq!(mock.got(&alice_phone.path).len(), 1);
    assert_eq!(mock.got(&bob_phone.path).len(), 1, "seq 1 was not pushed");
}

#[actix_web::test]
async fn group_push_carries_the_group_name_and_the_body_when_asked() {
    let mock = MockPush::start();
    let app = push_app(&mock, &[("CHATNODE__PUSH__INCLUDE_BODY", "true")]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let cy = app.register("cy").await;
    let conv = app.group(&alice, "climbing", &["bob", "cy"]).await;
    let bob_phone = Device::new(&mock, "bob");
    bob_phone.subscribe(&app, &bob).await;
    let cy_phone = Device::new(&mock, "cy");
    cy_phone.subscribe(&app, &cy).await;
    let mut a = app.connect(&alice).await;
    let ack = a.send_acked(conv, "g1", "rope at 6?").await;
    let seq = ack["seq"].as_u64().unwrap();
    for phone in [&bob_phone, &cy_phone] {
        let got = mock.wait_for(&phone.path, 1).await;
        let p = phone.open(&got[0]);
        assert_eq!(p["title"], "climbing");
        assert_eq!(p["body"], "rope at 6?");
        assert_eq!(p["seq"], seq, "the system message (seq 1) wakes no one");
        assert_eq!(p["unread"], 1);
    }
}

#[actix_web::test]
async fn pushes_coalesce_per_conversation_with_the_newest_winning() {
    let mock = MockPush::start();
    let app = push_app(&mock, &[("CHATNODE__PUSH__COALESCE_SECS", "3")]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let conv = app.direct(&alice, "bob").await;
    let phone = Device::new(&mock, "phone");
    phone.subscribe(&app, &bob).await;
    let mut a = app.connect(&alice).await;
    for n in 1..=5 {
        a.send_acked(conv, &format!("c{n}"), &format!("message {n}"))
            .await;
    }
    // the first goes at once; within the window at most one more, with the newest
    let got = poll_until(
        || async { mock.got(&phone.path) },
        |g| g.iter().any(|r| phone.open(r)["seq"] == 5),
    )
    .await;
    let seqs: Vec<u64> = got
        .iter()
        .map(|r| phone.open(r)["seq"].as_u64().unwrap())
        .collect();
    assert!(
        seqs == vec![5] || (seqs.len() == 2 && seqs[0] < 5 && seqs[1] == 5),
        "pushes {seqs:?}"
    );
    assert_eq!(phone.open(got.last().unwrap())["unread"], 5);
    // the next one waits for the end of the window the last push opened
    a.send_acked(conv, "c6", "message 6").await;
    let got = mock.wait_for(&phone.path, seqs.len() + 1).await;
    let last = phone.open(got.last().unwrap());
    assert_eq!(last["seq"], 6);
    assert_eq!(mock.got(&phone.path).len(), seqs.len() + 1);
}

#[actix_web::test]
async fn gone_subscriptions_are_deleted_and_failures_retried_honouring_retry_after() {
    let mock = MockPush::start();
    let app = push_app(&mock, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let conv = app.direct(&alice, "bob").await;
    let gone = Device::new(&mock, "gone");
    let busy = Device::new(&mock, "busy");
    let flaky = Device::new(&mock, "flaky");
    mock.script(&gone.path, &[(410, None)]);
    mock.script(&busy.path, &[(429, Some(1))]);
    mock.script(&flaky.path, &[(503, None)]);
    let gone_id = gone.subscribe(&app, &bob).await;
    busy.subscribe(&app, &bob).await;
    flaky.subscribe(&app, &bob).await;
    let mut a = app.connect(&alice).await;
    a.send_acked(conv, "x1", "hello").await;

    let left = poll_until(
        || async { subscriptions(&app, &bob).await },
        |subs| subs.len() == 2,
    )
    .await;
    assert!(
        left.iter().all(|s| s["id"] != gone_id.as_str()),
        "410 deletes the subscription: {left:?}"
    );
    let busy_got = mock.wait_for(&busy.path, 2).await;
    assert!(
        busy_got[1].at.duration_since(busy_got[0].at) >= Duration::from_secs(1),
        "Retry-After: 1 is honoured"
    );
    let flaky_got = mock.wait_for(&flaky.path, 2).await;
    for r in busy_got.iter().chain(&flaky_got) {
        let p = if r.path == busy.path {
            busy.open(r)
        } else {
            flaky.open(r)
        };
        assert_eq!(p["seq"], 1);
    }
    assert_eq!(
        mock.got(&gone.path).len(),
        1,
        "a gone subscription gets no retry"
    );

    // a later message reaches only the two left
    let metrics = poll_until(
        || async {
            let m = app.call("GET", "/metrics", None, None).await;
            String::from_utf8_lossy(&m.body).to_string()
        },
        |t| t.contains("chatnode_pushes_sent_total 2"),
    )
    .await;
    assert!(
        metrics.contains("chatnode_pushes_failed_4xx_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chatnode_pushes_failed_5xx_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chatnode_push_subscriptions 2"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn a_push_waiting_for_its_retry_survives_kill_9_and_goes_once() {
    let mock = MockPush::start();
    let phone_path = "/push/phone";
    // the first answer asks for a retry far enough ahead that the node is killed first
    mock.script(phone_path, &[(503, Some(3))]);
    let dir = tempfile::tempdir().unwrap();
    let origin = mock.origin();
    let env = [
        ("CHATNODE__PUSH__ALLOWED_ENDPOINTS", origin.as_str()),
        ("CHATNODE__SERVER__WORKERS", "1"),
        ("CHATNODE__PUSH__COALESCE_SECS", "1"),
    ];
    let (child, addr) = crate::harness::start_binary(dir.path(), &env, |_| {});
    let mut node = crate::harness::KillOnDrop(child);
    let app = TestApp::at(addr);
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let conv = app.direct(&alice, "bob").await;
    let phone = Device::new(&mock, "phone");
    phone.subscribe(&app, &bob).await;
    let mut a = app.connect(&alice).await;
    a.send_acked(conv, "k1", "before the crash").await;
    mock.wait_for(phone_path, 1).await;
    // the retry is planned (and kept) once the node has recorded the 503
    let metrics = poll_until(
        || async {
            let m = app.call("GET", "/metrics", None, None).await;
            String::from_utf8_lossy(&m.body).to_string()
        },
        |t| {
            t.contains("chatnode_pushes_failed_5xx_total 1")
                && t.contains("chatnode_push_waiting 1")
        },
    )
    .await;
    assert!(metrics.contains("chatnode_push_waiting 1"), "{metrics}");
    node.0.kill().unwrap();
    node.0.wait().unwrap();
    drop(a);

    let (child, addr) = crate::harness::start_binary(dir.path(), &env, |_| {});
    let _node = crate::harness::KillOnDrop(child);
    let app = TestApp::at(addr);
    let got = mock.wait_for(phone_path, 2).await;
    assert_eq!(phone.open(&got[1])["seq"], 1, "the retry after the restart");
    // nothing more for seq 1: the next push the phone gets is seq 2
    let alice = app.login("alice").await;
    let mut a = app.connect(&alice).await;
    a.send_acked(conv, "k2", "after the crash").await;
    let got = mock.wait_for(phone_path, 3).await;
    assert_eq!(phone.open(&got[2])["seq"], 2);
    let seqs: Vec<Value> = mock
        .got(phone_path)
        .iter()
        .map(|r| phone.open(r)["seq"].clone())
        .collect();
    assert_eq!(seqs, vec![json!(1), json!(1), json!(2)]);
    assert_eq!(mock.total(), 3);
}

#[actix_web::test]
async fn muted_conversations_and_events_wake_no_device() {
    let mock = MockPush::start();
    let app = push_app(&mock, &[("CHATNODE__PUSH__COALESCE_SECS", "1")]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let conv = app.direct(&alice, "bob").await;
    let phone = Device::new(&mock, "phone");
    phone.subscribe(&app, &bob).await;
    let mute = |muted: bool| {
        let (app, bob) = (&app, &bob);
        async move {
            let a = app
                .call(
                    "PUT",
                    &format!("/api/conversations/{conv}/mute"),
                    Some(bob),
                    Some(json!({ "muted": muted })),
                )
                .await;
            assert_eq!(a.status, 200, "mute {muted}");
        }
    };
    let other = app.group(&alice, "other", &["bob"]).await;
    mute(true).await;
    let mut a = app.connect(&alice).await;
    a.send_acked(conv, "q1", "muted, so silent").await;
    // offers are decided in order: once the other conversation's push is out, seq 1's
    // was decided while the conversation was muted
    a.send_acked(other, "o1", "in the other one").await;
    let got = mock.wait_for(&phone.path, 1).await;
    assert_eq!(phone.open(&got[0])["conv"], other);
    mute(false).await;
    a.send_acked(conv, "q2", "loud again").await;
    let got = mock.wait_for(&phone.path, 2).await;
    let first = phone.open(&got[1]);
    assert_eq!(
        (first["conv"].as_u64(), first["seq"].as_u64()),
        (Some(conv), Some(2)),
        "seq 1 was muted"
    );
    // a reaction (an event, seq 3) wakes no one; the next message does
    a.send_json(
        json!({"type": "react", "conv": conv, "seq": 2, "emoji": "👍", "on": true,
                       "client_id": "r1"}),
    )
    .await;
    a.ack_for("r1").await;
    a.send_acked(conv, "q4", "and again").await;
    let got = mock.wait_for(&phone.path, 3).await;
    assert_eq!(phone.open(&got[2])["seq"], 4, "the event was not pushed");
    assert_eq!(mock.got(&phone.path).len(), 3);
}

#[actix_web::test]
async fn retry_after_as_an_http_date_is_honoured_and_clamped_like_seconds() {
    let mock = MockPush::start();
    let app = push_app(&mock, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let cy = app.register("cy").await;
    let conv = app.group(&alice, "later", &["bob", "cy"]).await;
    let dated = Device::new(&mock, "dated");
    let counted = Device::new(&mock, "counted");
    // two hours ahead, as a date and as seconds: both wait the most (an hour)
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(7200));
    mock.script_raw(&dated.path, &[(503, Some(date))]);
    mock.script(&counted.path, &[(429, Some(7200))]);
    dated.subscribe(&app, &bob).await;
    counted.subscribe(&app, &cy).await;
    let mut a = app.connect(&alice).await;
    let before = unix_ms();
    a.send_acked(conv, "d1", "not now").await;
    mock.wait_for(&dated.path, 1).await;
    mock.wait_for(&counted.path, 1).await;
    let planned = |user: &'static str| {
        let app = &app;
        async move {
            poll_until(
                || async { pending_of(app, user) },
                |p| p.iter().any(|(_, r)| r.attempts == 1),
            )
            .await
        }
    };
    let (bob_retry, cy_retry) = (planned("bob").await, planned("cy").await);
    let after = unix_ms();
    for (user, retry) in [("bob", bob_retry), ("cy", cy_retry)] {
        assert_eq!(retry.len(), 1, "{user}: {retry:?}");
        let (c, record) = &retry[0];
        assert_eq!(*c, conv);
        assert_eq!(record.attempts, 1, "{user}: the retry is planned");
        // planned at the answer (between before and after) plus the clamp, 3600 s
        assert!(
            record.due_ms >= before + 3_600_000 && record.due_ms <= after + 3_600_000,
            "{user}: due {} not an hour after [{before}, {after}]",
            record.due_ms
        );
    }
}

#[actix_web::test]
async fn deleting_a_user_deletes_its_subscriptions_and_waiting_pushes() {
    let mock = MockPush::start();
    let app = push_app(&mock, &[]).await;
    chatnode::accounts::add_user(
        store_of(&app),
        "root",
        crate::harness::PASSWORD.to_string(),
        true,
        Default::default(),
    )
    .await
    .unwrap();
    let root = app.login("root").await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let bob_laptop = app.login("bob").await;
    let conv = app.direct(&alice, "bob").await;
    let phone = Device::new(&mock, "phone");
    let laptop = Device::new(&mock, "laptop");
    // the phone asks for a retry an hour ahead: a push of bob's waits in the store
    mock.script(&phone.path, &[(503, Some(3600))]);
    phone.subscribe(&app, &bob).await;
    laptop.subscribe(&app, &bob_laptop).await;
    let cy = app.register("cy").await;
    let cy_phone = Device::new(&mock, "cy-phone");
    cy_phone.subscribe(&app, &cy).await;
    let mut a = app.connect(&alice).await;
    a.send_acked(conv, "u1", "still there?").await;
    mock.wait_for(&laptop.path, 1).await;
    let waiting = poll_until(
        || async { pending_of(&app, "bob") },
        |p| p.iter().any(|(_, r)| r.attempts == 1),
    )
    .await;
    assert_eq!(waiting.len(), 1, "bob's retry is kept: {waiting:?}");
    assert_eq!(
        store_of(&app).push_subscriptions_of("bob").unwrap().len(),
        2
    );

    let gone = app
        .call("DELETE", "/api/admin/users/bob", Some(&root), None)
        .await;
    assert_eq!(gone.status, 204);
    let left = store_of(&app).push_subscriptions_of("bob").unwrap();
    assert!(left.is_empty(), "bob's subscriptions: {left:?}");
    assert!(
        pending_of(&app, "bob").is_empty(),
        "bob's waiting pushes: {:?}",
        pending_of(&app, "bob")
    );
    // cy's subscription is untouched
    let metrics = app.call("GET", "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(text.contains("chatnode_push_subscriptions 1"), "{text}");
    assert_eq!(store_of(&app).push_subscriptions_of("cy").unwrap().len(), 1);
}

#[actix_web::test]
async fn silent_or_garbage_push_services_cost_a_retry_not_the_queue() {
    let mock = MockPush::start();
    let silent = BrokenPush::start(false).await;
    let garbage = BrokenPush::start(true).await;
    let allowed = [mock.origin(), silent.origin(), garbage.origin()].join(",");
    let app = spawn_app(&[
        ("CHATNODE__PUSH__ALLOWED_ENDPOINTS", allowed.as_str()),
        ("CHATNODE__PUSH__REQUEST_TIMEOUT_SECS", "1"),
    ])
    .await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let cy = app.register("cy").await;
    let dan = app.register("dan").await;
    let broken = app.group(&alice, "broken", &["bob", "cy"]).await;
    let healthy = app.direct(&alice, "dan").await;
    Device::at(&silent.origin(), "bob")
        .subscribe(&app, &bob)
        .await;
    Device::at(&garbage.origin(), "cy")
        .subscribe(&app, &cy)
        .await;
    let dan_phone = Device::new(&mock, "dan");
    dan_phone.subscribe(&app, &dan).await;

    let mut a = app.connect(&alice).await;
    a.send_acked(broken, "b1", "into the void").await;
    silent.wait_for(1).await;
    garbage.wait_for(1).await;
    // the silent service still holds its request: another user's push goes anyway
    a.send_acked(healthy, "h1", "you there?").await;
    let got = mock.wait_for(&dan_phone.path, 1).await;
    let p = dan_phone.open(&got[0]);
    assert_eq!(
        (p["conv"].as_u64(), p["seq"].as_u64()),
        (Some(healthy), Some(1))
    );
    // each broken one cost an attempt that ended (no answer) and is retried
    silent.wait_for(2).await;
    garbage.wait_for(2).await;
    let text = poll_until(
        || metrics_text(&app),
        |t| metric(t, "chatnode_pushes_failed_network_total") >= 2,
    )
    .await;
    assert!(
        metric(&text, "chatnode_pushes_failed_network_total") >= 2,
        "{text}"
    );
    assert_eq!(metric(&text, "chatnode_pushes_sent_total"), 1, "{text}");
    assert_eq!(metric(&text, "chatnode_push_queue_depth"), 0, "{text}");
    assert!(mock.got(&dan_phone.path).len() == 1);
}

#[actix_web::test]
async fn a_full_push_queue_drops_offers_counted_and_acks_go_on() {
    let mock = MockPush::start();
    let app = push_app(
        &mock,
        &[
            ("CHATNODE__PUSH__QUEUE_SIZE", "1"),
            ("CHATNODE__PUSH__COALESCE_SECS", "0"),
            ("CHATNODE__LIMITS__MESSAGES_PER_SEC", "1000000"),
        ],
    )
    .await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let conv = app.direct(&alice, "bob").await;
    let phone = Device::new(&mock, "phone");
    phone.subscribe(&app, &bob).await;
    let mut a = app.connect(&alice).await;
    // bursts of offers into a queue of one, until some were dropped (bounded)
    const BURST: usize = 100;
    let mut dropped = 0;
    for round in 0..5 {
        let frames = (0..BURST)
            .map(|i| {
                json!({"type": "send", "conv": conv, "client_id": format!("q{round}-{i}"),
                       "kind": "text", "body": format!("burst {round} {i}")})
            })
            .collect();
        a.send_many(frames).await;
        // every send is acked, full queue or not
        let mut acked = std::collections::HashSet::new();
        while acked.len() < BURST {
            let f = a
                .next_matching(|f| f["type"] == "ack" || f["type"] == "error")
                .await;
            assert_eq!(f["type"], "ack", "{f}");
            acked.insert(f["client_id"].as_str().unwrap().to_string());
        }
        dropped = metric(&metrics_text(&app).await, "chatnode_pushes_dropped_total");
        if dropped > 0 {
            break;
        }
    }
    assert!(dropped > 0, "a queue of one never overflowed");
    // the queue drains, and the next message is pushed as usual
    let text = poll_until(
        || metrics_text(&app),
        |t| metric(t, "chatnode_push_queue_depth") == 0,
    )
    .await;
    assert_eq!(metric(&text, "chatnode_push_queue_depth"), 0, "{text}");
    let last = a.send_acked(conv, "after", "after the flood").await["seq"]
        .as_u64()
        .unwrap();
    let got = poll_until(
        || async { mock.got(&phone.path) },
        |g| g.iter().any(|r| phone.open(r)["seq"] == last),
    )
    .await;
    assert!(
        got.iter().any(|r| phone.open(r)["seq"] == last),
        "seq {last} was not pushed"
    );
}
