//! TLS with a self-signed certificate, and garbage thrown at a live socket.

use std::sync::Arc;

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

use actix_web::rt::time::timeout;

use crate::harness::{msgs_of, poll_until, seqs, spawn_app, WsClient, WAIT};

/// A client that trusts only the certificate at `cert`.
fn trusting_client(cert: &std::path::Path) -> awc::Client {
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    awc::Client::builder()
        .connector(awc::Connector::new().rustls_0_23(Arc::new(config)))
        .finish()
}

/// Whether a new client that trusts only the certificate at `cert` completes a TLS
/// handshake with the node at `addr` (and gets /healthz): which certificate is served.
async fn handshakes(cert: &std::path::Path, addr: std::net::SocketAddr) -> bool {
    let client = trusting_client(cert);
    match client.get(format!("https://{addr}/healthz")).send().await {
        Ok(resp) => resp.status().as_u16() == 200,
        Err(_) => false,
    }
}

/// A renewed certificate is served after SIGHUP, without a restart: new connections
/// get it and a WebSocket opened before goes on; a broken file leaves the one in use.
#[actix_web::test]
async fn sighup_reloads_the_tls_certificate() {
    let (served, renewed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let hosts = ["127.0.0.1".to_string()];
    let files = chatnode::tls::write_self_signed(&hosts, served.path()).unwrap();
    let (first, first_key) = (
        served.path().join("first.pem"),
        served.path().join("first.key"),
    );
    std::fs::copy(&files.cert, &first).unwrap();
    std::fs::copy(&files.key, &first_key).unwrap();
    let next = chatnode::tls::write_self_signed(&hosts, renewed.path()).unwrap();

    let data = tempfile::tempdir().unwrap();
    let (lines, log) = std::sync::mpsc::channel();
    let (cert, key) = (files.cert.to_str().unwrap(), files.key.to_str().unwrap());
    let env = [
        ("CHATNODE__TLS__CERT", cert),
        ("CHATNODE__TLS__KEY", key),
        ("RUST_LOG", "info"),
    ];
    let (node, addr) = crate::harness::start_binary(data.path(), &env, move |line| {
        let _ = lines.send(line);
    });
    let node = crate::harness::KillOnDrop(node);
    let hup_and_wait_for = |said: &str| {
        // SAFETY: kill only sends a signal to the child we started.
        assert_eq!(unsafe { libc::kill(node.0.id() as i32, libc::SIGHUP) }, 0);
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match log.recv_timeout(left) {
                Ok(line) if line.contains(said) => return,
                Ok(_) => {}
                Err(_) => panic!("the node did not log {said:?} within {WAIT:?}"),
            }
        }
    };
    assert!(handshakes(&first, addr).await && !handshakes(&next.cert, addr).await);
    let client = trusting_client(&first);
    let (status, body) = https_post(
        &client,
        format!("https://{addr}/api/register"),
        None,
        json!({"username": "alice", "password": crate::harness::PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap();
    let mut alice = WsClient::open(client.ws(format!("wss://{addr}/ws?token={token}"))).await;
    alice.ready().await;

    // Renewed: the files are replaced, then SIGHUP.
    std::fs::copy(&next.cert, &files.cert).unwrap();
    std::fs::copy(&next.key, &files.key).unwrap();
    hup_and_wait_for("tls certificate reloaded");
    assert!(
        handshakes(&next.cert, addr).await,
        "new connections get the renewed one"
    );
    assert!(!handshakes(&first, addr).await, "and no longer the old one");
    alice.barrier().await;

    // A broken file, then a key that is not the certificate's: the renewed pair stays.
    std::fs::write(&files.cert, "not a certificate").unwrap();
    hup_and_wait_for("tls certificate not reloaded");
    std::fs::copy(&next.cert, &files.cert).unwrap();
    std::fs::copy(&first_key, &files.key).unwrap();
    hup_and_wait_for("tls certificate not reloaded");
    assert!(handshakes(&next.cert, addr).await);
    alice.barrier().await;
}

async fn https_post(
    client: &awc::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = client.post(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let mut resp = req.send_json(&body).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.body().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[actix_web::test]
async fn chat_over_wss_with_a_self_signed_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let files =
        chatnode::tls::write_self_signed(&["127.0.0.1".into(), "localhost".into()], certs.path())
            .unwrap();
    let (cert, key) = (
        files.cert.to_string_lossy().into_owned(),
        files.key.to_string_lossy().into_owned(),
    );
    let app = spawn_app(&[("CHATNODE__TLS__CERT", &cert), ("CHATNODE__TLS__KEY", &key)]).await;
    let base = format!("https://{}", app.addr);
    let client = trusting_client(&files.cert);

    let mut tokens = Vec::new();
    for name in ["alice", "bob"] {
        let (status, body) = https_post(
            &client,
            format!("{base}/api/register"),
            None,
            json!({"username": name, "password": crate::harness::PASSWORD}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        tokens.push(body["token"].as_str().unwrap().to_string());
    }
    let (status, conv) = https_post(
        &client,
        format!("{base}/api/conversations"),
        Some(&tokens[0]),
        json!({"kind": "direct", "members": ["bob"]}),
    )
    .await;
    assert_eq!(status, 201);
    let conv = conv["conv"].as_u64().unwrap();

    let wss = |t: &str| client.ws(format!("wss://{}/ws?token={t}", app.addr));
    let mut alice = WsClient::open(wss(&tokens[0])).await;
    alice.ready().await;
    let mut bob = WsClient::open(wss(&tokens[1])).await;
    bob.ready().await;
    let ack = alice.send_acked(conv, "tls-1", "over TLS").await;
    assert_eq!(ack["seq"], 1);
    let msg = bob.next_of_type("message").await;
    assert_eq!(msg["msg"]["body"], "over TLS");

    // Plain HTTP to the TLS port gets no answer a client could mistake for one.
    let plain = awc::Client::default()
        .get(format!("http://{}/healthz", app.addr))
        .send()
        .await;
    assert!(plain.map(|r| r.status().as_u16() != 200).unwrap_or(true));
}

/// A random frame: bytes that are not JSON, or a frame-shaped object with random fields.
fn garbage(rng: &mut StdRng) -> String {
    const TYPES: &[&str] = &[
        "auth",
        "ping",
        "send",
        "delivered",
        "read",
        "sync",
        "history",
        "recall",
        "typing",
        "x",
    ];
    const FIELDS: &[&str] = &[
        "conv",
        "to",
        "client_id",
        "kind",
        "body",
        "seq",
        "convs",
        "limit",
        "before",
        "after",
    ];
    if rng.gen_bool(0.3) {
        return (0..rng.gen_range(0..200))
            .map(|_| char::from(rng.gen_range(32u8..127)))
            .collect();
    }
    let mut frame = serde_json::Map::new();
    frame.insert("type".into(), json!(TYPES[rng.gen_range(0..TYPES.len())]));
    for _ in 0..rng.gen_range(0..5) {
        let value = match rng.gen_range(0..6) {
            0 => json!(rng.gen::<u64>()),
            1 => json!(-rng.gen_range(0..1000i64)),
            2 => json!("x".repeat(rng.gen_range(0..100))),
            3 => json!({"1": rng.gen::<u32>()}),
            4 => json!([1, "a", null]),
            _ => Value::Null,
        };
        frame.insert(FIELDS[rng.gen_range(0..FIELDS.len())].into(), value);
    }
    Value::Object(frame).to_string()
}

#[actix_web::test]
async fn garbage_at_a_live_socket_never_stops_the_node() {
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "100000")]).await;
    let (a, b, m) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("mallory").await,
    );
    let conv = app.direct(&a, "bob").await;
    let mut alice = app.connect(&a).await;
    let mut bob = app.connect(&b).await;
    let mut mallory = app.connect(&m).await;

    let mut rng = StdRng::seed_from_u64(0x5eed);
    for round in 0..10 {
        let frames: Vec<String> = (0..50).map(|_| garbage(&mut rng)).collect();
        for f in &frames {
            mallory.send_text(f).await;
        }
        // The attacker's socket still answers, and the others still chat.
        mallory.barrier().await;
        alice
            .send_acked(conv, &format!("ok-{round}"), "still here")
            .await;
        let got = bob.next_of_type("message").await;
        assert_eq!(got["msg"]["client_id"], format!("ok-{round}"));
    }
    let history = app.history(&a, conv).await;
    assert_eq!(history.len(), 10, "only the real messages were stored");
    let (status, _) = app.get("/api/me", &m).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn a_flooding_socket_is_refused_then_closed_and_others_keep_chatting() {
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "5")]).await;
    let (a, b) = (app.register("alice").await, app.register("bob").await);
    let direct = app.direct(&a, "bob").await;
    let group = app.group(&a, "team", &["bob"]).await;
    let mut flooder = app.connect(&a).await;
    let mut bob = app.connect(&b).await;
    // Two conversations and one the flooder is not in: the close waits for the answers
    // of all three.
    let frames = (0..200)
        .map(|i| {
            let conv = [direct, group, 999_999][i % 3];
            json!({"type": "send", "conv": conv, "client_id": format!("f{i}"), "body": "x"})
        })
        .collect();
    flooder.send_many(frames).await;
    flooder.expect_error("rate_limited").await;
    assert_eq!(flooder.expect_close().await, Some(4008));
    // Only what fit in the bucket was stored, every stored message was acked before the
    // close (so a client can trust its acks), and bob's own socket still works.
    let mut acked: Vec<Value> = flooder
        .take_of_type("ack")
        .iter()
        .map(|a| a["client_id"].clone())
        .collect();
    let mut stored: Vec<Value> = Vec::new();
    for conv in [direct, group] {
        let history = app.history(&a, conv).await;
        let sent = history.iter().filter(|m| m["kind"] != "system");
        stored.extend(sent.map(|m| m["client_id"].clone()));
    }
    assert!((1..=10).contains(&stored.len()), "{} stored", stored.len());
    let key = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    stored.sort_by_key(key);
    acked.sort_by_key(key);
    assert_eq!(stored, acked, "stored and acked");
    bob.send_acked(direct, "b1", "still fine").await;
}

