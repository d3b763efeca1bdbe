//! Events in the stream: edit, react and recall stored as seqs, folded into their
//! targets; replies and mentions; the counters they move.

use serde_json::{json, Value};

use crate::harness::{seqs, spawn_app, TestApp, WsClient};

/// ann and bob, each with a socket, in a direct chat.
async fn pair(app: &TestApp) -> (String, String, WsClient, WsClient, u64) {
    let ta = app.register("ann").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let a = app.connect(&ta).await;
    let b = app.connect(&tb).await;
    (ta, tb, a, b, conv)
}

/// The stored entry at `seq`, from an HTTP history page.
async fn entry(app: &TestApp, token: &str, conv: u64, seq: u64) -> Value {
    let (status, page) = app
        .get(
            &format!(
                "/api/conversations/{conv}/messages?after={}&limit=1",
                seq - 1
            ),
            token,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["messages"][0].clone()
}

#[actix_web::test]
async fn edits_are_the_senders_own_text_within_the_window() {
    let app = spawn_app(&[("CHATNODE__MESSAGES__MAX_BODY_BYTES", "100")]).await;
    let (ta, tb, mut a, mut b, conv) = pair(&app).await;
    a.send_acked(conv, "m1", "helo").await;
    let m = b.next_of_type("message").await["msg"].clone();
    // every message object carries the v1.1 fields
    assert_eq!(m["reply_to"], Value::Null);
    assert_eq!(m["mentions"], json!([]));
    assert_eq!(m["edited_ts"], Value::Null);
    assert_eq!(m["reactions"], json!({}));
    assert!(m.get("target").is_none(), "{m}");

    a.send_json(
        json!({"type": "edit", "conv": conv, "seq": 1, "body": "hello", "client_id": "e1"}),
    )
    .await;
    let ack = a.ack_for("e1").await;
    assert_eq!(
        (ack["conv"].as_u64(), ack["seq"].as_u64()),
        (Some(conv), Some(2))
    );
    let ev = b.next_of_type("message").await["msg"].clone();
    assert_eq!(ev["kind"], "edit");
    assert_eq!(ev["seq"], 2);
    assert_eq!(ev["target"], 1);
    assert_eq!(ev["body"], "hello");
    assert_eq!(ev["sender"], "ann");
    // the target shows the new text from then on
    let target = entry(&app, &tb, conv, 1).await;
    assert_eq!(target["body"], "hello");
    assert_eq!(target["edited_ts"], ev["ts"]);
    // search finds the edited message by its new text, never the event
    let found = app.search_until("/api/search?q=hello", &tb, 1).await;
    let hits = found["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{found}");
    assert_eq!(
        (hits[0]["seq"].as_u64(), hits[0]["kind"].as_str()),
        (Some(1), Some("text"))
    );
    // a retry of the edit gets the same ack and stores nothing
    a.send_json(
        json!({"type": "edit", "conv": conv, "seq": 1, "body": "hello!", "client_id": "e1"}),
    )
    .await;
    assert_eq!(a.ack_for("e1").await["seq"], 2);

    // refused: another's message, not text, recalled, an event, too long
    b.send_acked(conv, "b1", "bob's").await; // 3
    a.send_json(
        json!({"type": "send", "conv": conv, "client_id": "img", "kind": "image",
        "media_url": "https://example.org/a.png"}),
    )
    .await;
    a.ack_for("img").await; // 4
    a.send_acked(conv, "gone", "oops").await; // 5
    a.send_json(json!({"type": "recall", "conv": conv, "seq": 5}))
        .await; // 6: the recall event
    a.next_of_type("recalled").await;
    for (seq, code) in [
        (3, "not_sender"),
        (4, "not_editable"),
        (5, "not_editable"),
        (2, "not_editable"),
        (99, "bad_frame"),
    ] {
        let id = format!("bad-{seq}");
        a.send_json(
            json!({"type": "edit", "conv": conv, "seq": seq, "body": "x", "client_id": id}),
        )
        .await;
        let e = a.expect_error(code).await;
        assert_eq!(e["ref"], id.as_str());
    }
    a.send_json(json!({"type": "edit", "conv": conv, "seq": 1, "body": "x".repeat(101), "client_id": "long"}))
        .await;
    assert_eq!(a.expect_error("too_large").await["ref"], "long");
    // nothing of it was stored, and bob saw none of it
    assert_eq!(app.conversation(&ta, conv).await["last_seq"], 6);
    b.barrier().await;
    let seen = seqs(
        &b.take_of_type("message")
            .iter()
            .map(|f| f["msg"].clone())
            .collect::<Vec<_>>(),
    );
    assert_eq!(seen, vec![4, 5, 6]);
    // events never become the last message, and never count as unread
    let view = app.conversation(&tb, conv).await;
    assert_eq!(view["last_message"]["seq"], 5, "{view}");
    assert_eq!(view["unread"], 2, "ann's 1 and 4 (5 is recalled): {view}");
}

#[actix_web::test]
async fn editing_can_be_switched_off() {
    let app = spawn_app(&[("CHATNODE__MESSAGES__EDIT_WINDOW_SECS", "0")]).await;
    let (ta, _tb, mut a, _b, conv) = pair(&app).await;
    assert_eq!(a.auth_ok["edit_window_ms"], 0);
    a.send_acked(conv, "m1", "first").await;
    a.send_json(
        json!({"type": "edit", "conv": conv, "seq": 1, "body": "second", "client_id": "e1"}),
    )
    .await;
    assert_eq!(a.expect_error("edit_window_passed").await["ref"], "e1");
    assert_eq!(app.conversation(&ta, conv).await["last_seq"], 1);
    assert_eq!(entry(&app, &ta, conv, 1).await["body"], "first");
}

#[actix_web::test]
async fn reactions_are_a_set_per_emoji_with_limits() {
    let app = spawn_app(&[]).await;
    let (ta, tb, mut a, mut b, conv) = pair(&app).await;
    a.send_acked(conv, "m1", "lunch?").await;
    let react = |id: &str, emoji: &str, on: bool| json!({"type": "react", "conv": conv, "seq": 1, "emoji": emoji, "on": on, "client_id": id});
    b.send_json(react("r1", "👍", true)).await;
    b.ack_for("r1").await;
    a.send_json(react("r2", "👍", true)).await;
    a.ack_for("r2").await;
    b.send_json(react("r3", "👍", true)).await; // again: nothing visible changes
    b.ack_for("r3").await;
    a.send_json(react("r4", "🎉", true)).await;
    a.ack_for("r4").await;
    a.send_json(react("r5", "🎉", false)).await;
    a.ack_for("r5").await;
    let target = entry(&app, &ta, conv, 1).await;
    assert_eq!(
        target["reactions"],
        json!({"👍": ["bob", "ann"]}),
        "{target}"
    );
    let ev = entry(&app, &ta, conv, 6).await;
    assert_eq!(
        (ev["kind"].as_str(), ev["on"].as_bool()),
        (Some("reaction"), Some(false))
    );
    assert_eq!(
        (ev["body"].as_str(), ev["target"].as_u64()),
        (Some("🎉"), Some(1))
    );

    // limits: 33 bytes, a 21st emoji, an empty or non-string emoji, events and system
    b.send_json(react("big", &"x".repeat(33), true)).await;
    assert_eq!(b.expect_error("too_large").await["ref"], "big");
    b.send_json(react("ok32", &"x".repeat(32), true)).await;
    b.ack_for("ok32").await;
    for i in 3..=20 {
        b.send_json(react(&format!("e{i}"), &format!("e{i}"), true))
            .await;
        b.ack_for(&format!("e{i}")).await;
    }
    b.send_json(react("e21", "e21", true)).await;
    assert_eq!(b.expect_error("too_large").await["ref"], "e21");
    // an emoji already there still takes more users
    a.send_json(react("more", "e20", true)).await;
    a.ack_for("more").await;
    b.send_json(react("empty", "", true)).await;
    assert_eq!(b.expect_error("bad_frame").await["ref"], "empty");
    b.send_json(json!({"type": "react", "conv": conv, "seq": 1, "emoji": 7, "on": true, "client_id": "num"}))
        .await;
    assert_eq!(b.expect_error("bad_frame").await["ref"], "num");
    b.send_json(json!({"type": "react", "conv": conv, "seq": 2, "emoji": "👍", "on": true, "client_id": "onev"}))
        .await;
    assert_eq!(b.expect_error("not_editable").await["ref"], "onev");
    let last = app.conversation(&ta, conv).await["last_seq"]
        .as_u64()
        .unwrap();
    let target = entry(&app, &tb, conv, 1).await;
    assert_eq!(
        target["reactions"].as_object().unwrap().len(),
        20,
        "{target}"
    );
    assert_eq!(target["reactions"]["e20"], json!(["bob", "ann"]));
    assert_eq!(last, 6 + 1 + 18 + 1, "refused reactions store nothing");

    // a group's system message takes none
    let tc = app.register("cat").await;
    let group = app.group(&ta, "g", &["bob"]).await;
    let (status, _) = app
        .post(
            &format!("/api/conversations/{group}/members"),
            &ta,
            json!({"add": ["cat"]}),
        )
        .await;
    assert_eq!(status, 200);
    let mut c = app.connect(&tc).await;
    c.send_json(json!({"type": "react", "conv": group, "seq": 1, "emoji": "👍", "on": true, "client_id": "sys"}))
        .await;
    assert_eq!(c.expect_error("not_editable").await["ref"], "sys");
}

#[actix_web::test]
async fn an_offline_device_learns_of_edits_reactions_and_recalls_in_order() {
    let app = spawn_app(&[]).await;
    let ta = app.register("ann").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    a.send_acked(conv, "m1", "one").await;
    a.send_acked(conv, "m2", "two").await;
    b.next_of_type("message").await;
    b.next_of_type("message").await;
    b.send_json(json!({"type": "delivered", "conv": conv, "seq": 2}))
        .await;
    b.barrier().await;
    app.wait_for_state(&tb, conv, "delivered_seq", 2).await;
    b.close().await;

    // while bob is away: an edit, a reaction, a recall (each an event), and a second
    // recall of the same message, which stores nothing
    a.send_json(json!({"type": "edit", "conv": conv, "seq": 1, "body": "ONE", "client_id": "e1"}))
        .await;
    a.ack_for("e1").await;
    a.send_json(json!({"type": "react", "conv": conv, "seq": 1, "emoji": "❤", "on": true, "client_id": "r1"}))
        .await;
    a.ack_for("r1").await;
    a.send_json(json!({"type": "recall", "conv": conv, "seq": 2}))
        .await;
    let recalled = a.next_of_type("recalled").await;
    assert_eq!(
        (recalled["seq"].as_u64(), recalled["by"].as_str()),
        (Some(2), Some("ann"))
    );
    a.send_json(json!({"type": "recall", "conv": conv, "seq": 2}))
        .await;
    a.next_of_type("recalled").await;
    // the recall event reached ann's own socket too (a recall has no ack)
    let own = a
        .next_matching(|f| f["type"] == "message" && f["msg"]["kind"] == "recall")
        .await;
    assert_eq!(own["msg"]["seq"], 5);
    assert_eq!(app.conversation(&ta, conv).await["last_seq"], 5);

    // the offline drain: the events in seq order, the targets in their current state
    let b2 = app.connect(&tb).await;
    let drained: Vec<Value> = b2.drained.iter().map(|f| f["msg"].clone()).collect();
    assert_eq!(seqs(&drained), vec![3, 4, 5]);
    let kinds: Vec<&str> = drained
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["edit", "reaction", "recall"]);
    assert!(drained.iter().all(|m| m["target"].is_u64()), "{drained:?}");
    assert_eq!(drained[2]["target"], 2);

    // sync from before the first message: every entry once, targets folded
    let mut b3 = app.connect(&tb).await;
    b3.send_json(json!({"type": "sync", "convs": {conv.to_string(): 0}}))
        .await;
    let batch = b3.next_of_type("sync_batch").await;
    let msgs = batch["messages"].as_array().unwrap().clone();
    assert_eq!(seqs(&msgs), vec![1, 2, 3, 4, 5]);
    assert_eq!(msgs[0]["body"], "ONE");
    assert!(msgs[0]["edited_ts"].is_u64());
    assert_eq!(msgs[0]["reactions"], json!({"❤": ["ann"]}));
    assert_eq!(
        (msgs[1]["recalled"].as_bool(), msgs[1]["body"].as_str()),
        (Some(true), Some(""))
    );
    assert_eq!(msgs[2]["body"], "ONE", "the edit event keeps its text");
}

