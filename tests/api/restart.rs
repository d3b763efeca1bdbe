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
