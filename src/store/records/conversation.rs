//! `convid_conv`: a conversation's identity, members and roles.

use serde::{Deserialize, Serialize};

use super::{StoredConvKind, Versioned};
use crate::error::{Error, Result};
use crate::store::codec::from_body;

/// `convid_conv`: a conversation's identity and members.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
// `remote = "Self"`: serde derives the functions but not the Serialize trait, so the
// record can only be stored through `records::encode`, never in layout 1 by `codec::encode`.
#[serde(remote = "Self")]
pub struct ConvRecord {
    /// Direct or group.
    pub kind: StoredConvKind,
    /// Group name ("" for direct).
    pub name: String,
    /// Usernames, sorted and unique.
    pub members: Vec<String>,
    /// Who made it.
    pub creator: String,
    /// When, ms.
    pub created_ms: u64,
    /// Who owns it (layout 2; format 1: the creator).
    pub owner: String,
    /// Admins: the owner first, then in the order they became admin (layout 2;
    /// format 1: the owner).
    pub admins: Vec<String>,
    /// Members in the order they joined, oldest first (layout 2; format 1: the creator
    /// first, then the others sorted).
    pub joined: Vec<String>,
    /// The oldest seq still kept (layout 2; format 1: 1).
    pub first_seq: u64,
}

/// Layout 1 (store format 1).
#[derive(Deserialize, Serialize)]
struct Layout1 {
    kind: StoredConvKind,
    name: String,
    members: Vec<String>,
    creator: String,
    created_ms: u64,
}

impl From<Layout1> for ConvRecord {
    fn from(v: Layout1) -> Self {
        let mut joined = Vec::with_capacity(v.members.len());
        if v.members.contains(&v.creator) {
            joined.push(v.creator.clone());
        }
        joined.extend(v.members.iter().filter(|m| **m != v.creator).cloned());
        ConvRecord {
            kind: v.kind,
            name: v.name,
            owner: v.creator.clone(),
            admins: vec![v.creator.clone()],
            joined,
            members: v.members,
            creator: v.creator,
            created_ms: v.created_ms,
            first_seq: 1,
        }
    }
}

layout_body!(ConvRecord);

impl Versioned for ConvRecord {
    const LAYOUT: u8 = 2;
    const NAME: &'static str = "conversation";

    fn decode_layout(layout: u8, body: &[u8]) -> Result<Self> {
        match layout {
            1 => from_body::<Layout1>(body).map(Into::into),
            2 => Self::from_layout_body(body),
            other => Err(Error::Internal(format!("no conversation layout {other}"))),
        }
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        self.to_layout_body()
    }
}

impl ConvRecord {
    /// A new conversation made by `creator` now: owner and only admin, first to join
    /// (then the others in `members` order).
    pub fn new(kind: StoredConvKind, name: &str, creator: &str, members: Vec<String>) -> Self {
        let mut joined = vec![creator.to_string()];
        joined.extend(members.iter().filter(|m| *m != creator).cloned());
        ConvRecord {
            kind,
            name: name.to_string(),
            members,
            creator: creator.to_string(),
            created_ms: crate::store::now_ms(),
            owner: creator.to_string(),
            admins: vec![creator.to_string()],
            joined,
            first_seq: 1,
        }
    }

    /// Whether `user` is a member.
    pub fn has_member(&self, user: &str) -> bool {
        self.members
            .binary_search_by(|m| m.as_str().cmp(user))
            .is_ok()
    }

    /// Whether `user` is the owner or an admin.
    pub fn is_admin(&self, user: &str) -> bool {
        self.owner == user || self.admins.iter().any(|a| a == user)
    }

    /// Takes `removed` out of the members, their join order and the admins; if the
    /// owner is among them, ownership goes to the longest-standing admin, else the
    /// longest-standing member (PROTOCOL.md "Groups"). Whether the owner changed.
    pub fn remove_members(&mut self, removed: &[String]) -> bool {
        self.members.retain(|m| !removed.contains(m));
        self.joined.retain(|m| !removed.contains(m));
        self.admins.retain(|m| !removed.contains(m));
        if !removed.contains(&self.owner) {
            return false;
        }
        let heir = self
            .admins
            .iter()
            .find(|a| **a != self.owner)
            .or_else(|| self.joined.first())
            .cloned()
            .unwrap_or_default();
        self.admins.retain(|a| *a != heir);
        if !heir.is_empty() {
            self.admins.insert(0, heir.clone());
        }
        self.owner = heir;
        true
    }
}
