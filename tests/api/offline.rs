//! Offline queue, delivered/read receipts, sync, unread counters, pin, recall, presence,
//! typing, search and media.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{msgs_of, seqs, spawn_app, TestApp, WsClient};

/// Sends `n` messages numbered from `from` on `ws` and waits for every ack.
async fn send_n(ws: &mut WsClient, conv: u64, prefix: &str, from: u64, n: u64) {
    let frames: Vec<Value> = (from..from + n)
        .map(|i| json!({"type": "send", "conv": conv, "client_id": format!("{prefix}{i}"), "kind": "text", "body": format!("{prefix} {i}")}))
        .collect();
    ws.send_many(frames).await;
    for i in from..from + n {
        ws.ack_for(&format!("{prefix}{i}")).await;
    }
}

/// The unread counter of `conv` in the caller's list (`None` if not listed).
/// Hides `conv` for the token's user (DELETE) and checks it left that user's list.
async fn hide(app: &TestApp, token: &str, conv: u64) {
    let path = format!("/api/conversations/{conv}");
    assert_eq!(
        app.call("DELETE", &path, Some(token), None).await.status,
        204
    );
    assert_eq!(listed_unread(app, token, conv).await, None);
}

async fn listed_unread(app: &TestApp, token: &str, conv: u64) -> Option<u64> {
    app.conversations(token)
        .await
        .iter()
        .find(|c| c["conv"] == conv)
        .map(|c| c["unread"].as_u64().unwrap())
}

#[actix_web::test]
async fn offline_user_gets_the_queue_then_delivered_trims_it() {
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "10000")]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    send_n(&mut a, conv, "m", 1, 30).await;

    let mut b = app.connect(&tb).await;
    assert_eq!(seqs(&msgs_of(&b.drained)), (1..=30).collect::<Vec<_>>());
    assert_eq!(msgs_of(&b.drained), app.history(&tb, conv).await);
    b.assert_none_of_type("message").await;
    b.close().await;

    // Not confirmed yet: the queue is still there.
    let mut b = app.connect(&tb).await;
    assert_eq!(seqs(&msgs_of(&b.drained)), (1..=30).collect::<Vec<_>>());

    b.send_json(json!({"type": "delivered", "conv": conv, "seq": 10}))
        .await;
    let r = a.next_of_type("receipt").await;
    assert_eq!(
        r,
        json!({"type": "receipt", "conv": conv, "user": "bob", "status": "delivered", "seq": 10})
    );
    b.close().await;
    let mut b = app.connect(&tb).await;
    assert_eq!(seqs(&msgs_of(&b.drained)), (11..=30).collect::<Vec<_>>());

    b.send_json(json!({"type": "delivered", "conv": conv, "seq": 30}))
        .await;
    let r = a.next_of_type("receipt").await;
    assert_eq!(
        (r["status"].as_str(), r["seq"].as_u64()),
        (Some("delivered"), Some(30))
    );
    // Cumulative and never backwards: an older seq changes nothing and sends no receipt.
    b.send_json(json!({"type": "delivered", "conv": conv, "seq": 5}))
        .await;
    b.close().await;
    let b = app.connect(&tb).await;
    assert!(
        b.drained.is_empty(),
        "nothing old comes back: {:?}",
        b.drained
    );
    a.assert_none_of_type("receipt").await;
    let view = app.conversation(&tb, conv).await;
    assert_eq!(view["delivered_seq"], 30);
    assert_eq!(view["read_seq"], 0);
    assert_eq!(view["unread"], 30);
}

