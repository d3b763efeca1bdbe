//! One-to-one chat, history, dedupe, concurrent writers, frame errors, non-members.

use std::collections::{BTreeSet, HashMap};

use awc::ws::Message;
use serde_json::{json, Value};

use crate::harness::{msgs_of, seqs, spawn_app};

#[actix_web::test]
async fn direct_chat_both_ways_with_a_second_device() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a1 = app.connect(&ta).await;
    let mut a2 = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    assert_eq!(a1.auth_ok["user"], "alice");
    assert!(a1.drained.is_empty() && b.drained.is_empty());

    let ack = a1.send_acked(conv, "a-1", "hello bob").await;
    assert_eq!(ack["conv"], conv);
    assert_eq!(ack["seq"], 1);
    let ts = ack["ts"].as_u64().expect("ts is a number");
    let expected = json!({
        "conv": conv, "seq": 1, "sender": "alice", "client_id": "a-1", "kind": "text",
        "body": "hello bob", "media_url": null, "ts": ts, "recalled": false,
        "reply_to": null, "mentions": [], "edited_ts": null, "reactions": {}
    });
    assert_eq!(b.next_of_type("message").await["msg"], expected);
    assert_eq!(a2.next_of_type("message").await["msg"], expected);
    // The socket that sent it gets the ack only; the other device's copy came after it.
    a1.assert_none_of_type("message").await;

    let ack = b.send_acked(conv, "b-1", "hi alice").await;
    assert_eq!(ack["seq"], 2);
    let m1 = a1.next_of_type("message").await["msg"].clone();
    let m2 = a2.next_of_type("message").await["msg"].clone();
    assert_eq!(m1, m2);
    assert_eq!(m1["sender"], "bob");
    assert_eq!(m1["body"], "hi alice");
    assert_eq!(m1["seq"], 2);
    assert_eq!(m1["ts"], ack["ts"]);
    b.assert_none_of_type("message").await;

    // `to` finds the same direct conversation.
    b.send_json(json!({"type": "send", "to": "alice", "client_id": "b-2", "kind": "text", "body": "via to"}))
        .await;
    let ack = b.ack_for("b-2").await;
    assert_eq!(ack["conv"], conv);
    assert_eq!(ack["seq"], 3);
    assert_eq!(a1.next_of_type("message").await["msg"]["body"], "via to");

    let history = app.history(&tb, conv).await;
    assert_eq!(seqs(&history), vec![1, 2, 3]);
    assert_eq!(history[0], expected);
    assert_eq!(history[1], m1);
    let view = app.conversation(&ta, conv).await;
    assert_eq!(view["last_seq"], 3);
    assert_eq!(view["last_message"], history[2]);
}

