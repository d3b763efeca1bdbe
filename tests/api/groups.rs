//! Groups: creation, members added and removed, what a removed member still sees.

use serde_json::json;

use crate::harness::{seqs, spawn_app};

#[actix_web::test]
async fn group_of_three_with_a_member_added_and_one_removed() {
    let app = spawn_app(&[]).await;
    let ta = app.register("ann").await;
    let tb = app.register("ben").await;
    let tc = app.register("cat").await;
    let td = app.register("dan").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    let mut c = app.connect(&tc).await;
    let mut d = app.connect(&td).await;

    let conv = app.group(&ta, "team", &["ben", "cat"]).await;
    for ws in [&mut a, &mut b, &mut c] {
        let frame = ws.next_of_type("conv_update").await;
        let up = frame["conversation"].clone();
        // the object's fields also stand at the top level of the frame
        for field in [
            "conv", "kind", "name", "members", "last_seq", "unread", "pinned",
        ] {
            assert_eq!(frame[field], up[field], "{field} in {frame}");
        }
        assert_eq!(up["conv"], conv);
        assert_eq!(up["kind"], "group");
        assert_eq!(up["name"], "team");
        assert_eq!(up["members"], json!(["ann", "ben", "cat"]));
    }
    d.assert_none_of_type("conv_update").await;

    // Anyone may add; everyone, the new member included, sees the system message.
    let (status, view) = app
        .post(
            &format!("/api/conversations/{conv}/members"),
            &tb,
            json!({"add": ["dan"]}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["members"], json!(["ann", "ben", "cat", "dan"]));
    for ws in [&mut a, &mut b, &mut c, &mut d] {
        let m = ws.next_of_type("message").await["msg"].clone();
        assert_eq!(m["seq"], 1);
        assert_eq!(m["kind"], "system");
        assert_eq!(m["sender"], "ben");
        assert_eq!(m["client_id"], "");
        assert!(m["body"].as_str().unwrap().contains("dan"), "{m}");
        let up = ws.next_of_type("conv_update").await["conversation"].clone();
        assert_eq!(up["members"], json!(["ann", "ben", "cat", "dan"]));
    }
    let dv = app.conversation(&td, conv).await;
    assert_eq!(dv["unread"], 0, "system messages are not unread");
    assert_eq!(dv["last_seq"], 1);

    // Only the creator removes others.
    let (status, _) = app
        .post(
            &format!("/api/conversations/{conv}/members"),
            &tb,
            json!({"remove": ["cat"]}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, view) = app
        .post(
            &format!("/api/conversations/{conv}/members"),
            &ta,
            json!({"remove": ["cat"]}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["members"], json!(["ann", "ben", "dan"]));
    for ws in [&mut a, &mut b, &mut d, &mut c] {
        let m = ws.next_of_type("message").await["msg"].clone();
        assert_eq!(m["seq"], 2);
        assert_eq!(m["kind"], "system");
        assert!(m["body"].as_str().unwrap().contains("cat"), "{m}");
    }

    // The removed member is a stranger now: the same 404 as for a missing conversation.
    let gone = app
        .call(
            "GET",
            &format!("/api/conversations/{conv}"),
            Some(&tc),
            None,
        )
        .await;
    let missing = app
        .call(
            "GET",
            &format!("/api/conversations/{}", conv + 99),
            Some(&tc),
            None,
        )
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body, missing.body);
    let (status, _) = app
        .get(&format!("/api/conversations/{conv}/messages"), &tc)
        .await;
    assert_eq!(status, 404);
    assert!(app.conversations(&tc).await.is_empty());
    c.send_msg(conv, "still-here", "hello?").await;
    assert_eq!(
        c.expect_error("no_such_conversation").await["ref"],
        "still-here"
    );
    c.send_json(json!({"type": "history", "conv": conv})).await;
    c.expect_error("no_such_conversation").await;

    // The group goes on without her.
    let ack = a
        .send_acked(conv, "after", "cat has left the building")
        .await;
    assert_eq!(ack["seq"], 3);
    for ws in [&mut b, &mut d] {
        assert_eq!(ws.next_of_type("message").await["msg"]["seq"], 3);
    }
    c.assert_none_of_type("message").await;
    assert_eq!(app.conversation(&td, conv).await["unread"], 1);

    // A member may leave by removing themselves.
    let (status, _) = app
        .post(
            &format!("/api/conversations/{conv}/members"),
            &tb,
            json!({"remove": ["ben"]}),
        )
        .await;
    assert_eq!(status, 200);
    let m = a.next_of_type("message").await["msg"].clone();
    assert_eq!(
        (m["seq"].as_u64(), m["kind"].as_str()),
        (Some(4), Some("system"))
    );
    let history = app.history(&td, conv).await;
    assert_eq!(seqs(&history), vec![1, 2, 3, 4]);
    assert_eq!(
        app.conversation(&ta, conv).await["members"],
        json!(["ann", "dan"])
    );
}
