//! The user directory: GET /api/users?q=PREFIX and GET /api/users/{user}.
//!
//! `accounts.directory` decides whom a search shows: everyone ("all"), the users who
//! share a conversation with the caller ("contacts"), or nobody ("off"). An exact
//! username is answered in every mode (a user who knows a name may start a chat with
//! it anyway); unknown and deleted users are 404.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::accounts::profile;
use super::{blocking, resource, AuthUser};
use crate::config::Directory;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::protocol::valid_username;
use crate::store::UserRecord;

/// Most profiles one search answers.
const MAX_HITS: usize = 20;

/// Most accounts one "all" search by display name looks at.
const SCAN_BUDGET: usize = 100_000;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/users", "GET").route(web::get().to(search)))
        .service(resource("/api/users/{user}", "GET").route(web::get().to(one)));
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    q: String,
}

/// Whether `name`/`record` matches the lower-cased `prefix` by username or display name.
fn matches(name: &str, record: &UserRecord, prefix: &str) -> bool {
    name.starts_with(prefix)
        || record
            .display_name
            .as_deref()
            .is_some_and(|d| d.to_lowercase().starts_with(prefix))
}

async fn search(
    node: web::Data<Node>,
    who: AuthUser,
    query: web::Query<Query>,
) -> Result<HttpResponse> {
    let prefix = query.into_inner().q.trim().to_lowercase();
    if prefix.chars().count() > 64 {
        return Err(Error::bad("q: at most 64 characters"));
    }
    let mode = node.settings.accounts.directory;
    let store = node.store.clone();
    let hits = blocking(move || {
        let mut hits: Vec<(String, UserRecord)> = Vec::new();
        match mode {
            Directory::Off => {}
            Directory::Contacts => {
                for peer in store.peers(&who.user)? {
                    if let Some(record) = store.user(&peer)? {
                        if matches(&peer, &record, &prefix) {
                            hits.push((peer, record));
                        }
                    }
                }
            }
            Directory::All => {
                // usernames by range scan first, then display names over a bounded scan
                hits = store.accounts_with_prefix(&prefix, MAX_HITS + 1)?;
                if hits.len() <= MAX_HITS {
                    for (name, record) in store.accounts()?.into_iter().take(SCAN_BUDGET) {
                        if !record.deleted
                            && !name.starts_with(&prefix)
                            && matches(&name, &record, &prefix)
                        {
                            hits.push((name, record));
                        }
                    }
                }
            }
        }
        hits.retain(|(name, _)| *name != who.user);
        hits.sort_by(|a, b| a.0.cmp(&b.0));
        hits.truncate(MAX_HITS);
        Ok(hits)
    })
    .await?;
    let users: Vec<_> = hits.iter().map(|(n, r)| profile(n, r)).collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

async fn one(
    node: web::Data<Node>,
    _who: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let name = path.into_inner();
    let not_found = || Error::NotFound(format!("no such user: {name}"));
    if !valid_username(&name) {
        return Err(not_found());
    }
    let record = node.store.user(&name)?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(profile(&name, &record)))
}
