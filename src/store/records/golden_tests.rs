//! Golden bytes: every layout of every record, pinned. Layout 1 bytes are real values
//! copied from tests/fixtures/v1-store (written by chatnode 0.1.0, store format 1); layout
//! 2 bytes are what this build writes. If one of these fails, an existing encoding
//! changed: add a new layout instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn bytes(h: &str) -> Vec<u8> {
    hex::decode(h).unwrap()
}

/// `record` encodes to `golden` and `golden` decodes back to `record`.
fn pinned<T: Versioned + PartialEq + std::fmt::Debug>(record: &T, golden: &str) {
    assert_eq!(
        hex::encode(encode(record).unwrap()),
        golden,
        "the layout-{} encoding of a {} changed",
        T::LAYOUT,
        T::NAME
    );
    assert_eq!(&decode::<T>(&bytes(golden)).unwrap(), record);
}

// ---- layout 1: read as they were written ------------------------------------------

#[test]
fn layout1_messages_decode() {
    // alice's image in the direct chat (fixture conv 1, seq 3)
    let m: MessageRecord = decode(&bytes("0105616c696365026132010001272f6d656469612f6163316664313566363863656237353130616334343738306461383939353832fde0a9144ea201000000")).unwrap();
    assert_eq!(
        m,
        MessageRecord {
            sender: "alice".into(),
            client_id: "a2".into(),
            kind: StoredKind::Image,
            body: String::new(),
            media_url: Some("/media/ac1fd15f68ceb7510ac44780da899582".into()),
            ts: 1_796_606_306_784,
            ..MessageRecord::default()
        }
    );
    // the recalled one (seq 4)
    let m: MessageRecord =
        decode(&bytes("0105616c696365026133000000fde2a9144ea201000001")).unwrap();
    assert!(m.recalled && m.body.is_empty() && m.kind == StoredKind::Text);
    // a system message (conv 2, seq 2): tag 4
    let m: MessageRecord = decode(&bytes(
        "0105616c696365000411616c696365206164646564206361726f6c00fd1aaa144ea201000000",
    ))
    .unwrap();
    assert_eq!(m.kind, StoredKind::System);
    assert_eq!(m.body, "alice added carol");
    assert_eq!(
        (m.reply_to, m.mentions.len(), m.edited_ts, m.target, m.on),
        (None, 0, None, None, None)
    );
}

#[test]
fn layout1_conversation_decodes_with_roles_derived() {
    let c: ConvRecord = decode(&bytes(
        "0101047472696f0305616c69636503626f62056361726f6c05616c696365fd16aa144ea2010000",
    ))
    .unwrap();
    assert_eq!(c.kind, StoredConvKind::Group);
    assert_eq!(c.name, "trio");
    assert_eq!(c.members, ["alice", "bob", "carol"]);
    assert_eq!(c.owner, "alice");
    assert_eq!(c.admins, ["alice"]);
    assert_eq!(c.joined, ["alice", "bob", "carol"]);
    assert_eq!(c.first_seq, 1);
    let d: ConvRecord = decode(&bytes(
        "0100000205616c69636503626f6205616c696365fdd3a9144ea2010000",
    ))
    .unwrap();
    assert_eq!(d.kind, StoredConvKind::Direct);
    assert_eq!(d.joined, ["alice", "bob"]);
}

