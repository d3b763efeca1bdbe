//! The ticket every write returns: the caller waits on it for durability (the group
//! commit answers once a flush covered it). A leaf, so the modules that write need not
//! know the commit.

/// Proof that a write was applied; its position orders it against flushes.
#[derive(Debug, Clone, Copy)]
#[must_use = "a write is not durable until its ticket has been waited on"]
pub struct Ticket(pub(super) u64);
