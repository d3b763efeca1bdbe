//! The shape of issue 25's store: which accounts talk in which conversation and how
//! much, and the manifest a fill leaves behind for the probe.
//!
//! Direct chats are distinct pairs of active users; every group holds 3-8 active users
//! and the ghost, a member who never connects (so its offline queue is every group's
//! history). Conversation sizes are skewed (weights 1/(rank + 20) within each kind), so
//! the biggest conversation is several times the average.

use std::{collections::HashSet, path::Path};

use rand::{rngs::StdRng, seq::SliceRandom, Rng};
use serde::{Deserialize, Serialize};

use crate::Res;

/// How the store is laid out.
#[derive(Debug, Clone, Copy)]
pub struct ShapePlan {
    /// Messages to send in all.
    pub messages: u64,
    /// Active accounts (the ghost comes on top).
    pub users: usize,
    /// Direct conversations.
    pub directs: usize,
    /// Group conversations.
    pub groups: usize,
    /// Fewest members of a group, the ghost included.
    pub group_min: usize,
    /// Most members of a group, the ghost included.
    pub group_max: usize,
    /// Share of the messages sent in groups (the ghost's offline queue).
    pub group_share: f64,
}

/// One conversation as planned: its active members and how many messages each sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// A group (with the ghost) or a direct chat.
    pub group: bool,
    /// Indexes of active users; the first creates the conversation.
    pub members: Vec<usize>,
    /// Messages each member sends, in the order of `members`.
    pub sends: Vec<u64>,
}

#[cfg(test)]
impl Planned {
    /// Messages planned in all.
    pub fn total(&self) -> u64 {
        self.sends.iter().sum()
    }
}

/// Lays out the conversations of `plan` with `rng`: directs first, then groups.
pub fn layout(plan: &ShapePlan, rng: &mut StdRng) -> Res<Vec<Planned>> {
    let users = plan.users;
    if users < plan.group_max.saturating_sub(1).max(2) {
        return Err(format!(
            "{users} users cannot fill groups of up to {} members",
            plan.group_max
        ));
    }
    if plan.directs > users * (users - 1) / 2 {
        return Err(format!(
            "{users} users have fewer than {} distinct pairs",
            plan.directs
        ));
    }
    if plan.group_min < 2 || plan.group_min > plan.group_max {
        return Err("groups need 2 <= group-min <= group-max members".into());
    }
    let group_share = if plan.groups == 0 {
        0.0
    } else if plan.directs == 0 {
        1.0
    } else {
        plan.group_share.clamp(0.0, 1.0)
    };
    let in_groups = (plan.messages as f64 * group_share).round() as u64;
    let direct_quota = split_skewed(plan.messages - in_groups, plan.directs);
    let group_quota = split_skewed(in_groups, plan.groups);

    let mut out = Vec::with_capacity(plan.directs + plan.groups);
    let mut pairs = HashSet::new();
    for quota in direct_quota {
        let pair = loop {
            let a = rng.gen_range(0..users);
            let b = rng.gen_range(0..users);
            if a != b && pairs.insert((a.min(b), a.max(b))) {
                break vec![a, b];
            }
        };
        out.push(Planned {
            group: false,
            sends: split_even(quota, 2),
            members: pair,
        });
    }
    let everyone: Vec<usize> = (0..users).collect();
    for quota in group_quota {
        let size = rng.gen_range(plan.group_min..=plan.group_max);
        let members: Vec<usize> = everyone.choose_multiple(rng, size - 1).copied().collect();
        out.push(Planned {
            group: true,
            sends: split_even(quota, members.len()),
            members,
        });
    }
    Ok(out)
}

/// `total` over `n` parts with weights 1/(i + 20), largest remainders rounded up.
fn split_skewed(total: u64, n: usize) -> Vec<u64> {
    if n == 0 {
        return Vec::new();
    }
    let weights: Vec<f64> = (0..n).map(|i| 1.0 / (i as f64 + 20.0)).collect();
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = total - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa)
    });
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// `total` over `n` parts as evenly as possible, the first ones one more.
fn split_even(total: u64, n: usize) -> Vec<u64> {
    let n64 = n.max(1) as u64;
    (0..n64)
        .map(|i| total / n64 + u64::from(i < total % n64))
        .collect()
}

/// An account of the fill, with its login token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    /// Username.
    pub name: String,
    /// Token (valid for `accounts.token_ttl_secs`, 30 days by default).
    pub token: String,
}

/// A conversation of the fill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConvEntry {
    /// Its id.
    pub conv: u64,
    /// A group (the ghost is a member) or a direct chat.
    pub group: bool,
    /// Indexes into [`Manifest::users`].
    pub members: Vec<usize>,
    /// Its last seq once the fill ended (system messages included).
    pub last_seq: u64,
    /// Messages the fill got acks for in it.
    pub acked: u64,
}

/// What a fill leaves for the probe: accounts, tokens, conversations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The account names' prefix.
    pub prefix: String,
    /// Active accounts.
    pub users: Vec<Account>,
    /// The member of every group who never connects.
    pub ghost: String,
    /// Every conversation.
    pub convs: Vec<ConvEntry>,
    /// Messages acked in all.
    pub messages: u64,
}

impl Manifest {
    /// Writes it as JSON to `path`.
    pub fn save(&self, path: &Path) -> Res<()> {
        let text = serde_json::to_string(self).map_err(|e| format!("manifest: {e}"))?;
        std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// Reads what [`Manifest::save`] wrote.
    pub fn load(path: &Path) -> Res<Manifest> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("manifest {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_issue_shape_adds_up() {
        let plan = ShapePlan {
            messages: 1_000_000,
            users: 100,
            directs: 600,
            groups: 400,
            group_min: 4,
            group_max: 9,
            group_share: 0.4,
        };
        let convs = layout(&plan, &mut StdRng::seed_from_u64(7)).expect("layout");
        assert_eq!(convs.len(), 1000);
        let total: u64 = convs.iter().map(Planned::total).sum();
        assert_eq!(total, 1_000_000);
        let in_groups: u64 = convs.iter().filter(|c| c.group).map(Planned::total).sum();
        assert_eq!(in_groups, 400_000);
        for c in &convs {
            let distinct: HashSet<_> = c.members.iter().collect();
            assert_eq!(distinct.len(), c.members.len());
            if c.group {
                assert!((3..=8).contains(&c.members.len()));
            } else {
                assert_eq!(c.members.len(), 2);
            }
        }
    }
}
