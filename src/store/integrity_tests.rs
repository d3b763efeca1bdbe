//! Tests of `check`, the start-up repair, snapshots and search, on real stores in temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
};

use super::codec::{be, dedupe_key, member_key, message_key};
use super::records::encode;
use super::StoredKind;
use super::*;
use crate::protocol::MessageView;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn options(dir: &Path) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_path_buf(),
        durability: Durability::Relaxed,
        cache_mb: 16,
        flush_every_ms: 100,
        backup_dir: std::path::PathBuf::from("backups"),
    }
}

fn text(sender: &str, client_id: &str) -> MessageRecord {
    MessageRecord {
        sender: sender.into(),
        client_id: client_id.into(),
        kind: StoredKind::Text,
        body: format!("hello from {sender}"),
        media_url: None,
        ts: now_ms(),
        ..MessageRecord::default()
    }
}

/// Queues `write` and waits for where it landed.
fn queued(store: &Store, write: QueuedWrite) -> Result<Landed, Error> {
    let (tx, rx) = std::sync::mpsc::channel();
    store.queue(
        write,
        Box::new(move |landed| {
            let _ = tx.send(landed);
        }),
    );
    rx.recv().unwrap()
}

/// An event for `conv` allowed within `window_ms`.
fn event(conv: u64, record: MessageRecord, window_ms: u64, names: &[String]) -> QueuedWrite {
    QueuedWrite::Event(QueuedEvent {
        conv,
        record,
        window_ms,
        members: names.to_vec().into(),
    })
}

/// A store with three users in one group and `n` messages from them in turn.
fn populated(dir: &Path, n: u64) -> (Arc<Store>, u64, Vec<String>) {
    let store = Arc::new(Store::open(&options(dir)).unwrap());
    let names: Vec<String> = ["ann", "bob", "cy"].iter().map(|s| s.to_string()).collect();
    let conv = block_on(async {
        for u in &names {
            let rec = UserRecord {
                password_hash: "x".into(),
                ..Default::default()
            };
            assert!(store.create_user(u, &rec).await.unwrap());
        }
        store.create_group("ann", "g", &names).await.unwrap().0
    });
    for seq in 1..=n {
        let sender = &names[(seq % 3) as usize];
        let _ = store
            .append(conv, seq, &text(sender, &format!("c{seq}")), &names)
            .unwrap();
    }
    (store, conv, names)
}

#[test]
fn a_sound_store_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, conv, names) = populated(dir.path(), 30);
    // bob reads up to 10; a message is recalled
    let unread = store.count_unread(conv, "bob", 10, 30).unwrap();
    let _ = store.update_member_state("bob", conv, |s| {
        s.read_seq = 10;
        s.delivered_seq = 12;
        s.unread = unread;
    });
    let recall = MessageRecord {
        sender: names[(20 % 3) as usize].clone(),
        kind: StoredKind::Recall,
        ts: now_ms(),
        target: Some(20),
        ..Default::default()
    };
    let landed = queued(&store, event(conv, recall, 60_000, &names)).unwrap();
    assert!(
        matches!(landed, Landed::Event { seq: 31, .. }),
        "{landed:?}"
    );
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.lines);
    assert_eq!(report.stats.messages, 31);
    assert_eq!(report.stats.members, 3);
    assert_eq!(report.stats.dedupe, 30);
}

#[test]
fn damage_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (store, conv, _) = populated(dir.path(), 10);
    store.messages.remove(message_key(conv, 4)).unwrap();
    store.dedupe.remove(dedupe_key("bob", "c7")).unwrap();
    let mut state: MemberState =
        records::decode(&store.members.get(member_key("cy", conv)).unwrap().unwrap()).unwrap();
    state.unread += 1;
    store
        .members
        .insert(member_key("cy", conv), encode(&state).unwrap())
        .unwrap();
    store
        .members
        .insert(
            member_key("zed", conv),
            encode(&MemberState::default()).unwrap(),
        )
        .unwrap();
    store.convs.insert(be(99), vec![7, 7]).unwrap();
    let report = store.check().unwrap();
    assert!(!report.is_ok());
    for kind in ["seq", "dedupe", "unread", "member", "undecodable"] {
        assert!(
            report.counts.contains_key(kind),
            "no {kind} problem in {:?}",
            report.lines
        );
    }
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("seqs 4..=4 are missing")),
        "{:?}",
        report.lines
    );
    assert!(
        report.lines.iter().any(|l| l.contains("format version 7")),
        "{:?}",
        report.lines
    );
}