#[actix_web::test]
async fn sync_after_a_reconnect_returns_exactly_the_gap() {
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "10000")]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    app.register("carol").await;
    let conv = app.direct(&ta, "bob").await;
    let quiet = app.group(&ta, "quiet", &["bob"]).await;
    let strangers = app.direct(&ta, "carol").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;

    send_n(&mut a, conv, "m", 1, 5).await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(b.next_of_type("message").await["msg"].clone());
    }
    assert_eq!(seqs(&seen), vec![1, 2, 3, 4, 5]);
    b.close().await;
    send_n(&mut a, conv, "m", 6, 12).await;
    let history = app.history(&ta, conv).await;
    assert_eq!(history.len(), 17);

    let mut b = app.connect(&tb).await;
    // Paging with a small limit: 6..10, 11..15, 16..17.
    let mut last = 5u64;
    let mut pages = Vec::new();
    loop {
        b.send_json(json!({"type": "sync", "convs": {conv.to_string(): last, quiet.to_string(): 0}, "limit": 5}))
            .await;
        let mut batch = Value::Null;
        let mut quiet_batch = Value::Null;
        loop {
            let f = b
                .next_matching(|f| f["type"] == "sync_batch" || f["type"] == "sync_done")
                .await;
            if f["type"] == "sync_done" {
                break;
            }
            if f["conv"] == conv {
                batch = f;
            } else {
                quiet_batch = f;
            }
        }
        assert_eq!(quiet_batch["messages"], json!([]));
        assert_eq!(quiet_batch["has_more"], false);
        let msgs = batch["messages"].as_array().unwrap().clone();
        let expect: Vec<Value> = history[last as usize..(last as usize + 5).min(17)].to_vec();
        assert_eq!(
            msgs, expect,
            "the batch after {last} is exactly the next messages"
        );
        last = msgs.last().unwrap()["seq"].as_u64().unwrap();
        pages.push((seqs(&msgs), batch["has_more"].as_bool().unwrap()));
        if !batch["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(
        pages,
        vec![
            (vec![6, 7, 8, 9, 10], true),
            (vec![11, 12, 13, 14, 15], true),
            (vec![16, 17], false)
        ]
    );
    // Up to date: an empty batch.
    b.send_json(json!({"type": "sync", "convs": {conv.to_string(): 17}}))
        .await;
    let batch = b.next_of_type("sync_batch").await;
    assert_eq!(
        batch,
        json!({"type": "sync_batch", "conv": conv, "messages": [], "has_more": false})
    );
    b.next_of_type("sync_done").await;
    // A conversation the user is not in: an error, then sync_done.
    b.send_json(json!({"type": "sync", "convs": {strangers.to_string(): 0}}))
        .await;
    assert_eq!(b.expect_error("no_such_conversation").await["ref"], "sync");
    b.next_of_type("sync_done").await;
    assert!(b.take_of_type("sync_batch").is_empty());
    // Live messages keep coming after the sync.
    a.send_acked(conv, "live", "still here").await;
    assert_eq!(b.next_of_type("message").await["msg"]["seq"], 18);
}

#[actix_web::test]
async fn read_sends_a_receipt_and_tells_the_readers_other_devices() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let mut b1 = app.connect(&tb).await;
    let mut b2 = app.connect(&tb).await;
    send_n(&mut a, conv, "m", 1, 3).await;
    for ws in [&mut b1, &mut b2] {
        for _ in 0..3 {
            ws.next_of_type("message").await;
        }
    }
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(3));

    b1.send_json(json!({"type": "read", "conv": conv, "seq": 3}))
        .await;
    let r = a.next_of_type("receipt").await;
    assert_eq!(
        r,
        json!({"type": "receipt", "conv": conv, "user": "bob", "status": "read", "seq": 3})
    );
    let u = b2.next_of_type("unread").await;
    assert_eq!(
        u,
        json!({"type": "unread", "conv": conv, "count": 0, "mentions": 0})
    );
    b1.assert_none_of_type("unread").await;
    b1.assert_none_of_type("receipt").await;
    let view = app.conversation(&tb, conv).await;
    assert_eq!(
        (
            view["read_seq"].as_u64(),
            view["delivered_seq"].as_u64(),
            view["unread"].as_u64()
        ),
        (Some(3), Some(3), Some(0))
    );
    // The sender's own counters are untouched by bob's read.
    assert_eq!(listed_unread(&app, &ta, conv).await, Some(0));
    // A client of alice's that starts later reads bob's positions from the conversation.
    let view = app.conversation(&ta, conv).await;
    assert_eq!(
        (
            view["peer_read_seq"].as_u64(),
            view["peer_delivered_seq"].as_u64()
        ),
        (Some(3), Some(3))
    );
    let group = app.group(&ta, "g", &["bob"]).await;
    assert!(app
        .conversation(&ta, group)
        .await
        .get("peer_read_seq")
        .is_none());
}

