//! Wire views built from stored records: what one member sees of a conversation.

use crate::error::Result;
use std::collections::BTreeMap;

use crate::protocol::{ConvKind, ConversationView, Receipt};
use crate::store::{ConvRecord, MemberState, Store};

/// The conversation object for `user`, showing messages up to `last_seq`.
///
/// `last_seq` is passed in so the conversation actor can show only what is durable.
pub fn conversation_view(
    store: &Store,
    conv: u64,
    record: &ConvRecord,
    state: &MemberState,
    user: &str,
    last_seq: u64,
) -> Result<ConversationView> {
    // events (edits, reactions, recalls) never become the last message
    let last_message = match last_seq {
        0 => None,
        seq => store.last_message(conv, seq)?,
    };
    let kind = record.kind.wire();
    let peer = match kind {
        ConvKind::Group => None,
        ConvKind::Direct => record.members.iter().find(|m| m.as_str() != user),
    };
    let name = match kind {
        ConvKind::Group => record.name.clone(),
        ConvKind::Direct => peer.cloned().unwrap_or_else(|| user.to_string()),
    };
    let peer_state = match peer {
        Some(peer) => store.member_state(peer, conv)?,
        None => None,
    };
    // the stored record: retention moves first_seq under an actor's cached copy
    let first_seq = store
        .conversation(conv)?
        .map_or(record.first_seq, |r| r.first_seq.max(record.first_seq))
        .clamp(1, last_seq + 1);
    let receipts = receipts(store, conv, record, user, last_seq)?;
    Ok(ConversationView {
        conv,
        kind,
        first_seq,
        name,
        members: record.members.clone(),
        last_seq,
        last_message,
        unread: state.unread,
        mentions: state.mentions,
        pinned: state.pinned,
        muted: state.muted,
        owner: (kind == ConvKind::Group).then(|| record.owner.clone()),
        admins: match kind {
            ConvKind::Group => record.admins.clone(),
            ConvKind::Direct => Vec::new(),
        },
        read_seq: state.read_seq.min(last_seq),
        delivered_seq: state.delivered_seq.min(last_seq),
        peer_read_seq: peer_state.as_ref().map(|s| s.read_seq.min(last_seq)),
        peer_delivered_seq: peer_state.as_ref().map(|s| s.delivered_seq.min(last_seq)),
        receipts,
    })
}

/// Each other member's delivered and read positions, capped at `last_seq` like ours.
/// A member whose state is missing shows 0 for both.
fn receipts(
    store: &Store,
    conv: u64,
    record: &ConvRecord,
    user: &str,
    last_seq: u64,
) -> Result<BTreeMap<String, Receipt>> {
    let mut out = BTreeMap::new();
    for member in record.members.iter().filter(|m| m.as_str() != user) {
        let r = match store.member_state(member, conv)? {
            Some(s) => Receipt {
                delivered: s.delivered_seq.max(s.read_seq).min(last_seq),
                read: s.read_seq.min(last_seq),
            },
            None => Receipt::default(),
        };
        out.insert(member.clone(), r);
    }
    Ok(out)
}

/// The view of `conv` for `user` as stored now; `None` if `user` is not a member.
pub fn current_view(store: &Store, conv: u64, user: &str) -> Result<Option<ConversationView>> {
    let Some(state) = store.member_state(user, conv)? else {
        return Ok(None);
    };
    let Some(record) = store.conversation(conv)? else {
        return Ok(None);
    };
    let last = store.last_seq(conv)?;
    conversation_view(store, conv, &record, &state, user, last).map(Some)
}
