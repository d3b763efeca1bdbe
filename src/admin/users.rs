//! `chatnode user add|passwd|disable|enable|delete|list` and `chatnode invite create`.
//!
//! With a node running on the data dir, the command is sent over its admin socket
//! ([`super::socket`]) as one JSON line (a [`UserOp`]) and run by the node, so open
//! sockets close and groups change through their conversation actors. With no node
//! running, the command opens the store itself and runs the same code
//! ([`crate::accounts`]) on it.
//!
//! Exit codes (see [`ExitKind`]): 0 done; 1 the store, the node or a file failed;
//! 2 bad usage or input (a name or password that is not allowed, bad settings);
//! 3 no such user; 4 the name is taken (or was, by a deleted account); 5 refused (the
//! node's last admin cannot be disabled or deleted).

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{socket, AdminError};
use crate::accounts::{self, Target};
use crate::config::Settings;
use crate::error::Error;
use crate::store::{Admission, Store, StoreOptions};

/// One account command, as the CLI parsed it and as it travels over the admin socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum UserOp {
    /// Create an account.
    UserAdd {
        /// Username.
        name: String,
        /// Its password.
        password: String,
        /// Make it an admin.
        admin: bool,
    },
    /// Set a password (every token of the user ends).
    UserPasswd {
        /// Username.
        name: String,
        /// The new password.
        password: String,
    },
    /// Disable an account (its tokens end).
    UserDisable {
        /// Username.
        name: String,
    },
    /// Enable a disabled account.
    UserEnable {
        /// Username.
        name: String,
    },
    /// Delete an account (the name stays taken).
    UserDelete {
        /// Username.
        name: String,
    },
    /// Make an account an admin, or not (the last enabled admin stays one).
    UserAdmin {
        /// Username.
        name: String,
        /// Admin or not.
        admin: bool,
    },
    /// List the accounts.
    UserList,
    /// Make an invite.
    InviteCreate {
        /// Registrations it admits.
        uses: u32,
        /// Lifetime in seconds.
        ttl_secs: u64,
    },
}

/// Why a command failed, as its exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// Exit 1: the store, the node or a file failed.
    Failed,
    /// Exit 2: bad usage or input.
    Usage,
    /// Exit 3: no such user.
    NoSuchUser,
    /// Exit 4: the name is taken.
    Taken,
    /// Exit 5: refused (the last admin).
    Refused,
}

impl ExitKind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Failed => 1,
            ExitKind::Usage => 2,
            ExitKind::NoSuchUser => 3,
            ExitKind::Taken => 4,
            ExitKind::Refused => 5,
        }
    }

    /// The kind of an account error.
    fn of(e: &Error) -> Self {
        match e {
            Error::BadRequest(_) | Error::TooLarge(_) => ExitKind::Usage,
            Error::NotFound(_) => ExitKind::NoSuchUser,
            Error::Conflict => ExitKind::Taken,
            Error::Forbidden(_) => ExitKind::Refused,
            _ => ExitKind::Failed,
        }
    }
}

/// A failed account command: what to print, and how to exit.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct OpError {
    /// How to exit.
    pub kind: ExitKind,
    /// What to print.
    pub message: String,
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        let message = match &e {
            Error::Internal(detail) => detail.clone(),
            Error::Conflict => "that username is taken (or was, by a deleted account)".into(),
            other => other.to_string(),
        };
        OpError {
            kind: ExitKind::of(&e),
            message,
        }
    }
}

impl From<AdminError> for OpError {
    fn from(e: AdminError) -> Self {
        OpError {
            kind: ExitKind::Failed,
            message: e.to_string(),
        }
    }
}

