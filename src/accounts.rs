//! What changes an account, shared by the HTTP routes, the running node's admin socket
//! and the `chatnode user` commands on a stopped store, so that each is done one way.
//!
//! On a running node a change also reaches the live parts: revoked tokens close their
//! sockets (4001), a deleted user leaves its groups through each group's conversation
//! actor (the single writer of its seqs). On a stopped store there are no sockets, and
//! the membership change is written straight into the store.

use tokio::sync::oneshot;

use crate::actors::conversation::{Command, ConvCommand};
use crate::actors::registry::CloseUser;
use crate::auth;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::protocol::valid_username;
use crate::store::{now_ms, Admission, MembershipChange, MessageRecord, Store, UserRecord};
use crate::store::{StoredConvKind, StoredKind};

/// Where an account change happens.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// A serving node: sockets and conversation actors are told.
    Running(&'a Node),
    /// A store opened by a command while no node runs.
    Stopped(&'a Store),
}

impl Target<'_> {
    /// The store.
    pub fn store(&self) -> &Store {
        match self {
            Target::Running(node) => &node.store,
            Target::Stopped(store) => store,
        }
    }
}

/// Hashes a password on a blocking thread (argon2 takes tens of ms).
pub async fn hash_password(password: String) -> Result<String> {
    actix_web::web::block(move || auth::hash_password(&password))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// Checks a password against a hash on a blocking thread.
pub async fn verify_password(password: String, hash: String) -> Result<bool> {
    actix_web::web::block(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// Checks a new account's name and password.
pub fn check_new(name: &str, password: &str) -> Result<()> {
    if !valid_username(name) {
        return Err(Error::bad("username: 1-32 characters of a-z 0-9 _ . -"));
    }
    if !auth::valid_password(password) {
        return Err(Error::bad("password: 8-256 bytes"));
    }
    Ok(())
}

/// Creates an account (checked, hashed); [`Error::Conflict`] if the name was ever taken.
pub async fn add_user(
    store: &Store,
    name: &str,
    password: String,
    admin: bool,
    admission: Admission<'_>,
) -> Result<UserRecord> {
    check_new(name, &password)?;
    if store.account(name)?.is_some() {
        return Err(Error::Conflict);
    }
    let record = UserRecord {
        password_hash: hash_password(password).await?,
        created_ms: now_ms(),
        admin,
        ..Default::default()
    };
    store.create_account(name, record, admission).await
}

/// Revokes the tokens of `user` but `keep`, and closes their sockets with 4001.
pub async fn revoke_all(target: Target<'_>, user: &str, keep: Option<[u8; 32]>) -> Result<()> {
    target
        .store()
        .revoke_tokens(user, |h| Some(*h) != keep)
        .await?;
    if let Target::Running(node) = target {
        node.registry.do_send(CloseUser {
            user: user.to_string(),
            keep,
        });
    }
    Ok(())
}

/// Sets the password of `name` and revokes every token it had (its sockets close).
pub async fn set_password(target: Target<'_>, name: &str, password: String) -> Result<()> {
    if !auth::valid_password(&password) {
        return Err(Error::bad("password: 8-256 bytes"));
    }
    let store = target.store();
    store
        .live_account(name)?
        .ok_or_else(|| no_such_user(name))?;
    let hash = hash_password(password).await?;
    store
        .update_account(name, |u| {
            u.password_hash = hash;
            Ok(())
        })
        .await?;
    revoke_all(target, name, None).await
}

/// Disables (revoking its tokens) or enables `name`.
pub async fn set_disabled(target: Target<'_>, name: &str, disabled: bool) -> Result<UserRecord> {
    let record = target
        .store()
        .update_account(name, |u| {
            u.disabled = disabled;
            Ok(())
        })
        .await?;
    if disabled {
        revoke_all(target, name, None).await?;
    }
    Ok(record)
}

/// Makes `name` an admin or not (the last enabled admin stays one).
pub async fn set_admin(store: &Store, name: &str, admin: bool) -> Result<UserRecord> {
    store
        .update_account(name, |u| {
            u.admin = admin;
            Ok(())
        })
        .await
}

/// Deletes the account `name`: a tombstone keeps the name (never registered again);
/// password, profile, role, tokens, push subscriptions (also any whose token is gone
/// already) with their waiting pushes, and invites go; the user leaves each group
/// with a `system` message. Its messages stay under its name, and its direct
/// conversations stay as they are for the other member.
pub async fn delete_account(target: Target<'_>, name: &str) -> Result<()> {
    let store = target.store();
    store
        .update_account(name, |u| {
            *u = UserRecord {
                created_ms: u.created_ms,
                last_seen_ms: u.last_seen_ms,
                deleted: true,
                ..Default::default()
            };
            Ok(())
        })
        .await?;
    revoke_all(target, name, None).await?;
    // after the tokens, so a subscription made meanwhile goes too
    store.delete_push_subscriptions_of_user(name).await?;
    store.delete_invites_of(name).await?;
    leave_groups(target, name).await
}

/// Takes `name` out of every group it is in, each with its `system` message.
async fn leave_groups(target: Target<'_>, name: &str) -> Result<()> {
    let store = target.store();
    for (conv, _) in store.user_conversations(name)? {
        let Some(record) = store.conversation(conv)? else {
            continue;
        };
        if record.kind != StoredConvKind::Group {
            continue;
        }
        match target {
            Target::Running(node) => {
                let (reply, outcome) = oneshot::channel();
                node.hub.do_send(ConvCommand {
                    conv,
                    user: name.to_string(),
                    cmd: Command::ChangeMembers {
                        add: Vec::new(),
                        remove: vec![name.to_string()],
                        reply,
                    },
                });
                outcome
                    .await
                    .map_err(|_| Error::Internal("conversation actor gone".into()))??;
            }
            Target::Stopped(store) => {
                let mut after = record.clone();
                let removed = [name.to_string()];
                let mut body = format!("{name} left");
                if after.remove_members(&removed) && !after.owner.is_empty() {
                    body = format!("{body}; {} is now the owner", after.owner);
                }
                let message = MessageRecord {
                    sender: name.to_string(),
                    kind: StoredKind::System,
                    body,
                    ts: now_ms(),
                    ..MessageRecord::default()
                };
                let change = MembershipChange {
                    conv,
                    record: &after,
                    added: &[],
                    removed: &removed,
                    seq: store.last_seq(conv)? + 1,
                    message: &message,
                };
                let ticket = store.change_members(&change)?;
                store.commit().durable(ticket).await?;
            }
        }
    }
    Ok(())
}

/// The error for a name with no live account.
pub fn no_such_user(name: &str) -> Error {
    Error::NotFound(format!("no such user: {name}"))
}
