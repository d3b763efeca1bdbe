//! Events: edits, reactions and recalls, each stored as the next seq of its
//! conversation, with the state of the message they change folded into that message in
//! the same transaction, so that no reader ever scans events to show a message.

use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::codec::member_key;
use super::history::{tx_entry, tx_put_entry};
use super::messages::{duplicate_of, put_message, stored_copy, tx_last_seq, MessageTrees, Placed};
use super::tx::{tx_decode, tx_encode};
use super::StoredKind;
use super::{MemberState, MessageRecord};
use crate::error::Error;

/// Most distinct emoji on one message (PROTOCOL.md: `too_large` past it).
pub const MAX_REACTIONS: usize = 20;

/// An event for the group commit to check, number and write ([`Store::queue`](super::Store::queue)).
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    /// Conversation.
    pub conv: u64,
    /// The event: kind `edit`, `reaction` or `recall`, `target` set, `ts` = now.
    pub record: MessageRecord,
    /// How long after the target was sent the event is allowed, ms (edit and recall).
    pub window_ms: u64,
    /// The conversation's members (whose unread a recall takes back).
    pub members: Arc<[String]>,
}

/// One member's counters after a recall took a message out of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Who.
    pub user: String,
    /// Unread now.
    pub unread: u64,
    /// Unread mentions now.
    pub mentions: u64,
}

/// Applies `event` to its `target`: `Ok(true)` if the event is to be stored, `Ok(false)`
/// if it would change nothing and is not stored (a second recall), or why it is refused.
/// The one place that says who may change what.
pub(super) fn fold(
    target: &mut MessageRecord,
    event: &MessageRecord,
    window_ms: u64,
) -> Result<bool, Error> {
    let too_late =
        |window_ms: u64| window_ms == 0 || event.ts.saturating_sub(target.ts) > window_ms;
    match event.kind {
        StoredKind::Edit => {
            if target.sender != event.sender {
                return Err(Error::NotSender);
            }
            if target.kind != StoredKind::Text || target.recalled {
                return Err(Error::NotEditable(
                    "only text messages that are not recalled can be edited".into(),
                ));
            }
            if too_late(window_ms) {
                return Err(Error::EditWindowPassed);
            }
            target.body.clone_from(&event.body);
            target.edited_ts = Some(event.ts);
        }
        StoredKind::Reaction => {
            if target.kind.is_event() || target.kind == StoredKind::System || target.recalled {
                return Err(Error::NotEditable(
                    "events, system and recalled messages take no reactions".into(),
                ));
            }
            let emoji = &event.body;
            let at = target.reactions.iter().position(|(e, _)| e == emoji);
            match (event.on.unwrap_or(true), at) {
                (true, Some(i)) => {
                    let users = &mut target.reactions[i].1;
                    if !users.contains(&event.sender) {
                        users.push(event.sender.clone());
                    }
                }
                (true, None) => {
                    if target.reactions.len() >= MAX_REACTIONS {
                        return Err(Error::TooLarge(format!(
                            "a message takes at most {MAX_REACTIONS} distinct emoji"
                        )));
                    }
                    target
                        .reactions
                        .push((emoji.clone(), vec![event.sender.clone()]));
                }
                (false, Some(i)) => {
                    target.reactions[i].1.retain(|u| *u != event.sender);
                    if target.reactions[i].1.is_empty() {
                        target.reactions.remove(i);
                    }
                }
                (false, None) => {}
            }
        }
        StoredKind::Recall => {
            if target.kind.is_event() {
                return Err(Error::NotEditable("events cannot be recalled".into()));
            }
            if target.sender != event.sender || target.kind == StoredKind::System {
                return Err(Error::NotSender);
            }
            if event.ts.saturating_sub(target.ts) > window_ms {
                return Err(Error::RecallWindowPassed);
            }
            if target.recalled {
                return Ok(false);
            }
            target.recalled = true;
            target.body.clear();
            target.media_url = None;
            target.reactions.clear();
        }
        _ => return Err(Error::Internal("not an event kind".into())),
    }
    Ok(true)
}

/// Writes queued event `e` as the next seq of its conversation with its target's new
/// state, or writes nothing: a retry of a stored (sender, client_id) is placed where
/// the first copy is, a refused event says why, a second recall is `Unchanged`.
pub(super) fn write_event(
    trees: MessageTrees<'_>,
    e: &QueuedEvent,
    encoded: &[u8],
) -> Result<Placed, ConflictableTransactionError<Error>> {
    if let Some((conv, seq)) = stored_copy(trees.dedupe, &e.record)? {
        return duplicate_of(trees, conv, seq);
    }
    let target_seq = e.record.target.unwrap_or(0);
    let Some((mut target, slot)) = tx_entry(trees.messages, trees.chunks, e.conv, target_seq)?
    else {
        return Ok(Placed::Refused(Error::bad("no such message")));
    };
    let before = target.clone();
    match fold(&mut target, &e.record, e.window_ms) {
        Ok(true) => {}
        Ok(false) => return Ok(Placed::Unchanged),
        Err(refused) => return Ok(Placed::Refused(refused)),
    }
    let seq = tx_last_seq(trees.last_seqs, e.conv)? + 1;
    put_message(trees, e.conv, seq, &e.record, encoded, &e.members)?;
    if target != before {
        tx_put_entry(
            trees.messages,
            trees.chunks,
            e.conv,
            target_seq,
            &target,
            slot,
        )?;
    }
    let counts = match e.record.kind {
        StoredKind::Recall => take_back(trees.members, e.conv, target_seq, &before, &e.members)?,
        _ => Vec::new(),
    };
    Ok(Placed::Event { seq, counts })
}