#[actix_web::test]
async fn connection_session_and_login_limits() {
    let app = spawn_app(&[
        ("CHATNODE__LIMITS__MAX_SESSIONS_PER_USER", "2"),
        ("CHATNODE__LIMITS__MAX_CONNECTIONS_PER_IP", "3"),
        ("CHATNODE__LIMITS__FAILED_LOGINS_PER_USER_PER_MIN", "2"),
    ])
    .await;
    let a = app.register("alice").await;
    let _s1 = app.connect(&a).await;
    let _s2 = app.connect(&a).await;
    // A third socket of the same user: refused after auth with 4008.
    let mut s3 = WsClient::open(app.client.ws(app.ws_url(&format!("?token={a}")))).await;
    s3.expect_error("rate_limited").await;
    assert_eq!(s3.expect_close().await, Some(4008));
    // The address's third open socket is taken by an unauthenticated one; the fourth gets 503.
    // The node frees s3's slot when its connection ends, which can be just after the
    // client saw the close frame: retry (bounded) until the third socket is taken.
    let pending = poll_until(|| app.client.ws(app.ws_url("")).connect(), |r| r.is_ok()).await;
    let _pending = pending.expect("the closed socket's connection slot was never freed");
    let refused = app.client.ws(app.ws_url("")).connect().await;
    match refused {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 503)
        }
        other => panic!("expected 503, got {:?}", other.map(|(r, _)| r.status())),
    }
    // Failed logins per username: after two wrong passwords even the right one gets 429.
    for _ in 0..2 {
        let wrong = app
            .call(
                "POST",
                "/api/login",
                None,
                Some(json!({"username": "alice", "password": "wrong password"})),
            )
            .await;
        assert_eq!(wrong.status, 401);
    }
    let locked = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "alice", "password": crate::harness::PASSWORD})),
        )
        .await;
    assert_eq!(locked.status, 429);
}