#[test]
fn start_up_repair_fixes_what_is_derived() {
    let dir = tempfile::tempdir().unwrap();
    let (store, conv, _) = populated(dir.path(), 12);
    // the guard lags, the newest message lost its dedupe entry, an outsider has a
    // state, a member lost hers, an unread count is impossible, a position is too far
    store.last_seqs.insert(be(conv), &be(10)).unwrap();
    store.dedupe.remove(dedupe_key("ann", "c12")).unwrap();
    store.dedupe.remove(dedupe_key("cy", "c11")).unwrap();
    store
        .members
        .insert(
            member_key("zed", conv),
            encode(&MemberState::default()).unwrap(),
        )
        .unwrap();
    store.members.remove(member_key("cy", conv)).unwrap();
    let bad = MemberState {
        read_seq: 50,
        delivered_seq: 60,
        unread: 99,
        ..MemberState::default()
    };
    store
        .members
        .insert(member_key("bob", conv), encode(&bad).unwrap())
        .unwrap();
    store.meta.insert("next_conv", &be(0)).unwrap();
    assert!(!store.check().unwrap().is_ok());

    let outcome = store.repair_on_start().unwrap();
    assert!(
        outcome.unrepairable.is_empty(),
        "{:?}",
        outcome.unrepairable
    );
    assert!(outcome.repaired.len() >= 6, "{:?}", outcome.repaired);
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.lines);
    // a second pass finds nothing
    assert!(store.repair_on_start().unwrap().repaired.is_empty());
    assert_eq!(store.last_seq(conv).unwrap(), 12);
}

#[test]
fn missing_messages_are_reported_not_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let (store, conv, _) = populated(dir.path(), 5);
    store.messages.remove(message_key(conv, 5)).unwrap();
    let outcome = store.repair_on_start().unwrap();
    assert_eq!(outcome.unrepairable.len(), 1, "{:?}", outcome);
    // the guard stays: seq 5 is never handed to another message
    assert_eq!(store.last_seq(conv).unwrap(), 5);
}

/// Streams `store` into a fresh store in `into` and opens it.
fn copy_of(store: &Store, into: &Path) -> (Store, SnapshotSummary) {
    let mut importer = Importer::create(&into.join("store")).unwrap();
    let summary = store.snapshot(&mut importer, &mut |_| {}).unwrap();
    importer.finish().unwrap();
    (Store::open_existing(&options(into)).unwrap(), summary)
}

#[test]
fn a_quiet_snapshot_copies_every_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = populated(dir.path(), 40);
    let other = tempfile::tempdir().unwrap();
    let (copy, summary) = copy_of(&store, other.path());
    assert_eq!(summary.overlay, 0);
    assert_eq!(store.dump_trees().unwrap(), copy.dump_trees().unwrap());
}

#[test]
fn a_snapshot_under_writes_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let (store, conv, names) = populated(dir.path(), 1);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (store, names, stop) = (store.clone(), names.clone(), stop.clone());
            thread::spawn(move || {
                // one conversation per writer plus the shared one, like a busy node
                let own = block_on(store.create_group(&names[w], "own", &names))
                    .unwrap()
                    .0;
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    // a busy node, not a benchmark: debug builds import slowly
                    thread::sleep(std::time::Duration::from_micros(300));
                    n += 1;
                    let target = if n.is_multiple_of(2) { own } else { conv };
                    // the shared conversation has several writers: retry on a seq conflict
                    let next = store.last_seq(target).unwrap() + 1;
                    let _ =
                        store.append(target, next, &text(&names[w], &format!("w{w}-{n}")), &names);
                    if n.is_multiple_of(7) {
                        let last = store.last_seq(target).unwrap();
                        let _ = store.update_member_state(&names[(w + 1) % 3], target, |s| {
                            s.delivered_seq = s.delivered_seq.max(last);
                        });
                    }
                }
            })
        })
        .collect();
    thread::sleep(std::time::Duration::from_millis(50));
    let mut copies = Vec::new();
    for _ in 0..2 {
        let other = tempfile::tempdir().unwrap();
        let copy = copy_of(&store, other.path());
        copies.push((other, copy));
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    for (_, (copy, _)) in &copies {
        let report = copy.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.lines);
        assert!(report.stats.messages > 1);
    }
    let replayed: u64 = copies.iter().map(|(_, (_, s))| s.overlay).sum();
    assert!(replayed > 0, "the writers wrote during the snapshots");
    // the original, quiet now, copies exactly
    let other = tempfile::tempdir().unwrap();
    let (copy, _) = copy_of(&store, other.path());
    assert_eq!(store.dump_trees().unwrap(), copy.dump_trees().unwrap());
}

