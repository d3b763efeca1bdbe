//! Member states: each belongs to a conversation that lists its user, and every listed
//! member has one.

use std::collections::{HashMap, HashSet};

use super::{show_key, split_zero, CheckReport, States};
use crate::error::Result;
use crate::store::codec::read_be;
use crate::store::{ConvRecord, MemberState, Store};

impl Store {
    /// Checks member states against the conversation records; answers them by conversation.
    pub(super) fn check_members(
        &self,
        r: &mut CheckReport,
        convs: &HashMap<u64, ConvRecord>,
    ) -> Result<States> {
        let mut states: HashMap<u64, Vec<(String, MemberState)>> = HashMap::new();
        for kv in self.members.iter() {
            let (k, v) = kv?;
            let (Some((user, conv)), true) = (split_zero(&k), k.len() >= 9) else {
                r.problem(
                    "undecodable",
                    format!("userconv_state key {}", show_key(&k)),
                );
                continue;
            };
            let (user, Ok(conv)) = (String::from_utf8_lossy(user).into_owned(), read_be(conv))
            else {
                r.problem(
                    "undecodable",
                    format!("userconv_state key {}", show_key(&k)),
                );
                continue;
            };
            let Some(state) = r.decoded::<MemberState>("userconv_state", &k, &v) else {
                continue;
            };
            r.stats.members += 1;
            match convs.get(&conv) {
                None => r.problem("member", format!("{user:?} has a state in conversation {conv}, which does not exist")),
                Some(c) if !c.has_member(&user) => r.problem(
                    "member",
                    format!("{user:?} has a state in conversation {conv}, whose record does not list them"),
                ),
                Some(_) => {}
            }
            states.entry(conv).or_default().push((user, state));
        }
        for (conv, record) in convs {
            let listed: HashSet<&str> = states
                .get(conv)
                .map(|s| s.iter().map(|(u, _)| u.as_str()).collect())
                .unwrap_or_default();
            for m in &record.members {
                if !listed.contains(m.as_str()) {
                    r.problem(
                        "member",
                        format!("{m:?} is listed in conversation {conv} but has no state"),
                    );
                }
            }
        }
        Ok(states)
    }
}