#[actix_web::test]
async fn the_data_dir_holds_no_password_and_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_string_lossy().into_owned();
    let app = spawn_app(&[("CHATNODE__SERVER__DATA_DIR", &data)]).await;
    let token = app.register("alice").await;
    let second = app.login("alice").await;
    let (status, _) = app.get("/api/me", &second).await;
    assert_eq!(status, 200);
    drop(app);
    let mut haystack = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            haystack.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(!haystack.is_empty());
    for secret in [crate::harness::PASSWORD, token.as_str(), second.as_str()] {
        let found = haystack
            .windows(secret.len())
            .any(|w| w == secret.as_bytes());
        assert!(!found, "a secret is stored in the clear");
    }
}

/// A WebSocket upgrade request for `target` (path and query), offering `chatnode.v1`.
fn upgrade(target: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: chat.lan\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chatnode.v1\r\n\r\n"
    )
}

/// Appends the next bytes `tcp` gives to `buf` (bounded by [`WAIT`]); the peer must
/// not have closed.
async fn read_more(tcp: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 1024];
    let n = timeout(WAIT, tcp.read(&mut chunk)).await.unwrap().unwrap();
    assert!(n > 0, "closed early; read so far: {buf:?}");
    buf.extend_from_slice(&chunk[..n]);
}

