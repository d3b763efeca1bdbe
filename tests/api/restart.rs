//! The real binary: graceful stop on SIGTERM, restart on the same data dir.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, ExitStatus},
    time::{Duration, Instant},
};

use crate::harness::{seqs, TestApp, WAIT};

/// A `chatnode` process; killed on drop if still running.
struct NodeProcess {
    child: Child,
    addr: SocketAddr,
}

impl NodeProcess {
    /// Starts the binary on 127.0.0.1:0 with its store in `data_dir` and waits for the
    /// `chatnode listening on http://ADDR` line.
    fn start(data_dir: &Path) -> NodeProcess {
        let (child, addr) =
            crate::harness::start_binary(data_dir, &[("CHATNODE__SERVER__WORKERS", "1")], |_| {});
        NodeProcess { child, addr }
    }

    /// SIGTERM, then the exit status (bounded wait).
    async fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the node") {
                return status;
            }
            assert!(
                start.elapsed() < WAIT,
                "the node did not exit within {WAIT:?} of SIGTERM"
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[actix_web::test]
async fn restart_on_the_same_data_dir_keeps_history_and_continues_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(dir.path());
    let app = TestApp::at(node.addr);
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    for i in 1..=3u64 {
        let ack = a
            .send_acked(conv, &format!("before-{i}"), &format!("before restart {i}"))
            .await;
        assert_eq!(ack["seq"], i);
    }
    let before = app.history(&ta, conv).await;

    // Graceful stop: open sockets are told 1001, the process exits 0.
    let status = node.terminate().await;
    assert_eq!(a.expect_close().await, Some(1001));
    assert!(status.success(), "exit status after SIGTERM: {status:?}");

    let node = NodeProcess::start(dir.path());
    let app = TestApp::at(node.addr);
    // Tokens, accounts, conversations and history survived.
    let (status, me) = app.get("/api/me", &ta).await;
    assert_eq!((status, me["user"].as_str()), (200, Some("alice")));
    assert_eq!(app.history(&tb, conv).await, before);
    assert_eq!(app.direct(&ta, "bob").await, conv);
    let mut a = app.connect(&ta).await;
    // Seqs go on where they stopped; a retry from before the restart is still known.
    assert_eq!(
        a.send_acked(conv, "before-2", "before restart 2").await["seq"],
        2
    );
    let ack = a.send_acked(conv, "after-1", "after restart").await;
    assert_eq!(ack["seq"], 4);
    let b = app.connect(&tb).await;
    assert_eq!(seqs(&crate::harness::msgs_of(&b.drained)), vec![1, 2, 3, 4]);
    assert_eq!(&crate::harness::msgs_of(&b.drained)[..3], &before[..]);

    let status = node.terminate().await;
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

/// How one connection attempt of a reconnecting client ended.
#[derive(Debug, PartialEq)]
enum Attempt {
    /// No socket: the node no longer accepts.
    Refused,
    /// Authenticated, then closed by the node with this code.
    Closed(Option<u16>),
    /// The connection ended without a close frame.
    Cut,
}

/// Connects with `token`, waits for `auth_ok` and then for the node to end the socket,
/// the way a client that stays connected until told otherwise does.
async fn attempt(app: &TestApp, token: &str) -> Attempt {
    use awc::ws::Frame;
    use futures_util::StreamExt;
    let req = app.client.ws(app.ws_url(&format!("?token={token}")));
    let Ok(Ok((_, mut io))) = actix_web::rt::time::timeout(WAIT, req.connect()).await else {
        return Attempt::Refused;
    };
    let mut authed = false;
    loop {
        match actix_web::rt::time::timeout(WAIT, io.next()).await {
            Ok(Some(Ok(Frame::Text(t)))) => {
                let v: serde_json::Value = serde_json::from_slice(&t).unwrap();
                authed |= v["type"] == "auth_ok";
            }
            Ok(Some(Ok(Frame::Close(reason)))) => {
                assert!(authed, "closed before auth_ok: {reason:?}");
                return Attempt::Closed(reason.map(|r| u16::from(r.code)));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => return Attempt::Cut,
            Err(_) => panic!("the socket stayed open {WAIT:?} after shutdown began"),
        }
    }
}

#[actix_web::test]
async fn shutdown_while_clients_reconnect_closes_every_session_it_let_in() {
    let mut app = crate::harness::spawn_app(&[]).await;
    let token = app.register("ann").await;
    let running = app.take_running();
    // Three clients that reconnect at once whenever the node closes them, until refused.
    let clients = (0..3).map(|_| async {
        let mut ends = Vec::new();
        for _ in 0..50 {
            let end = attempt(&app, &token).await;
            let refused = end == Attempt::Refused;
            ends.push(end);
            if refused {
                break;
            }
        }
        ends
    });
    let clients = futures_util::future::join_all(clients);
    let stop = async {
        // Let every client get in once before the stop.
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        running.shutdown().await
    };
    let (ends, stopped) = tokio::join!(clients, stop);
    stopped.expect("shutdown flushes the store");
    for ends in &ends {
        let (last, served) = ends.split_last().expect("at least one attempt");
        assert_eq!(
            *last,
            Attempt::Refused,
            "every client ends refused: {ends:?}"
        );
        assert!(!served.is_empty(), "each client got in before the stop");
        assert!(
            served.iter().all(|e| *e == Attempt::Closed(Some(1001))),
            "every session the node let in was closed with 1001: {ends:?}"
        );
    }
}