#[actix_web::test]
async fn direct_conversation_creation_is_idempotent() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let (status, first) = app
        .post(
            "/api/conversations",
            &ta,
            json!({"kind": "direct", "members": ["bob"]}),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["kind"], "direct");
    assert_eq!(first["name"], "bob");
    assert_eq!(first["members"], json!(["alice", "bob"]));
    assert_eq!(first["last_seq"], 0);
    assert_eq!(first["last_message"], Value::Null);
    assert_eq!(first["unread"], 0);
    let (status, again) = app
        .post(
            "/api/conversations",
            &ta,
            json!({"kind": "direct", "members": ["bob"]}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["conv"], first["conv"]);
    let (status, from_bob) = app
        .post(
            "/api/conversations",
            &tb,
            json!({"kind": "direct", "members": ["alice"]}),
        )
        .await;
    assert_eq!(status, 200, "{from_bob}");
    assert_eq!(from_bob["conv"], first["conv"]);
    assert_eq!(from_bob["name"], "alice");
    assert_eq!(app.conversations(&ta).await.len(), 1);

    let (status, _) = app
        .post(
            "/api/conversations",
            &ta,
            json!({"kind": "direct", "members": ["nobody"]}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .post(
            "/api/conversations",
            &ta,
            json!({"kind": "direct", "members": ["alice"]}),
        )
        .await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn history_pages_before_and_after() {
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "10000")]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let frames: Vec<Value> = (1..=105)
        .map(|i| json!({"type": "send", "conv": conv, "client_id": format!("m{i}"), "kind": "text", "body": format!("message {i}")}))
        .collect();
    a.send_many(frames).await;
    for i in 1..=105u64 {
        let ack = a.ack_for(&format!("m{i}")).await;
        assert_eq!(ack["seq"], i, "one socket's messages keep their order");
    }

    let page = |q: &'static str| {
        let app = &app;
        let tb = &tb;
        async move {
            let (status, v) = app
                .get(&format!("/api/conversations/{conv}/messages{q}"), tb)
                .await;
            assert_eq!(status, 200, "{q}: {v}");
            (
                seqs(v["messages"].as_array().unwrap()),
                v["has_more"].as_bool().unwrap(),
                v,
            )
        }
    };
    let (s, more, newest) = page("").await;
    assert_eq!(s, (86..=105).collect::<Vec<_>>());
    assert!(more);
    assert_eq!(newest["messages"][0]["body"], "message 86");
    let (s, more, _) = page("?before=86&limit=10").await;
    assert_eq!(s, (76..=85).collect::<Vec<_>>());
    assert!(more);
    let (s, more, first_page) = page("?before=6").await;
    assert_eq!(s, vec![1, 2, 3, 4, 5]);
    assert!(!more);
    let (s, more, _) = page("?after=0&limit=10").await;
    assert_eq!(s, (1..=10).collect::<Vec<_>>());
    assert!(more);
    let (s, more, _) = page("?after=100").await;
    assert_eq!(s, vec![101, 102, 103, 104, 105]);
    assert!(!more);
    let (s, more, _) = page("?after=105").await;
    assert!(s.is_empty());
    assert!(!more);
    let (s, more, _) = page("?limit=1000").await;
    assert_eq!(s, (6..=105).collect::<Vec<_>>(), "limit is clamped to 100");
    assert!(more);
    let (s, more, _) = page("?after=0&limit=1000").await;
    assert_eq!(s, (1..=100).collect::<Vec<_>>(), "limit is clamped to 100");
    assert!(more);

    // The `history` frame gives the same page.
    a.send_json(json!({"type": "history", "conv": conv, "before": 6, "limit": 20}))
        .await;
    let h = a.next_of_type("history").await;
    assert_eq!(h["conv"], conv);
    assert_eq!(h["messages"], first_page["messages"]);
    assert_eq!(h["has_more"], false);
    a.send_json(json!({"type": "history", "conv": conv, "limit": 500}))
        .await;
    let h = a.next_of_type("history").await;
    assert_eq!(
        seqs(h["messages"].as_array().unwrap()),
        (6..=105).collect::<Vec<_>>()
    );
    assert_eq!(h["has_more"], true);
}

#[actix_web::test]
async fn retried_client_id_is_stored_once() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;

    let first = a.send_acked(conv, "retry-me", "only once").await;
    assert_eq!(first["seq"], 1);
    assert_eq!(
        b.next_of_type("message").await["msg"]["client_id"],
        "retry-me"
    );
    let again = a.send_acked(conv, "retry-me", "only once").await;
    assert_eq!(
        again, first,
        "a retry gets the same ack (same seq, same ts)"
    );
    // Even with another body, the id names the message already stored.
    let changed = a.send_acked(conv, "retry-me", "something else").await;
    assert_eq!(changed, first);
    b.assert_none_of_type("message").await;

    // Across a reconnect (a new session) the same.
    a.close().await;
    let mut a = app.connect(&ta).await;
    let after_reconnect = a.send_acked(conv, "retry-me", "only once").await;
    assert_eq!(after_reconnect, first);
    // And from the sender's other device.
    let mut a2 = app.connect(&ta).await;
    assert_eq!(a2.send_acked(conv, "retry-me", "only once").await, first);
    b.assert_none_of_type("message").await;

    let next = a.send_acked(conv, "next", "second message").await;
    assert_eq!(next["seq"], 2, "retries used no seq");
    let history = app.history(&ta, conv).await;
    assert_eq!(seqs(&history), vec![1, 2]);
    assert_eq!(history[0]["body"], "only once");
    assert_eq!(history[0]["ts"], first["ts"]);
    assert_eq!(b.next_of_type("message").await["msg"]["seq"], 2);
}

