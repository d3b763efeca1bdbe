//! Accounts and conversations for a run, made over the real HTTP API.

use std::net::SocketAddr;

use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

use crate::{http, Res};

/// Password of every load-test account.
const PASSWORD: &str = "load-test-password";

/// A registered account.
#[derive(Debug, Clone)]
pub struct User {
    /// Username.
    pub name: String,
    /// Login token.
    pub token: String,
}

/// Registers `names` (at most `concurrency` at once: argon2 is the cost), in order.
pub async fn register_all(
    addr: SocketAddr,
    names: Vec<String>,
    concurrency: usize,
) -> Res<Vec<User>> {
    let results: Vec<Res<User>> = stream::iter(names)
        .map(|name| register(addr, name))
        .buffered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

async fn register(addr: SocketAddr, name: String) -> Res<User> {
    let body = json!({ "username": name, "password": PASSWORD });
    let (status, answer) = http::request(addr, "POST", "/api/register", None, &body).await?;
    match (status, answer.get("token").and_then(Value::as_str)) {
        (201, Some(token)) => Ok(User {
            name,
            token: token.to_string(),
        }),
        (429, _) => Err(format!(
            "register {name}: 429 rate limited; run the node with \
             CHATNODE__LIMITS__LOGINS_PER_MIN=1000000 (see --help)"
        )),
        _ => Err(format!("register {name}: {status} {answer}")),
    }
}

/// The direct conversation of `owner` with `other`.
pub async fn direct(addr: SocketAddr, owner: &User, other: &str) -> Res<u64> {
    let body = json!({ "kind": "direct", "members": [other] });
    conversation(addr, owner, &body).await
}

/// A new group of `owner` and `members`.
pub async fn group(addr: SocketAddr, owner: &User, name: &str, members: &[String]) -> Res<u64> {
    let body = json!({ "kind": "group", "name": name, "members": members });
    conversation(addr, owner, &body).await
}

async fn conversation(addr: SocketAddr, owner: &User, body: &Value) -> Res<u64> {
    let (status, answer) =
        http::request(addr, "POST", "/api/conversations", Some(&owner.token), body).await?;
    match (status, answer.get("conv").and_then(Value::as_u64)) {
        (200 | 201, Some(conv)) => Ok(conv),
        _ => Err(format!("create conversation: {status} {answer}")),
    }
}

/// Usernames `{prefix}{tag}{i}` for i in 0..n.
pub fn names(prefix: &str, tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{tag}{i}")).collect()
}