#[test]
fn a_failed_flush_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, conv, names) = populated(dir.path(), 1);
    store.commit.poison_for_tests();
    let err = store
        .append(conv, 2, &text("ann", "late"), &names)
        .unwrap_err();
    assert!(err.to_string().contains("internal"));
    assert_eq!(store.last_seq(conv).unwrap(), 1);
}

#[test]
fn a_newer_store_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(&options(dir.path())).unwrap();
        store
            .meta
            .insert("format_version", &[FORMAT_VERSION + 1])
            .unwrap();
        store.flush_now().unwrap();
    }
    for opened in [
        Store::open(&options(dir.path())),
        Store::open_existing(&options(dir.path())),
    ] {
        let Err(Error::Internal(msg)) = opened else {
            panic!("a newer store was opened")
        };
        assert!(msg.contains("newer than this build"), "{msg}");
    }
}

/// A batch writes what it can: a refused message changes nothing, every message of its
/// conversation after it is refused too (its seq is no longer next), and the rest of
/// the batch, other conversations included, is written.
#[test]
fn a_refused_message_in_a_batch_leaves_the_rest_consistent() {
    let dir = tempfile::tempdir().unwrap();
    // message 1 is bob's "c1", message 2 cy's "c2"
    let (store, conv, names) = populated(dir.path(), 2);
    let other = block_on(store.create_group("bob", "h", &names)).unwrap().0;
    let members: Arc<[String]> = names.clone().into();
    let new = |conv, seq, sender: &str, client_id: &str| NewMessage {
        conv,
        seq,
        record: text(sender, client_id),
        members: members.clone(),
    };
    let unread_before = store.member_state("bob", conv).unwrap().unwrap().unread;
    let batch = vec![
        new(conv, 3, "ann", "fresh"),
        new(conv, 4, "bob", "c1"),
        new(conv, 5, "ann", "later"),
        new(other, 1, "cy", "elsewhere"),
        new(other, 2, "cy", "elsewhere"),
        new(conv, 4, "ann", "again"),
    ];
    let (outcomes, _ticket) = store.append_batch(&batch).unwrap();
    assert_eq!(
        outcomes,
        vec![
            None,
            Some(Refused::ClientIdTaken),
            Some(Refused::SeqTaken { store_at: 3 }),
            None,
            Some(Refused::ClientIdTaken),
            None,
        ]
    );
    assert_eq!(store.last_seq(conv).unwrap(), 4);
    assert_eq!(store.last_seq(other).unwrap(), 1);
    assert_eq!(store.message(conv, 4).unwrap().unwrap().client_id, "again");
    assert!(store.message(conv, 5).unwrap().is_none());
    assert_eq!(store.dedupe("bob", "c1").unwrap(), Some((conv, 1)));
    assert_eq!(store.dedupe("ann", "later").unwrap(), None);
    assert_eq!(store.dedupe("cy", "elsewhere").unwrap(), Some((other, 1)));
    let bob = store.member_state("bob", conv).unwrap().unwrap();
    assert_eq!(
        bob.unread,
        unread_before + 2,
        "only ann's two stored messages count"
    );
    assert!(store.check().unwrap().is_ok());
}

