//! Search from the index: complete newest-first pages with a cursor, words and prefixes
//! folded, CJK without spaces, edits and recalls, members only, and an index that
//! survives kill -9, rebuilds itself when damaged, and is verified by `chatnode check`.

use serde_json::{json, Value};

use crate::cli::expect;
use crate::harness::{start_binary, KillOnDrop, TestApp};

/// `q` as a URL query value.
fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| match b.is_ascii_alphanumeric() {
            true => (b as char).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}

fn hits(v: &Value) -> Vec<Value> {
    v["hits"].as_array().cloned().unwrap_or_default()
}

/// (conv, seq) of each hit.
fn ids(v: &Value) -> Vec<(u64, u64)> {
    hits(v)
        .iter()
        .map(|h| (h["conv"].as_u64().unwrap(), h["seq"].as_u64().unwrap()))
        .collect()
}

/// Every page of `q` for `token`, following `next`.
async fn all_pages(app: &TestApp, token: &str, q: &str, limit: usize) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, v) = app
            .get(
                &format!("/api/search?q={}&limit={limit}&cursor={cursor}", enc(q)),
                token,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["complete"], true, "{v}");
        let next = v["next"].as_str().map(str::to_string);
        pages.push(v);
        match next {
            Some(n) => cursor = enc(&n),
            None => return pages,
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

#[actix_web::test]
async fn pages_are_complete_newest_first_and_follow_the_cursor() {
    let app = crate::harness::spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "10000")]).await;
    let ta = app.register("ann").await;
    let tb = app.register("bob").await;
    let tc = app.register("cat").await;
    let direct = app.direct(&ta, "bob").await;
    let group = app.group(&ta, "picnic", &["bob", "cat"]).await;
    let mut a = app.connect(&ta).await;
    for i in 0..45 {
        let conv = if i % 3 == 0 { group } else { direct };
        a.send_acked(conv, &format!("p{i}"), &format!("apple pie number {i}"))
            .await;
        a.send_acked(conv, &format!("n{i}"), &format!("banana {i}"))
            .await;
    }
    a.send_acked(direct, "last", "apple final").await;
    app.search_until("/api/search?q=final", &tb, 1).await;

    let pages = all_pages(&app, &tb, "APPLE", 20).await;
    let sizes: Vec<usize> = pages.iter().map(|p| hits(p).len()).collect();
    assert_eq!(sizes, [20, 20, 6], "46 hits in pages of 20");
    let all: Vec<Value> = pages.iter().flat_map(hits).collect();
    let mut seen: Vec<(u64, u64)> = pages.iter().flat_map(ids).collect();
    assert!(all
        .iter()
        .all(|h| h["body"].as_str().unwrap().starts_with("apple")));
    for pair in all.windows(2) {
        let key = |h: &Value| (h["ts"].as_u64(), h["conv"].as_u64(), h["seq"].as_u64());
        assert!(key(&pair[0]) > key(&pair[1]), "newest first: {pair:?}");
    }
    assert_eq!(all[0]["body"], "apple final");
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 46, "no hit twice, none missed");

    // cat is only in the group: only its 15 hits
    let cat: Vec<Value> = all_pages(&app, &tc, "apple", 100)
        .await
        .iter()
        .flat_map(hits)
        .collect();
    assert_eq!(cat.len(), 15);
    assert!(cat.iter().all(|h| h["conv"] == group));

    // before=SEQ within one conversation
    let (_, v) = app
        .get(&format!("/api/search?q=apple&conv={direct}&before=10"), &tb)
        .await;
    let seqs: Vec<u64> = ids(&v).iter().map(|(_, s)| *s).collect();
    assert!(!seqs.is_empty() && seqs.iter().all(|s| *s < 10), "{v}");
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{v}");

    // a cursor that was never given out is a 400, not a 500
    let (status, v) = app.get("/api/search?q=apple&cursor=bogus", &tb).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
}

#[actix_web::test]
async fn words_prefixes_accents_and_cjk_match_as_people_type_them() {
    let app = crate::harness::spawn_app(&[]).await;
    let ta = app.register("ann").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let bodies = [
        "Café Crème brûlée tonight?",
        "naïve ÜBER plan",
        "我们明天去北京吧",
        "東京タワーに行きました",
        "안녕하세요 여러분",
        "shellfish for dinner",
        "The quick-brown fox",
        "done",
    ];
    for (i, body) in bodies.iter().enumerate() {
        a.send_acked(conv, &format!("w{i}"), body).await;
    }
    app.search_until("/api/search?q=done", &tb, 1).await;
    let cases: &[(&str, &[&str])] = &[
        ("cafe", &["Café Crème brûlée tonight?"]),
        ("CRÈME", &["Café Crème brûlée tonight?"]),
        ("bru", &["Café Crème brûlée tonight?"]),
        ("uber naive", &["naïve ÜBER plan"]),
        ("北京", &["我们明天去北京吧"]),
        ("京", &["東京タワーに行きました", "我们明天去北京吧"]),
        ("タワー", &["東京タワーに行きました"]),
        ("안녕", &["안녕하세요 여러분"]),
        ("hell", &[]),
        ("shell", &["shellfish for dinner"]),
        ("brown quick", &["The quick-brown fox"]),
        ("\"quick\" fox*", &["The quick-brown fox"]),
        ("quick AND fox", &[]),
        ("北京明天", &[]),
        ("!!! ...", &[]),
    ];
    for (q, want) in cases {
        let (status, v) = app.get(&format!("/api/search?q={}", enc(q)), &tb).await;
        assert_eq!(status, 200, "{q}: {v}");
        let got: Vec<&str> = hits(&v)
            .iter()
            .map(|h| h["body"].as_str().unwrap_or(""))
            .map(|b| bodies.iter().find(|x| **x == b).copied().unwrap_or("?"))
            .collect();
        assert_eq!(&got, want, "{q}");
    }
    // a 10 KB query searches as plain text
    let long = "x".repeat(5000) + " " + &"(".repeat(5000);
    let (status, v) = app.get(&format!("/api/search?q={}", enc(&long)), &tb).await;
    assert_eq!((status, hits(&v).len()), (200, 0), "{v}");
}

