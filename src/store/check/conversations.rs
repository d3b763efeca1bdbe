//! Conversations, direct pairs and last-seq guards: members sorted, unique and real,
//! pairs pointing at their own direct chat, ids never reused.

use std::collections::{HashMap, HashSet};

use super::{show_key, split_zero, CheckReport};
use crate::error::Result;
use crate::store::codec::read_be;
use crate::store::records::StoredConvKind;
use crate::store::{ConvRecord, Store};

impl Store {
    /// Checks conversation records and direct pairs; answers the records by id.
    pub(super) fn check_conversations(
        &self,
        r: &mut CheckReport,
        users: &HashSet<String>,
        next_conv: Option<u64>,
    ) -> Result<HashMap<u64, ConvRecord>> {
        let mut convs: HashMap<u64, ConvRecord> = HashMap::new();
        for kv in self.convs.iter() {
            let (k, v) = kv?;
            let Ok(conv) = read_be(&k) else {
                r.problem("undecodable", format!("convid_conv key {}", show_key(&k)));
                continue;
            };
            let Some(record) = r.decoded::<ConvRecord>("convid_conv", &k, &v) else {
                continue;
            };
            let mut sorted = record.members.clone();
            sorted.sort();
            sorted.dedup();
            if sorted != record.members {
                r.problem(
                    "conversation",
                    format!("conversation {conv}: members not sorted and unique"),
                );
            }
            if record.kind == StoredConvKind::Direct && record.members.len() != 2 {
                r.problem(
                    "conversation",
                    format!(
                        "direct conversation {conv} has {} members",
                        record.members.len()
                    ),
                );
            }
            for m in &record.members {
                if !users.contains(m) {
                    r.problem(
                        "conversation",
                        format!("conversation {conv} lists {m:?}, who has no account"),
                    );
                }
            }
            convs.insert(conv, record);
        }
        r.stats.conversations = convs.len() as u64;
        if let Some(max) = convs.keys().max() {
            if next_conv.unwrap_or(0) < *max {
                r.problem(
                    "meta",
                    format!(
                        "next_conv is {:?} but conversation {max} exists: ids would be reused",
                        next_conv
                    ),
                );
            }
        }
        for kv in self.pairs.iter() {
            let (k, v) = kv?;
            let (Some((a, b)), Ok(conv)) = (split_zero(&k), read_be(&v)) else {
                r.problem("undecodable", format!("pair_convid key {}", show_key(&k)));
                continue;
            };
            let pair = vec![
                String::from_utf8_lossy(a).into_owned(),
                String::from_utf8_lossy(b).into_owned(),
            ];
            match convs.get(&conv) {
                Some(c) if c.kind == StoredConvKind::Direct && c.members == pair => {}
                _ => r.problem(
                    "pair",
                    format!(
                        "direct pair {pair:?} points at conversation {conv}, which is not theirs"
                    ),
                ),
            }
        }
        Ok(convs)
    }

    /// Checks the last-seq guards belong to conversations; answers them by conversation.
    pub(super) fn check_last_seqs(
        &self,
        r: &mut CheckReport,
        convs: &HashMap<u64, ConvRecord>,
    ) -> Result<HashMap<u64, u64>> {
        let mut last_seqs: HashMap<u64, u64> = HashMap::new();
        for kv in self.last_seqs.iter() {
            let (k, v) = kv?;
            match (read_be(&k), read_be(&v)) {
                (Ok(conv), Ok(last)) => {
                    if !convs.contains_key(&conv) {
                        r.problem(
                            "last seq",
                            format!("conversation {conv} has a last seq but no record"),
                        );
                    }
                    last_seqs.insert(conv, last);
                }
                _ => r.problem(
                    "undecodable",
                    format!("convid_lastseq key {}", show_key(&k)),
                ),
            }
        }
        Ok(last_seqs)
    }
}
