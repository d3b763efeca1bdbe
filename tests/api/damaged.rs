//! Stores damaged by a power cut (tests/fixtures/damaged-stores, see damaged-stores.md):
//! never served as new, never a panic trace, files left as they were (issue 19.1).

use std::path::Path;

/// Every file under `dir` with its bytes, sorted by path.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).expect("read")));
        }
    }
    out.sort();
    out
}

/// Unpacks a damaged data dir (archives hold `data/`), writable.
fn unpack(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = crate::fixtures::unpack(&format!("damaged-stores/{name}"));
    let ok = std::process::Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(dir.path())
        .status()
        .expect("chmod")
        .success();
    assert!(ok);
    let data = dir.path().join("data");
    (dir, data)
}

/// Runs the binary (`args`) on `data`; exit code and stderr.
fn run(data: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatnode"))
        .args(args)
        .env_clear()
        .env("CHATNODE__SERVER__BIND", "127.0.0.1:0")
        .env("CHATNODE__SERVER__DATA_DIR", data)
        .env("RUST_LOG", "error")
        .output()
        .expect("run chatnode");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn refused_untouched(name: &str, says: &str) {
    let (_dir, data) = unpack(name);
    let before = files(&data);
    for args in [&[][..], &["check"][..], &[][..]] {
        let (code, text) = run(&data, args);
        assert_eq!(code, Some(1), "{name} {args:?}: {text}");
        assert!(text.contains(says), "{name} {args:?}: {text}");
        assert!(text.contains(&data.display().to_string()), "{name}: {text}");
        assert!(text.contains("chatnode restore"), "{name}: {text}");
        assert!(!text.contains("panicked"), "{name}: {text}");
        assert!(
            files(&data) == before,
            "{name} {args:?}: the files were changed"
        );
    }
}

#[test]
fn a_store_that_came_back_empty_is_refused_not_served_as_new() {
    refused_untouched("recovers-empty", "came back without its format version");
}

#[test]
fn a_store_sled_panics_on_is_refused_with_a_message() {
    refused_untouched("panics-on-open", "failed while recovering it");
}

/// The newest automatic backup in `dir`, once one is there (bounded wait).
async fn wait_for_auto_backup(dir: &Path) -> std::path::PathBuf {
    let found = crate::harness::poll_until(
        || async { chatnode::store::newest_backup(dir) },
        |f: &Option<std::path::PathBuf>| f.is_some(),
    )
    .await;
    found.expect("an automatic backup within the wait")
}

#[actix_web::test]
async fn an_automatic_backup_taken_while_sending_restores_complete() {
    let data = tempfile::tempdir().expect("temp dir");
    let (child, addr) = crate::harness::start_binary(
        data.path(),
        &[
            ("CHATNODE__BACKUP__EVERY_SECS", "1"),
            ("CHATNODE__BACKUP__KEEP", "2"),
            ("CHATNODE__LIMITS__MESSAGES_PER_SEC", "100000"),
        ],
        |_| {},
    );
    let node = crate::harness::KillOnDrop(child);
    let app = crate::harness::TestApp::at(addr);
    let ta = app.register("alice").await;
    app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut ws = app.connect(&ta).await;
    let backups = data.path().join("backups");
    // send until a backup is there; remember when each ack came
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let mut i = 0u64;
    let started = std::time::Instant::now();
    while chatnode::store::newest_backup(&backups).is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no backup"
        );
        let ack = ws
            .send_acked(conv, &format!("m{i}"), &format!("message {i}"))
            .await;
        acked.push((ack["seq"].as_u64().expect("seq"), chatnode::store::now_ms()));
        i += 1;
    }
    let file = wait_for_auto_backup(&backups).await;
    ws.close().await;
    crate::fixtures::stop(node);

    // the file verifies and restores into a sound store
    let name = file
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let stamp = name
        .trim_start_matches("auto-")
        .trim_end_matches(".chatnode-backup")
        .to_string();
    let restored = tempfile::tempdir().expect("temp dir");
    let target = restored.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatnode"))
        .args(["restore", &file.display().to_string(), "--data-dir"])
        .arg(&target)
        .env_clear()
        .env("RUST_LOG", "error")
        .output()
        .expect("restore");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("check: ok"), "{text}");

    // everything acked before the backup began is in it, gapless from 1
    let (child, addr) = crate::harness::start_binary(&target, &[], |_| {});
    let node = crate::harness::KillOnDrop(child);
    let app = crate::harness::TestApp::at(addr);
    let token = app.login("alice").await;
    let history = app.history(&token, conv).await;
    let seqs = crate::harness::seqs(&history);
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let began = stamp_ms(&stamp);
    for (seq, at) in &acked {
        if *at < began {
            assert!(
                seqs.contains(seq),
                "message {seq}, acked before the backup, is missing"
            );
        }
    }
    crate::fixtures::stop(node);
}

/// ms since the epoch of a `YYYYMMDDTHHMMSSmmmZ` stamp (UTC).
fn stamp_ms(stamp: &str) -> u64 {
    let n = |a: usize, b: usize| stamp[a..b].parse::<i64>().expect("digits");
    let (y, m, d) = (n(0, 4), n(4, 6), n(6, 8));
    let (hh, mm, ss, ms) = (n(9, 11), n(11, 13), n(13, 15), n(15, 18));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000 + ms) as u64
}