/// Retries and clashing ids sent back to back, while their first copies are still being
/// written: a retry gets the first copy's ack, also when the same id went to another
/// conversation at the same moment; the conversation's seqs stay gapless and every ack
/// names the message stored at its seq.
#[actix_web::test]
async fn retries_and_clashes_in_flight_keep_seqs_gapless_and_acks_true() {
    const ROUNDS: usize = 5;
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "10000")]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    app.register("carol").await;
    let with_bob = app.direct(&ta, "bob").await;
    let with_carol = app.direct(&ta, "carol").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;

    let frame = |conv: u64, id: &str, body: &str| json!({"type": "send", "conv": conv, "client_id": id, "kind": "text", "body": body});
    let mut acked: HashMap<(u64, u64), String> = HashMap::new();
    for r in 0..ROUNDS {
        let (x, shared) = (format!("x{r}"), format!("shared{r}"));
        let (after1, after2) = (format!("after{r}-1"), format!("after{r}-2"));
        a.send_many(vec![
            frame(with_bob, &x, "first copy"),
            frame(with_bob, &x, "retry"),
            frame(with_carol, &shared, "to carol"),
            frame(with_bob, &shared, "same id, other conversation"),
            frame(with_bob, &after1, "one"),
            frame(with_bob, &after2, "two"),
        ])
        .await;
        let mut answers: HashMap<String, Vec<Value>> = HashMap::new();
        for _ in 0..6 {
            let f = a
                .next_matching(|f| f["type"] == "ack" || f["type"] == "error")
                .await;
            let id = f["client_id"].as_str().or(f["ref"].as_str()).unwrap();
            answers.entry(id.to_string()).or_default().push(f.clone());
        }
        let x_answers = &answers[&x];
        assert_eq!(x_answers.len(), 2);
        assert_eq!(x_answers[0]["type"], "ack", "{x_answers:?}");
        assert_eq!(
            x_answers[0], x_answers[1],
            "a retry gets the first copy's ack"
        );
        let shared_answers = &answers[&shared];
        assert_eq!(shared_answers.len(), 2);
        assert_eq!(shared_answers[0]["type"], "ack", "{shared_answers:?}");
        assert_eq!(
            shared_answers[0], shared_answers[1],
            "one id, one stored message (in whichever conversation was first), one ack"
        );
        for f in answers.values().flatten() {
            assert_eq!(f["type"], "ack", "nothing is refused: {f}");
        }
        for f in answers.values().flatten() {
            if f["type"] == "ack" {
                let key = (f["conv"].as_u64().unwrap(), f["seq"].as_u64().unwrap());
                let id = f["client_id"].as_str().unwrap().to_string();
                let before = acked.insert(key, id.clone());
                assert!(
                    before.is_none() || before == Some(id),
                    "two ids acked at {key:?}"
                );
            }
        }
    }
    let last = a.send_acked(with_bob, "last", "after everything").await;
    acked.insert((with_bob, last["seq"].as_u64().unwrap()), "last".into());

    let history = app.history(&ta, with_bob).await;
    let n = history.len() as u64;
    assert_eq!(seqs(&history), (1..=n).collect::<Vec<_>>(), "gapless");
    assert_eq!(last["seq"], n, "the last message took the next seq");
    for m in &history {
        let at = (with_bob, m["seq"].as_u64().unwrap());
        assert_eq!(
            acked.get(&at).map(String::as_str),
            m["client_id"].as_str(),
            "every stored message was acked, at its seq"
        );
    }
    let acked_here = acked.keys().filter(|(c, _)| *c == with_bob).count() as u64;
    assert_eq!(acked_here, n, "every ack names a stored message");
    // bob got exactly the stored messages, in order
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(b.next_of_type("message").await["msg"].clone());
    }
    assert_eq!(got, history);
    b.assert_none_of_type("message").await;
}

