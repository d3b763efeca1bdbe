//! The seeds' clients, unchanged (PROTOCOL.md v1.1, "Clients of the seeds"): their
//! exact heartbeat frames and the ways they pass their token.

use awc::ws::Message;
use serde_json::json;

use crate::harness::{spawn_app, WsClient};

/// Seed 001 (uni-app) sends this text as its heartbeat: `data: `{"type":"ping"}``.
const SEED_001_PING: &str = r#"{"type":"ping"}"#;

/// Seed 000 (HarmonyOS) sends `{ type: 'ping', timestamp: Date.now() }` through
/// JSON.stringify: this is that frame for one `Date.now()`.
const SEED_000_PING: &str = r#"{"type":"ping","timestamp":1765065600123}"#;

#[actix_web::test]
async fn seed_heartbeats_get_a_pong() {
    let app = spawn_app(&[]).await;
    let token = app.register("alice").await;
    let mut ws = app.connect(&token).await;
    let server_time = ws.auth_ok["server_time"].as_u64().unwrap();

    // No ts: the pong carries the server time.
    ws.send_text(SEED_001_PING).await;
    let pong = ws.next_frame().await;
    assert_eq!(pong["type"], "pong", "{pong}");
    let now = pong["ts"].as_u64().expect("a number ts");
    assert!(
        now >= server_time,
        "server time {now} before auth_ok's {server_time}"
    );

    // `timestamp` is echoed in `ts`.
    ws.send_text(SEED_000_PING).await;
    let pong = ws.next_frame().await;
    assert_eq!(pong, json!({"type": "pong", "ts": 1_765_065_600_123u64}));

    // `ts` wins over `timestamp`; either, when given, must be a number.
    ws.send_text(r#"{"type":"ping","ts":5,"timestamp":7}"#)
        .await;
    assert_eq!(ws.next_frame().await, json!({"type": "pong", "ts": 5}));
    for bad in [
        r#"{"type":"ping","ts":"5"}"#,
        r#"{"type":"ping","timestamp":"soon"}"#,
        r#"{"type":"ping","ts":null}"#,
    ] {
        ws.send_text(bad).await;
        let e = ws.expect_error("bad_frame").await;
        assert_eq!(e["ref"], "ping", "{bad}");
    }
    ws.barrier().await;
}

#[actix_web::test]
async fn seed_004_passes_its_token_as_sec_websocket_protocol_in_the_url() {
    let app = spawn_app(&[]).await;
    let token = app.register("alice").await;
    // Seed 004 (WeChat mini program):
    // url: app.globalData.socketPath + '?sec-websocket-protocol=' + encodeURIComponent(token)
    let url = app.ws_url(&format!("?sec-websocket-protocol={token}"));
    let mut ws = WsClient::open(app.client.ws(url)).await;
    ws.ready().await;
    assert_eq!(ws.auth_ok["user"], "alice");
    ws.barrier().await;

    // A wrong one is refused like a wrong ?token=.
    let url = app.ws_url(&format!("?sec-websocket-protocol={}", "0".repeat(64)));
    let mut bad = WsClient::open(app.client.ws(url)).await;
    bad.expect_error("unauthorized").await;
    assert_eq!(bad.expect_close().await, Some(4001));
}

#[actix_web::test]
async fn a_bare_token_as_the_only_subprotocol_is_accepted_and_answered() {
    let app = spawn_app(&[]).await;
    let token = app.register("alice").await;
    // `new WebSocket(url, token)`: the list is the bare token alone.
    let mut ws = WsClient::open(app.client.ws(app.ws_url("")).protocols([token.clone()])).await;
    assert_eq!(
        ws.protocol.as_deref(),
        Some(token.as_str()),
        "the node answers with that entry"
    );
    ws.ready().await;
    assert_eq!(ws.auth_ok["user"], "alice");
    ws.send(Message::Text(SEED_001_PING.into())).await;
    assert_eq!(ws.next_frame().await["type"], "pong");

    // A wrong bare token: the handshake still completes (a browser could not read a
    // failed one), then unauthorized and 4001.
    let bad = "0".repeat(64);
    let mut refused = WsClient::open(app.client.ws(app.ws_url("")).protocols([bad.clone()])).await;
    assert_eq!(refused.protocol.as_deref(), Some(bad.as_str()));
    refused.expect_error("unauthorized").await;
    assert_eq!(refused.expect_close().await, Some(4001));

    // Two entries, neither of them ours: no token there, so the first frame must be auth.
    let mut two = WsClient::open(
        app.client
            .ws(app.ws_url(""))
            .protocols([token.clone(), "other".to_string()]),
    )
    .await;
    assert_eq!(two.protocol, None);
    two.send_json(json!({"type": "auth", "token": token})).await;
    two.ready().await;
    assert_eq!(two.auth_ok["user"], "alice");
}

/// PROTOCOL.md v1.1: before `auth_ok` a binary frame is not a valid `auth` (unauthorized,
/// close 4001); after it, `bad_frame` and the socket stays open.
#[actix_web::test]
async fn a_binary_frame_before_auth_is_unauthorized_and_after_it_bad_frame() {
    let app = spawn_app(&[]).await;
    let token = app.register("alice").await;

    let mut anon = WsClient::open(app.client.ws(app.ws_url(""))).await;
    anon.send(Message::Binary(vec![0x7b, 0x7d].into())).await;
    anon.expect_error("unauthorized").await;
    assert_eq!(anon.expect_close().await, Some(4001));

    let mut ws = app.connect(&token).await;
    ws.send(Message::Binary(vec![1u8, 2, 3].into())).await;
    ws.expect_error("bad_frame").await;
    ws.send_text(r#"{"type":"ping","ts":9}"#).await;
    assert_eq!(
        ws.next_of_type("pong").await["ts"],
        9,
        "the socket stays open"
    );
}
