//! Group roles (owner, admins, members), rename, mute, and sending over HTTP.

use serde_json::{json, Value};

use crate::harness::{spawn_app, TestApp};

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    let a = app.call("PUT", path, Some(token), Some(body)).await;
    (a.status, a.json())
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    let a = app.call("PATCH", path, Some(token), Some(body)).await;
    (a.status, a.json())
}

async fn members(app: &TestApp, conv: u64, token: &str, body: Value) -> (u16, Value) {
    app.post(&format!("/api/conversations/{conv}/members"), token, body)
        .await
}

#[actix_web::test]
async fn the_role_matrix_of_a_group() {
    let app = spawn_app(&[]).await;
    let own = app.register("own").await;
    let adm = app.register("adm").await;
    let mem = app.register("mem").await;
    let out = app.register("out").await;
    app.register("new").await;
    app.register("two").await;
    let conv = app.group(&own, "g", &["adm", "mem"]).await;
    let view = app.conversation(&mem, conv).await;
    assert_eq!(view["owner"], "own");
    assert_eq!(view["admins"], json!(["own"]));
    assert_eq!(
        (view["first_seq"].as_u64(), view["muted"].as_bool()),
        (Some(1), Some(false))
    );
    let admins = format!("/api/conversations/{conv}/admins");

    // admins: the owner only; a non-member is 404 before anything else
    assert_eq!(
        put(&app, &admins, &mem, json!({"add": ["mem"]})).await.0,
        403
    );
    assert_eq!(
        put(&app, &admins, &out, json!({"add": ["out"]})).await.0,
        404
    );
    assert_eq!(
        put(&app, &admins, &own, json!({"add": ["out"]})).await.0,
        400
    );
    let (status, view) = put(&app, &admins, &own, json!({"add": ["adm"]})).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["admins"], json!(["own", "adm"]));
    assert_eq!(
        put(&app, &admins, &adm, json!({"add": ["mem"]})).await.0,
        403
    );

    // rename: owner or admin, 1-64 characters; a system message and conv_update
    let mut ws = app.connect(&mem).await;
    let path = format!("/api/conversations/{conv}");
    assert_eq!(patch(&app, &path, &mem, json!({"name": "x"})).await.0, 403);
    assert_eq!(patch(&app, &path, &out, json!({"name": "x"})).await.0, 404);
    assert_eq!(patch(&app, &path, &adm, json!({"name": ""})).await.0, 400);
    assert_eq!(
        patch(&app, &path, &adm, json!({"name": "x".repeat(65)}))
            .await
            .0,
        400
    );
    let (status, view) = patch(&app, &path, &adm, json!({"name": "y".repeat(64)})).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["name"], "y".repeat(64));
    let m = ws.next_of_type("message").await["msg"].clone();
    assert_eq!(
        (m["kind"].as_str(), m["sender"].as_str()),
        (Some("system"), Some("adm"))
    );
    let up = ws.next_of_type("conv_update").await;
    assert_eq!(up["name"], "y".repeat(64));
    assert_eq!(app.conversation(&own, conv).await["last_seq"], 1);

    // removing: others need an admin, the owner is removed by no one
    assert_eq!(
        members(&app, conv, &mem, json!({"remove": ["adm"]}))
            .await
            .0,
        403
    );
    assert_eq!(
        members(&app, conv, &adm, json!({"remove": ["own"]}))
            .await
            .0,
        403
    );
    assert_eq!(
        members(&app, conv, &out, json!({"remove": ["mem"]}))
            .await
            .0,
        404
    );
    // adding: anyone while groups.members_can_add (the default)
    let (status, view) = members(&app, conv, &mem, json!({"add": ["new"]})).await;
    assert_eq!(status, 200, "{view}");
    let (status, view) = members(&app, conv, &adm, json!({"remove": ["new"]})).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["members"], json!(["adm", "mem", "own"]));
    // anyone may leave
    let (status, _) = members(&app, conv, &mem, json!({"add": ["two"]})).await;
    assert_eq!(status, 200);
    let two = app.login("two").await;
    let (status, _) = members(&app, conv, &two, json!({"remove": ["two"]})).await;
    assert_eq!(status, 200);
    assert_eq!(app.get(&path, &two).await.0, 404);

    // the owner leaving hands ownership to the longest-standing admin
    let (status, _) = members(&app, conv, &own, json!({"remove": ["own"]})).await;
    assert_eq!(status, 200);
    let view = app.conversation(&mem, conv).await;
    assert_eq!(view["owner"], "adm");
    assert_eq!(view["admins"], json!(["adm"]));
    assert_eq!(view["members"], json!(["adm", "mem"]));
    // ... else to the longest-standing member
    let (status, _) = members(&app, conv, &adm, json!({"remove": ["adm"]})).await;
    assert_eq!(status, 200);
    let view = app.conversation(&mem, conv).await;
    assert_eq!(
        (view["owner"].as_str(), view["admins"].clone()),
        (Some("mem"), json!(["mem"]))
    );
    let last = view["last_message"]["body"].as_str().unwrap().to_string();
    assert!(last.contains("mem is now the owner"), "{last}");

    // a direct chat has no roles
    let direct = app.direct(&mem, "out").await;
    let view = app.conversation(&mem, direct).await;
    assert_eq!(
        (view["owner"].clone(), view["admins"].clone()),
        (Value::Null, json!([]))
    );
    let (status, _) = patch(
        &app,
        &format!("/api/conversations/{direct}"),
        &mem,
        json!({"name": "n"}),
    )
    .await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn only_admins_add_when_members_may_not() {
    let app = spawn_app(&[("CHATNODE__GROUPS__MEMBERS_CAN_ADD", "false")]).await;
    let own = app.register("own").await;
    let mem = app.register("mem").await;
    app.register("new").await;
    let conv = app.group(&own, "g", &["mem"]).await;
    let (status, v) = members(&app, conv, &mem, json!({"add": ["new"]})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(
        app.conversation(&mem, conv).await["last_seq"],
        0,
        "nothing stored"
    );
    // a member may still leave, and an admin may add
    let (status, _) = members(&app, conv, &own, json!({"add": ["new"]})).await;
    assert_eq!(status, 200);
    let (status, _) = members(&app, conv, &mem, json!({"remove": ["mem"]})).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn mute_is_per_user() {
    let app = spawn_app(&[]).await;
    let ta = app.register("ann").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let path = format!("/api/conversations/{conv}/mute");
    let (status, view) = put(&app, &path, &ta, json!({"muted": true})).await;
    assert_eq!((status, view["muted"].as_bool()), (200, Some(true)));
    assert_eq!(app.conversation(&tb, conv).await["muted"], false);
    let out = app.register("out").await;
    assert_eq!(put(&app, &path, &out, json!({"muted": true})).await.0, 404);
    assert_eq!(put(&app, &path, &ta, json!({"muted": "yes"})).await.0, 400);
}

#[actix_web::test]
async fn sending_over_http_is_a_send() {
    let app = spawn_app(&[]).await;
    let ta = app.register("ann").await;
    let tb = app.register("bob").await;
    let out = app.register("out").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    let path = format!("/api/conversations/{conv}/messages");

    let body = json!({"client_id": "cron-1", "kind": "text", "body": "good morning"});
    let (status, v) = app.post(&path, &ta, body.clone()).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (v["conv"].as_u64(), v["seq"].as_u64()),
        (Some(conv), Some(1))
    );
    assert_eq!(v["client_id"], "cron-1");
    assert!(v["ts"].is_u64());
    // every member socket gets it, the sender's too (none of them sent it)
    for ws in [&mut a, &mut b] {
        let m = ws.next_of_type("message").await["msg"].clone();
        assert_eq!(
            (m["seq"].as_u64(), m["body"].as_str()),
            (Some(1), Some("good morning"))
        );
    }
    // a retry answers 200 with the same seq; so does the same client_id over the socket
    let (status, again) = app.post(&path, &ta, body).await;
    assert_eq!(
        (status, again["seq"].as_u64(), again["ts"].clone()),
        (200, Some(1), v["ts"].clone())
    );
    let ack = a.send_acked(conv, "cron-1", "good morning").await;
    assert_eq!(ack["seq"], 1);
    // and the other way round: a socket's client_id, then HTTP
    a.send_acked(conv, "ws-1", "hi").await;
    let (status, v) = app
        .post(&path, &ta, json!({"client_id": "ws-1", "body": "hi"}))
        .await;
    assert_eq!((status, v["seq"].as_u64()), (200, Some(2)));
    // replies and mentions as on the socket
    let (status, v) = app
        .post(
            &path,
            &tb,
            json!({"client_id": "r", "body": "yes", "reply_to": 1, "mentions": ["ann", "out"]}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let m = a.next_of_type("message").await["msg"].clone();
    assert_eq!(
        (m["reply_to"].as_u64(), m["mentions"].clone()),
        (Some(1), json!(["ann"]))
    );

    // a non-member gets 404 whatever the body; bad bodies are 400, long ones 413
    assert_eq!(
        app.post(&path, &out, json!({"client_id": "x", "body": "x"}))
            .await
            .0,
        404
    );
    assert_eq!(app.post(&path, &out, json!({"nonsense": 1})).await.0, 404);
    for bad in [
        json!({"body": "no client_id"}),
        json!({"client_id": "", "body": "x"}),
        json!({"client_id": "k", "kind": "system", "body": "x"}),
        json!({"client_id": "k", "kind": "edit", "body": "x"}),
        json!({"client_id": "k", "kind": "file", "body": "x"}),
        json!({"client_id": "k", "body": "x", "reply_to": 99}),
        json!({"client_id": "k"}),
    ] {
        let (status, v) = app.post(&path, &ta, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    let (status, _) = app
        .post(
            &path,
            &ta,
            json!({"client_id": "big", "body": "x".repeat(20_000)}),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(
        app.conversation(&ta, conv).await["last_seq"],
        3,
        "nothing else stored"
    );
    b.assert_none_of_type("error").await;
}