/// The group commit numbers queued messages itself: each takes its conversation's next
/// seq in queue order, and a retry of a stored (sender, client_id), even one queued
/// right behind its first copy or sent to another conversation, takes no seq and is
/// answered with the first copy's place.
#[test]
fn queued_messages_take_gapless_seqs_and_retries_take_none() {
    let dir = tempfile::tempdir().unwrap();
    // message 1 is bob's "c1", message 2 cy's "c2"
    let (store, conv, names) = populated(dir.path(), 2);
    let other = block_on(store.create_group("bob", "h", &names)).unwrap().0;
    let members: Arc<[String]> = names.clone().into();
    let queue = [
        (conv, "ann", "x1"),
        (conv, "ann", "x1"),
        (conv, "bob", "c1"),
        (conv, "ann", "x2"),
        (other, "ann", "x2"),
        (other, "cy", "y1"),
    ];
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, (c, sender, client_id)) in queue.into_iter().enumerate() {
        let tx = tx.clone();
        let message = QueuedMessage {
            conv: c,
            record: text(sender, client_id),
            members: members.clone(),
        };
        store.queue(
            QueuedWrite::Message(message),
            Box::new(move |landed| {
                let _ = tx.send((i, landed));
            }),
        );
    }
    drop(tx);
    let mut landed: Vec<(usize, Landed)> = rx.iter().map(|(i, l)| (i, l.unwrap())).collect();
    landed.sort_by_key(|(i, _)| *i);
    let places: Vec<(u64, u64, bool)> = landed
        .iter()
        .map(|(_, l)| match l {
            Landed::Stored { seq, record } => {
                let c = if record.client_id == "y1" {
                    other
                } else {
                    conv
                };
                (c, *seq, true)
            }
            Landed::Duplicate { conv, seq, .. } => (*conv, *seq, false),
            other => panic!("a message landed as {other:?}"),
        })
        .collect();
    assert_eq!(
        places,
        vec![
            (conv, 3, true),
            (conv, 3, false),
            (conv, 1, false),
            (conv, 4, true),
            (conv, 4, false),
            (other, 1, true),
        ]
    );
    let Landed::Duplicate { ts, .. } = &landed[2].1 else {
        panic!("bob's c1 was stored again")
    };
    assert_eq!(*ts, store.message(conv, 1).unwrap().unwrap().ts);
    assert_eq!(store.last_seq(conv).unwrap(), 4);
    assert_eq!(store.last_seq(other).unwrap(), 1);
    assert_eq!(store.message(conv, 4).unwrap().unwrap().client_id, "x2");

    // A queued `delivered` moves the member's position and says where it was; a
    // non-member's is refused.
    let (tx, rx) = std::sync::mpsc::channel();
    for user in ["bob", "zed"] {
        let tx = tx.clone();
        let mark = DeliveredMark {
            user: user.into(),
            conv,
            upto: 4,
        };
        store.queue(
            QueuedWrite::Delivered(mark),
            Box::new(move |landed| {
                let _ = tx.send((user, landed));
            }),
        );
    }
    drop(tx);
    for (user, landed) in rx.iter() {
        match user {
            "bob" => assert_eq!(
                landed.unwrap(),
                Landed::Delivered {
                    user: "bob".into(),
                    before: 1,
                    upto: 4
                }
            ),
            _ => assert!(matches!(landed, Err(Error::NoSuchConversation))),
        }
    }
    assert_eq!(
        store
            .member_state("bob", conv)
            .unwrap()
            .unwrap()
            .delivered_seq,
        4
    );
    assert!(store.check().unwrap().is_ok());
}

/// Search walks all conversations together, newest first, and stops at its budget.
#[test]
fn search_merges_conversations_newest_first_within_a_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (store, first, names) = populated(dir.path(), 0);
    let second = block_on(store.create_group("bob", "h", &names)).unwrap().0;
    // ts 1..=8, alternating conversations; odd ts mention "tea"
    let mut seqs = [0u64; 2];
    for ts in 1..=8u64 {
        let which = (ts % 2) as usize;
        seqs[which] += 1;
        let mut record = text("ann", &format!("s{ts}"));
        record.ts = ts;
        record.body = if ts % 2 == 1 {
            format!("Tea at {ts}")
        } else {
            format!("coffee {ts}")
        };
        let conv = [first, second][which];
        let _ = store.append(conv, seqs[which], &record, &names).unwrap();
    }
    let convs = [first, second];
    let ts_of = |found: &SearchHits| found.hits.iter().map(|m| m.ts).collect::<Vec<_>>();

    let found = store.search(&convs, "TEA", 3, 1000).unwrap();
    assert_eq!(ts_of(&found), [7, 5, 3]);
    assert!(found.complete, "limit reached: nothing newer was missed");
    let found = store.search(&convs, "at", 10, 1000).unwrap();
    assert_eq!(ts_of(&found), [7, 5, 3, 1]);
    assert!(found.complete, "every message looked at");
    // a budget of 3 looks at ts 8, 7, 6 only
    let found = store.search(&convs, "tea", 10, 3).unwrap();
    assert_eq!(ts_of(&found), [7]);
    assert!(!found.complete, "older messages were not looked at");
    assert!(store.search(&[], "tea", 10, 3).unwrap().complete);
}

#[test]
fn a_store_emptier_than_its_marks_is_refused_and_put_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, conv, _) = populated(dir.path(), 20);
    store.mark_seen().unwrap();
    store.flush_now().unwrap();
    drop(store);
    // what a damaging recovery leaves: the newest messages and the guard gone, no clean stop
    {
        let db = sled::open(dir.path().join("store")).unwrap();
        let messages = db.open_tree("convseq_message").unwrap();
        for seq in 11..=20 {
            messages.remove(message_key(conv, seq)).unwrap();
        }
        db.open_tree("convid_lastseq")
            .unwrap()
            .insert(be(conv), &be(10))
            .unwrap();
        db.flush().unwrap();
    }
    std::fs::remove_file(dir.path().join("store.clean")).unwrap();
    let e = Store::open(&options(dir.path())).err().expect("refused");
    let msg = check::detail(&e);
    assert!(
        msg.contains("emptier than it was: 10 messages where it had 20"),
        "{msg}"
    );
    assert!(!dir.path().join("store.clean").exists());
    // the refusal stands on the next start too (nothing was re-marked)
    assert!(Store::open(&options(dir.path())).is_err());
}