#[actix_web::test]
async fn edits_are_found_by_their_new_text_and_recalls_never() {
    let app = crate::harness::spawn_app(&[]).await;
    let ta = app.register("ann").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    a.send_acked(conv, "m1", "walrus on the beach").await;
    app.search_until("/api/search?q=walrus", &tb, 1).await;
    a.send_json(json!({"type": "edit", "conv": conv, "seq": 1, "body": "narwhal on the beach", "client_id": "e1"}))
        .await;
    a.ack_for("e1").await;
    let v = app.search_until("/api/search?q=narwhal", &tb, 1).await;
    assert_eq!(ids(&v), [(conv, 1)], "the message, not its edit event");
    let (_, v) = app.get("/api/search?q=walrus", &tb).await;
    assert!(hits(&v).is_empty(), "the old text is gone: {v}");
    a.send_json(json!({"type": "recall", "conv": conv, "seq": 1}))
        .await;
    a.next_of_type("recalled").await;
    let (_, v) = app.get("/api/search?q=narwhal", &tb).await;
    assert!(hits(&v).is_empty(), "a recalled message never hits: {v}");
    let (_, v) = app.get("/api/search?q=beach", &ta).await;
    assert!(hits(&v).is_empty(), "not for its sender either: {v}");
}

#[actix_web::test]
async fn a_removed_member_can_no_longer_find_the_groups_messages() {
    let app = crate::harness::spawn_app(&[]).await;
    let ta = app.register("ann").await;
    app.register("bob").await;
    let tc = app.register("cat").await;
    let group = app.group(&ta, "plans", &["bob", "cat"]).await;
    let mut a = app.connect(&ta).await;
    a.send_acked(group, "s1", "surprise party on friday").await;
    app.search_until("/api/search?q=surprise", &tc, 1).await;
    let (status, _) = app
        .post(
            &format!("/api/conversations/{group}/members"),
            &ta,
            json!({"remove": ["cat"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, v) = app.get("/api/search?q=surprise", &tc).await;
    assert!(hits(&v).is_empty(), "{v}");
    let (status, _) = app
        .get(&format!("/api/search?q=surprise&conv={group}"), &tc)
        .await;
    assert_eq!(status, 404);
}

/// Registers ann and bob on a node at `addr` and sends `n` messages; bob's token.
async fn fill(app: &TestApp, n: usize) -> String {
    let ta = app.register("ann").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    for i in 0..n {
        a.send_acked(conv, &format!("z{i}"), &format!("zebra crossing {i}"))
            .await;
    }
    tb
}

#[actix_web::test]
async fn the_index_survives_kill_9_rebuilds_itself_and_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let (child, addr) = start_binary(
            dir.path(),
            &[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "10000")],
            |_| {},
        );
        (KillOnDrop(child), TestApp::at(addr))
    };
    let (node, app) = start();
    let tb = fill(&app, 60).await;
    let q = "/api/search?q=zebra&limit=100";
    assert_eq!(hits(&app.search_until(q, &tb, 60).await).len(), 60);
    drop(node); // SIGKILL

    // after kill -9: the committed index is there, and catches up with anything newer
    let (node, app) = start();
    let tb = app.login("bob").await;
    assert_eq!(hits(&app.search_until(q, &tb, 60).await).len(), 60);
    drop(node);

    // a damaged index is rebuilt from the store
    std::fs::write(dir.path().join("search").join("meta.json"), b"{not json").unwrap();
    let (node, app) = start();
    let tb = app.login("bob").await;
    let v = app.search_until(q, &tb, 60).await;
    assert_eq!(hits(&v).len(), 60, "{v}");
    assert_eq!(v["complete"], true);
    // until the rebuild has caught up (and committed) search scans: wait for the index
    let metrics = crate::harness::poll_until(
        || async {
            String::from_utf8_lossy(&app.call("GET", "/metrics", None, None).await.body)
                .into_owned()
        },
        |m: &String| m.contains("\nchatnode_search_indexed 1"),
    )
    .await;
    assert!(metrics.contains("\nchatnode_search_indexed 1"), "{metrics}");
    drop(node);

    // a stopped store: check verifies the index, reindex rebuilds it
    let ran = expect(dir.path(), &["check"], None, 0);
    assert!(
        ran.out.contains("search index: 60 documents"),
        "{}",
        ran.out
    );
    let ran = expect(dir.path(), &["reindex"], None, 0);
    assert!(ran.out.contains("stored entries read"), "{}", ran.out);
    let ran = expect(dir.path(), &["check"], None, 0);
    assert!(
        ran.out.contains("search index: 60 documents, up to date"),
        "{}",
        ran.out
    );
}
