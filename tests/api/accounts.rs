//! Accounts and authentication.

use serde_json::json;

use crate::harness::{spawn_app, WsClient, PASSWORD};

#[actix_web::test]
async fn register_login_and_duplicates() {
    let app = spawn_app(&[]).await;
    let token = app.register("alice").await;
    let (status, me) = app.get("/api/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"], "alice");
    // a path that exists but not with this method is 405, one that does not exist 404
    let wrong = app.call("PATCH", "/api/me", Some(&token), None).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.json()["error"]["code"], "method_not_allowed");
    let wrong = app
        .call("PUT", "/api/conversations", Some(&token), None)
        .await;
    assert_eq!(wrong.status, 405);
    let missing = app.call("GET", "/api/nothing", Some(&token), None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    assert_eq!(app.call("HEAD", "/healthz", None, None).await.status, 200);
    // the bundled web client, public
    let page = app.call("GET", "/", None, None).await;
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("chatnode"));

    let dup = app
        .call(
            "POST",
            "/api/register",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json()["error"]["code"], "conflict");

    let bad = app
        .call(
            "POST",
            "/api/register",
            None,
            Some(json!({"username": "Not Valid", "password": PASSWORD})),
        )
        .await;
    assert_eq!(bad.status, 400);

    let second = app.login("alice").await;
    assert_ne!(second, token);
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

#[actix_web::test]
async fn registration_can_be_closed() {
    let app = spawn_app(&[("CHATNODE__ACCOUNTS__REGISTRATION_OPEN", "false")]).await;
    let a = app
        .call(
            "POST",
            "/api/register",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    assert_eq!(a.json()["error"]["code"], "forbidden");
    // Nobody was created.
    let login = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 401);
}