/// Takes recalled message `seq` (as it was: `was`) out of the unread and mentions
/// counters of the members who had not read it; their new counters.
fn take_back(
    members: &TransactionalTree,
    conv: u64,
    seq: u64,
    was: &MessageRecord,
    names: &[String],
) -> Result<Vec<Counts>, ConflictableTransactionError<Error>> {
    let mut changed = Vec::new();
    for name in names.iter().filter(|m| was.counts_as_unread_for(m)) {
        let key = member_key(name, conv);
        let Some(v) = members.get(&key)? else {
            continue;
        };
        let mut state: MemberState = tx_decode(&v)?;
        if state.read_seq >= seq || state.unread == 0 {
            continue;
        }
        state.unread -= 1;
        if was.mentions_for(name) {
            state.mentions = state.mentions.saturating_sub(1);
        }
        members.insert(key, tx_encode(&state)?)?;
        changed.push(Counts {
            user: name.clone(),
            unread: state.unread,
            mentions: state.mentions,
        });
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(sender: &str, kind: StoredKind, ts: u64) -> MessageRecord {
        MessageRecord {
            sender: sender.into(),
            client_id: "m".into(),
            kind,
            body: "hello".into(),
            ts,
            ..Default::default()
        }
    }

    fn event(sender: &str, kind: StoredKind, body: &str, on: Option<bool>) -> MessageRecord {
        MessageRecord {
            sender: sender.into(),
            kind,
            body: body.into(),
            ts: 1_000,
            target: Some(1),
            on,
            ..Default::default()
        }
    }

    #[test]
    fn edits_are_the_senders_own_text_within_the_window() {
        let edit = event("ann", StoredKind::Edit, "new", None);
        let mut m = message("ann", StoredKind::Text, 900);
        assert!(matches!(fold(&mut m, &edit, 100), Ok(true)));
        assert_eq!((m.body.as_str(), m.edited_ts), ("new", Some(1_000)));
        let code = |r: Result<bool, Error>| r.map_err(|e| e.code());
        let mut m = message("bob", StoredKind::Text, 900);
        assert_eq!(code(fold(&mut m, &edit, 100)), Err("not_sender"));
        let mut m = message("ann", StoredKind::Image, 900);
        assert_eq!(code(fold(&mut m, &edit, 100)), Err("not_editable"));
        let mut m = message("ann", StoredKind::Reaction, 900);
        assert_eq!(code(fold(&mut m, &edit, 100)), Err("not_editable"));
        let mut m = message("ann", StoredKind::Text, 899);
        assert_eq!(code(fold(&mut m, &edit, 100)), Err("edit_window_passed"));
        let mut m = message("ann", StoredKind::Text, 1_000);
        assert_eq!(code(fold(&mut m, &edit, 0)), Err("edit_window_passed"));
    }

    #[test]
    fn reactions_are_a_set_per_emoji_in_reaction_order() {
        let mut m = message("ann", StoredKind::Text, 900);
        for (who, emoji, on) in [
            ("bob", "👍", true),
            ("ann", "👍", true),
            ("bob", "👍", true),
            ("ann", "🎉", true),
            ("bob", "🎉", false),
            ("ann", "🎉", false),
        ] {
            let r = event(who, StoredKind::Reaction, emoji, Some(on));
            assert!(matches!(fold(&mut m, &r, 0), Ok(true)));
        }
        assert_eq!(
            m.reactions,
            vec![("👍".to_string(), vec!["bob".to_string(), "ann".to_string()])]
        );
        for i in 1..MAX_REACTIONS {
            let r = event("bob", StoredKind::Reaction, &format!("e{i}"), Some(true));
            assert!(matches!(fold(&mut m, &r, 0), Ok(true)));
        }
        let past = event("bob", StoredKind::Reaction, "one more", Some(true));
        assert_eq!(
            fold(&mut m, &past, 0).map_err(|e| e.code()),
            Err("too_large")
        );
        let mut sys = message("ann", StoredKind::System, 900);
        assert_eq!(
            fold(&mut sys, &past, 0).map_err(|e| e.code()),
            Err("not_editable")
        );
    }

    #[test]
    fn a_recall_empties_the_message_once() {
        let recall = event("ann", StoredKind::Recall, "", None);
        let mut m = message("ann", StoredKind::Text, 900);
        m.reactions.push(("👍".into(), vec!["bob".into()]));
        assert!(matches!(fold(&mut m, &recall, 200), Ok(true)));
        assert!(m.recalled && m.body.is_empty() && m.reactions.is_empty());
        assert!(matches!(fold(&mut m, &recall, 200), Ok(false)));
        let mut m = message("bob", StoredKind::Text, 900);
        assert_eq!(
            fold(&mut m, &recall, 200).map_err(|e| e.code()),
            Err("not_sender")
        );
        let mut m = message("ann", StoredKind::Text, 100);
        assert_eq!(
            fold(&mut m, &recall, 200).map_err(|e| e.code()),
            Err("recall_window_passed")
        );
    }
}
