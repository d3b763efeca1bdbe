//! `ceiling`: no node, only the disk and sled: the raw fsync rate and raw sled group
//! commit with a few writer counts (the code is shared with the `ceiling` bench).

use std::time::Duration;

use crate::report::Report;
use crate::{ceiling, stats, store_ceiling, Res};

/// Raw fsync and raw sled group commit, each for `secs`.
pub async fn run(
    scratch: &std::path::Path,
    secs: f64,
    writers: &[usize],
    report: &mut Report,
) -> Res<()> {
    let dir = store_ceiling::scratch_dir(scratch, "ceiling")?;
    let dir2 = dir.clone();
    let writers = writers.to_vec();
    let rows = tokio::task::spawn_blocking(move || -> Res<Vec<(String, f64)>> {
        let bound = || ceiling::Bound {
            ops: u64::MAX,
            deadline: Some(std::time::Instant::now() + Duration::from_secs_f64(secs)),
        };
        let mut rows = vec![(
            "raw fsync (64-byte append + fdatasync)".to_string(),
            ceiling::raw_fsync(&dir2, bound())?.per_sec(),
        )];
        for w in writers {
            let sub = dir2.join(format!("sled-{w}"));
            let rig = ceiling::GroupCommitRig::open(&sub)?;
            let rate = rig.run(w, bound())?;
            rows.push((
                format!("raw sled group commit, {w} writers (records/s)"),
                rate.per_sec(),
            ));
        }
        Ok(rows)
    })
    .await
    .map_err(|e| format!("ceiling thread: {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    for (figure, rate) in rows? {
        report.row(
            figure,
            format!("{}/s", stats::thousands(rate.round() as u64)),
            "",
        );
    }
    report.note(format!(
        "scratch files under {scratch:?}; the node's data dir should be on the same disk"
    ));
    Ok(())
}