#[test]
fn layout1_accounts_members_media_decode() {
    let t: TokenRecord = decode(&bytes("0103626f62fdd07193e8a2010000")).unwrap();
    assert_eq!(t.user, "bob");
    assert_eq!((t.created_ms, t.last_seen_ms, t.agent.as_str()), (0, 0, ""));
    let u: UserRecord = decode(&bytes("0161246172676f6e32696424763d3139246d3d31393435362c743d322c703d312471536d5059373236745868743163317a4f5a6e6c536724423843582f7430726e494975696835414462384e72354a674655714d6f6755695937696d53765932446c45fd59a9144ea2010000")).unwrap();
    assert!(u.password_hash.starts_with("$argon2id$"));
    assert!(!u.admin && !u.disabled && !u.deleted && u.display_name.is_none());
    let s: MemberState = decode(&bytes("010205020000")).unwrap();
    assert_eq!(
        s,
        MemberState {
            read_seq: 2,
            delivered_seq: 5,
            unread: 2,
            ..MemberState::default()
        }
    );
    let m: MediaRecord = decode(&bytes(
        "0105616c69636509696d6167652f706e6746fddfa9144ea2010000",
    ))
    .unwrap();
    assert_eq!((m.content_type.as_str(), m.size), ("image/png", 70));
    assert!(m.name.is_none() && !m.thumb);
}

// ---- layout 2: what this build writes ---------------------------------------------

#[test]
fn layout2_message() {
    let m = MessageRecord {
        sender: "bob".into(),
        client_id: "c9".into(),
        kind: StoredKind::Text,
        body: "hi @alice".into(),
        media_url: None,
        ts: 1_800_000_000_000,
        recalled: false,
        reply_to: Some(3),
        mentions: vec!["alice".into()],
        edited_ts: Some(1_800_000_000_500),
        reactions: vec![("👍".into(), vec!["alice".into(), "carol".into()])],
        target: None,
        on: None,
    };
    pinned(&m, "0203626f62026339000968692040616c69636500fd00505c18a30100000001030105616c69636501fdf4515c18a30100000104f09f918d0205616c696365056361726f6c0000");
    let event = MessageRecord {
        sender: "alice".into(),
        client_id: "r1".into(),
        kind: StoredKind::Reaction,
        body: "👍".into(),
        ts: 1_800_000_001_000,
        target: Some(7),
        on: Some(true),
        ..MessageRecord::default()
    };
    pinned(
        &event,
        "0205616c6963650272310704f09f918d00fde8535c18a3010000000000000001070101",
    );
}