/// Reads from `tcp` until `buf` holds `\r\n\r\n`; the head, and what came after it.
async fn read_head(tcp: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (String::from_utf8_lossy(&buf).into_owned(), rest);
        }
        read_more(tcp, &mut buf).await;
    }
}

/// A client's text frame: masked, as RFC 6455 wants from clients.
fn masked_text(text: &str) -> Vec<u8> {
    let payload = text.as_bytes();
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The first text frame the server sent (unmasked), reading more from `tcp` as needed.
async fn server_text(tcp: &mut tokio::net::TcpStream, mut buf: Vec<u8>) -> Value {
    loop {
        if buf.len() >= 2 {
            assert_eq!(buf[0], 0x81, "a final text frame");
            let (len, start) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                126 => (usize::MAX, 4),
                n => (n as usize, 2),
            };
            if len != usize::MAX && buf.len() >= start + len {
                return serde_json::from_slice(&buf[start..start + len]).unwrap();
            }
        }
        read_more(tcp, &mut buf).await;
    }
}

/// The node takes WebSocket connections over from the HTTP layer: a frame written in the
/// same packet as the handshake is read, the subprotocol is answered, and an upgrade
/// anywhere but /ws (or a /ws request without one) gets a plain HTTP error.
#[actix_web::test]
async fn the_handshake_and_a_frame_behind_it_in_one_write() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app(&[]).await;
    let token = app.register("eager").await;
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut bytes = upgrade("/ws").into_bytes();
    bytes.extend(masked_text(
        &json!({"type": "auth", "token": token}).to_string(),
    ));
    tcp.write_all(&bytes).await.unwrap();
    let (head, rest) = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("sec-websocket-protocol: chatnode.v1"),
        "{head}"
    );
    assert!(
        lower.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    let first = server_text(&mut tcp, rest).await;
    assert_eq!(first["type"], "auth_ok", "{first}");
    assert_eq!(first["user"], "eager");

    // An upgrade to another path: 404 with the usual error body, then the node hangs up.
    let mut other = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    other
        .write_all(upgrade("/api/me").as_bytes())
        .await
        .unwrap();
    let (head, body) = read_head(&mut other).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let mut body = body;
    tokio::io::AsyncReadExt::read_to_end(&mut other, &mut body)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");

    // The node still serves sockets the usual way.
    let ws = app.connect(&token).await;
    assert_eq!(ws.auth_ok["user"], "eager");

    // /ws without the upgrade headers is a bad request, not a hang.
    let plain = app.call("GET", "/ws", None, None).await;
    assert_eq!(plain.status, 400);
    assert_eq!(plain.json()["error"]["code"], "bad_request");
}

