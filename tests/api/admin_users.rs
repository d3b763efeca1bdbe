//! Invites, the admin routes, disabling and deleting accounts (PROTOCOL.md v1.1).

use serde_json::{json, Value};

use crate::harness::{spawn_app, TestApp, PASSWORD};

/// POST /api/register with `body`.
async fn register_with(app: &TestApp, body: Value) -> (u16, Value) {
    let a = app.call("POST", "/api/register", None, Some(body)).await;
    (a.status, a.json())
}

/// POST /api/login as `name` with `password`: the status.
async fn login_status(app: &TestApp, name: &str, password: &str) -> u16 {
    app.call(
        "POST",
        "/api/login",
        None,
        Some(json!({"username": name, "password": password})),
    )
    .await
    .status
}

/// A closed node with its admin (made through the admin route of an open... no: the
/// first user of an open store): returns the app and the admin's token.
async fn closed_node_with_admin(extra: &[(&str, &str)]) -> (TestApp, String) {
    let mut env = vec![("CHATNODE__ACCOUNTS__REGISTRATION_OPEN", "false")];
    env.extend_from_slice(extra);
    let app = spawn_app(&env).await;
    // No one can register on a closed node: the admin comes from the store directly,
    // as `chatnode user add --admin` would make it.
    let running = app.running().expect("in-process node");
    chatnode::accounts::add_user(
        &running.node.store,
        "root",
        PASSWORD.to_string(),
        true,
        Default::default(),
    )
    .await
    .unwrap();
    let token = app.login("root").await;
    (app, token)
}

