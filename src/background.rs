//! What the node's background threads (search indexer, compactor) share: running below
//! the threads that answer clients.

/// Lowers the calling thread's CPU priority to `nice` (Linux: nice is per thread, and
/// threads it starts inherit it).
pub fn lower_priority(nice: libc::c_int) {
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    let done = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    if done != 0 {
        tracing::debug!("could not lower a background thread's priority");
    }
}
