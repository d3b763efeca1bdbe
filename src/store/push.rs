//! Web Push state: the node's VAPID key, users' push subscriptions, and the pushes
//! waiting to go out (so a restart neither loses nor repeats them).
//!
//! | tree | key | value |
//! |---|---|---|
//! | `name_vapidkey` | `"vapid"` | [`VapidKeyRecord`] |
//! | `subid_subscription` | subscription id | [`SubscriptionRecord`] |
//! | `usersubid_sub` | user ++ 0 ++ id | () : a user's subscriptions |
//! | `tokensubid_sub` | token hash ++ id | () : the subscriptions a token made |
//! | `endpoint_subid` | SHA-256 of the endpoint | id : one subscription per endpoint |
//! | `userconv_push` | user ++ 0 ++ conv | [`PendingPushRecord`] |
//!
//! The four subscription trees change together in one sled transaction.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::codec::{self, decode, encode};
use super::{Store, Ticket};
use crate::error::{Error, Result};

/// `name_vapidkey`: the node's VAPID signing key. Never logged, never served: only its
/// public half leaves the node.
#[derive(Clone, Serialize, Deserialize)]
pub struct VapidKeyRecord {
    /// The P-256 private scalar, 32 bytes big-endian.
    pub private_key: Vec<u8>,
    /// When it was made, ms.
    pub created_ms: u64,
}

impl std::fmt::Debug for VapidKeyRecord {
    /// Leaves the key out, so no log line can carry it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeyRecord")
            .field("created_ms", &self.created_ms)
            .finish_non_exhaustive()
    }
}

/// `subid_subscription`: one browser's (or distributor's) push subscription.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubscriptionRecord {
    /// Whose.
    pub user: String,
    /// SHA-256 of the token that made it: revoking the token deletes it.
    pub token_hash: Vec<u8>,
    /// Where pushes are POSTed.
    pub endpoint: String,
    /// The user agent's P-256 public key, uncompressed (65 bytes).
    pub p256dh: Vec<u8>,
    /// The user agent's auth secret (16 bytes).
    pub auth: Vec<u8>,
    /// When, ms.
    pub created_ms: u64,
}

/// `userconv_push`: the push of one user and conversation that still has to go out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingPushRecord {
    /// The newest message to tell of.
    pub seq: u64,
    /// When to (re)try, ms since the epoch.
    pub due_ms: u64,
    /// Give up after this (the message's time + `push.ttl_secs`).
    pub deadline_ms: u64,
    /// Attempts made so far.
    pub attempts: u32,
    /// Subscriptions still to be served; empty = all of the user's.
    pub subscriptions: Vec<String>,
}

/// How adding a subscription went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// Stored (new, or the same endpoint again: its keys and token are replaced); its id.
    Stored(String),
    /// The user already has the most subscriptions allowed.
    Full,
}

/// The trees of this file, opened with the store.
#[derive(Clone)]
pub(super) struct PushTrees {
    vapid: sled::Tree,
    subs: sled::Tree,
    by_user: sled::Tree,
    by_token: sled::Tree,
    by_endpoint: sled::Tree,
    pending: sled::Tree,
}

impl PushTrees {
    /// Opens (or creates) the trees.
    pub(super) fn open(db: &sled::Db) -> Result<Self> {
        Ok(PushTrees {
            vapid: db.open_tree("name_vapidkey")?,
            subs: db.open_tree("subid_subscription")?,
            by_user: db.open_tree("usersubid_sub")?,
            by_token: db.open_tree("tokensubid_sub")?,
            by_endpoint: db.open_tree("endpoint_subid")?,
            pending: db.open_tree("userconv_push")?,
        })
    }
}

fn joined(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + 1 + b.len());
    key.extend_from_slice(a);
    key.push(0);
    key.extend_from_slice(b);
    key
}

