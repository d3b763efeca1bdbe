//! `chatnode user ...` and `chatnode invite create`, the real binary, against a stopped
//! store and against a running node (through its admin socket).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::harness::{start_binary, KillOnDrop, TestApp, PASSWORD};

/// What one command gave: exit code, stdout, stderr.
pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) out: String,
    pub(crate) err: String,
}

/// Runs `chatnode ARGS` on `data_dir`, `stdin` written to its standard input.
pub(crate) fn chatnode(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatnode"))
        .args(args)
        .env_clear()
        .env("CHATNODE__SERVER__DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chatnode");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("chatnode finishes");
    Ran {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a command and asserts its exit code; what it gave.
pub(crate) fn expect(data_dir: &Path, args: &[&str], stdin: Option<&str>, code: i32) -> Ran {
    let ran = chatnode(data_dir, args, stdin);
    assert_eq!(
        ran.code, code,
        "chatnode {args:?}: exit {} (want {code})\nstdout: {}\nstderr: {}",
        ran.code, ran.out, ran.err
    );
    ran
}

/// The password a `user add` without `--password-stdin` printed.
fn printed_password(ran: &Ran) -> String {
    ran.out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password in {:?}", ran.out))
        .to_string()
}

/// The invite code `invite create` printed.
fn printed_code(ran: &Ran) -> String {
    ran.out
        .lines()
        .find_map(|l| l.strip_prefix("code:"))
        .unwrap_or_else(|| panic!("no code in {:?}", ran.out))
        .trim()
        .to_string()
}

/// Logs in over HTTP: the status, and the token on 200.
async fn login(app: &TestApp, name: &str, password: &str) -> (u16, Option<String>) {
    let a = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": name, "password": password})),
        )
        .await;
    let token = (a.status == 200).then(|| a.json()["token"].as_str().unwrap().to_string());
    (a.status, token)
}

#[actix_web::test]
async fn user_commands_on_a_stopped_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // the first command may come before the node ever ran: the store is made
    let pw = format!("{PASSWORD}\n");
    let added = expect(
        data,
        &["user", "add", "root", "--admin", "--password-stdin"],
        Some(&pw),
        0,
    );
    assert!(added.out.contains("root"), "{}", added.out);
    assert!(
        !added.out.contains(PASSWORD),
        "a given password is not echoed"
    );
    let ann = expect(data, &["user", "add", "ann"], None, 0);
    let ann_password = printed_password(&ann);
    assert!(ann_password.len() >= 16);
    expect(
        data,
        &["user", "add", "cy", "--password-stdin"],
        Some("cyspassword\n"),
        0,
    );

    // scripts can tell the failures apart
    expect(
        data,
        &["user", "add", "ann", "--password-stdin"],
        Some(&pw),
        4,
    );
    expect(
        data,
        &["user", "add", "Bad Name", "--password-stdin"],
        Some(&pw),
        2,
    );
    expect(
        data,
        &["user", "add", "dee", "--password-stdin"],
        Some("short\n"),
        2,
    );
    expect(data, &["user", "disable", "nobody"], None, 3);
    let refused = expect(data, &["user", "delete", "root"], None, 5);
    assert!(refused.err.contains("last admin"), "{}", refused.err);
    expect(data, &["user", "disable", "root"], None, 5);
    expect(data, &["user", "bogus"], None, 2);

    expect(data, &["user", "disable", "cy"], None, 0);
    expect(data, &["user", "delete", "cy"], None, 0);
    expect(
        data,
        &["user", "add", "cy", "--password-stdin"],
        Some(&pw),
        4,
    );
    let list = expect(data, &["user", "list"], None, 0);
    let lines: Vec<&str> = list.out.lines().collect();
    assert!(lines[0].starts_with("USER"), "{}", list.out);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("root") && l.contains("admin")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("ann ") && l.contains("member")));
    assert!(
        !lines.iter().any(|l| l.starts_with("cy ")),
        "deleted users are not listed"
    );
    assert!(list.out.contains("2 users"), "{}", list.out);
    expect(data, &["user", "disable", "ann"], None, 0);
    let list = expect(data, &["user", "list"], None, 0);
    assert!(list
        .out
        .lines()
        .any(|l| l.starts_with("ann ") && l.contains("disabled")));
    expect(data, &["user", "enable", "ann"], None, 0);
    let new = expect(data, &["user", "passwd", "ann"], None, 0);
    let ann_password2 = printed_password(&new);
    assert_ne!(ann_password, ann_password2);
    let invite = expect(
        data,
        &["invite", "create", "--uses", "2", "--ttl", "3600"],
        None,
        0,
    );
    let code = printed_code(&invite);
    assert!(
        invite.out.contains(&format!("#invite={code}")),
        "{}",
        invite.out
    );
    expect(data, &["invite", "create", "--uses", "0"], None, 2);
    // what the commands wrote is a sound store
    expect(data, &["check"], None, 0);

    // the node serves what the commands made
    let (child, addr) = start_binary(
        data,
        &[("CHATNODE__ACCOUNTS__REGISTRATION_OPEN", "false")],
        |_| {},
    );
    let _node = KillOnDrop(child);
    let app = TestApp::at(addr);
    let (status, root) = login(&app, "root", PASSWORD).await;
    assert_eq!(status, 200);
    let (_, me) = app.get("/api/me", root.as_deref().unwrap()).await;
    assert_eq!(me["admin"], true);
    assert_eq!(login(&app, "ann", &ann_password).await.0, 401);
    assert_eq!(login(&app, "ann", &ann_password2).await.0, 200);
    assert_eq!(login(&app, "cy", PASSWORD).await.0, 401);
    for name in ["eve", "fay"] {
        let a = app
            .call(
                "POST",
                "/api/register",
                None,
                Some(json!({"username": name, "password": PASSWORD, "invite": code})),
            )
            .await;
        assert_eq!(a.status, 201, "{name}: {:?}", a.body);
    }
    let a = app
        .call(
            "POST",
            "/api/register",
            None,
            Some(json!({"username": "gus", "password": PASSWORD, "invite": code})),
        )
        .await;
    assert_eq!(a.status, 403);
}