#[actix_web::test]
async fn concurrent_senders_give_every_receiver_a_gapless_ordered_stream() {
    const SENDERS: usize = 4;
    const EACH: usize = 25;
    const TOTAL: u64 = (SENDERS * EACH) as u64;
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "10000")]).await;
    let names = ["s0", "s1", "s2", "s3", "watcher"];
    let mut tokens = Vec::new();
    for n in names {
        tokens.push(app.register(n).await);
    }
    let conv = app.group(&tokens[0], "busy", &names[1..]).await;
    let mut senders = Vec::new();
    for t in &tokens[..SENDERS] {
        senders.push(app.connect(t).await);
    }
    let mut watcher = app.connect(&tokens[4]).await;
    let mut s0_other = app.connect(&tokens[0]).await;

    // Interleave the writers frame by frame.
    for i in 0..EACH {
        for (s, ws) in senders.iter_mut().enumerate() {
            ws.send_msg(conv, &format!("s{s}-{i}"), &format!("from s{s} number {i}"))
                .await;
        }
    }

    // Pure receivers see 1..=TOTAL, in order, nothing twice.
    for ws in [&mut watcher, &mut s0_other] {
        let mut got = Vec::new();
        for _ in 0..TOTAL {
            got.push(ws.next_of_type("message").await["msg"].clone());
        }
        assert_eq!(seqs(&got), (1..=TOTAL).collect::<Vec<_>>());
        ws.assert_none_of_type("message").await;
    }
    // Each sender: its acks and the others' messages together are 1..=TOTAL, each stream in order.
    let mut acked: HashMap<String, u64> = HashMap::new();
    for (s, ws) in senders.iter_mut().enumerate() {
        let mut ack_seqs = Vec::new();
        for i in 0..EACH {
            let ack = ws.ack_for(&format!("s{s}-{i}")).await;
            ack_seqs.push(ack["seq"].as_u64().unwrap());
            acked.insert(format!("s{s}-{i}"), ack["seq"].as_u64().unwrap());
        }
        assert!(
            ack_seqs.windows(2).all(|w| w[0] < w[1]),
            "s{s}'s messages keep its order: {ack_seqs:?}"
        );
        let mut others = Vec::new();
        for _ in 0..(TOTAL as usize - EACH) {
            others.push(ws.next_of_type("message").await["msg"].clone());
        }
        let other_seqs = seqs(&others);
        assert!(
            other_seqs.windows(2).all(|w| w[0] < w[1]),
            "in order: {other_seqs:?}"
        );
        assert!(others.iter().all(|m| m["sender"] != names[s]));
        let all: BTreeSet<u64> = ack_seqs.iter().chain(&other_seqs).copied().collect();
        assert_eq!(all, (1..=TOTAL).collect::<BTreeSet<_>>());
        ws.assert_none_of_type("message").await;
    }
    let history = app.history(&tokens[4], conv).await;
    assert_eq!(seqs(&history), (1..=TOTAL).collect::<Vec<_>>());
    for m in &history {
        assert_eq!(
            acked[m["client_id"].as_str().unwrap()],
            m["seq"].as_u64().unwrap()
        );
    }
}