/// Runs `op` on `target`; the JSON answer the CLI prints from.
pub async fn apply(target: Target<'_>, settings: &Settings, op: UserOp) -> Result<Value, OpError> {
    let store = target.store();
    let done = |what: String| Ok(json!({ "done": what }));
    match op {
        UserOp::UserAdd {
            name,
            password,
            admin,
        } => {
            accounts::add_user(store, &name, password, admin, Admission::default()).await?;
            done(format!(
                "user {name} added{}",
                if admin { " (admin)" } else { "" }
            ))
        }
        UserOp::UserPasswd { name, password } => {
            accounts::set_password(target, &name, password).await?;
            done(format!("password of {name} set; its sessions ended"))
        }
        UserOp::UserDisable { name } => {
            accounts::set_disabled(target, &name, true).await?;
            done(format!("user {name} disabled; its sessions ended"))
        }
        UserOp::UserEnable { name } => {
            accounts::set_disabled(target, &name, false).await?;
            done(format!("user {name} enabled"))
        }
        UserOp::UserDelete { name } => {
            accounts::delete_account(target, &name).await?;
            done(format!("user {name} deleted (the name stays taken)"))
        }
        UserOp::UserAdmin { name, admin } => {
            accounts::set_admin(store, &name, admin).await?;
            done(format!(
                "user {name} is {}",
                if admin { "an admin" } else { "a member" }
            ))
        }
        UserOp::UserList => {
            let users: Vec<Value> = store
                .accounts()?
                .iter()
                .filter(|(_, u)| !u.deleted)
                .map(|(n, u)| crate::http::admin_view(n, u))
                .collect();
            Ok(json!({ "users": users }))
        }
        UserOp::InviteCreate { uses, ttl_secs } => {
            let (uses, ttl) = crate::http::invite_terms(Some(uses), Some(ttl_secs))?;
            let (code, invite) = store.create_invite("", uses, ttl).await?;
            let base = match settings.accounts.public_url.as_str() {
                "" => format!("http://{}", settings.server.bind),
                url => url.to_string(),
            };
            Ok(json!({
                "code": code,
                "url": crate::http::invite_url(&base, &base, &code),
                "expires": invite.record.expires_ms,
                "uses_left": invite.record.uses_left,
            }))
        }
    }
}

/// Runs `op` for the CLI: through the running node's admin socket, or on the stopped
/// store. Prints the outcome to stdout.
pub fn run(settings: &Settings, op: UserOp) -> Result<(), OpError> {
    let data_dir = &settings.server.data_dir;
    let answer = match socket::connect(data_dir)? {
        Some(stream) => over_socket(&stream, &op)?,
        None => on_stopped_store(settings, data_dir, op.clone())?,
    };
    print_answer(&op, &answer, &mut std::io::stdout().lock()).map_err(AdminError::from)?;
    Ok(())
}

fn over_socket(stream: &std::os::unix::net::UnixStream, op: &UserOp) -> Result<Value, OpError> {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .map_err(AdminError::from)?;
    let line = serde_json::to_string(op).map_err(|e| OpError {
        kind: ExitKind::Failed,
        message: e.to_string(),
    })?;
    writeln!(&*stream, "{line}").map_err(AdminError::from)?;
    let mut answer = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(AdminError::from)?;
    let answer: Value = serde_json::from_str(&answer).map_err(|_| OpError {
        kind: ExitKind::Failed,
        message: format!("the node answered {answer:?}"),
    })?;
    if answer["ok"] == true {
        return Ok(answer);
    }
    let kind = serde_json::from_value(answer["kind"].clone()).unwrap_or(ExitKind::Failed);
    let message = answer["error"]
        .as_str()
        .unwrap_or("the node refused without a reason")
        .to_string();
    Err(OpError { kind, message })
}

fn on_stopped_store(settings: &Settings, data_dir: &Path, op: UserOp) -> Result<Value, OpError> {
    let mut opts = StoreOptions::from_settings(settings);
    opts.data_dir = data_dir.to_path_buf();
    // A first `user add` may come before the node ever ran: the store is created then.
    let store = match op {
        UserOp::UserAdd { .. } => Store::open(&opts),
        _ => Store::open_existing(&opts),
    }
    .map_err(OpError::from)?;
    let settings = settings.clone();
    actix_web::rt::System::new()
        .block_on(async move { apply(Target::Stopped(&store), &settings, op).await })
}

