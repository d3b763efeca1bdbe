//! Roles, profiles, the directory and /api/features (PROTOCOL.md v1.1, "Accounts").

use serde_json::{json, Value};

use crate::harness::{spawn_app, TestApp, PASSWORD};

/// Uploads an image as `token`'s owner; its `/media/ID`.
pub async fn upload_image(app: &TestApp, token: &str) -> String {
    let mut resp = app
        .client
        .post(app.url("/api/media"))
        .bearer_auth(token)
        .insert_header(("Content-Type", "image/png"))
        .send_body(b"\x89PNG\r\n\x1a\n an avatar".to_vec())
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string()
}

/// PUT /api/me with `body`: (status, answer).
async fn put_me(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let a = app.call("PUT", "/api/me", Some(token), Some(body)).await;
    (a.status, a.json())
}

#[actix_web::test]
async fn the_first_registered_user_of_a_fresh_open_store_is_admin() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let (status, me) = app.get("/api/me", &ta).await;
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({"user": "alice", "display_name": null, "avatar_url": null, "admin": true})
    );
    let (_, me) = app.get("/api/me", &tb).await;
    assert_eq!(me["admin"], false);
    assert_eq!(me["user"], "bob");
}

#[actix_web::test]
async fn features_are_public_and_follow_the_settings() {
    let open = spawn_app(&[]).await;
    let a = open.call("GET", "/api/features", None, None).await;
    assert_eq!(a.status, 200);
    let f = a.json();
    assert_eq!(f["protocol"], "1.1");
    assert_eq!(f["registration"], "open");
    assert_eq!(f["push"], true);
    assert_eq!(f["search"], "index");
    let closed = spawn_app(&[
        ("CHATNODE__ACCOUNTS__REGISTRATION_OPEN", "false"),
        ("CHATNODE__PUSH__ENABLED", "false"),
    ])
    .await;
    let f = closed.call("GET", "/api/features", None, None).await.json();
    assert_eq!(f["registration"], "invite");
    assert_eq!(f["push"], false);
}

#[actix_web::test]
async fn a_profile_change_reaches_the_users_who_share_a_conversation() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let tc = app.register("carol").await;
    app.direct(&ta, "bob").await;
    let mut bob = app.connect(&tb).await;
    let mut carol = app.connect(&tc).await;
    let mut alice_other = app.connect(&ta).await;

    let avatar = upload_image(&app, &ta).await;
    let (status, me) = put_me(
        &app,
        &ta,
        json!({"display_name": "  Alice Liddell ", "avatar_url": avatar}),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["display_name"], "Alice Liddell");
    assert_eq!(me["avatar_url"], avatar.as_str());
    assert_eq!(me["admin"], true);

    let update = bob.next_of_type("user_update").await;
    assert_eq!(update["user"], "alice");
    assert_eq!(update["display_name"], "Alice Liddell");
    assert_eq!(update["avatar_url"], avatar.as_str());
    // the user's own other devices hear it too; a stranger does not
    assert_eq!(
        alice_other.next_of_type("user_update").await["display_name"],
        "Alice Liddell"
    );
    carol.assert_none_of_type("user_update").await;

    // others see the profile, and the picture itself
    let (status, p) = app.get("/api/users/alice", &tc).await;
    assert_eq!(status, 200);
    assert_eq!(
        p,
        json!({"user": "alice", "display_name": "Alice Liddell", "avatar_url": avatar})
    );
    let pic = app
        .client
        .get(app.url(&avatar))
        .bearer_auth(&tc)
        .send()
        .await
        .unwrap();
    assert_eq!(
        pic.status(),
        200,
        "an avatar is seen by whoever sees its user"
    );

    // one field changes alone; null clears
    let (status, me) = put_me(&app, &ta, json!({"display_name": "Al"})).await;
    assert_eq!(status, 200);
    assert_eq!(me["avatar_url"], avatar.as_str());
    let (_, me) = put_me(&app, &ta, json!({"avatar_url": null})).await;
    assert_eq!(me["avatar_url"], Value::Null);
    assert_eq!(me["display_name"], "Al");
    assert_eq!(bob.next_of_type("user_update").await["display_name"], "Al");
    assert_eq!(
        bob.next_of_type("user_update").await["avatar_url"],
        Value::Null
    );
    let (_, me) = app.get("/api/me", &ta).await;
    assert_eq!(me["display_name"], "Al");
}