/// Every entry of `conv`, oldest first, as pages of 7 read both ways.
fn all_pages(store: &Store, conv: u64) -> (Vec<MessageView>, Vec<MessageView>) {
    let (mut up, mut down) = (Vec::new(), Vec::new());
    loop {
        let after = up.last().map_or(0, |m: &MessageView| m.seq);
        let page = store.page_after(conv, after, 7).unwrap();
        up.extend(page.messages);
        if !page.has_more {
            break;
        }
    }
    let mut before = None;
    loop {
        let page = store.page_before(conv, before, 7).unwrap();
        before = page.messages.first().map(|m| m.seq);
        down.splice(0..0, page.messages);
        if !page.has_more {
            break;
        }
    }
    (up, down)
}

#[test]
fn sealing_and_expiry_keep_every_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (store, conv, names) = populated(dir.path(), 500);
    let (before, _) = all_pages(&store, conv);
    let mut sealed = 0;
    while let Some(step) = store.seal_next(conv).unwrap() {
        sealed += step.entries;
    }
    // chunks of 128 with at least 64 newer: 1..=384
    assert_eq!(sealed, 384);
    assert_eq!(store.compaction_state(conv).unwrap().sealed_upto, 384);
    let (up, down) = all_pages(&store, conv);
    assert_eq!(up, before);
    assert_eq!(down, before);
    assert_eq!(
        store.count_unread(conv, "ann", 100, 450).unwrap(),
        (101..=450).filter(|s| s % 3 != 0).count() as u64
    );
    // an event on a sealed entry rewrites its chunk
    let mut edit = text("bob", "e1");
    edit.kind = StoredKind::Edit;
    edit.target = Some(4);
    edit.body = "four, edited".into();
    assert!(matches!(
        queued(&store, event(conv, edit, u64::MAX, &names)).unwrap(),
        Landed::Event { seq: 501, .. }
    ));
    assert_eq!(
        store.message(conv, 4).unwrap().unwrap().body,
        "four, edited"
    );
    // expiry of the oldest 200: chunk 1 goes, chunk 2 keeps 201..=256
    let batch = store.expire_batch(conv, u64::MAX, 200).unwrap().unwrap();
    assert_eq!((batch.upto, batch.deleted), (200, 200));
    let (up, _) = all_pages(&store, conv);
    assert_eq!(up.first().map(|m| m.seq), Some(201));
    assert_eq!(up.len(), 301);
    assert_eq!(up[..300], before[200..]);
    store.flush_now().unwrap();
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.lines);
    assert_eq!(report.stats.chunks, 2);
    // dedupe pruning: everything is older than a cutoff in the future
    let mut pruned = 0;
    while let Some(step) = store.prune_dedupe_next(conv, u64::MAX, 0).unwrap() {
        pruned += step.entries;
    }
    assert_eq!(pruned, 301);
    assert!(store.dedupe("cy", "c201").unwrap().is_none());
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn pruning_records_when_it_is_next_due() {
    let dir = tempfile::tempdir().unwrap();
    let (store, conv, _) = populated(dir.path(), 200);
    let oldest = store.message(conv, 1).unwrap().unwrap().ts;
    let newest = store.message(conv, 200).unwrap().unwrap().ts;
    let window = 3_600_000;
    // nothing is out of the window yet: the first look records the oldest entry's time
    let look = store.prune_dedupe_next(conv, newest, window).unwrap();
    assert_eq!(look.map(|s| s.entries), Some(0));
    assert_eq!(
        store.compaction_state(conv).unwrap().unpruned_since_ms,
        oldest
    );
    // from then on, until it falls out, the state alone answers
    assert!(store
        .prune_dedupe_next(conv, oldest + window - 1, window)
        .unwrap()
        .is_none());
    assert!(store.dedupe("bob", "c1").unwrap().is_some());
    // once it is out, pruning reads on and records the next due time
    let now = newest + window + 1;
    let mut pruned = 0;
    while let Some(step) = store.prune_dedupe_next(conv, now, window).unwrap() {
        pruned += step.entries;
    }
    assert_eq!(pruned, 200);
    let state = store.compaction_state(conv).unwrap();
    assert_eq!(state.deduped_upto, 200);
    // nothing follows: no entry is older than the moment it looked
    assert_eq!(state.unpruned_since_ms, now);
    assert!(store.check().unwrap().is_ok());
}