fn token_key(token_hash: &[u8], id: &str) -> Vec<u8> {
    let mut key = token_hash.to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

fn endpoint_key(endpoint: &str) -> [u8; 32] {
    Sha256::digest(endpoint.as_bytes()).into()
}

fn pending_key(user: &str, conv: u64) -> Vec<u8> {
    joined(user.as_bytes(), &codec::be(conv))
}

fn tx_error(e: TransactionError<Error>) -> Error {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

impl Store {
    // ---- VAPID key --------------------------------------------------------------

    /// The node's VAPID key; `make` is called for a new one when none is stored yet
    /// (first start), and that one is stored durably before it is returned.
    pub async fn vapid_key_or_create(
        &self,
        make: impl FnOnce() -> VapidKeyRecord,
    ) -> Result<VapidKeyRecord> {
        if let Some(v) = self.push.vapid.get("vapid")? {
            return decode(&v);
        }
        let fresh = make();
        let value = encode(&fresh)?;
        let stored = self
            .write_durably(|| {
                Ok(self
                    .push
                    .vapid
                    .compare_and_swap("vapid", None as Option<&[u8]>, Some(value))?)
            })
            .await?;
        match stored {
            Ok(()) => Ok(fresh),
            // another start raced us: the stored key wins
            Err(cas) => cas
                .current
                .map(|v| decode(&v))
                .unwrap_or_else(|| Err(Error::Internal("vapid key vanished".into()))),
        }
    }

    // ---- subscriptions ----------------------------------------------------------

    /// Stores `record` under a new id, or, when its endpoint is stored already (the same
    /// browser subscribing again, maybe as another user), replaces that one and keeps
    /// its id. `max_per_user` caps the user's subscriptions.
    pub async fn put_push_subscription(
        &self,
        record: &SubscriptionRecord,
        new_id: String,
        max_per_user: usize,
    ) -> Result<Subscribed> {
        let ep_key = endpoint_key(&record.endpoint);
        let existing = self
            .push
            .by_endpoint
            .get(ep_key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        let id = existing.clone().unwrap_or(new_id);
        let old = match &existing {
            Some(id) => self.push_subscription(id)?,
            None => None,
        };
        let same_user = old.as_ref().is_some_and(|o| o.user == record.user);
        if !same_user && self.push_subscriptions_of(&record.user)?.len() >= max_per_user {
            return Ok(Subscribed::Full);
        }
        let value = encode(record)?;
        let t = &self.push;
        self.write_durably(|| {
            (&t.subs, &t.by_user, &t.by_token, &t.by_endpoint)
                .transaction(|(subs, by_user, by_token, by_endpoint)| {
                    if let Some(o) = &old {
                        by_user.remove(joined(o.user.as_bytes(), id.as_bytes()))?;
                        by_token.remove(token_key(&o.token_hash, &id))?;
                    }
                    subs.insert(id.as_bytes(), value.clone())?;
                    by_user.insert(joined(record.user.as_bytes(), id.as_bytes()), &[])?;
                    by_token.insert(token_key(&record.token_hash, &id), &[])?;
                    by_endpoint.insert(&ep_key, id.as_bytes())?;
                    Ok::<_, ConflictableTransactionError<Error>>(())
                })
                .map_err(tx_error)
        })
        .await?;
        Ok(Subscribed::Stored(id))
    }

    /// One subscription.
    pub fn push_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>> {
        self.push.subs.get(id)?.map(|v| decode(&v)).transpose()
    }

    /// A user's subscriptions with their ids, oldest id order.
    pub fn push_subscriptions_of(&self, user: &str) -> Result<Vec<(String, SubscriptionRecord)>> {
        let prefix = joined(user.as_bytes(), b"");
        let mut out = Vec::new();
        for key in self.push.by_user.scan_prefix(&prefix).keys() {
            let key = key?;
            let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            if let Some(record) = self.push_subscription(&id)? {
                out.push((id, record));
            }
        }
        Ok(out)
    }

    /// How many subscriptions the node holds (for /metrics).
    pub fn push_subscription_count(&self) -> usize {
        self.push.subs.len()
    }

    /// Deletes subscriptions by id (a 404/410 from the push service, or the owner's
    /// DELETE) and waits until durable; ids that are gone already are skipped.
    pub async fn delete_push_subscriptions(&self, ids: &[String]) -> Result<usize> {
        let (n, ticket) = self.remove_push_subscriptions(ids)?;
        if let Some(ticket) = ticket {
            self.commit.durable(ticket).await?;
        }
        Ok(n)
    }

    /// Deletes subscriptions by id without waiting for the flush: how many, and the
    /// ticket to wait on (none when nothing was there).
    fn remove_push_subscriptions(&self, ids: &[String]) -> Result<(usize, Option<Ticket>)> {
        let mut doomed = Vec::new();
        for id in ids {
            if let Some(record) = self.push_subscription(id)? {
                doomed.push((id.clone(), record));
            }
        }
        if doomed.is_empty() {
            return Ok((0, None));
        }
        let t = &self.push;
        let ((), ticket) = self.write(|| {
            (&t.subs, &t.by_user, &t.by_token, &t.by_endpoint)
                .transaction(|(subs, by_user, by_token, by_endpoint)| {
                    for (id, record) in &doomed {
                        subs.remove(id.as_bytes())?;
                        by_user.remove(joined(record.user.as_bytes(), id.as_bytes()))?;
                        by_token.remove(token_key(&record.token_hash, id))?;
                        let ep = endpoint_key(&record.endpoint);
                        if by_endpoint.get(ep)?.as_deref() == Some(id.as_bytes()) {
                            by_endpoint.remove(&ep)?;
                        }
                    }
                    Ok::<_, ConflictableTransactionError<Error>>(())
                })
                .map_err(tx_error)
        })?;
        Ok((doomed.len(), Some(ticket)))
    }

    fn subscription_ids_of_tokens(&self, token_hashes: &[&[u8]]) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for hash in token_hashes {
            for key in self.push.by_token.scan_prefix(hash).keys() {
                let key = key?;
                ids.push(String::from_utf8_lossy(&key[hash.len()..]).into_owned());
            }
        }
        Ok(ids)
    }

    /// [`Store::delete_push_subscriptions_of_tokens`] without waiting for the flush,
    /// for [`Store::on_tokens_revoked`] (the tokens' own deletion is durable already,
    /// and the push worker never uses a subscription whose token is gone).
    pub(super) fn forget_push_subscriptions_of_tokens(
        &self,
        token_hashes: &[&[u8]],
    ) -> Result<usize> {
        let ids = self.subscription_ids_of_tokens(token_hashes)?;
        self.remove_push_subscriptions(&ids).map(|(n, _)| n)
    }

    /// Deletes every subscription made with one of these tokens and waits until durable.
    /// Every revocation reaches it through [`Store::on_tokens_revoked`].
    pub async fn delete_push_subscriptions_of_tokens(
        &self,
        token_hashes: &[&[u8]],
    ) -> Result<usize> {
        let ids = self.subscription_ids_of_tokens(token_hashes)?;
        self.delete_push_subscriptions(&ids).await
    }

    /// Deletes every subscription of `user` (account deleted) and its waiting pushes.
    pub async fn delete_push_subscriptions_of_user(&self, user: &str) -> Result<usize> {
        let ids: Vec<String> = self
            .push_subscriptions_of(user)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let n = self.delete_push_subscriptions(&ids).await?;
        let prefix = joined(user.as_bytes(), b"");
        let keys: Vec<_> = self
            .push
            .pending
            .scan_prefix(&prefix)
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        self.write_durably(|| {
            for key in &keys {
                self.push.pending.remove(key)?;
            }
            Ok(())
        })
        .await?;
        Ok(n)
    }

    // ---- waiting pushes ---------------------------------------------------------

    /// Stores (or replaces) the waiting pushes of these (user, conv), in one durable write.
    pub async fn put_pending_pushes(
        &self,
        batch: &[(String, u64, PendingPushRecord)],
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut values = Vec::with_capacity(batch.len());
        for (user, conv, record) in batch {
            values.push((pending_key(user, *conv), encode(record)?));
        }
        self.write_durably(|| {
            let mut b = sled::Batch::default();
            for (k, v) in values {
                b.insert(k, v);
            }
            self.push.pending.apply_batch(b)?;
            Ok(())
        })
        .await
    }

    /// Deletes the waiting push of (user, conv) if it is still the one for `seq` (a
    /// newer one may have replaced it meanwhile), durably.
    pub async fn delete_pending_push(&self, user: &str, conv: u64, seq: u64) -> Result<()> {
        let key = pending_key(user, conv);
        self.write_durably(|| {
            if let Some(v) = self.push.pending.get(&key)? {
                let current: PendingPushRecord = decode(&v)?;
                if current.seq == seq {
                    self.push.pending.remove(&key)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Every waiting push, for the push worker at start-up: (user, conv, record).
    pub fn pending_pushes(&self) -> Result<Vec<(String, u64, PendingPushRecord)>> {
        let mut out = Vec::new();
        for entry in self.push.pending.iter() {
            let (key, value) = entry?;
            let Some(split) = key.iter().position(|&b| b == 0) else {
                continue;
            };
            let user = String::from_utf8_lossy(&key[..split]).into_owned();
            let conv = codec::read_be(&key[split + 1..])?;
            out.push((user, conv, decode(&value)?));
        }
        Ok(out)
    }
}
