//! Format 1 -> 2: every versioned record rewritten in layout 2 (the v1.1 fields, with
//! the defaults `store::records` documents for values from format 1).

use super::super::records::{self, layout_of, Versioned};
use super::super::UserRecord;
use super::super::{ConvRecord, MediaRecord, MemberState, MessageRecord, Store, TokenRecord};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Values rewritten per batch (one sled batch each).
const BATCH: usize = 1024;

/// Logged every this many values, so that logs (and the kill tests) see it move.
const LOG_EVERY: u64 = 10_000;

pub(super) fn run(store: &Store, progress: &mut Progress) -> Result<()> {
    let trees: [(&sled::Tree, Rewrite); 6] = [
        (&store.users, rewrite::<UserRecord>),
        (&store.tokens, rewrite::<TokenRecord>),
        (&store.convs, rewrite::<ConvRecord>),
        (&store.members, rewrite::<MemberState>),
        (&store.media, rewrite::<MediaRecord>),
        (&store.messages, rewrite::<MessageRecord>),
    ];
    let total: u64 = trees.iter().map(|(t, _)| t.len() as u64).sum();
    progress.set_total(total);
    let mut seen = 0u64;
    let mut rewritten = 0u64;
    for (tree, rewrite) in trees {
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for kv in tree.iter() {
            let (k, v) = kv?;
            let new = rewrite(&v).map_err(|e| {
                Error::Internal(format!(
                    "the migration to format 2 cannot read the value of key {} in {}: {}; \
                     the store is unchanged in format 1 (restore a backup, or run the \
                     older chatnode)",
                    hex::encode(&k),
                    String::from_utf8_lossy(&tree.name()),
                    super::super::check::detail(&e)
                ))
            })?;
            if let Some(new) = new {
                batch.insert(k, new);
                in_batch += 1;
                rewritten += 1;
            }
            if in_batch == BATCH {
                tree.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
            seen += 1;
            progress.set(seen);
            if seen.is_multiple_of(LOG_EVERY) {
                tracing::info!("migration to format 2: {seen}/{total} values");
            }
        }
        tree.apply_batch(batch)?;
    }
    tracing::info!("migration to format 2: {rewritten} of {seen} values rewritten");
    let indexed = store.index_all_tokens()?;
    tracing::info!("migration to format 2: {indexed} tokens indexed by user");
    first_user_is_admin(store)
}

/// Format 1 had no roles; format 2 makes the first registered user admin on a fresh
/// store, so an upgraded store gets the same: its oldest account (ties: by name) becomes
/// admin, unless some account is admin already (this step ran before).
fn first_user_is_admin(store: &Store) -> Result<()> {
    let mut oldest: Option<(u64, sled::IVec, UserRecord)> = None;
    for kv in store.users.iter() {
        let (k, v) = kv?;
        let user: UserRecord = records::decode(&v)?;
        if user.admin {
            return Ok(());
        }
        if user.deleted || user.disabled {
            continue;
        }
        if oldest
            .as_ref()
            .is_none_or(|(ms, _, _)| user.created_ms < *ms)
        {
            oldest = Some((user.created_ms, k, user));
        }
    }
    if let Some((_, name, mut user)) = oldest {
        user.admin = true;
        store.users.insert(&name, records::encode(&user)?)?;
        tracing::info!(
            "migration to format 2: {} (the oldest account) is admin",
            String::from_utf8_lossy(&name)
        );
    }
    Ok(())
}

/// Layout-2 bytes of a stored value, or `None` if it is in layout 2 already.
type Rewrite = fn(&[u8]) -> Result<Option<Vec<u8>>>;

fn rewrite<T: Versioned>(bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    if layout_of(bytes) == T::LAYOUT {
        return Ok(None);
    }
    let record: T = records::decode(bytes)?;
    records::encode(&record).map(Some)
}