#[actix_web::test]
async fn bad_frames_are_answered_and_the_socket_stays_usable() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;

    a.send_text("this is not json").await;
    a.expect_error("bad_frame").await;
    a.send_text("[1, 2, 3]").await;
    a.expect_error("bad_frame").await;
    a.send_json(json!({"type": "fly", "conv": conv})).await;
    let e = a.expect_error("bad_frame").await;
    assert_eq!(e["ref"], "fly");
    a.send_json(json!({"type": "send", "conv": conv, "kind": "text", "body": "no client id"}))
        .await;
    a.expect_error("bad_frame").await;
    a.send_json(json!({"type": "read", "conv": conv})).await;
    let e = a.expect_error("bad_frame").await;
    assert_eq!(e["ref"], "read");
    a.send_json(json!({"type": "send", "client_id": "no-target", "kind": "text", "body": "x"}))
        .await;
    let e = a.expect_error("bad_frame").await;
    assert_eq!(e["ref"], "no-target");
    a.send(Message::Binary(vec![1u8, 2, 3].into())).await;
    a.expect_error("bad_frame").await;
    a.send_json(json!({"type": "send", "conv": conv, "client_id": "no-body", "kind": "text"}))
        .await;
    let e = a.expect_error("bad_frame").await;
    assert_eq!(e["ref"], "no-body", "a text without a body");
    a.send_json(json!({"type": "ping"})).await;
    assert_eq!(
        a.expect_error("bad_frame").await["ref"],
        "ping",
        "ping needs its ts"
    );
    // `ts` comes back as the same number, also where it is not exactly a short decimal
    a.send_text(r#"{"type":"ping","ts":1796556591.5908859}"#)
        .await;
    assert_eq!(
        a.next_of_type("pong").await["ts"].as_f64(),
        Some(1_796_556_591.590_885_9)
    );

    // Still open and working.
    a.send_json(json!({"type": "ping", "ts": 42})).await;
    assert_eq!(a.next_of_type("pong").await["ts"], 42);
    let ack = a.send_acked(conv, "good", "after the bad ones").await;
    assert_eq!(ack["seq"], 1, "bad frames stored nothing");
    assert_eq!(
        b.next_of_type("message").await["msg"]["body"],
        "after the bad ones"
    );
    assert_eq!(seqs(&app.history(&ta, conv).await), vec![1]);
}

#[actix_web::test]
async fn oversized_frame_closes_with_4009() {
    let app = spawn_app(&[("CHATNODE__SESSION__MAX_FRAME_BYTES", "2048")]).await;
    let ta = app.register("alice").await;
    app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let ack = a.send_acked(conv, "small", &"s".repeat(1500)).await;
    assert_eq!(ack["seq"], 1);
    a.send_msg(conv, "big", &"b".repeat(3000)).await;
    assert_eq!(a.expect_close().await, Some(4009));
    assert_eq!(seqs(&app.history(&ta, conv).await), vec![1]);
}