#[actix_web::test]
async fn user_commands_on_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (child, addr) = start_binary(data, &[], |_| {});
    let _node = KillOnDrop(child);
    let app = TestApp::at(addr);
    let root = app.register("root").await;
    let pw = format!("{PASSWORD}\n");

    expect(
        data,
        &["user", "add", "bob", "--password-stdin"],
        Some(&pw),
        0,
    );
    expect(
        data,
        &["user", "add", "bob", "--password-stdin"],
        Some(&pw),
        4,
    );
    expect(
        data,
        &["user", "add", "ops", "--admin", "--password-stdin"],
        Some(&pw),
        0,
    );
    let (status, bob) = login(&app, "bob", PASSWORD).await;
    assert_eq!(status, 200);
    let bob = bob.unwrap();
    let group = app.group(&root, "team", &["bob"]).await;

    // disabling closes bob's socket at once
    let mut socket = app.connect(&bob).await;
    expect(data, &["user", "disable", "bob"], None, 0);
    socket.expect_error("unauthorized").await;
    assert_eq!(socket.expect_close().await, Some(4001));
    assert_eq!(app.get("/api/me", &bob).await.0, 401);
    assert_eq!(login(&app, "bob", PASSWORD).await.0, 401);
    expect(data, &["user", "enable", "bob"], None, 0);

    // a new password closes its sockets too
    let bob = login(&app, "bob", PASSWORD).await.1.unwrap();
    let mut socket = app.connect(&bob).await;
    expect(
        data,
        &["user", "passwd", "bob", "--password-stdin"],
        Some("another password\n"),
        0,
    );
    socket.expect_error("unauthorized").await;
    assert_eq!(socket.expect_close().await, Some(4001));
    assert_eq!(login(&app, "bob", PASSWORD).await.0, 401);
    let bob = login(&app, "bob", "another password").await.1.unwrap();

    // deleting: sockets close, the group hears it, the name stays taken
    let mut socket = app.connect(&bob).await;
    let mut root_socket = app.connect(&root).await;
    expect(data, &["user", "delete", "bob"], None, 0);
    socket.expect_error("unauthorized").await;
    assert_eq!(socket.expect_close().await, Some(4001));
    let left = root_socket
        .next_matching(|f| f["type"] == "message" && f["msg"]["kind"] == "system")
        .await;
    assert_eq!(left["msg"]["conv"], group);
    assert_eq!(
        app.conversation(&root, group).await["members"],
        json!(["root"])
    );
    expect(
        data,
        &["user", "add", "bob", "--password-stdin"],
        Some(&pw),
        4,
    );
    expect(data, &["user", "delete", "bob"], None, 3);

    let list = expect(data, &["user", "list"], None, 0);
    assert!(list
        .out
        .lines()
        .any(|l| l.starts_with("root") && l.contains("admin")));
    assert!(list
        .out
        .lines()
        .any(|l| l.starts_with("ops ") && l.contains("admin")));
    assert!(!list.out.lines().any(|l| l.starts_with("bob ")));
    // two admins: one may step down or go; then the other is the last
    expect(data, &["user", "demote", "ops"], None, 0);
    expect(data, &["user", "demote", "root"], None, 5);
    expect(data, &["user", "promote", "ops"], None, 0);
    expect(data, &["user", "delete", "ops"], None, 0);
    expect(data, &["user", "disable", "root"], None, 5);
    expect(data, &["user", "promote", "nobody"], None, 3);

    let invite = expect(data, &["invite", "create"], None, 0);
    let code = printed_code(&invite);
    let a = app
        .call(
            "POST",
            "/api/register",
            None,
            Some(json!({"username": "dee", "password": PASSWORD, "invite": code})),
        )
        .await;
    assert_eq!(
        a.status, 201,
        "an open node admits without looking at the invite"
    );
    root_socket.barrier().await;
}

