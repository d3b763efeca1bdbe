//! `chatnode repair`'s recount of unread: every member state's `unread` set to the
//! count of messages after its `read_seq` that count as unread for it, where the two
//! disagree (`chatnode check` reports these as `unread` problems). It reads every
//! member's unread range, so it runs on a stopped store, not at start-up.

use super::codec::read_be;
use super::records::decode;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::{MessageRecord, StoreOptions, UserRecord};
    use super::*;
    use crate::config::Durability;

    #[test]
    fn a_wrong_unread_is_recounted_and_the_store_checks_clean() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions {
            data_dir: dir.path().to_path_buf(),
            durability: Durability::Relaxed,
            cache_mb: 16,
            flush_every_ms: 100,
            backup_dir: dir.path().join("backups"),
        })
        .unwrap();
        let names: Vec<String> = vec!["ann".into(), "bob".into()];
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let conv = rt.block_on(async {
            for u in &names {
                assert!(store.create_user(u, &UserRecord::default()).await.unwrap());
            }
            store.create_group("ann", "g", &names).await.unwrap().0
        });
        for seq in 1..=5 {
            let record = MessageRecord {
                sender: "ann".into(),
                client_id: format!("c{seq}"),
                body: "hi".into(),
                ts: 1,
                ..MessageRecord::default()
            };
            let _ = store.append(conv, seq, &record, &names).unwrap();
        }
        // bob read up to 2, but his count was left as if he had read nothing
        let _ = store
            .update_member_state("bob", conv, |s| s.read_seq = 2)
            .unwrap();
        assert!(!store.check().unwrap().is_ok());

        let changed = store.recount_unread().unwrap();
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(changed[0].contains("unread 5 recounted 3"), "{changed:?}");
        assert_eq!(store.member_state("bob", conv).unwrap().unwrap().unread, 3);
        let report = store.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.lines);
        assert!(store.recount_unread().unwrap().is_empty());
    }
}
