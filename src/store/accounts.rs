//! Accounts beyond a name and a password: roles, profiles, the user -> tokens index
//! (devices), and invites.
//!
//! Trees (see the table in the module above):
//! - `usertoken_index`: user ++ 0 ++ token hash -> (): a user's tokens, written in the
//!   same transaction as `tokenhash_token`, so listing or revoking a user's sessions
//!   never scans every token.
//! - `inviteid_invite`: invite id (8 bytes) -> [`InviteRecord`]. An invite code is
//!   hex(id) ++ hex(secret): 16 + 32 hex characters, 192 random bits. Only the code's
//!   SHA-256 is stored (as for tokens), so neither the data dir nor a backup admits
//!   anyone; the id names the invite in lists and on `DELETE`.
//!
//! Account changes that decide on the state of all accounts (the first account of a
//! fresh store becomes admin; a node always keeps an enabled admin) run under one lock,
//! so two of them cannot both see "another admin remains" and both remove one.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::transaction::{ConflictableTransactionError, Transactional};

use super::codec::{self, member_prefix};
use super::records::{decode, encode};
use super::tx::{abort, tx_result};
use super::{now_ms, Store, TokenRecord, UserRecord};
use crate::error::{Error, Result};

/// How often a token's `last_seen_ms` (and its user's) is written, at most.
pub const LAST_SEEN_EVERY_MS: u64 = 60_000;

/// Most invites one user may hold at once (live ones: used-up and expired ones are
/// dropped when listed).
pub const MAX_INVITES_PER_USER: usize = 100;

/// `inviteid_invite`: an invite, keyed by its id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InviteRecord {
    /// SHA-256 of the whole code.
    pub code_hash: [u8; 32],
    /// Who made it.
    pub creator: String,
    /// When, ms.
    pub created_ms: u64,
    /// After this (ms since the epoch) it admits nobody.
    pub expires_ms: u64,
    /// Registrations it still admits.
    pub uses_left: u32,
    /// Registrations it admitted.
    pub used: u32,
}

/// An invite as its creator sees it.
#[derive(Debug, Clone)]
pub struct Invite {
    /// The id: the first 16 hex characters of the code.
    pub id: String,
    /// The record.
    pub record: InviteRecord,
}

/// A new account's admission.
#[derive(Debug, Clone, Copy, Default)]
pub struct Admission<'a> {
    /// Make it admin if it is the store's first account (open registration).
    pub first_is_admin: bool,
    /// The invite code it came with, whose use is counted in the same write.
    pub invite: Option<&'a str>,
}

/// The hex id and secret of an invite code; `None` if it is not shaped like one.
fn split_code(code: &str) -> Option<[u8; 8]> {
    if code.len() != 48 || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut id = [0u8; 8];
    hex::decode_to_slice(&code[..16], &mut id).ok()?;
    Some(id)
}

/// Key of a user's token in `usertoken_index`.
fn user_token_key(user: &str, hash: &[u8]) -> Vec<u8> {
    let mut k = member_prefix(user);
    k.extend_from_slice(hash);
    k
}

/// Whether a record counts as an admin that can act: admin, enabled, not deleted.
fn active_admin(u: &UserRecord) -> bool {
    u.admin && !u.disabled && !u.deleted
}

impl Store {
    // ---- accounts -------------------------------------------------------------------

    /// Creates an account named `name` from `record`, as `admission` says. Errors:
    /// [`Error::Conflict`] if the name was ever taken (deleted names included),
    /// [`Error::Forbidden`] for a bad, used-up or expired invite (nothing is written
    /// then). Answers the stored record (with `admin` set for a first account).
    pub async fn create_account(
        &self,
        name: &str,
        mut record: UserRecord,
        admission: Admission<'_>,
    ) -> Result<UserRecord> {
        let invite_id = match admission.invite {
            Some(code) => Some((
                split_code(code).ok_or_else(bad_invite)?,
                <[u8; 32]>::from(Sha256::digest(code.as_bytes())),
            )),
            None => None,
        };
        let ((), ticket) = {
            let _lock = self.accounts_lock.lock();
            if admission.first_is_admin && self.users.is_empty() {
                record.admin = true;
            }
            let value = encode(&record)?;
            let now = now_ms();
            self.write(|| {
                tx_result(
                    (&self.users, &self.invites).transaction(|(users, invites)| {
                        if users.get(name)?.is_some() {
                            return abort(Error::Conflict);
                        }
                        if let Some((id, hash)) = &invite_id {
                            let Some(bytes) = invites.get(id)? else {
                                return abort(bad_invite());
                            };
                            let mut invite: InviteRecord = codec::decode(&bytes)
                                .map_err(ConflictableTransactionError::Abort)?;
                            if invite.code_hash != *hash
                                || invite.uses_left == 0
                                || invite.expires_ms <= now
                            {
                                return abort(bad_invite());
                            }
                            invite.uses_left -= 1;
                            invite.used = invite.used.saturating_add(1);
                            invites.insert(
                                id.as_slice(),
                                codec::encode(&invite)
                                    .map_err(ConflictableTransactionError::Abort)?,
                            )?;
                        }
                        users.insert(name, value.as_slice())?;
                        Ok(())
                    }),
                )
            })?
        };
        self.commit.durable(ticket).await?;
        Ok(record)
    }