/// The node side of the admin socket: runs the op line `request` on the node; the
/// answer line.
pub fn answer_on_node(
    node: &crate::node::Node,
    arbiter: &actix::ArbiterHandle,
    request: Value,
) -> Value {
    let op: UserOp = match serde_json::from_value(request) {
        Ok(op) => op,
        Err(e) => return json!({"ok": false, "kind": ExitKind::Usage, "error": e.to_string()}),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let node = node.clone();
    let sent = arbiter.spawn_fn(move || {
        actix_web::rt::spawn(async move {
            let outcome = apply(Target::Running(&node), &node.settings, op).await;
            let _ = tx.send(outcome);
        });
    });
    if !sent {
        return json!({"ok": false, "kind": ExitKind::Failed, "error": "the node is stopping"});
    }
    match rx.recv_timeout(std::time::Duration::from_secs(50)) {
        Ok(Ok(mut answer)) => {
            answer["ok"] = json!(true);
            answer
        }
        Ok(Err(e)) => json!({"ok": false, "kind": e.kind, "error": e.message}),
        Err(_) => {
            json!({"ok": false, "kind": ExitKind::Failed, "error": "the node did not answer in time"})
        }
    }
}

/// Prints an answer for a terminal: one line, or a table for `user list`.
pub fn print_answer(op: &UserOp, answer: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    match op {
        UserOp::UserList => print_table(answer, out),
        UserOp::InviteCreate { .. } => {
            writeln!(out, "code:    {}", answer["code"].as_str().unwrap_or(""))?;
            writeln!(out, "url:     {}", answer["url"].as_str().unwrap_or(""))?;
            writeln!(
                out,
                "uses:    {}",
                answer["uses_left"].as_u64().unwrap_or(0)
            )?;
            writeln!(
                out,
                "expires: {}",
                when(answer["expires"].as_u64().unwrap_or(0))
            )
        }
        _ => writeln!(out, "{}", answer["done"].as_str().unwrap_or("done")),
    }
}

fn print_table(answer: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    let users = answer["users"].as_array().cloned().unwrap_or_default();
    let rows: Vec<[String; 6]> = users
        .iter()
        .map(|u| {
            [
                u["user"].as_str().unwrap_or("").to_string(),
                u["display_name"].as_str().unwrap_or("").to_string(),
                if u["admin"] == true {
                    "admin"
                } else {
                    "member"
                }
                .to_string(),
                if u["disabled"] == true {
                    "disabled"
                } else {
                    "active"
                }
                .to_string(),
                when(u["created"].as_u64().unwrap_or(0)),
                match u["last_seen"].as_u64().unwrap_or(0) {
                    0 => "never".to_string(),
                    ms => when(ms),
                },
            ]
        })
        .collect();
    let header = [
        "USER",
        "DISPLAY NAME",
        "ROLE",
        "STATUS",
        "CREATED",
        "LAST SEEN",
    ];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(&header.map(String::from)))?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    writeln!(out, "{} users", rows.len())
}

/// A time as `YYYY-MM-DD HH:MM UTC`.
fn when(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // days since the epoch to a civil date, by 400-year eras
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

/// Reads a password from stdin (`--password-stdin`): the first line, without its end.
pub fn password_from_stdin() -> Result<String, OpError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(AdminError::from)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if !crate::auth::valid_password(&password) {
        return Err(OpError {
            kind: ExitKind::Usage,
            message: "password: 8-256 bytes on the first line of stdin".into(),
        });
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_in_utc() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        // 2024-02-29 12:34 UTC
        assert_eq!(when(1_709_210_040_000), "2024-02-29 12:34 UTC");
    }
}
