//! Migrations on the format-1 fixture (tests/fixtures/v1-store, written by chatnode
//! 0.1.0): completed, interrupted and resumed, refused when newer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use super::super::codec::{member_key, message_key};
use super::super::records::{self, layout_of};
use super::super::*;
use super::{FormatState, FORMAT_KEY, MIGRATING_KEY};
use crate::config::Durability;

fn options(dir: &Path) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_path_buf(),
        durability: Durability::Sync,
        cache_mb: 16,
        flush_every_ms: 100,
    }
}

/// The v1 fixture, unpacked into a temp dir (the data dir).
fn v1_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-store.tar.gz");
    let ok = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    dir
}

/// Every value of the six versioned trees is in layout 2.
fn all_layout2(store: &Store) {
    for tree in [
        &store.users,
        &store.tokens,
        &store.convs,
        &store.members,
        &store.media,
        &store.messages,
    ] {
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            assert_eq!(layout_of(&v), 2, "{:?} key {k:?}", tree.name());
        }
    }
}

#[test]
fn the_v1_fixture_migrates_and_checks_clean() {
    let dir = v1_fixture();
    {
        let old = Store::open_existing(&options(dir.path())).unwrap();
        assert_eq!(old.format_state().unwrap(), FormatState::Older(1));
        let report = old.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.lines);
        assert!(report.migration_pending());
    }
    let store = Store::open(&options(dir.path())).unwrap();
    assert_eq!(store.format_state().unwrap(), FormatState::Current);
    assert_eq!(store.interrupted_migration().unwrap(), None);
    all_layout2(&store);
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.lines);
    assert!(!report.migration_pending());
    assert_eq!(report.stats.messages, 10);
    let image = store.message(1, 3).unwrap().unwrap();
    assert_eq!(image.kind, StoredKind::Image);
    assert!(image.media_url.unwrap().starts_with("/media/"));
    assert!(store.message(1, 4).unwrap().unwrap().recalled);
    let trio = store.conversation(2).unwrap().unwrap();
    assert_eq!(
        (trio.owner.as_str(), trio.admins.len(), trio.first_seq),
        ("alice", 1, 1)
    );
    assert!(store.user("alice").unwrap().unwrap().admin);
    assert!(!store.user("bob").unwrap().unwrap().admin);
    let bob = store.member_state("bob", 1).unwrap().unwrap();
    assert_eq!((bob.read_seq, bob.delivered_seq, bob.unread), (2, 5, 2));
}

#[test]
fn an_interrupted_migration_completes_and_matches_a_clean_one() {
    let clean = v1_fixture();
    let clean_dump = Store::open(&options(clean.path()))
        .unwrap()
        .dump_trees()
        .unwrap();
    let dir = v1_fixture();
    {
        // what a kill half-way leaves: the step marked, some values rewritten
        let store = Store::open_existing(&options(dir.path())).unwrap();
        store.meta.insert(MIGRATING_KEY, &[2]).unwrap();
        for seq in 1..=3 {
            let key = message_key(1, seq);
            let m: MessageRecord =
                records::decode(&store.messages.get(key).unwrap().unwrap()).unwrap();
            store
                .messages
                .insert(key, records::encode(&m).unwrap())
                .unwrap();
        }
        let key = member_key("bob", 1);
        let s: MemberState = records::decode(&store.members.get(&key).unwrap().unwrap()).unwrap();
        store
            .members
            .insert(key, records::encode(&s).unwrap())
            .unwrap();
        store.flush_now().unwrap();
        let report = store.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.lines);
        assert_eq!(report.interrupted, Some(2));
        assert_eq!(report.format, Some(1));
    }
    let store = Store::open(&options(dir.path())).unwrap();
    assert_eq!(store.format_state().unwrap(), FormatState::Current);
    all_layout2(&store);
    assert_eq!(store.dump_trees().unwrap(), clean_dump);
    // and running the step once more changes nothing
    let mut progress = crate::progress::Progress::delayed("migrate", 0, "values");
    super::v1_to_v2::run(&store, &mut progress).unwrap();
    assert_eq!(store.dump_trees().unwrap(), clean_dump);
}

#[test]
fn a_newer_store_is_refused_and_left_as_it_was() {
    let dir = v1_fixture();
    {
        let store = Store::open_existing(&options(dir.path())).unwrap();
        store.meta.insert(FORMAT_KEY, &[9]).unwrap();
        store.flush_now().unwrap();
    }
    // sled's own recovery may rewrite its log files on open; what is compared is
    // every key and value
    let dump = || {
        let db = sled::open(dir.path().join("store")).unwrap();
        let mut all = Vec::new();
        for name in db.tree_names() {
            for kv in db.open_tree(&name).unwrap().iter() {
                let (k, v) = kv.unwrap();
                all.push((name.to_vec(), k.to_vec(), v.to_vec()));
            }
        }
        all
    };
    let before = dump();
    let e = Store::open(&options(dir.path())).err().expect("refused");
    let msg = check_detail(&e);
    assert!(msg.contains("format version 9"), "{msg}");
    assert!(msg.contains(&format!("({FORMAT_VERSION})")), "{msg}");
    assert!(dump() == before, "the refused store was changed");
}

#[test]
fn an_unreadable_version_or_value_is_an_error_not_a_panic() {
    let dir = v1_fixture();
    {
        let store = Store::open_existing(&options(dir.path())).unwrap();
        store.meta.insert(FORMAT_KEY, &[1, 0]).unwrap();
        store.flush_now().unwrap();
    }
    let e = Store::open(&options(dir.path())).err().expect("refused");
    assert!(
        check_detail(&e).contains("unreadable"),
        "{}",
        check_detail(&e)
    );

    let dir = v1_fixture();
    {
        let store = Store::open_existing(&options(dir.path())).unwrap();
        store
            .messages
            .insert(message_key(1, 2), vec![1, 0xff])
            .unwrap();
        store.flush_now().unwrap();
    }
    let e = Store::open(&options(dir.path())).err().expect("refused");
    let msg = check_detail(&e);
    assert!(msg.contains("unchanged in format 1"), "{msg}");
    let store = Store::open_existing(&options(dir.path())).unwrap();
    assert_eq!(store.format_state().unwrap(), FormatState::Older(1));
}

fn check_detail(e: &crate::error::Error) -> String {
    super::super::check::detail(e)
}