/// The node's `chatnode_sessions_online` gauge.
async fn sessions_online(app: &crate::harness::TestApp) -> u64 {
    let metrics = app.call("GET", "/metrics", None, None).await;
    String::from_utf8_lossy(&metrics.body)
        .lines()
        .find_map(|l| l.strip_prefix("chatnode_sessions_online "))
        .and_then(|v| v.trim().parse().ok())
        .expect("sessions gauge")
}

/// A client that stops reading (its network swallowed the connection) is dropped once
/// the node could not hand it a byte for a heartbeat timeout; before, its session waited
/// on the socket forever, with everything pushed to it piling up in its mailbox.
#[actix_web::test]
async fn a_client_that_stops_reading_is_dropped() {
    use tokio::io::AsyncWriteExt;
    let (app, talker, conv, mut tcp) =
        talker_and_raw_reader(("CHATNODE__SESSION__HEARTBEAT_TIMEOUT_SECS", "2")).await;

    // The reader keeps pinging and never reads a byte.
    let pinging = actix_web::rt::spawn(async move {
        let ping = [0x89u8, 0x80, 1, 2, 3, 4];
        while tcp.write_all(&ping).await.is_ok() {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    });

    let mut ws = app.connect(&talker).await;
    let body = "z".repeat(16_000);
    for i in 0..400 {
        ws.send_msg(conv, &format!("m{i}"), &body).await;
    }

    // ~6 MB pushed at a socket that reads nothing: the node stops writing, waits out
    // the heartbeat timeout and lets the socket go. The talker keeps pinging.
    let deadline = std::time::Instant::now() + WAIT;
    let mut online = sessions_online(&app).await;
    while online != 1 && std::time::Instant::now() < deadline {
        ws.send(awc::ws::Message::Ping(Default::default())).await;
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        online = sessions_online(&app).await;
    }
    assert_eq!(
        online, 1,
        "the reader's session is gone, the talker's is not"
    );
    ws.send_acked(conv, "after", "still here").await;
    pinging.abort();
}

/// A node with `setting` (and no rate limit), a `talker` in a direct chat with `reader`,
/// and `reader` authenticated on a raw socket with a 4 KiB receive buffer that nothing
/// reads yet: the node, the talker's token, the chat and the socket.
async fn talker_and_raw_reader(
    setting: (&str, &str),
) -> (crate::harness::TestApp, String, u64, tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app(&[setting, ("CHATNODE__LIMITS__MESSAGES_PER_SEC", "100000")]).await;
    let (talker, reader) = (app.register("talker").await, app.register("reader").await);
    let conv = app.direct(&talker, "reader").await;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&app.addr.into()).unwrap();
    let std_stream: std::net::TcpStream = socket.into();
    std_stream.set_nonblocking(true).unwrap();
    let mut tcp = tokio::net::TcpStream::from_std(std_stream).unwrap();
    let head = upgrade(&format!("/ws?token={reader}"));
    tcp.write_all(head.as_bytes()).await.unwrap();
    let online = poll_until(|| sessions_online(&app), |n| *n > 0).await;
    assert_eq!(online, 1, "the reader is authenticated");
    (app, talker, conv, tcp)
}

/// The (opcode, payload) of each server frame in `bytes` (unmasked, as servers send).
fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let (len, head) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        if bytes.len() < head + len {
            break;
        }
        out.push((bytes[0] & 0x0f, bytes[head..head + len].to_vec()));
        bytes = &bytes[head + len..];
    }
    out
}