#[actix_web::test]
async fn unread_and_mentions_across_two_devices() {
    let app = spawn_app(&[]).await;
    let ta = app.register("ann").await;
    let tb = app.register("bob").await;
    app.register("cat").await;
    let conv = app.group(&ta, "team", &["bob", "cat"]).await;
    let mut a = app.connect(&ta).await;
    let mut b1 = app.connect(&tb).await;
    let tb2 = app.login("bob").await;
    let mut b2 = app.connect(&tb2).await;

    let send = |id: &str, body: &str, mentions: Value| json!({"type": "send", "conv": conv, "client_id": id, "kind": "text", "body": body, "mentions": mentions});
    a.send_json(send("m1", "@bob hi", json!(["bob", "zed", "bob"])))
        .await;
    a.ack_for("m1").await;
    a.send_json(send("m2", "all", json!([]))).await;
    a.ack_for("m2").await;
    a.send_json(send("m3", "@bob @cat", json!(["cat", "bob"])))
        .await;
    a.ack_for("m3").await;
    let m1 = b1.next_of_type("message").await["msg"].clone();
    assert_eq!(
        m1["mentions"],
        json!(["bob"]),
        "non-members and repeats dropped"
    );
    // a reaction is not unread and mentions no one
    b1.send_json(json!({"type": "react", "conv": conv, "seq": 2, "emoji": "👍", "on": true, "client_id": "r"}))
        .await;
    b1.ack_for("r").await;
    let v = app.conversation(&tb, conv).await;
    assert_eq!(
        (v["unread"].as_u64(), v["mentions"].as_u64()),
        (Some(3), Some(2)),
        "{v}"
    );
    let list = app.conversations(&tb).await;
    assert_eq!(list[0]["mentions"], 2);

    // reading on one device clears the counters on the other
    b1.send_json(json!({"type": "read", "conv": conv, "seq": 1}))
        .await;
    let u = b2.next_of_type("unread").await;
    assert_eq!(
        (u["count"].as_u64(), u["mentions"].as_u64()),
        (Some(2), Some(1)),
        "{u}"
    );
    // a recall takes its mention back
    a.send_json(json!({"type": "recall", "conv": conv, "seq": 3}))
        .await;
    for b in [&mut b1, &mut b2] {
        let u = b.next_of_type("unread").await;
        assert_eq!(
            (u["count"].as_u64(), u["mentions"].as_u64()),
            (Some(1), Some(0)),
            "{u}"
        );
    }
    let v = app.conversation(&tb, conv).await;
    assert_eq!(
        (v["unread"].as_u64(), v["mentions"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
    b2.send_json(json!({"type": "read", "conv": conv, "seq": 5}))
        .await;
    let u = b1.next_of_type("unread").await;
    assert_eq!(
        (u["count"].as_u64(), u["mentions"].as_u64()),
        (Some(0), Some(0))
    );
}

#[actix_web::test]
async fn replies_name_a_stored_message_of_the_same_conversation() {
    let app = spawn_app(&[]).await;
    let (ta, tb, mut a, mut b, conv) = pair(&app).await;
    let other = app.register("cat").await;
    let elsewhere = app.direct(&other, "ann").await;
    let mut c = app.connect(&other).await;
    for i in 1..=5 {
        c.send_acked(elsewhere, &format!("c{i}"), "x").await;
    }

    a.send_acked(conv, "m1", "question").await;
    a.send_json(json!({"type": "react", "conv": conv, "seq": 1, "emoji": "?", "on": true, "client_id": "r"}))
        .await;
    a.ack_for("r").await; // 2 is an event
    let reply = |id: &str, to: u64| json!({"type": "send", "conv": conv, "client_id": id, "kind": "text", "body": "answer", "reply_to": to});
    b.send_json(reply("ok", 1)).await;
    assert_eq!(b.ack_for("ok").await["seq"], 3);
    for (id, to) in [("event", 2), ("not-yet", 4), ("other-conv", 5), ("zero", 0)] {
        b.send_json(reply(id, to)).await;
        assert_eq!(b.expect_error("bad_frame").await["ref"], id);
    }
    assert_eq!(app.conversation(&tb, conv).await["last_seq"], 3);
    assert_eq!(entry(&app, &ta, conv, 3).await["reply_to"], 1);
    // a retry of the reply after the refusals still gets its seq
    b.send_json(reply("ok", 1)).await;
    assert_eq!(b.ack_for("ok").await["seq"], 3);
}
