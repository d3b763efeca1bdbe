//! The meta tree: a known format version, id counters past every id, and the
//! high-water marks that tell a damaged store from a small one.

use super::{show_key, CheckReport};
use crate::error::Result;
use crate::store::codec::{read_be, FORMAT_VERSION};
use crate::store::migrations::FormatState;
use crate::store::Store;

impl Store {
    /// Checks every meta key; answers the conversation id counter.
    pub(super) fn check_meta(&self, r: &mut CheckReport) -> Result<Option<u64>> {
        let mut next_conv = None;
        for kv in self.meta.iter() {
            let (k, v) = kv?;
            match k.as_ref() {
                b"format_version" => match FormatState::of(Some(&v)) {
                    FormatState::Current => r.format = Some(FORMAT_VERSION),
                    FormatState::Older(old) => r.format = Some(old),
                    _ => r.problem(
                        "format",
                        format!(
                            "meta format_version is {:?}, this build reads 1 to {FORMAT_VERSION}",
                            v.as_ref()
                        ),
                    ),
                },
                b"migrating_to" => r.interrupted = v.first().copied(),
                k if crate::store::SEEN_KEYS.iter().any(|s| s.as_bytes() == k) => {
                    if read_be(&v).is_err() {
                        r.problem("undecodable", format!("meta {}", show_key(k)));
                    }
                }
                b"next_conv" => match read_be(&v) {
                    Ok(n) => next_conv = Some(n),
                    Err(e) => r.problem("undecodable", format!("meta next_conv: {e}")),
                },
                other => r.problem("meta", format!("unknown meta key {}", show_key(other))),
            }
        }
        if self.meta.get("format_version")?.is_none() {
            r.problem("format", "meta has no format_version".into());
        }
        Ok(next_conv)
    }

    /// The high-water marks: a store holding less than it once held was damaged.
    pub(super) fn check_marks_into(&self, r: &mut CheckReport) -> Result<()> {
        let (now, marks) = (self.counts_now()?, self.marks()?);
        for ((what, now), mark) in ["users", "conversations", "messages"]
            .iter()
            .zip(now)
            .zip(marks)
        {
            if now < mark {
                r.problem(
                    "damage",
                    format!("the store has {now} {what}, but it once had {mark} (meta seen_*)"),
                );
            }
        }
        Ok(())
    }
}