#[actix_web::test]
async fn an_invite_admits_on_a_closed_node_once_and_only_until_it_expires() {
    let (app, admin) = closed_node_with_admin(&[]).await;
    let no_invite = register_with(&app, json!({"username": "ann", "password": PASSWORD})).await;
    assert_eq!(no_invite.0, 403);
    assert_eq!(no_invite.1["error"]["code"], "forbidden");

    let (status, inv) = app.post("/api/invites", &admin, json!({})).await;
    assert_eq!(status, 201, "{inv}");
    let code = inv["code"].as_str().unwrap().to_string();
    assert!(code.len() >= 32, "at least 128 bits: {code}");
    assert_eq!(inv["uses_left"], 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let expires = inv["expires"].as_u64().unwrap();
    let week = 7 * 24 * 3600 * 1000;
    assert!(expires > now + week - 60_000 && expires <= now + week + 60_000);
    assert_eq!(
        inv["url"].as_str().unwrap(),
        format!("http://{}/#invite={code}", app.addr)
    );
    let (status, list) = app.get("/api/invites", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(list["invites"].as_array().unwrap().len(), 1);
    assert_eq!(list["invites"][0]["uses_left"], 1);
    assert_eq!(list["invites"][0]["expires"], expires);

    // a forged code, a code of the right shape but unknown, a bad name: nothing used
    for forged in [
        "nonsense".to_string(),
        format!("{}{}", &code[..16], "0".repeat(32)),
        "f".repeat(48),
    ] {
        let (status, v) = register_with(
            &app,
            json!({"username": "ann", "password": PASSWORD, "invite": forged}),
        )
        .await;
        assert_eq!(status, 403, "{v}");
        assert_eq!(v["error"]["code"], "forbidden");
    }
    let (status, _) = register_with(
        &app,
        json!({"username": "Bad Name", "password": PASSWORD, "invite": code}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, v) = register_with(
        &app,
        json!({"username": "ann", "password": PASSWORD, "invite": code}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let ann = v["token"].as_str().unwrap().to_string();
    let (_, me) = app.get("/api/me", &ann).await;
    assert_eq!(me["admin"], false, "an invite makes a member");
    // used up
    let (status, v) = register_with(
        &app,
        json!({"username": "bea", "password": PASSWORD, "invite": code}),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let (_, list) = app.get("/api/invites", &admin).await;
    assert_eq!(list["invites"], json!([]));

    // several uses, and an expired one
    let (_, multi) = app.post("/api/invites", &admin, json!({"uses": 2})).await;
    let multi = multi["code"].as_str().unwrap().to_string();
    for name in ["bea", "cy"] {
        let (status, _) = register_with(
            &app,
            json!({"username": name, "password": PASSWORD, "invite": multi}),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, _) = register_with(
        &app,
        json!({"username": "dan", "password": PASSWORD, "invite": multi}),
    )
    .await;
    assert_eq!(status, 403);
    let (_, short) = app
        .post("/api/invites", &admin, json!({"ttl_secs": 1}))
        .await;
    let short = short["code"].as_str().unwrap().to_string();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = register_with(
        &app,
        json!({"username": "dan", "password": PASSWORD, "invite": short}),
    )
    .await;
    assert_eq!(status, 403, "expired");
    // a taken name does not use the invite up
    let (_, one) = app.post("/api/invites", &admin, json!({})).await;
    let one = one["code"].as_str().unwrap().to_string();
    let (status, _) = register_with(
        &app,
        json!({"username": "ann", "password": PASSWORD, "invite": one}),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = register_with(
        &app,
        json!({"username": "dan", "password": PASSWORD, "invite": one}),
    )
    .await;
    assert_eq!(status, 201);
}

#[actix_web::test]
async fn invites_are_made_by_admins_unless_members_may_and_revoked_by_their_maker() {
    let (app, admin) = closed_node_with_admin(&[]).await;
    let (_, inv) = app.post("/api/invites", &admin, json!({})).await;
    let code = inv["code"].as_str().unwrap().to_string();
    let (status, _) = register_with(
        &app,
        json!({"username": "ann", "password": PASSWORD, "invite": code}),
    )
    .await;
    assert_eq!(status, 201);
    let ann = app.login("ann").await;
    let (status, v) = app.post("/api/invites", &ann, json!({})).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "forbidden");
    for bad in [
        json!({"uses": 0}),
        json!({"ttl_secs": 0}),
        json!({"uses": "x"}),
    ] {
        let (status, v) = app.post("/api/invites", &admin, bad.clone()).await;
        assert_eq!(status, 400, "{bad} -> {v}");
    }
    let anon = app
        .call("POST", "/api/invites", None, Some(json!({})))
        .await;
    assert_eq!(anon.status, 401);

    // revoke: by code, by id; others' or unknown ones are 404
    let (_, a) = app.post("/api/invites", &admin, json!({})).await;
    let (_, b) = app.post("/api/invites", &admin, json!({})).await;
    let (a_code, b_id) = (a["code"].as_str().unwrap(), b["id"].as_str().unwrap());
    let by_ann = app
        .call(
            "DELETE",
            &format!("/api/invites/{a_code}"),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(by_ann.status, 404);
    let gone = app
        .call(
            "DELETE",
            &format!("/api/invites/{a_code}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(gone.status, 204);
    let gone = app
        .call(
            "DELETE",
            &format!("/api/invites/{b_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(gone.status, 204);
    let again = app
        .call(
            "DELETE",
            &format!("/api/invites/{a_code}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(again.status, 404);
    let (status, _) = register_with(
        &app,
        json!({"username": "bea", "password": PASSWORD, "invite": a_code}),
    )
    .await;
    assert_eq!(status, 403, "a revoked invite admits nobody");

    // with accounts.invites = "members", members make them too, with public_url
    let (app, admin) = closed_node_with_admin(&[
        ("CHATNODE__ACCOUNTS__INVITES", "members"),
        (
            "CHATNODE__ACCOUNTS__PUBLIC_URL",
            "https://chat.example.org/",
        ),
    ])
    .await;
    let (_, inv) = app.post("/api/invites", &admin, json!({})).await;
    assert_eq!(
        inv["url"].as_str().unwrap(),
        format!(
            "https://chat.example.org/#invite={}",
            inv["code"].as_str().unwrap()
        )
    );
    let (status, _) = register_with(
        &app,
        json!({"username": "ann", "password": PASSWORD, "invite": inv["code"]}),
    )
    .await;
    assert_eq!(status, 201);
    let ann = app.login("ann").await;
    let (status, v) = app
        .post("/api/invites", &ann, json!({"uses": 3, "ttl_secs": 3600}))
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["uses_left"], 3);
    let (_, mine) = app.get("/api/invites", &ann).await;
    assert_eq!(mine["invites"].as_array().unwrap().len(), 1);
    let (_, admins) = app.get("/api/invites", &admin).await;
    assert_eq!(admins["invites"], json!([]), "the caller's invites only");
}

#[actix_web::test]
async fn admin_routes_refuse_everyone_but_admins() {
    let app = spawn_app(&[]).await;
    let admin = app.register("root").await;
    let member = app.register("ann").await;
    let routes: [(&str, &str, Option<Value>); 4] = [
        ("GET", "/api/admin/users", None),
        (
            "POST",
            "/api/admin/users",
            Some(json!({"username": "x1", "password": PASSWORD})),
        ),
        (
            "PATCH",
            "/api/admin/users/root",
            Some(json!({"admin": false})),
        ),
        ("DELETE", "/api/admin/users/root", None),
    ];
    for (method, path, body) in &routes {
        let a = app.call(method, path, Some(&member), body.clone()).await;
        assert_eq!(a.status, 403, "{method} {path}");
        assert_eq!(a.json()["error"]["code"], "forbidden");
        // a bad body does not change the answer for a non-admin
        let a = app
            .call(method, path, Some(&member), Some(json!({"admin": "x"})))
            .await;
        assert_eq!(a.status, 403, "{method} {path}");
        let a = app.call(method, path, None, body.clone()).await;
        assert_eq!(a.status, 401, "{method} {path} without a token");
    }
    let (_, me) = app.get("/api/me", &admin).await;
    assert_eq!(me["admin"], true, "nothing changed");
}

#[actix_web::test]
async fn admins_list_create_promote_disable_and_reset_passwords() {
    let app = spawn_app(&[]).await;
    let admin = app.register("root").await;
    let ann = app.register("ann").await;

    let (status, v) = app
        .post(
            "/api/admin/users",
            &admin,
            json!({"username": "bea", "password": PASSWORD, "admin": true}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["user"], "bea");
    assert_eq!(v["admin"], true);
    for (body, want) in [
        (json!({"username": "bea", "password": PASSWORD}), 409),
        (json!({"username": "Not Ok", "password": PASSWORD}), 400),
        (json!({"username": "cy", "password": "short"}), 400),
        (json!({"username": "cy"}), 400),
    ] {
        let (status, v) = app.post("/api/admin/users", &admin, body.clone()).await;
        assert_eq!(status, want, "{body} -> {v}");
    }
    let bea = app.login("bea").await;
    let (_, me) = app.get("/api/me", &bea).await;
    assert_eq!(me["admin"], true);

    let (status, list) = app.get("/api/admin/users", &admin).await;
    assert_eq!(status, 200);
    let users = list["users"].as_array().unwrap();
    let names: Vec<&str> = users.iter().map(|u| u["user"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann", "bea", "root"]);
    for u in users {
        for field in [
            "user",
            "display_name",
            "admin",
            "disabled",
            "created",
            "last_seen",
        ] {
            assert!(u.get(field).is_some(), "{field} missing in {u}");
        }
        assert_eq!(u["disabled"], false);
    }

    // disable: tokens and sockets end at once; login is 401 like a wrong password
    let mut ann_socket = app.connect(&ann).await;
    let patch = |body: Value, name: &str| {
        let app = &app;
        let admin = admin.clone();
        let path = format!("/api/admin/users/{name}");
        async move {
            let a = app.call("PATCH", &path, Some(&admin), Some(body)).await;
            (a.status, a.json())
        }
    };
    let (status, v) = patch(json!({"disabled": true}), "ann").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["disabled"], true);
    ann_socket.expect_error("unauthorized").await;
    assert_eq!(ann_socket.expect_close().await, Some(4001));
    assert_eq!(app.get("/api/me", &ann).await.0, 401);
    assert_eq!(login_status(&app, "ann", PASSWORD).await, 401);
    assert_eq!(login_status(&app, "ann", "wrong password").await, 401);
    let (_, list) = app.get("/api/admin/users", &admin).await;
    assert_eq!(list["users"][0]["disabled"], true);
    let (status, _) = patch(json!({"disabled": false}), "ann").await;
    assert_eq!(status, 200);
    let ann = app.login("ann").await;

    // a new password from an admin ends the user's tokens too
    let mut ann_socket = app.connect(&ann).await;
    let (status, _) = patch(json!({"password": "set by the admin"}), "ann").await;
    assert_eq!(status, 200);
    ann_socket.expect_error("unauthorized").await;
    assert_eq!(ann_socket.expect_close().await, Some(4001));
    assert_eq!(app.get("/api/me", &ann).await.0, 401);
    assert_eq!(login_status(&app, "ann", PASSWORD).await, 401);
    assert_eq!(login_status(&app, "ann", "set by the admin").await, 200);
    let (status, _) = patch(json!({"password": "short"}), "ann").await;
    assert_eq!(status, 400);
    let (status, _) = patch(json!({"admin": true}), "nobody").await;
    assert_eq!(status, 404);

    // promote and demote
    let (status, v) = patch(json!({"admin": true}), "ann").await;
    assert_eq!(status, 200);
    assert_eq!(v["admin"], true);
    let (status, v) = patch(json!({"admin": false}), "ann").await;
    assert_eq!(status, 200);
    assert_eq!(v["admin"], false);
}

#[actix_web::test]
async fn the_last_admin_cannot_demote_disable_or_delete_itself() {
    let app = spawn_app(&[]).await;
    let root = app.register("root").await;
    app.register("ann").await;
    for (method, body) in [
        ("PATCH", Some(json!({"admin": false}))),
        ("PATCH", Some(json!({"disabled": true}))),
        ("DELETE", None),
    ] {
        let a = app
            .call(method, "/api/admin/users/root", Some(&root), body.clone())
            .await;
        assert_eq!(a.status, 403, "{method} {body:?}: {:?}", a.body);
        assert_eq!(a.json()["error"]["code"], "forbidden");
    }
    let a = app
        .call(
            "DELETE",
            "/api/me",
            Some(&root),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 403);
    let (status, me) = app.get("/api/me", &root).await;
    assert_eq!(status, 200);
    assert_eq!(me["admin"], true);
    // with a second admin, the first may step down
    let a = app
        .call(
            "PATCH",
            "/api/admin/users/ann",
            Some(&root),
            Some(json!({"admin": true})),
        )
        .await;
    assert_eq!(a.status, 200);
    let a = app
        .call(
            "PATCH",
            "/api/admin/users/root",
            Some(&root),
            Some(json!({"admin": false})),
        )
        .await;
    assert_eq!(a.status, 200);
    let (_, me) = app.get("/api/me", &root).await;
    assert_eq!(me["admin"], false);
}

#[actix_web::test]
async fn a_deleted_account_leaves_its_groups_and_its_name_is_never_reused() {
    let app = spawn_app(&[]).await;
    let root = app.register("root").await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let group = app.group(&root, "family", &["ann", "bob"]).await;
    let direct = app.direct(&ann, "bob").await;
    let mut ann_socket = app.connect(&ann).await;
    let mut bob_socket = app.connect(&bob).await;
    ann_socket.send_acked(direct, "a1", "hello from ann").await;
    ann_socket.send_acked(group, "a2", "hello family").await;

    // a wrong password deletes nothing
    let a = app
        .call(
            "DELETE",
            "/api/me",
            Some(&ann),
            Some(json!({"password": "wrong one!"})),
        )
        .await;
    assert_eq!(a.status, 401);
    let a = app.call("DELETE", "/api/me", Some(&ann), None).await;
    assert_eq!(a.status, 400);
    ann_socket.barrier().await;

    let a = app
        .call(
            "DELETE",
            "/api/me",
            Some(&ann),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 204, "{:?}", a.body);
    ann_socket.expect_error("unauthorized").await;
    assert_eq!(ann_socket.expect_close().await, Some(4001));
    assert_eq!(app.get("/api/me", &ann).await.0, 401);
    assert_eq!(login_status(&app, "ann", PASSWORD).await, 401);

    // bob sees ann leave the group, with a system message
    let left = bob_socket
        .next_matching(|f| f["type"] == "message" && f["msg"]["kind"] == "system")
        .await;
    assert_eq!(left["msg"]["conv"], group);
    assert_eq!(left["msg"]["sender"], "ann");
    let g = app.conversation(&bob, group).await;
    assert_eq!(g["members"], json!(["bob", "root"]));
    // ann's messages stay, under her name
    let history = app.history(&bob, direct).await;
    assert_eq!(history[0]["sender"], "ann");
    assert_eq!(history[0]["body"], "hello from ann");
    let history = app.history(&root, group).await;
    assert!(history
        .iter()
        .any(|m| m["sender"] == "ann" && m["body"] == "hello family"));

    // the name can never be taken again
    let (status, _) = register_with(&app, json!({"username": "ann", "password": PASSWORD})).await;
    assert_eq!(status, 409);
    let (status, _) = app
        .post(
            "/api/admin/users",
            &root,
            json!({"username": "ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 409);
    // gone from the directory and the admin list; cannot be added to a group
    assert_eq!(app.get("/api/users/ann", &bob).await.0, 404);
    let (_, list) = app.get("/api/admin/users", &root).await;
    assert!(!list["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["user"] == "ann"));
    let (status, _) = app
        .post(
            &format!("/api/conversations/{group}/members"),
            &root,
            json!({"add": ["ann"]}),
        )
        .await;
    assert_eq!(status, 400);
    let a = app
        .call("DELETE", "/api/admin/users/ann", Some(&root), None)
        .await;
    assert_eq!(a.status, 404, "already deleted");

    // an admin deletes bob, whose sockets close at once
    let a = app
        .call("DELETE", "/api/admin/users/bob", Some(&root), None)
        .await;
    assert_eq!(a.status, 204);
    bob_socket.expect_error("unauthorized").await;
    assert_eq!(bob_socket.expect_close().await, Some(4001));
    let g = app.conversation(&root, group).await;
    assert_eq!(g["members"], json!(["root"]));
}

/// Every route of the accounts piece that needs a token, with a body it would accept.
fn authed_routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/api/me", None),
        ("PUT", "/api/me", Some(json!({"display_name": "X"}))),
        ("DELETE", "/api/me", Some(json!({"password": PASSWORD}))),
        (
            "POST",
            "/api/password",
            Some(json!({"old": PASSWORD, "new": "another password"})),
        ),
        ("GET", "/api/users?q=", None),
        ("GET", "/api/users/root", None),
        ("GET", "/api/sessions", None),
        ("DELETE", "/api/sessions/0011223344556677", None),
        ("POST", "/api/invites", Some(json!({}))),
        ("GET", "/api/invites", None),
        ("DELETE", "/api/invites/0011223344556677", None),
        ("GET", "/api/admin/users", None),
        (
            "POST",
            "/api/admin/users",
            Some(json!({"username": "zed", "password": PASSWORD})),
        ),
        (
            "PATCH",
            "/api/admin/users/root",
            Some(json!({"admin": true})),
        ),
        ("DELETE", "/api/admin/users/zed", None),
    ]
}

#[actix_web::test]
async fn strangers_disabled_and_deleted_users_get_401_everywhere() {
    let app = spawn_app(&[]).await;
    let root = app.register("root").await;
    let dis = app.register("dis").await;
    let del = app.register("del").await;
    let a = app
        .call(
            "PATCH",
            "/api/admin/users/dis",
            Some(&root),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(a.status, 200);
    let a = app
        .call("DELETE", "/api/admin/users/del", Some(&root), None)
        .await;
    assert_eq!(a.status, 204);
    let forged = "f".repeat(64);
    for (method, path, body) in authed_routes() {
        for (who, token) in [
            ("no token", None),
            ("a forged token", Some(forged.as_str())),
            ("a disabled user", Some(dis.as_str())),
            ("a deleted user", Some(del.as_str())),
        ] {
            let a = app.call(method, path, token, body.clone()).await;
            assert_eq!(a.status, 401, "{method} {path} as {who}: {:?}", a.body);
            assert_eq!(a.json()["error"]["code"], "unauthorized");
        }
    }
    // and nothing changed for the admin
    let (status, me) = app.get("/api/me", &root).await;
    assert_eq!(status, 200);
    assert_eq!(me["admin"], true);
    let (_, list) = app.get("/api/admin/users", &root).await;
    let names: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dis", "root"]);
}