/// A client that reads too slowly for what is pushed to it is closed (4000) once its
/// backlog passes `session.max_backlog_bytes`, instead of the node queueing for it
/// without bound; it reconnects and gets every message from its offline queue.
#[actix_web::test]
async fn a_reader_too_far_behind_is_closed_and_loses_nothing() {
    use tokio::io::AsyncReadExt;
    const SENT: u64 = 600;
    let (app, talker, conv, mut tcp) =
        talker_and_raw_reader(("CHATNODE__SESSION__MAX_BACKLOG_BYTES", "65536")).await;

    // ~10 MB while the reader reads nothing: more than the kernel's socket buffers hold,
    // so the rest waits in the node, past the 64 KiB allowed.
    let mut ws = app.connect(&talker).await;
    let body = "z".repeat(16_000);
    for i in 0..SENT {
        ws.send_msg(conv, &format!("m{i}"), &body).await;
    }
    ws.ack_for(&format!("m{}", SENT - 1)).await;

    // The reader reads again: what the kernel held, then the close.
    let mut bytes = Vec::new();
    while timeout(WAIT, tcp.read_buf(&mut bytes))
        .await
        .unwrap()
        .unwrap()
        > 0
    {}
    let start = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let frames = server_frames(&bytes[start..]);
    let live = frames
        .iter()
        .filter(|(op, p)| *op == 1 && String::from_utf8_lossy(p).contains(r#""type":"message""#))
        .count() as u64;
    let close = frames
        .iter()
        .find(|(op, _)| *op == 8)
        .expect("a close frame");
    assert_eq!(u16::from_be_bytes([close.1[0], close.1[1]]), 4000);
    assert!(
        String::from_utf8_lossy(&close.1[2..]).contains("too far behind"),
        "close reason: {:?}",
        String::from_utf8_lossy(&close.1[2..])
    );
    assert!(
        live < SENT,
        "the backlog was cut, not written out: {live} live messages"
    );

    // Nothing was lost: the reconnect drains every message, in order.
    let again = app.connect(&app.login("reader").await).await;
    assert_eq!(
        seqs(&msgs_of(&again.drained)),
        (1..=SENT).collect::<Vec<_>>()
    );
    ws.send_acked(conv, "after", "the talker is still here")
        .await;
}

/// A client still writing when the node closes on it (here the rest of an oversized
/// frame and more behind it, as a flood would) still reads the close frame with its
/// code: the node reads and drops what keeps coming until the client closes, instead
/// of answering it with a reset that makes the client lose the close frame.
#[actix_web::test]
async fn a_client_still_writing_gets_the_close_code() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(&[("CHATNODE__SESSION__MAX_FRAME_BYTES", "2048")]).await;
    let token = app.register("writer").await;
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(upgrade(&format!("/ws?token={token}")).as_bytes())
        .await
        .unwrap();
    let (head, mut got) = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (mut rd, mut wr) = tcp.into_split();
    let writing = async {
        wr.write_all(&masked_text(&"b".repeat(3000))).await?;
        // ~400 KB more over ~0.2 s, as a client that has not read the close yet would
        let junk = masked_text(&"j".repeat(4000));
        for _ in 0..100 {
            wr.write_all(&junk).await?;
            actix_web::rt::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        Ok::<(), std::io::Error>(())
    };
    let reading = async {
        let mut chunk = [0u8; 4096];
        loop {
            match timeout(WAIT, rd.read(&mut chunk)).await.unwrap() {
                Ok(0) => return Ok(()),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(e),
            }
        }
    };
    let (wrote, read) = tokio::join!(writing, reading);
    wrote.expect("the node kept reading until the client was done");
    read.expect("the socket ended with a close, not a reset");
    let frames = server_frames(&got);
    let close = frames
        .iter()
        .find(|(op, _)| *op == 8)
        .expect("a close frame");
    assert_eq!(
        u16::from_be_bytes([close.1[0], close.1[1]]),
        4009,
        "{frames:?}"
    );
}