#[actix_web::test]
async fn unread_counters_through_read_recall_devices_and_hiding() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    app.register("cora").await;
    app.register("dora").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let mut b1 = app.connect(&tb).await;
    let mut b2 = app.connect(&tb).await;

    send_n(&mut a, conv, "m", 1, 3).await;
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(3));
    // Read up to 2 on one device: the other hears the new count.
    b1.send_json(json!({"type": "read", "conv": conv, "seq": 2}))
        .await;
    assert_eq!(b2.next_of_type("unread").await["count"], 1);
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(1));
    // Recalling the unread one takes it out of the count.
    a.send_json(json!({"type": "recall", "conv": conv, "seq": 3}))
        .await;
    for ws in [&mut b1, &mut b2] {
        assert_eq!(ws.next_of_type("recalled").await["seq"], 3);
        assert_eq!(ws.next_of_type("unread").await["count"], 0);
    }
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(0));
    // Recalling one already read changes nothing.
    a.send_json(json!({"type": "recall", "conv": conv, "seq": 1}))
        .await;
    b1.next_of_type("recalled").await;
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(0));
    b1.assert_none_of_type("unread").await;

    // A new one, read on the second device.
    // (the two recalls took seqs 4 and 5 as events: v1.1)
    let four = a.send_acked(conv, "m4", "four").await["seq"].clone();
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(1));
    b2.next_matching(|f| f["type"] == "message" && f["msg"]["seq"] == four)
        .await;
    b2.send_json(json!({"type": "read", "conv": conv, "seq": four}))
        .await;
    assert_eq!(b1.next_of_type("unread").await["count"], 0);
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(0));

    // Bob's own messages are not unread for him; they are for alice.
    b1.send_acked(conv, "b5", "five").await;
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(0));
    assert_eq!(listed_unread(&app, &ta, conv).await, Some(1));

    // Hidden: gone from bob's list (not alice's), back with the next message.
    hide(&app, &tb, conv).await;
    assert_eq!(app.conversation(&tb, conv).await["unread"], 0);
    assert_eq!(listed_unread(&app, &ta, conv).await, Some(1));
    a.send_acked(conv, "m6", "six").await;
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(1));
    // Hidden again, then opened again by hand (direct create): back in the list at once.
    hide(&app, &tb, conv).await;
    assert_eq!(app.direct(&tb, "alice").await, conv);
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(1));

    // Group: system messages never count.
    let group = app.group(&ta, "g", &["bob", "cora"]).await;
    let (status, _) = app
        .post(
            &format!("/api/conversations/{group}/members"),
            &ta,
            json!({"add": ["dora"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed_unread(&app, &tb, group).await, Some(0));
    a.send_acked(group, "g1", "hello group").await;
    assert_eq!(listed_unread(&app, &tb, group).await, Some(1));
    assert_eq!(listed_unread(&app, &ta, group).await, Some(0));
}

#[actix_web::test]
async fn pinned_conversations_come_first() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    for n in ["bob", "cora", "dora"] {
        app.register(n).await;
    }
    let c1 = app.direct(&ta, "bob").await;
    let c2 = app.direct(&ta, "cora").await;
    let c3 = app.direct(&ta, "dora").await;
    let mut a = app.connect(&ta).await;
    for (i, c) in [c1, c2, c3].into_iter().enumerate() {
        a.send_acked(c, &format!("x{i}"), "hi").await;
        // Distinct timestamps, so "newest first" has one answer.
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let order = |list: Vec<Value>| {
        list.iter()
            .map(|c| c["conv"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(order(app.conversations(&ta).await), vec![c3, c2, c1]);

    let pin = app
        .call(
            "PUT",
            &format!("/api/conversations/{c1}/pin"),
            Some(&ta),
            Some(json!({"pinned": true})),
        )
        .await;
    assert_eq!(pin.status, 200);
    assert_eq!(pin.json()["pinned"], true);
    assert_eq!(order(app.conversations(&ta).await), vec![c1, c3, c2]);
    let pin = app
        .call(
            "PUT",
            &format!("/api/conversations/{c2}/pin"),
            Some(&ta),
            Some(json!({"pinned": true})),
        )
        .await;
    assert_eq!(pin.status, 200);
    assert_eq!(order(app.conversations(&ta).await), vec![c2, c1, c3]);
    let unpin = app
        .call(
            "PUT",
            &format!("/api/conversations/{c2}/pin"),
            Some(&ta),
            Some(json!({"pinned": false})),
        )
        .await;
    assert_eq!(unpin.json()["pinned"], false);
    assert_eq!(order(app.conversations(&ta).await), vec![c1, c3, c2]);
    // Pinning is per member.
    let tb = app.login("bob").await;
    assert_eq!(app.conversation(&tb, c1).await["pinned"], false);
}

#[actix_web::test]
async fn recall_outside_the_window_or_by_another_is_refused() {
    let app = spawn_app(&[("CHATNODE__MESSAGES__RECALL_WINDOW_SECS", "0")]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    // the client is told the window, so it can hide a recall that would be refused
    assert_eq!(a.auth_ok["recall_window_ms"], 0);
    a.send_acked(conv, "m1", "too late to take back").await;
    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    a.send_json(json!({"type": "recall", "conv": conv, "seq": 1}))
        .await;
    assert_eq!(
        a.expect_error("recall_window_passed").await["ref"],
        "recall"
    );
    b.send_json(json!({"type": "recall", "conv": conv, "seq": 1}))
        .await;
    assert_eq!(b.expect_error("not_sender").await["ref"], "recall");
    b.assert_none_of_type("recalled").await;
    let h = app.history(&tb, conv).await;
    assert_eq!(h[0]["body"], "too late to take back");
    assert_eq!(h[0]["recalled"], false);
}

#[actix_web::test]
async fn recall_within_the_window_reaches_everyone_and_empties_the_body() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a1 = app.connect(&ta).await;
    let mut a2 = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    a1.send_acked(conv, "m1", "keep this").await;
    a1.send_acked(conv, "m2", "oops wrong chat").await;
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(2));
    // Bob may not recall alice's message.
    b.send_json(json!({"type": "recall", "conv": conv, "seq": 2}))
        .await;
    b.expect_error("not_sender").await;

    a1.send_json(json!({"type": "recall", "conv": conv, "seq": 2}))
        .await;
    for ws in [&mut a1, &mut a2, &mut b] {
        let r = ws.next_of_type("recalled").await;
        assert_eq!(
            r,
            json!({"type": "recalled", "conv": conv, "seq": 2, "by": "alice"})
        );
    }
    assert_eq!(b.next_of_type("unread").await["count"], 1);
    assert_eq!(listed_unread(&app, &tb, conv).await, Some(1));
    let h = app.history(&tb, conv).await;
    assert_eq!(h[1]["body"], "");
    assert_eq!(h[1]["recalled"], true);
    assert_eq!(h[1]["client_id"], "m2");
    assert_eq!(h[0]["body"], "keep this");
    assert_eq!(
        app.conversation(&tb, conv).await["last_message"]["recalled"],
        true
    );
    let (_, hits) = app.get("/api/search?q=oops", &tb).await;
    assert_eq!(
        hits["hits"],
        json!([]),
        "a recalled body is gone from search too"
    );
    // A retry of the recalled message's client_id still answers with its ack.
    let ack = a1.send_acked(conv, "m2", "oops wrong chat").await;
    assert_eq!(ack["seq"], 2);
    // v1.1: the recall is stored too, as an event at seq 3
    assert_eq!(app.history(&tb, conv).await.len(), 3);
}

#[actix_web::test]
async fn presence_is_per_user_not_per_device() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let tc = app.register("carl").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let mut c = app.connect(&tc).await;

    let b1 = app.connect(&tb).await;
    assert_eq!(
        a.next_of_type("presence").await,
        json!({"type": "presence", "user": "bob", "online": true})
    );
    let mut b2 = app.connect(&tb).await;
    a.assert_none_of_type("presence").await;
    // A client that connects later asks who is online already; carl shares nothing.
    let (status, online) = app.get("/api/presence", &tb).await;
    assert_eq!((status, online), (200, json!({"online": ["alice"]})));
    assert_eq!(app.get("/api/presence", &tc).await.1, json!({"online": []}));

    // Closing one of two sockets: still online.
    b1.close().await;
    // A message pushed through the registry after the close is a barrier: any presence
    // frame caused by the close would have reached alice before it.
    b2.send_acked(conv, "after-b1", "still here").await;
    a.next_of_type("message").await;
    a.barrier().await;
    assert!(
        a.take_of_type("presence").is_empty(),
        "one device left, bob is still online"
    );

    b2.close().await;
    assert_eq!(
        a.next_of_type("presence").await,
        json!({"type": "presence", "user": "bob", "online": false})
    );
    assert_eq!(app.get("/api/presence", &ta).await.1, json!({"online": []}));
    let _b3 = app.connect(&tb).await;
    assert_eq!(a.next_of_type("presence").await["online"], true);
    a.assert_none_of_type("presence").await;
    // Carl shares no conversation with bob: he hears nothing.
    c.assert_none_of_type("presence").await;
}

#[actix_web::test]
async fn typing_is_relayed_and_not_stored() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a1 = app.connect(&ta).await;
    let mut a2 = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    a1.send_json(json!({"type": "typing", "conv": conv})).await;
    assert_eq!(
        b.next_of_type("typing").await,
        json!({"type": "typing", "conv": conv, "user": "alice"})
    );
    a1.assert_none_of_type("typing").await;
    a2.assert_none_of_type("typing").await;
    assert!(app.history(&ta, conv).await.is_empty());
    let v = app.conversation(&tb, conv).await;
    assert_eq!(
        (v["last_seq"].as_u64(), v["unread"].as_u64()),
        (Some(0), Some(0))
    );
    b.assert_none_of_type("message").await;
}

/// Percent-encodes a query value.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[actix_web::test]
async fn search_finds_chinese_without_spaces_only_in_own_conversations() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let tc = app.register("carol").await;
    app.register("dave").await;
    let ab = app.direct(&ta, "bob").await;
    let cd = app.direct(&tc, "dave").await;
    let mut a = app.connect(&ta).await;
    let mut c = app.connect(&tc).await;
    a.send_acked(ab, "z1", "你好世界").await;
    a.send_acked(ab, "z2", "Hello World").await;
    c.send_acked(cd, "z3", "我也说你好世界").await;

    // the index makes them searchable within a commit interval
    app.search_until(&format!("/api/search?q={}", encode("世界")), &tc, 1)
        .await;
    let (status, v) = app
        .get(&format!("/api/search?q={}", encode("好世")), &ta)
        .await;
    assert_eq!(status, 200, "{v}");
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{v}");
    assert_eq!(hits[0]["body"], "你好世界");
    assert_eq!(hits[0]["conv"], ab);
    assert_eq!(v["complete"], true, "answered from the index");
    let (_, v) = app
        .get(&format!("/api/search?q={}", encode("好世")), &tc)
        .await;
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{v}");
    assert_eq!(hits[0]["conv"], cd);
    let (_, v) = app
        .get(&format!("/api/search?q={}", encode("好世")), &tb)
        .await;
    assert_eq!(v["hits"].as_array().unwrap().len(), 1);
    // Case-insensitive.
    let (_, v) = app.get("/api/search?q=hello", &tb).await;
    assert_eq!(v["hits"][0]["body"], "Hello World");
    // Within one conversation; someone else's conversation is a 404.
    let (_, v) = app
        .get(&format!("/api/search?q={}&conv={ab}", encode("世界")), &ta)
        .await;
    assert_eq!(v["hits"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .get(&format!("/api/search?q={}&conv={cd}", encode("世界")), &ta)
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn media_is_served_to_the_uploader_and_to_members_who_were_sent_it() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let tc = app.register("carol").await;
    let ab = app.direct(&ta, "bob").await;
    let cb = app.direct(&tc, "bob").await;
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n fake image bytes".to_vec();

    let mut resp = app
        .client
        .post(app.url("/api/media"))
        .bearer_auth(&ta)
        .insert_header(("Content-Type", "image/png"))
        .send_body(png.clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let url = resp.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with("/media/"), "{url}");
    let text = app
        .client
        .post(app.url("/api/media"))
        .bearer_auth(&ta)
        .insert_header(("Content-Type", "text/plain"))
        .send_body("hello")
        .await
        .unwrap();
    assert_eq!(text.status(), 201, "v1.1: any Content-Type");

    let fetch = |token: Option<String>| {
        let app = &app;
        let url = url.clone();
        async move {
            let mut req = app.client.get(app.url(&url));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let mut resp = req.send().await.unwrap();
            let ct = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (
                resp.status().as_u16(),
                resp.body().await.unwrap().to_vec(),
                ct,
            )
        }
    };
    let (status, body, ct) = fetch(Some(ta.clone())).await;
    assert_eq!(
        (status, body, ct.as_deref()),
        (200, png.clone(), Some("image/png"))
    );
    assert_eq!(
        fetch(Some(tb.clone())).await.0,
        404,
        "not shared with bob yet"
    );
    assert_eq!(fetch(None).await.0, 401);

    // Carol cannot pass off alice's upload as hers.
    let mut c = app.connect(&tc).await;
    c.send_json(json!({"type": "send", "conv": cb, "client_id": "steal", "kind": "image", "body": "", "media_url": url}))
        .await;
    assert_eq!(c.expect_error("bad_frame").await["ref"], "steal");
    assert_eq!(fetch(Some(tc.clone())).await.0, 404);

    let mut a = app.connect(&ta).await;
    a.send_json(json!({"type": "send", "conv": ab, "client_id": "pic", "kind": "image", "body": "look", "media_url": url}))
        .await;
    a.ack_for("pic").await;
    let (status, body, _) = fetch(Some(tb.clone())).await;
    assert_eq!((status, body), (200, png.clone()));
    // ?token= works too (for <img>).
    let mut q = app
        .client
        .get(app.url(&format!("{url}?token={tb}")))
        .send()
        .await
        .unwrap();
    assert_eq!(q.status(), 200);
    assert_eq!(q.body().await.unwrap().to_vec(), png);
    assert_eq!(
        fetch(Some(tc.clone())).await.0,
        404,
        "carol is not in that conversation"
    );
    let h = app.history(&tb, ab).await;
    assert_eq!(h[0]["media_url"], url);
    assert_eq!(h[0]["kind"], "image");
    let missing = app
        .client
        .get(app.url(&format!("/media/{}", "0".repeat(32))))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// Checks one socket's stream: every `message` frame is new (above everything the socket
/// saw of that conversation, by any channel) and each `sync_batch` is the exact gap asked.
struct Stream {
    max_seen: u64,
    seen: std::collections::BTreeSet<u64>,
}

impl Stream {
    fn new() -> Self {
        Stream {
            max_seen: 0,
            seen: Default::default(),
        }
    }

    fn take(&mut self, f: &Value, asked_after: &mut Option<u64>) {
        match f["type"].as_str().unwrap() {
            "message" => {
                let seq = f["msg"]["seq"].as_u64().unwrap();
                assert!(
                    seq > self.max_seen,
                    "message {seq} after {} on the same socket: doubled or out of order",
                    self.max_seen
                );
                self.max_seen = seq;
                self.seen.insert(seq);
            }
            "sync_batch" => {
                let after = asked_after.take().expect("a sync_batch nobody asked for");
                let s = seqs(f["messages"].as_array().unwrap());
                assert_eq!(
                    s,
                    (after + 1..after + 1 + s.len() as u64).collect::<Vec<_>>()
                );
                if let Some(&last) = s.last() {
                    self.max_seen = self.max_seen.max(last);
                }
                self.seen.extend(s);
            }
            "error" => panic!("unexpected error: {f}"),
            _ => {}
        }
    }
}

#[actix_web::test]
async fn messages_stored_while_a_socket_catches_up_arrive_once_and_in_order() {
    const ROUNDS: u64 = 3;
    const BURST: u64 = 60;
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "10000")]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    send_n(&mut a, conv, "pre", 1, 40).await;

    let mut sockets: Vec<(WsClient, Stream)> = Vec::new();
    for round in 0..ROUNDS {
        // Alice writes a burst without waiting; meanwhile bob connects a new device
        // (offline drain) and the older ones sync from the start, more than once.
        let from = 41 + round * BURST;
        let frames: Vec<Value> = (from..from + BURST)
            .map(|i| json!({"type": "send", "conv": conv, "client_id": format!("m{i}"), "kind": "text", "body": format!("m {i}")}))
            .collect();
        a.send_many(frames).await;
        let mut fresh = WsClient::open(app.client.ws(app.ws_url(&format!("?token={tb}")))).await;
        let mut stream = Stream::new();
        fresh.next_of_type("auth_ok").await;
        loop {
            let f = fresh.next_frame().await;
            if f["type"] == "sync_done" {
                break;
            }
            stream.take(&f, &mut None);
        }
        sockets.push((fresh, stream));
        for (ws, stream) in sockets.iter_mut() {
            for _ in 0..2 {
                ws.send_json(json!({"type": "sync", "convs": {conv.to_string(): 0}, "limit": 500}))
                    .await;
                let mut asked = Some(0);
                loop {
                    let f = ws.next_frame().await;
                    if f["type"] == "sync_done" {
                        break;
                    }
                    stream.take(&f, &mut asked);
                }
                assert!(asked.is_none(), "no sync_batch before sync_done");
            }
        }
        for i in from..from + BURST {
            a.ack_for(&format!("m{i}")).await;
        }
    }
    // Every socket ends with every message, each seen once on the live path.
    let total = 40 + ROUNDS * BURST;
    for (ws, stream) in sockets.iter_mut() {
        while stream.max_seen < total {
            let f = ws.next_frame().await;
            stream.take(&f, &mut None);
        }
        assert_eq!(stream.seen, (1..=total).collect());
        ws.barrier().await;
        for f in ws.take_of_type("message") {
            stream.take(&f, &mut None);
        }
    }
    assert_eq!(app.history(&tb, conv).await.len() as u64, total);
}
