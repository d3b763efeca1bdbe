//! The stored enums, as explicit one-byte tags.
//!
//! A tag is written once and means the same forever; a new variant takes the next free
//! tag. The tags of format 1 are the variant indexes bincode wrote then (one byte each),
//! so format-1 bytes decode unchanged.

use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

use crate::protocol::{ConvKind, MessageKind};

/// What a stored message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StoredKind {
    /// Plain text (tag 0).
    #[default]
    Text,
    /// An image; `media_url` points at it (tag 1).
    Image,
    /// A voice clip (tag 2).
    Voice,
    /// A video (tag 3).
    Video,
    /// Written by the node: members added or removed (tag 4).
    System,
    /// Any other file (tag 5; format 2).
    File,
    /// An event: the target's new body (tag 6; format 2).
    Edit,
    /// An event: a reaction added or taken back (tag 7; format 2).
    Reaction,
    /// An event: the target was recalled (tag 8; format 2).
    Recall,
}

impl StoredKind {
    /// Every kind, in tag order.
    pub const ALL: [StoredKind; 9] = [
        StoredKind::Text,
        StoredKind::Image,
        StoredKind::Voice,
        StoredKind::Video,
        StoredKind::System,
        StoredKind::File,
        StoredKind::Edit,
        StoredKind::Reaction,
        StoredKind::Recall,
    ];

    /// The tag written to disk.
    pub const fn tag(self) -> u8 {
        match self {
            StoredKind::Text => 0,
            StoredKind::Image => 1,
            StoredKind::Voice => 2,
            StoredKind::Video => 3,
            StoredKind::System => 4,
            StoredKind::File => 5,
            StoredKind::Edit => 6,
            StoredKind::Reaction => 7,
            StoredKind::Recall => 8,
        }
    }

    /// The kind of a tag; `None` for a tag this build does not know.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// An event about another message (edit, reaction, recall), not a message to show.
    pub fn is_event(self) -> bool {
        matches!(
            self,
            StoredKind::Edit | StoredKind::Reaction | StoredKind::Recall
        )
    }

    /// The wire kind clients see.
    pub fn wire(self) -> MessageKind {
        match self {
            StoredKind::Text => MessageKind::Text,
            StoredKind::Image => MessageKind::Image,
            StoredKind::Voice => MessageKind::Voice,
            StoredKind::Video => MessageKind::Video,
            StoredKind::System => MessageKind::System,
            StoredKind::File => MessageKind::File,
            StoredKind::Edit => MessageKind::Edit,
            StoredKind::Reaction => MessageKind::Reaction,
            StoredKind::Recall => MessageKind::Recall,
        }
    }
}

impl From<MessageKind> for StoredKind {
    fn from(kind: MessageKind) -> Self {
        match kind {
            MessageKind::Text => StoredKind::Text,
            MessageKind::Image => StoredKind::Image,
            MessageKind::Voice => StoredKind::Voice,
            MessageKind::Video => StoredKind::Video,
            MessageKind::System => StoredKind::System,
            MessageKind::File => StoredKind::File,
            MessageKind::Edit => StoredKind::Edit,
            MessageKind::Reaction => StoredKind::Reaction,
            MessageKind::Recall => StoredKind::Recall,
        }
    }
}

impl Serialize for StoredKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.tag())
    }
}

impl<'de> Deserialize<'de> for StoredKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let tag = u8::deserialize(d)?;
        StoredKind::from_tag(tag)
            .ok_or_else(|| D::Error::custom(format!("unknown message kind tag {tag}")))
    }
}

/// Direct or group, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StoredConvKind {
    /// Exactly two members, one conversation per pair (tag 0).
    #[default]
    Direct,
    /// Named, any number of members (tag 1).
    Group,
}

impl StoredConvKind {
    /// The tag written to disk.
    pub const fn tag(self) -> u8 {
        match self {
            StoredConvKind::Direct => 0,
            StoredConvKind::Group => 1,
        }
    }

    /// The wire kind.
    pub fn wire(self) -> ConvKind {
        match self {
            StoredConvKind::Direct => ConvKind::Direct,
            StoredConvKind::Group => ConvKind::Group,
        }
    }
}

impl From<ConvKind> for StoredConvKind {
    fn from(kind: ConvKind) -> Self {
        match kind {
            ConvKind::Direct => StoredConvKind::Direct,
            ConvKind::Group => StoredConvKind::Group,
        }
    }
}

impl Serialize for StoredConvKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.tag())
    }
}

impl<'de> Deserialize<'de> for StoredConvKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(StoredConvKind::Direct),
            1 => Ok(StoredConvKind::Group),
            tag => Err(D::Error::custom(format!(
                "unknown conversation kind tag {tag}"
            ))),
        }
    }
}