#[test]
fn layout2_stored_kind_tags_are_fixed() {
    let tags: Vec<u8> = StoredKind::ALL.iter().map(|k| k.tag()).collect();
    assert_eq!(tags, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for k in StoredKind::ALL {
        let m = MessageRecord {
            kind: k,
            ..MessageRecord::default()
        };
        // layout byte, sender "", client_id "", then the kind's tag
        assert_eq!(encode(&m).unwrap()[3], k.tag());
    }
    assert_eq!(StoredConvKind::Direct.tag(), 0);
    assert_eq!(StoredConvKind::Group.tag(), 1);
    let unknown = bytes("0200000900000000000000000000");
    assert!(decode::<MessageRecord>(&unknown).is_err());
}

#[test]
fn layout2_conversation() {
    let c = ConvRecord {
        kind: StoredConvKind::Group,
        name: "trio".into(),
        members: vec!["alice".into(), "bob".into(), "carol".into()],
        creator: "alice".into(),
        created_ms: 1_800_000_000_000,
        owner: "bob".into(),
        admins: vec!["bob".into(), "carol".into()],
        joined: vec!["alice".into(), "carol".into(), "bob".into()],
        first_seq: 4,
    };
    pinned(&c, "0201047472696f0305616c69636503626f62056361726f6c05616c696365fd00505c18a301000003626f620203626f62056361726f6c0305616c696365056361726f6c03626f6204");
}

#[test]
fn layout2_user_and_token() {
    let u = UserRecord {
        password_hash: "$argon2id$x".into(),
        created_ms: 1_800_000_000_000,
        display_name: Some("Alice".into()),
        avatar_url: Some("/media/ab".into()),
        admin: true,
        disabled: false,
        deleted: true,
        last_seen_ms: 1_800_000_009_000,
    };
    pinned(&u, "020b246172676f6e3269642478fd00505c18a30100000105416c69636501092f6d656469612f6162010001fd28735c18a3010000");
    let t = TokenRecord {
        user: "alice".into(),
        expires_ms: 1_802_592_000_000,
        created_ms: 1_800_000_000_000,
        last_seen_ms: 1_800_000_005_000,
        agent: "Firefox".into(),
    };
    pinned(
        &t,
        "0205616c696365fd0018dbb2a3010000fd00505c18a3010000fd88635c18a30100000746697265666f78",
    );
}

#[test]
fn layout2_member_and_media() {
    let s = MemberState {
        read_seq: 120_000,
        delivered_seq: 123_400,
        unread: 56,
        pinned: true,
        hidden: false,
        mentions: 2,
        muted: true,
    };
    pinned(&s, "02fcc0d40100fc08e201003801000201");
    let m = MediaRecord {
        uploader: "alice".into(),
        content_type: "image/png".into(),
        size: 70,
        created_ms: 1_800_000_000_000,
        name: Some("cat.png".into()),
        width: Some(640),
        height: Some(480),
        thumb: true,
    };
    pinned(&m, "0205616c69636509696d6167652f706e6746fd00505c18a301000001076361742e706e6701fb800201fbe00101");
}

#[test]
fn newer_layouts_and_garbage_are_errors() {
    let mut newer = encode(&MemberState::default()).unwrap();
    newer[0] = MemberState::LAYOUT + 1;
    let e = decode::<MemberState>(&newer).unwrap_err().to_string();
    assert!(!e.is_empty());
    assert!(decode::<MemberState>(&[]).is_err());
    assert!(decode::<MemberState>(&[0]).is_err());
    // a layout-1 value with bytes after it
    assert!(decode::<MemberState>(&bytes("01020502000000")).is_err());
}

/// A chunk of two messages (layout 1 of chunks: zstd of the bincode of its entries).
fn two_message_chunk() -> ChunkRecord {
    let m = |seq: u64, body: &str| MessageRecord {
        sender: "alice".into(),
        client_id: format!("c{seq}"),
        kind: StoredKind::Text,
        body: body.into(),
        ts: 1_800_000_000_000 + seq,
        ..MessageRecord::default()
    };
    ChunkRecord {
        entries: vec![
            (129, encode(&m(129, "hello")).unwrap()),
            (130, encode(&m(130, "你好")).unwrap()),
        ],
    }
}

#[test]
fn layout1_chunk() {
    let chunk = two_message_chunk();
    let bytes_now = encode(&chunk).unwrap();
    assert_eq!(decode::<ChunkRecord>(&bytes_now).unwrap(), chunk);
    // zstd may compress differently in a later version; what must never change is that
    // these bytes, written by this build, decode to the same chunk
    let golden = "0128b52ffd204ed50100e4020281240205616c6963650463313239000568656c6c6f00fd81505c18a30100822533300006e4bda0e5a5bd00fd8203004ac99f14c4bfc009";
    assert_eq!(decode::<ChunkRecord>(&bytes(golden)).unwrap(), chunk);
    // a damaged chunk is an error, not a panic or a huge allocation
    let mut damaged = bytes(golden);
    damaged.truncate(20);
    assert!(decode::<ChunkRecord>(&damaged).is_err());
    let m: MessageRecord = decode(chunk.get(130).unwrap()).unwrap();
    assert_eq!(m.body, "你好");
    assert!(chunk.get(131).is_none());
}

#[test]
fn compaction_state_layouts() {
    // layout 1, as format 3 wrote it: sealed up to 384, deduped up to 200
    let old: CompactionState = decode(&bytes("01fb8001c8")).unwrap();
    assert_eq!(
        old,
        CompactionState {
            sealed_upto: 384,
            deduped_upto: 200,
            unpruned_since_ms: 0,
        }
    );
    pinned(
        &CompactionState {
            unpruned_since_ms: 1_796_606_306_784,
            ..old
        },
        "02fb8001c8fde0a9144ea2010000",
    );
}
