//! `chatnode repair`'s recount of unread: every member state's `unread` set to the
//! count of messages after its `read_seq` that count as unread for it, where the two
//! disagree (`chatnode check` reports these as `unread` problems). It reads every
//! member's unread range, so it runs on a stopped store, not at start-up.

use super::codec::{decode, read_be};
use super::{MemberState, Store};
use crate::error::Result;

impl Store {
    /// Recounts `unread` of every member state whose count disagrees with its
    /// `read_seq`; one line per state changed. Durable when it returns.
    pub fn recount_unread(&self) -> Result<Vec<String>> {
        let mut changed = Vec::new();
        for kv in self.members.iter() {
            let (k, v) = kv?;
            let Some(at) = k.iter().position(|b| *b == 0) else {
                continue;
            };
            let user = String::from_utf8_lossy(&k[..at]).into_owned();
            let conv = read_be(&k[at + 1..])?;
            let state: MemberState = decode(&v)?;
            let last = self.last_seq(conv)?;
            let want = self.count_unread(conv, &user, state.read_seq.min(last), last)?;
            if want == state.unread {
                continue;
            }
            let _ = self.update_member_state(&user, conv, |s| s.unread = want)?;
            changed.push(format!(
                "{user:?} in conversation {conv}: unread {} recounted {want} (read seq {})",
                state.unread, state.read_seq
            ));
        }
        if !changed.is_empty() {
            self.flush_now()?;
        }
        Ok(changed)
    }
}