#[actix_web::test]
async fn bad_profiles_are_refused_and_change_nothing() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    app.direct(&ta, "bob").await;
    let mut bob = app.connect(&tb).await;
    let bobs_upload = upload_image(&app, &tb).await;
    let (status, _) = put_me(&app, &ta, json!({"display_name": "Alice"})).await;
    assert_eq!(status, 200);
    bob.next_of_type("user_update").await;

    let bad = [
        json!({"display_name": "a".repeat(65)}),
        json!({"display_name": ""}),
        json!({"display_name": "   "}),
        json!({"display_name": "line\nbreak"}),
        json!({"display_name": "bell\u{7}"}),
        json!({"display_name": 7}),
        json!({"avatar_url": bobs_upload}),
        json!({"avatar_url": "/media/00000000000000000000000000000000"}),
        json!({"avatar_url": "https://example.org/me.png"}),
        json!({"avatar_url": "/media/../../etc/passwd"}),
        json!({"display_name": "Fine", "avatar_url": bobs_upload}),
    ];
    for body in bad {
        let (status, answer) = put_me(&app, &ta, body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], "bad_request");
    }
    // 64 characters (not bytes) is fine
    let (status, _) = put_me(&app, &ta, json!({"display_name": "é".repeat(64)})).await;
    assert_eq!(status, 200);
    bob.next_of_type("user_update").await;
    let (status, _) = put_me(&app, &ta, json!({"display_name": "Alice"})).await;
    assert_eq!(status, 200);
    bob.next_of_type("user_update").await;
    let (_, me) = app.get("/api/me", &ta).await;
    assert_eq!(me["display_name"], "Alice");
    assert_eq!(me["avatar_url"], Value::Null);
    bob.assert_none_of_type("user_update").await;
    // a stranger without a token gets nothing
    let anon = app
        .call("PUT", "/api/me", None, Some(json!({"display_name": "x"})))
        .await;
    assert_eq!(anon.status, 401);
}

/// The usernames of a `{"users":[..]}` answer.
fn names(v: &Value) -> Vec<String> {
    v["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users in {v}"))
        .iter()
        .map(|u| u["user"].as_str().unwrap().to_string())
        .collect()
}

/// A node with alice (in a chat with bob), bob, carol and dave; tokens in that order.
async fn four_users(app: &TestApp) -> Vec<String> {
    let mut tokens = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        tokens.push(app.register(name).await);
    }
    app.direct(&tokens[0], "bob").await;
    let (status, _) = put_me(app, &tokens[2], json!({"display_name": "Bobby Tables"})).await;
    assert_eq!(status, 200);
    tokens
}

#[actix_web::test]
async fn the_directory_shows_contacts_by_default() {
    let app = spawn_app(&[]).await;
    let t = four_users(&app).await;
    let (status, v) = app.get("/api/users?q=", &t[0]).await;
    assert_eq!(status, 200);
    assert_eq!(names(&v), ["bob"]);
    let (_, v) = app.get("/api/users?q=b", &t[0]).await;
    assert_eq!(names(&v), ["bob"]);
    assert_eq!(
        v["users"][0],
        json!({"user": "bob", "display_name": null, "avatar_url": null})
    );
    let (_, v) = app.get("/api/users?q=c", &t[0]).await;
    assert_eq!(names(&v), Vec::<String>::new());
    // exact names are answered whatever the directory
    let (status, v) = app.get("/api/users/carol", &t[0]).await;
    assert_eq!(status, 200);
    assert_eq!(v["display_name"], "Bobby Tables");
    let (status, v) = app.get("/api/users/nobody", &t[0]).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found");
    let (status, _) = app.get("/api/users/NOT%20A%20NAME", &t[0]).await;
    assert_eq!(status, 404);
    let anon = app.call("GET", "/api/users?q=a", None, None).await;
    assert_eq!(anon.status, 401);
}

#[actix_web::test]
async fn the_directory_all_searches_usernames_and_display_names() {
    let app = spawn_app(&[("CHATNODE__ACCOUNTS__DIRECTORY", "all")]).await;
    let t = four_users(&app).await;
    let (_, v) = app.get("/api/users?q=", &t[0]).await;
    assert_eq!(
        names(&v),
        ["bob", "carol", "dave"],
        "everyone but the caller"
    );
    // "b": bob by name, carol by display name (case-insensitive)
    let (_, v) = app.get("/api/users?q=B", &t[0]).await;
    assert_eq!(names(&v), ["bob", "carol"]);
    let (_, v) = app.get("/api/users?q=bobby%20t", &t[3]).await;
    assert_eq!(names(&v), ["carol"]);
    let (_, v) = app.get("/api/users?q=zz", &t[3]).await;
    assert_eq!(names(&v), Vec::<String>::new());
    // at most 20
    for i in 0..22 {
        app.register(&format!("user{i:02}")).await;
    }
    let (_, v) = app.get("/api/users?q=user", &t[0]).await;
    assert_eq!(names(&v).len(), 20);
}

#[actix_web::test]
async fn the_directory_off_answers_only_exact_names() {
    let app = spawn_app(&[("CHATNODE__ACCOUNTS__DIRECTORY", "off")]).await;
    let t = four_users(&app).await;
    let (status, v) = app.get("/api/users?q=", &t[0]).await;
    assert_eq!(status, 200);
    assert_eq!(v, json!({"users": []}));
    let (_, v) = app.get("/api/users?q=b", &t[0]).await;
    assert_eq!(v, json!({"users": []}));
    let (status, v) = app.get("/api/users/bob", &t[0]).await;
    assert_eq!(status, 200);
    assert_eq!(v["user"], "bob");
}

