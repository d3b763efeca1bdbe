//! The running node's admin socket: data_dir/admin.sock.
//!
//! sled locks its directory, so while a node runs no other process can open the store;
//! `chatnode backup` asks the node instead. A Unix domain socket rather than an HTTP
//! route, because it needs no credentials of its own: the file is created with mode 0600
//! in the node's data dir, and every connection's peer uid is checked against the
//! node's (root excepted), so only the node's own user (who can read the store files
//! anyway) gets a backup.
//!
//! Protocol: the client sends one JSON line, `{"op":"backup"}`, `{"op":"ping"}` or an
//! account command (`{"op":"user_add",...}`, see [`super::users::UserOp`]); the node
//! answers one JSON line (`{"ok":true,...}` or `{"ok":false,"error":"..."}`), and for a
//! backup the archive bytes follow until the node closes the stream.

use std::{
    fs,
    io::{BufRead, BufReader, BufWriter, Read, Write},
    os::unix::{fs::MetadataExt, fs::PermissionsExt, net::UnixStream},
    path::{Path, PathBuf},
    thread,
    time::Duration,
};

use serde_json::json;

use super::{users, write_backup, AdminError};
use crate::node::Node;
use crate::store::Store;

/// File name of the socket inside the data dir.
pub const SOCKET_NAME: &str = "admin.sock";

/// The longest request line accepted.
const MAX_REQUEST: u64 = 4096;

/// The node's admin socket; stops listening and removes the file when dropped.
pub struct AdminSocket {
    path: PathBuf,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl AdminSocket {
    /// Binds data_dir/admin.sock (mode 0600) and answers admin requests; must run
    /// inside the node's runtime (account commands run there). A stale socket file
    /// from a killed node is replaced.
    pub fn start(node: Node, data_dir: &Path) -> Result<Self, AdminError> {
        let arbiter = actix::Arbiter::current();
        let path = data_dir.join(SOCKET_NAME);
        let io = |source| AdminError::Io {
            path: path.clone(),
            source,
        };
        if path.exists() {
            if UnixStream::connect(&path).is_ok() {
                return Err(AdminError::Node(format!(
                    "another process answers on {path:?}"
                )));
            }
            fs::remove_file(&path).map_err(io)?;
        }
        let listener = tokio::net::UnixListener::bind(&path).map_err(io)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io)?;
        let owner = fs::metadata(&path).map_err(io)?.uid();
        let task = actix_web::rt::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin socket accept");
                        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let allowed = stream.peer_cred().map(|c| c.uid() == owner || c.uid() == 0);
                if !matches!(allowed, Ok(true)) {
                    tracing::warn!("admin socket: refused a connection from another user");
                    continue;
                }
                let (node, arbiter) = (node.clone(), arbiter.clone());
                let spawned = stream.into_std().and_then(|s| {
                    s.set_nonblocking(false)?;
                    thread::Builder::new()
                        .name("admin".into())
                        .spawn(move || {
                            if let Err(e) = answer(s, &node, &arbiter) {
                                tracing::warn!(error = %e, "admin request failed");
                            }
                        })
                        .map(|_| ())
                });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "admin socket: cannot serve a connection");
                }
            }
        });
        Ok(AdminSocket { path, task })
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = fs::remove_file(&self.path);
    }
}

/// Answers one admin connection.
fn answer(
    stream: UnixStream,
    node: &Node,
    arbiter: &actix::ArbiterHandle,
) -> Result<(), AdminError> {
    let store: &Store = &node.store;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
    let request: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
    let mut out = BufWriter::with_capacity(256 * 1024, &stream);
    match request.get("op").and_then(|o| o.as_str()) {
        Some("ping") => {
            writeln!(
                out,
                "{}",
                json!({"ok": true, "version": env!("CARGO_PKG_VERSION")})
            )?;
        }
        Some("backup") => {
            let estimate = store.snapshot_estimate()?;
            writeln!(out, "{}", json!({"ok": true, "estimate": estimate}))?;
            tracing::info!("admin: backup started");
            let summary = write_backup(store, &mut out, &mut |_| {})?;
            tracing::info!(
                entries = summary.entries,
                overlay = summary.overlay,
                media = summary.media.len(),
                "admin: backup streamed"
            );
        }
        Some(op) if op.starts_with("user_") || op.starts_with("invite_") => {
            tracing::info!(op, "admin: account command");
            writeln!(
                out,
                "{}",
                users::answer_on_node(node, arbiter, request.clone())
            )?;
        }
        _ => {
            writeln!(out, "{}", json!({"ok": false, "error": "unknown request"}))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Connects to the admin socket of the node running on `data_dir`; `None` when no node
/// answers there (no socket file, or a stale one).
pub fn connect(data_dir: &Path) -> Result<Option<UnixStream>, AdminError> {
    let path = data_dir.join(SOCKET_NAME);
    match UnixStream::connect(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(source) => Err(AdminError::Io { path, source }),
    }
}

/// Sends `op` on `stream` and reads the node's answer line; the answer, and the reader
/// positioned after it (a backup streams on behind its answer). An answer without
/// `"ok": true` is the node's refusal.
pub fn request<'a>(
    stream: &'a UnixStream,
    op: &str,
) -> Result<(serde_json::Value, BufReader<&'a UnixStream>), AdminError> {
    writeln!(&*stream, "{}", json!({ "op": op }))?;
    let mut input = BufReader::with_capacity(256 * 1024, stream);
    let mut line = String::new();
    input.read_line(&mut line)?;
    let answer: serde_json::Value = serde_json::from_str(&line)
        .map_err(|_| AdminError::Node(format!("unexpected answer {line:?}")))?;
    if answer.get("ok").and_then(|v| v.as_bool()) != Some(true) {
        let why = answer
            .get("error")
            .and_then(|v| v.as_str())
            .unwrap_or("no reason given");
        return Err(AdminError::Node(why.to_string()));
    }
    Ok((answer, input))
}

/// Whether a node runs on `data_dir`: its admin socket answers a `ping`.
pub fn node_running(data_dir: &Path) -> Result<bool, AdminError> {
    let Some(stream) = connect(data_dir)? else {
        return Ok(false);
    };
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(request(&stream, "ping").is_ok())
}