#[actix_web::test]
async fn body_over_the_limit_is_too_large() {
    let app = spawn_app(&[("CHATNODE__MESSAGES__MAX_BODY_BYTES", "100")]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    a.send_msg(conv, "long", &"x".repeat(101)).await;
    let e = a.expect_error("too_large").await;
    assert_eq!(e["ref"], "long");
    // The limit is in bytes: 34 three-byte characters are 102 bytes.
    a.send_msg(conv, "wide", &"你".repeat(34)).await;
    assert_eq!(a.expect_error("too_large").await["ref"], "wide");
    let ack = a.send_acked(conv, "exact", &"x".repeat(100)).await;
    assert_eq!(ack["seq"], 1);
    assert_eq!(b.next_of_type("message").await["msg"]["client_id"], "exact");
    b.assert_none_of_type("message").await;
    assert_eq!(seqs(&app.history(&ta, conv).await), vec![1]);
}

#[actix_web::test]
async fn a_non_member_gets_the_same_answer_as_for_a_missing_conversation() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let tc = app.register("carol").await;
    let conv = app.direct(&ta, "bob").await;
    let missing = conv + 1000;
    let mut a = app.connect(&ta).await;
    a.send_acked(conv, "secret", "just between us").await;
    let mut b = app.connect(&tb).await;
    assert_eq!(b.drained.len(), 1);

    // HTTP: 404 with byte-identical bodies.
    for (method, suffix, body) in [
        ("GET", "", None),
        ("GET", "/messages", None),
        ("GET", "/messages?after=0", None),
        ("DELETE", "", None),
        ("PUT", "/pin", Some(json!({"pinned": true}))),
        ("POST", "/members", Some(json!({"add": ["carol"]}))),
        // membership comes before any other check: bad input from a non-member is 404
        ("GET", "/messages?limit=abc", None),
        ("PUT", "/pin", Some(json!({"pinned": "yes"}))),
        ("POST", "/members", Some(json!({"add": "carol"}))),
    ] {
        let real = app
            .call(
                method,
                &format!("/api/conversations/{conv}{suffix}"),
                Some(&tc),
                body.clone(),
            )
            .await;
        let fake = app
            .call(
                method,
                &format!("/api/conversations/{missing}{suffix}"),
                Some(&tc),
                body,
            )
            .await;
        assert_eq!(real.status, 404, "{method} {suffix}: {:?}", real.body);
        assert_eq!(fake.status, 404, "{method} {suffix}: {:?}", fake.body);
        assert_eq!(real.body, fake.body, "{method} {suffix}");
        assert_eq!(real.json()["error"]["code"], "no_such_conversation");
    }
    let real = app
        .call(
            "GET",
            &format!("/api/search?q=secret&conv={conv}"),
            Some(&tc),
            None,
        )
        .await;
    let fake = app
        .call(
            "GET",
            &format!("/api/search?q=secret&conv={missing}"),
            Some(&tc),
            None,
        )
        .await;
    assert_eq!((real.status, fake.status), (404, 404));
    assert_eq!(real.body, fake.body);
    assert!(app.conversations(&tc).await.is_empty());

    // Socket: `no_such_conversation` for send, history, read (and the rest), same either way.
    let mut c = app.connect(&tc).await;
    assert!(c.drained.is_empty());
    for target in [conv, missing] {
        c.send_msg(target, &format!("peek-{target}"), "let me in")
            .await;
        let e = c.expect_error("no_such_conversation").await;
        assert_eq!(e["ref"], format!("peek-{target}"));
        let mut answers = vec![e["message"].clone()];
        for frame in [
            json!({"type": "history", "conv": target}),
            json!({"type": "read", "conv": target, "seq": 1}),
            json!({"type": "delivered", "conv": target, "seq": 1}),
            json!({"type": "recall", "conv": target, "seq": 1}),
            json!({"type": "typing", "conv": target}),
        ] {
            let t = frame["type"].clone();
            c.send_json(frame).await;
            let e = c.expect_error("no_such_conversation").await;
            assert_eq!(e["ref"], t);
            answers.push(e["message"].clone());
        }
        // frames that would be refused for other reasons: membership is checked first
        for (frame, reference) in [
            (
                json!({"type": "send", "conv": target, "client_id": "huge", "kind": "text",
                       "body": "x".repeat(20_000)}),
                "huge",
            ),
            (
                json!({"type": "send", "conv": target, "client_id": "x".repeat(65),
                       "kind": "text", "body": "hi"}),
                &*"x".repeat(65),
            ),
            (
                json!({"type": "send", "conv": target, "client_id": "sys", "kind": "system",
                       "body": "hi"}),
                "sys",
            ),
            (
                json!({"type": "read", "conv": target, "seq": "one"}),
                "read",
            ),
        ] {
            c.send_json(frame).await;
            let e = c.expect_error("no_such_conversation").await;
            assert_eq!(e["ref"], reference);
            answers.push(e["message"].clone());
        }
        c.send_json(json!({"type": "sync", "convs": {target.to_string(): 0}}))
            .await;
        let e = c.expect_error("no_such_conversation").await;
        assert_eq!(e["ref"], "sync");
        let done = c.next_of_type("sync_done").await;
        assert_eq!(done["type"], "sync_done");
        assert!(c.take_of_type("sync_batch").is_empty());
        assert!(answers.windows(2).all(|w| w[0] == w[1]));
    }
    c.assert_none_of_type("message").await;
    c.assert_none_of_type("typing").await;
    a.assert_none_of_type("error").await;
    b.assert_none_of_type("message").await;
    b.assert_none_of_type("typing").await;
    let history = app.history(&ta, conv).await;
    assert_eq!(msgs_of(&b.drained), history);
    assert_eq!(app.conversation(&tb, conv).await["read_seq"], 0);
}

#[actix_web::test]
async fn a_client_close_is_answered_and_the_session_ends() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let b = app.connect(&tb).await;
    assert_eq!(a.next_of_type("presence").await["online"], true);
    // `close` fails unless the node answers with its own close frame (RFC 6455 5.5.1).
    b.close().await;
    assert_eq!(
        a.next_of_type("presence").await,
        json!({"type": "presence", "user": "bob", "online": false})
    );
    // Bob's messages now wait in the queue.
    a.send_acked(conv, "m1", "are you there?").await;
    let b = app.connect(&tb).await;
    assert_eq!(seqs(&msgs_of(&b.drained)), vec![1]);
}