#[actix_web::test]
async fn a_password_change_ends_every_earlier_token_and_answers_a_new_one() {
    let app = spawn_app(&[]).await;
    let t1 = app.register("alice").await;
    let t2 = app.login("alice").await;
    let mut s1 = app.connect(&t1).await;
    let mut s2 = app.connect(&t2).await;
    let new_password = "a brand new password";

    // wrong old password: 401, nothing changes
    let (status, v) = app
        .post(
            "/api/password",
            &t1,
            json!({"old": "not my password", "new": new_password}),
        )
        .await;
    assert_eq!(status, 401, "{v}");
    let (status, v) = app
        .post(
            "/api/password",
            &t1,
            json!({"old": PASSWORD, "new": "short"}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = app
        .post("/api/password", &t1, json!({"old": PASSWORD}))
        .await;
    assert_eq!(status, 400);
    s1.barrier().await;
    s2.barrier().await;
    assert_eq!(app.get("/api/me", &t2).await.0, 200);

    let (status, v) = app
        .post(
            "/api/password",
            &t1,
            json!({"old": PASSWORD, "new": new_password}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let fresh = v["token"].as_str().unwrap().to_string();
    assert_ne!(fresh, t1);
    for old in [&t1, &t2] {
        assert_eq!(
            app.get("/api/me", old).await.0,
            401,
            "earlier tokens stop at once"
        );
    }
    for s in [&mut s1, &mut s2] {
        s.expect_error("unauthorized").await;
        assert_eq!(s.expect_close().await, Some(4001));
    }
    let (status, me) = app.get("/api/me", &fresh).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"], "alice");
    let mut s3 = app.connect(&fresh).await;
    s3.barrier().await;
    // the old password is gone, the new one works
    let old_login = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(old_login.status, 401);
    let new_login = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "alice", "password": new_password})),
        )
        .await;
    assert_eq!(new_login.status, 200);
    s3.barrier().await;
    assert!(s3.take_of_type("error").is_empty());
}

#[actix_web::test]
async fn password_and_invite_endpoints_count_against_the_login_limit() {
    let app = spawn_app(&[("CHATNODE__LIMITS__LOGINS_PER_MIN", "3")]).await;
    let t = app.register("alice").await; // 1
    let wrong = json!({"old": "wrong password", "new": "another password"});
    assert_eq!(app.post("/api/password", &t, wrong.clone()).await.0, 401); // 2
    assert_eq!(app.post("/api/invites", &t, json!({})).await.0, 201); // 3
    assert_eq!(app.post("/api/password", &t, wrong).await.0, 429);
    assert_eq!(app.post("/api/invites", &t, json!({})).await.0, 429);
    let del = app
        .call(
            "DELETE",
            "/api/me",
            Some(&t),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(del.status, 429);
    assert_eq!(app.get("/api/me", &t).await.0, 200);
}

#[actix_web::test]
async fn sessions_list_the_callers_devices_and_revoke_one() {
    let app = spawn_app(&[]).await;
    let phone = app
        .call(
            "POST",
            "/api/register",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut laptop_login = app
        .client
        .post(app.url("/api/login"))
        .insert_header(("User-Agent", "Laptop Browser/1.0"))
        .send_json(&json!({"username": "alice", "password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(laptop_login.status(), 200);
    let laptop = laptop_login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let tb = app.register("bob").await;

    let (status, v) = app.get("/api/sessions", &phone).await;
    assert_eq!(status, 200);
    let sessions = v["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{v}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["agent"], "Laptop Browser/1.0");
    for s in &sessions {
        assert!(s["id"].is_string());
        assert!(s["created"].as_u64().unwrap() > 0);
        assert!(s["last_seen"].as_u64().unwrap() >= s["created"].as_u64().unwrap());
    }
    let laptop_id = other["id"].as_str().unwrap().to_string();
    // bob's list is bob's only
    let (_, bobs) = app.get("/api/sessions", &tb).await;
    assert_eq!(bobs["sessions"].as_array().unwrap().len(), 1);
    let bob_id = bobs["sessions"][0]["id"].as_str().unwrap().to_string();

    // another's session, or an unknown one: 404, nothing revoked
    for id in [bob_id.as_str(), "0011223344556677", "nonsense"] {
        let a = app
            .call("DELETE", &format!("/api/sessions/{id}"), Some(&phone), None)
            .await;
        assert_eq!(a.status, 404, "{id}");
    }
    assert_eq!(app.get("/api/me", &tb).await.0, 200);

    let mut laptop_socket = app.connect(&laptop).await;
    let mut phone_socket = app.connect(&phone).await;
    let a = app
        .call(
            "DELETE",
            &format!("/api/sessions/{laptop_id}"),
            Some(&phone),
            None,
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(app.get("/api/me", &laptop).await.0, 401);
    laptop_socket.expect_error("unauthorized").await;
    assert_eq!(laptop_socket.expect_close().await, Some(4001));
    phone_socket.barrier().await;
    let (_, v) = app.get("/api/sessions", &phone).await;
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(v["sessions"][0]["current"], true);
    let again = app
        .call(
            "DELETE",
            &format!("/api/sessions/{laptop_id}"),
            Some(&phone),
            None,
        )
        .await;
    assert_eq!(again.status, 404);
}