    /// The account named `name`, deleted ones included (a tombstone keeps the name).
    pub fn account(&self, name: &str) -> Result<Option<UserRecord>> {
        self.users.get(name)?.map(|v| decode(&v)).transpose()
    }

    /// The live (not deleted) account named `name`.
    pub fn live_account(&self, name: &str) -> Result<Option<UserRecord>> {
        Ok(self.account(name)?.filter(|u| !u.deleted))
    }

    /// Every account, by username, deleted ones included.
    pub fn accounts(&self) -> Result<Vec<(String, UserRecord)>> {
        self.users
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), decode(&v)?))
            })
            .collect()
    }

    /// Live accounts whose username starts with `prefix`, in name order, at most `limit`
    /// (a range scan: cheap whatever the number of users).
    pub fn accounts_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, UserRecord)>> {
        let mut out = Vec::new();
        for kv in self.users.scan_prefix(prefix) {
            let (k, v) = kv?;
            let record: UserRecord = decode(&v)?;
            if !record.deleted {
                out.push((String::from_utf8_lossy(&k).into_owned(), record));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Changes the live account `name` with `change` and waits until durable; the
    /// record after. [`Error::NotFound`] if there is no such (live) account. A change
    /// that would leave the node without an enabled admin (the last one demoted,
    /// disabled or deleted) is refused with [`Error::Forbidden`] and changes nothing.
    pub async fn update_account(
        &self,
        name: &str,
        change: impl FnOnce(&mut UserRecord) -> Result<()>,
    ) -> Result<UserRecord> {
        let (record, ticket) = {
            let _lock = self.accounts_lock.lock();
            let before = self
                .live_account(name)?
                .ok_or_else(|| Error::NotFound(format!("no such user: {name}")))?;
            let mut after = before.clone();
            change(&mut after)?;
            if active_admin(&before) && !active_admin(&after) && self.active_admins()? <= 1 {
                return Err(Error::Forbidden(
                    "this is the node's last admin: a node always keeps one (make another admin first)"
                        .into(),
                ));
            }
            let value = encode(&after)?;
            let ((), ticket) = self.write(|| {
                self.users.insert(name, value)?;
                Ok(())
            })?;
            (after, ticket)
        };
        self.commit.durable(ticket).await?;
        Ok(record)
    }

    /// How many enabled admins the node has.
    fn active_admins(&self) -> Result<usize> {
        let mut n = 0;
        for kv in self.users.iter() {
            let (_, v) = kv?;
            if active_admin(&decode::<UserRecord>(&v)?) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Users who share a conversation with `user` (not `user`), sorted.
    pub fn peers(&self, user: &str) -> Result<Vec<String>> {
        let mut peers = Vec::new();
        for (conv, _) in self.user_conversations(user)? {
            if let Some(rec) = self.conversation(conv)? {
                peers.extend(rec.members.into_iter().filter(|m| m != user));
            }
        }
        peers.sort();
        peers.dedup();
        Ok(peers)
    }

    // ---- tokens ---------------------------------------------------------------------

    /// Puts every stored token into its user's index (`usertoken_index`), for a store
    /// written before the index existed (format 1); idempotent. Without it an old
    /// token would survive a password change and be missing from the session list.
    pub(super) fn index_all_tokens(&self) -> Result<u64> {
        let mut batch = sled::Batch::default();
        let mut indexed = 0u64;
        for kv in self.tokens.iter() {
            let (hash, value) = kv?;
            let record: TokenRecord = decode(&value)?;
            batch.insert(user_token_key(&record.user, &hash), &[] as &[u8]);
            indexed += 1;
        }
        self.user_tokens.apply_batch(batch)?;
        Ok(indexed)
    }

    /// A user's tokens: (hash, record), expired ones left out.
    pub fn user_tokens(&self, user: &str) -> Result<Vec<([u8; 32], TokenRecord)>> {
        let prefix = member_prefix(user);
        let now = now_ms();
        let mut out = Vec::new();
        for key in self.user_tokens.scan_prefix(&prefix).keys() {
            let key = key?;
            let Ok(hash) = <[u8; 32]>::try_from(&key[prefix.len()..]) else {
                continue;
            };
            if let Some(record) = self.token(&hash)? {
                if record.expires_ms > now && record.user == user {
                    out.push((hash, record));
                }
            }
        }
        Ok(out)
    }

    /// Deletes the tokens of `user` whose hash `revoke` accepts, and waits until
    /// durable; the hashes deleted. Calls [`Store::on_tokens_revoked`] with them.
    pub async fn revoke_tokens(
        &self,
        user: &str,
        revoke: impl Fn(&[u8; 32]) -> bool,
    ) -> Result<Vec<[u8; 32]>> {
        let prefix = member_prefix(user);
        let mut hashes = Vec::new();
        for key in self.user_tokens.scan_prefix(&prefix).keys() {
            let key = key?;
            if let Ok(hash) = <[u8; 32]>::try_from(&key[prefix.len()..]) {
                if revoke(&hash) {
                    hashes.push(hash);
                }
            }
        }
        if hashes.is_empty() {
            return Ok(hashes);
        }
        self.write_durably(|| {
            tx_result(
                (&self.tokens, &self.user_tokens).transaction(|(tokens, index)| {
                    for hash in &hashes {
                        tokens.remove(hash.as_slice())?;
                        index.remove(user_token_key(user, hash))?;
                    }
                    Ok(())
                }),
            )
        })
        .await?;
        self.on_tokens_revoked(&hashes).await?;
        Ok(hashes)
    }

    /// Called once tokens are gone (logout, session revoked, password change, an
    /// account disabled or deleted, an admin setting a password): the one place where
    /// what hangs on a token (push subscriptions) is let go of.
    pub async fn on_tokens_revoked(&self, hashes: &[[u8; 32]]) -> Result<()> {
        tracing::debug!(tokens = hashes.len(), "tokens revoked");
        let hashes: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        self.forget_push_subscriptions_of_tokens(&hashes)
            .map(|_| ())
    }

    /// Whether upload `id` (`media`) is its uploader's current picture: then every
    /// authenticated user may fetch it, and it is in use though no message links it.
    pub fn media_is_avatar(&self, id: &str, media: &super::MediaRecord) -> Result<bool> {
        let url = format!("/media/{id}");
        Ok(self
            .user(&media.uploader)?
            .is_some_and(|u| u.avatar_url.as_deref() == Some(url.as_str())))
    }

    /// Notes that the token `hash` (of `record`) was used now: its `last_seen_ms` and
    /// its user's, written at most once per [`LAST_SEEN_EVERY_MS`] and not waited for
    /// (a lost update after a crash costs nothing).
    pub fn touch_token(&self, hash: &[u8; 32], record: &TokenRecord) -> Result<()> {
        let now = now_ms();
        if now.saturating_sub(record.last_seen_ms) < LAST_SEEN_EVERY_MS {
            return Ok(());
        }
        let mut updated = record.clone();
        updated.last_seen_ms = now;
        let value = encode(&updated)?;
        let _not_waited_for = self.write(|| {
            // only if it is still there: a revoked token must not come back
            let _ = self
                .tokens
                .compare_and_swap(hash, Some(encode(record)?), Some(value))?;
            self.stamp_seen(&record.user, now)
        })?;
        Ok(())
    }

    /// Sets the user's `last_seen_ms` to now (a login), not waited for.
    pub fn touch_user(&self, user: &str) -> Result<()> {
        let _not_waited_for = self.write(|| self.stamp_seen(user, now_ms()))?;
        Ok(())
    }

    /// Writes `last_seen_ms = now` into a live account (inside a write).
    fn stamp_seen(&self, user: &str, now: u64) -> Result<()> {
        let mut failure = None;
        self.users.update_and_fetch(user, |old| {
            let old = old?;
            match decode::<UserRecord>(old) {
                Ok(mut u) if !u.deleted => {
                    u.last_seen_ms = now;
                    match encode(&u) {
                        Ok(bytes) => Some(bytes),
                        Err(e) => {
                            failure = Some(e);
                            Some(old.to_vec())
                        }
                    }
                }
                _ => Some(old.to_vec()),
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    // ---- invites --------------------------------------------------------------------

    /// Makes an invite by `creator` admitting `uses` registrations until `ttl_secs`
    /// from now; the code (shown once) and the invite.
    pub async fn create_invite(
        &self,
        creator: &str,
        uses: u32,
        ttl_secs: u64,
    ) -> Result<(String, Invite)> {
        if self.invites_of(creator)?.len() >= MAX_INVITES_PER_USER {
            return Err(Error::TooLarge(format!(
                "at most {MAX_INVITES_PER_USER} open invites per user: revoke some"
            )));
        }
        let mut id = [0u8; 8];
        let mut secret = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let code = format!("{}{}", hex::encode(id), hex::encode(secret));
        let now = now_ms();
        let record = InviteRecord {
            code_hash: Sha256::digest(code.as_bytes()).into(),
            creator: creator.to_string(),
            created_ms: now,
            expires_ms: now.saturating_add(ttl_secs.saturating_mul(1000)),
            uses_left: uses,
            used: 0,
        };
        let value = codec::encode(&record)?;
        self.write_durably(|| {
            self.invites.insert(id, value)?;
            Ok(())
        })
        .await?;
        Ok((
            code,
            Invite {
                id: hex::encode(id),
                record,
            },
        ))
    }

    /// The live invites `creator` made (not used up, not expired), oldest first.
    pub fn invites_of(&self, creator: &str) -> Result<Vec<Invite>> {
        let now = now_ms();
        let mut out = Vec::new();
        for kv in self.invites.iter() {
            let (k, v) = kv?;
            let record: InviteRecord = codec::decode(&v)?;
            if record.creator == creator && record.uses_left > 0 && record.expires_ms > now {
                out.push(Invite {
                    id: hex::encode(&k),
                    record,
                });
            }
        }
        out.sort_by_key(|i| i.record.created_ms);
        Ok(out)
    }

    /// Deletes the invite named by `code_or_id` (the whole code, or its id) if
    /// `creator` made it; `false` if there is no such invite of theirs.
    pub async fn delete_invite(&self, creator: &str, code_or_id: &str) -> Result<bool> {
        let id_hex = match code_or_id.len() {
            16 | 48 => &code_or_id[..16],
            _ => return Ok(false),
        };
        let mut id = [0u8; 8];
        if hex::decode_to_slice(id_hex, &mut id).is_err() {
            return Ok(false);
        }
        let Some(bytes) = self.invites.get(id)? else {
            return Ok(false);
        };
        let record: InviteRecord = codec::decode(&bytes)?;
        let whole_code_matches =
            <[u8; 32]>::from(Sha256::digest(code_or_id.as_bytes())) == record.code_hash;
        if record.creator != creator || (code_or_id.len() == 48 && !whole_code_matches) {
            return Ok(false);
        }
        self.write_durably(|| {
            self.invites.remove(id)?;
            Ok(())
        })
        .await?;
        Ok(true)
    }

    /// Drops the invites of `creator` (its account was deleted).
    pub async fn delete_invites_of(&self, creator: &str) -> Result<()> {
        let ids: Vec<[u8; 8]> = self
            .invites_of(creator)?
            .iter()
            .filter_map(|i| {
                let mut id = [0u8; 8];
                hex::decode_to_slice(&i.id, &mut id).ok().map(|()| id)
            })
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        self.write_durably(|| {
            for id in &ids {
                self.invites.remove(id)?;
            }
            Ok(())
        })
        .await
    }
}

impl Store {
    /// Stores a token under its hash, and in its user's index, atomically.
    pub(super) async fn put_token_indexed(
        &self,
        token_hash: &[u8],
        record: &TokenRecord,
    ) -> Result<()> {
        let value = encode(record)?;
        let key = user_token_key(&record.user, token_hash);
        self.write_durably(|| {
            tx_result(
                (&self.tokens, &self.user_tokens).transaction(|(tokens, index)| {
                    tokens.insert(token_hash, value.as_slice())?;
                    index.insert(key.as_slice(), &[] as &[u8])?;
                    Ok::<_, ConflictableTransactionError<Error>>(())
                }),
            )
        })
        .await?;
        self.touch_user(&record.user)
    }

    /// Deletes one token and its index entry; `true` if it was there.
    pub(super) async fn delete_token_indexed(&self, token_hash: &[u8]) -> Result<bool> {
        let Some(record) = self.token(token_hash)? else {
            return Ok(false);
        };
        let key = user_token_key(&record.user, token_hash);
        self.write_durably(|| {
            tx_result(
                (&self.tokens, &self.user_tokens).transaction(|(tokens, index)| {
                    tokens.remove(token_hash)?;
                    index.remove(key.as_slice())?;
                    Ok(())
                }),
            )
        })
        .await?;
        if let Ok(hash) = <[u8; 32]>::try_from(token_hash) {
            self.on_tokens_revoked(&[hash]).await?;
        }
        Ok(true)
    }
}

/// The one answer to every invite that does not admit.
fn bad_invite() -> Error {
    Error::Forbidden("this invite is not valid (unknown, used up or expired)".into())
}