#[actix_web::test]
async fn four_ways_to_authenticate_a_socket() {
    let app = spawn_app(&[]).await;
    let token = app.register("alice").await;

    let check = |ws: &WsClient| {
        assert_eq!(ws.auth_ok["type"], "auth_ok");
        assert_eq!(ws.auth_ok["protocol"], "1.1");
        assert_eq!(ws.auth_ok["user"], "alice");
        assert_eq!(ws.auth_ok["heartbeat_ms"], 30_000);
        assert_eq!(ws.auth_ok["recall_window_ms"], 120_000);
        assert!(ws.auth_ok["session"].is_string());
        assert!(ws.auth_ok["server_time"].as_u64().unwrap() > 0);
    };

    // ?token=
    let mut q = app.connect(&token).await;
    check(&q);
    q.barrier().await;

    // Authorization: Bearer
    let mut h = WsClient::open(app.client.ws(app.ws_url("")).bearer_auth(&token)).await;
    h.ready().await;
    check(&h);
    h.barrier().await;

    // Sec-WebSocket-Protocol: chatnode.v1, token.T; the node picks chatnode.v1.
    let mut p = WsClient::open(
        app.client
            .ws(app.ws_url(""))
            .protocols(["chatnode.v1".to_string(), format!("token.{token}")]),
    )
    .await;
    assert_eq!(p.protocol.as_deref(), Some("chatnode.v1"));
    p.ready().await;
    check(&p);
    p.barrier().await;

    // An `auth` frame first.
    let mut f = WsClient::open(app.client.ws(app.ws_url(""))).await;
    f.send_json(json!({"type": "auth", "token": token})).await;
    f.ready().await;
    check(&f);
    f.barrier().await;
    // A second `auth` is a bad frame, not a new login.
    f.send_json(json!({"type": "auth", "token": token})).await;
    assert_eq!(f.expect_error("bad_frame").await["ref"], "auth");
    f.barrier().await;

    // Four sessions, four session ids.
    let ids: std::collections::BTreeSet<String> = [&q, &h, &p, &f]
        .iter()
        .map(|w| w.auth_ok["session"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4);
}

/// An `error` unauthorized, then close 4001.
async fn assert_refused(ws: &mut WsClient) {
    let e = ws.expect_error("unauthorized").await;
    assert_eq!(e["type"], "error");
    assert_eq!(ws.expect_close().await, Some(4001));
    assert!(ws.take_of_type("auth_ok").is_empty());
}

#[actix_web::test]
async fn a_wrong_token_is_refused_with_4001() {
    let app = spawn_app(&[]).await;
    let good = app.register("alice").await;
    let bad = "0".repeat(64);

    let mut q = WsClient::open(app.client.ws(app.ws_url(&format!("?token={bad}")))).await;
    assert_refused(&mut q).await;
    let mut h = WsClient::open(app.client.ws(app.ws_url("")).bearer_auth(&bad)).await;
    assert_refused(&mut h).await;
    let mut p = WsClient::open(
        app.client
            .ws(app.ws_url(""))
            .protocols(["chatnode.v1".to_string(), format!("token.{bad}")]),
    )
    .await;
    assert_refused(&mut p).await;
    let mut f = WsClient::open(app.client.ws(app.ws_url(""))).await;
    f.send_json(json!({"type": "auth", "token": bad})).await;
    assert_refused(&mut f).await;
    // Any other first frame is refused the same way.
    let mut early = WsClient::open(app.client.ws(app.ws_url(""))).await;
    early.send_json(json!({"type": "ping", "ts": 1})).await;
    assert_refused(&mut early).await;
    // A wrong token over HTTP is 401.
    let (status, _) = app.get("/api/me", &bad).await;
    assert_eq!(status, 401);
    let anonymous = app.call("GET", "/api/me", None, None).await;
    assert_eq!(anonymous.status, 401);

    // The good token still works.
    let mut ok = app.connect(&good).await;
    ok.barrier().await;
}

#[actix_web::test]
async fn logout_revokes_the_token_at_once_and_closes_its_sockets() {
    let app = spawn_app(&[]).await;
    let first = app.register("alice").await;
    let second = app.login("alice").await;
    let mut s1 = app.connect(&first).await;
    let mut s2 = app.connect(&first).await;
    let mut other = app.connect(&second).await;

    let out = app.call("POST", "/api/logout", Some(&first), None).await;
    assert_eq!(out.status, 204);
    let (status, _) = app.get("/api/me", &first).await;
    assert_eq!(status, 401, "the token stops working at once");
    assert_refused(&mut s1).await;
    assert_refused(&mut s2).await;
    let again = app.call("POST", "/api/logout", Some(&first), None).await;
    assert_eq!(again.status, 401);
    let mut late = WsClient::open(app.client.ws(app.ws_url(&format!("?token={first}")))).await;
    assert_refused(&mut late).await;

    // The user's other token and its socket are untouched.
    other.barrier().await;
    assert!(other.take_of_type("error").is_empty());
    let (status, me) = app.get("/api/me", &second).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"], "alice");
}

#[actix_web::test]
async fn heartbeat_supervisor_closes_silent_sockets() {
    let app = spawn_app(&[
        ("CHATNODE__SESSION__HEARTBEAT_TIMEOUT_SECS", "1"),
        ("CHATNODE__SESSION__AUTH_TIMEOUT_SECS", "1"),
    ])
    .await;
    let token = app.register("alice").await;
    let mut silent = app.connect(&token).await;
    let mut lively = app.connect(&token).await;
    let mut anonymous = WsClient::open(app.client.ws(app.ws_url(""))).await;

    // The lively socket pings every 200 ms for 2.5 s (well past the 1 s timeout) and
    // gets every pong.
    for i in 0..12u64 {
        lively.send_json(json!({"type": "ping", "ts": i})).await;
        assert_eq!(lively.next_of_type("pong").await["ts"], i);
        actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(silent.expect_close().await, Some(4000));
    assert_eq!(anonymous.expect_close().await, Some(4001));
    lively.barrier().await;
}
