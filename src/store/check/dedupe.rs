//! Dedupe entries: each points at a stored message with its sender and client_id.

use super::{show_key, split_zero, CheckReport};
use crate::error::Result;
use crate::store::codec::read_be;
use crate::store::Store;

impl Store {
    /// Checks every dedupe entry.
    pub(super) fn check_dedupe(&self, r: &mut CheckReport) -> Result<()> {
        for kv in self.dedupe.iter() {
            let (k, v) = kv?;
            r.stats.dedupe += 1;
            let (Some((sender, client_id)), Ok(conv), Ok(seq)) = (
                split_zero(&k),
                read_be(&v),
                read_be(v.get(8..).unwrap_or_default()),
            ) else {
                r.problem(
                    "undecodable",
                    format!("senderclientid_convseq key {}", show_key(&k)),
                );
                continue;
            };
            let (sender, client_id) = (
                String::from_utf8_lossy(sender),
                String::from_utf8_lossy(client_id),
            );
            match self.message(conv, seq) {
                Ok(None) => r.problem(
                    "dedupe",
                    format!(
                        "({sender:?}, {client_id:?}) points at {conv}/{seq}, which is not stored"
                    ),
                ),
                Err(_) => {} // reported with its conversation's entries
                Ok(Some(m)) => {
                    if m.sender != sender || m.client_id != client_id {
                        r.problem(
                                "dedupe",
                                format!(
                                    "({sender:?}, {client_id:?}) points at {conv}/{seq}, which is ({:?}, {:?})",
                                    m.sender, m.client_id
                                ),
                            );
                    }
                }
            }
        }
        Ok(())
    }
}