#[actix_web::test]
async fn a_user_deleted_on_a_stopped_store_has_left_its_groups() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (group, last_seq) = {
        let (child, addr) = start_binary(data, &[], |_| {});
        let _node = KillOnDrop(child);
        let app = TestApp::at(addr);
        let root = app.register("root").await;
        let ann = app.register("ann").await;
        app.register("bob").await;
        let group = app.group(&root, "family", &["ann", "bob"]).await;
        let mut socket = app.connect(&ann).await;
        socket.send_acked(group, "a1", "hello family").await;
        let last = app.conversation(&root, group).await["last_seq"]
            .as_u64()
            .unwrap();
        (group, last)
    };
    // the node was killed: its lock is gone with it
    expect(data, &["user", "delete", "ann"], None, 0);
    expect(data, &["check"], None, 0);

    let (child, addr) = start_binary(data, &[], |_| {});
    let _node = KillOnDrop(child);
    let app = TestApp::at(addr);
    let root = login(&app, "root", PASSWORD).await.1.unwrap();
    assert_eq!(login(&app, "ann", PASSWORD).await.0, 401);
    let g = app.conversation(&root, group).await;
    assert_eq!(g["members"], json!(["bob", "root"]));
    assert_eq!(g["last_seq"], last_seq + 1);
    let history = app.history(&root, group).await;
    let left = history.last().unwrap();
    assert_eq!(left["kind"], "system");
    assert_eq!(left["sender"], "ann");
    assert_eq!(left["seq"], last_seq + 1);
    assert!(history
        .iter()
        .any(|m| m["sender"] == "ann" && m["body"] == "hello family"));
}

/// The node's stderr, started with stderr on a pipe (as under systemd) and `env` on top,
/// up to its clean exit after SIGTERM; one HTTP request is made in between.
async fn stderr_of_a_run(env: &[(&str, &str)]) -> String {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatnode"))
        .env_clear()
        .env("CHATNODE__SERVER__BIND", "127.0.0.1:0")
        .env("CHATNODE__SERVER__DATA_DIR", dir.path())
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chatnode");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all);
        all
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .find_map(|l| {
            let l = l.ok()?;
            Some(l.strip_prefix("chatnode listening on http://")?.to_string())
        })
        .expect("the listening line");
    let mut node = KillOnDrop(child);
    let app = TestApp::at(addr.parse().unwrap());
    assert_eq!(app.get("/api/features", "").await.0, 200);
    // SIGTERM: a clean shutdown logs too
    let pid = i32::try_from(node.0.id()).unwrap();
    // SAFETY: kill(2) on the child this test started; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = node.0.wait().unwrap();
    assert!(status.success(), "exit {status:?}");
    let bytes = reader.join().unwrap();
    assert!(
        !bytes.contains(&0x1b),
        "an ANSI escape on a stderr that is not a terminal: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    String::from_utf8(bytes).expect("UTF-8 log")
}

#[actix_web::test]
async fn the_log_on_a_pipe_is_plain_text_without_colour_codes() {
    let log = stderr_of_a_run(&[]).await;
    assert!(log.contains("INFO"), "no info line in {log:?}");
    assert!(log.contains("shutting down"), "{log:?}");
}

#[actix_web::test]
async fn log_format_json_writes_one_json_object_a_line() {
    let log = stderr_of_a_run(&[("CHATNODE__LOG__FORMAT", "json")]).await;
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 2, "{log:?}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line:?}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(log.contains("shutting down"), "{log:?}");
}

#[test]
fn config_default_prints_the_commented_defaults_and_they_load() {
    let dir = tempfile::tempdir().unwrap();
    let ran = expect(dir.path(), &["config", "default"], None, 0);
    assert_eq!(ran.out, chatnode::config::DEFAULT_TOML);
    assert!(ran.out.lines().filter(|l| l.starts_with('#')).count() > 20);
    // as a --config file: parsed as TOML and loaded as the settings
    let file = dir.path().join("chatnode.toml");
    std::fs::write(&file, &ran.out).unwrap();
    let empty = Some(std::collections::HashMap::new());
    let settings = chatnode::config::Settings::load_with_env(Some(&file), empty).unwrap();
    assert_eq!(settings.storage.cache_mb, 64);
    assert_eq!(settings.server.bind, "127.0.0.1:8080");
    // it needs no settings: a broken environment does not stop it
    let out = Command::new(env!("CARGO_BIN_EXE_chatnode"))
        .args(["config", "default"])
        .env("CHATNODE__SERVER__BIND", "not an address")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ran.out);
}

#[test]
fn the_packaged_config_file_loads_and_bad_log_formats_are_refused() {
    let packaged = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/chatnode.toml");
    let empty = || Some(std::collections::HashMap::new());
    let settings =
        chatnode::config::Settings::load_with_env(Some(Path::new(packaged)), empty()).unwrap();
    assert_eq!(settings.log.format, chatnode::config::LogFormat::Text);
    let mut env = std::collections::HashMap::new();
    env.insert("CHATNODE__LOG__FORMAT".to_string(), "xml".to_string());
    let err = chatnode::config::Settings::load_with_env(None, Some(env)).unwrap_err();
    assert!(err.to_string().contains("format"), "{err}");
}
