//! Wire types: the JSON frames and objects of PROTOCOL.md, and nothing else.
//!
//! Client frames are parsed in two steps (JSON value, then the typed frame) so a bad
//! frame is answered with `bad_frame` naming what was wrong and echoing its `ref`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Largest conversation id a client may name: ids stay exact in JavaScript.
pub const MAX_CONV_ID: u64 = (1 << 53) - 1;

/// What a message is; `system` is written only by the node (membership changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Plain text.
    #[default]
    Text,
    /// An image, `media_url` points at it.
    Image,
    /// A voice clip.
    Voice,
    /// A video.
    Video,
    /// Written by the node: members added or removed, group created.
    System,
    /// A non-media attachment, `media_url` points at it.
    File,
    /// Event: the sender's new text for the message at `target`.
    Edit,
    /// Event: an emoji (the body) added to or taken back from `target` (`on`).
    Reaction,
    /// Event: the sender took `target` back.
    Recall,
}

impl MessageKind {
    /// Whether entries of this kind are events (changes to another entry).
    pub fn is_event(self) -> bool {
        matches!(
            self,
            MessageKind::Edit | MessageKind::Reaction | MessageKind::Recall
        )
    }
}

/// A message's reactions: emoji -> users in the order they reacted, emoji in
/// first-reaction order; on the wire a JSON object in that order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reactions(pub Vec<(String, Vec<String>)>);

impl Serialize for Reactions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (emoji, users) in &self.0 {
            map.serialize_entry(emoji, users)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Reactions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Reactions;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of emoji to usernames")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Reactions, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Reactions(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Direct (two people) or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvKind {
    /// Exactly two members, one per pair.
    Direct,
    /// Named, any number of members.
    Group,
}

/// The message object clients see.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    /// Conversation id.
    pub conv: u64,
    /// Position in the conversation, gapless from 1.
    pub seq: u64,
    /// Username of the sender (the acting user for `system`).
    pub sender: String,
    /// The sender's dedupe id ("" for system messages).
    pub client_id: String,
    /// What it is.
    pub kind: MessageKind,
    /// Text; empty once recalled.
    pub body: String,
    /// Media link, if any.
    pub media_url: Option<String>,
    /// Server time in ms when stored.
    pub ts: u64,
    /// Whether the sender recalled it.
    pub recalled: bool,
    /// Seq of the message it answers.
    #[serde(default)]
    pub reply_to: Option<u64>,
    /// Usernames it mentions.
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Time of the last edit.
    #[serde(default)]
    pub edited_ts: Option<u64>,
    /// emoji -> users, in reaction order.
    #[serde(default)]
    pub reactions: Reactions,
    /// Events: the seq they change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u64>,
    /// Reaction events: added or taken back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
}

/// The conversation object clients see, from one member's point of view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationView {
    /// Conversation id.
    pub conv: u64,
    /// Direct or group.
    pub kind: ConvKind,
    /// Group name; for direct chats the other member's name.
    pub name: String,
    /// Usernames, sorted.
    pub members: Vec<String>,
    /// Seq of the newest message (0 if none).
    pub last_seq: u64,
    /// The newest message.
    pub last_message: Option<MessageView>,
    /// Others' messages after `read_seq`.
    pub unread: u64,
    /// Of those, the ones that mention this member.
    pub mentions: u64,
    /// Pinned by this member.
    pub pinned: bool,
    /// This member's read position.
    pub read_seq: u64,
    /// This member's delivered position.
    pub delivered_seq: u64,
    /// Muted by this member (no push notifications).
    pub muted: bool,
    /// Groups: the owner (null for direct chats).
    pub owner: Option<String>,
    /// Groups: the admins, owner first ([] for direct chats).
    pub admins: Vec<String>,
    /// Lowest seq still stored (retention); `last_seq + 1` when all have expired.
    pub first_seq: u64,
    /// Direct chats only: the other member's read position, so a client can show which
    /// of its own messages were read after a reload (`receipt` frames tell of changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_read_seq: Option<u64>,
    /// Direct chats only: the other member's delivered position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_delivered_seq: Option<u64>,
    /// Every other member's positions (PROTOCOL.md v1.1), so a client shows the right
    /// ticks after a reload in groups too ("read by 3 of 5").
    #[serde(default)]
    pub receipts: BTreeMap<String, Receipt>,
}

/// One member's positions in a conversation, as `receipts` lists them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Highest seq delivered to one of the member's devices (0 when none).
    pub delivered: u64,
    /// Highest seq the member has read (0 when none).
    pub read: u64,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Authenticate with a token (first frame).
    Auth {
        /// Login token.
        token: String,
    },
    /// Heartbeat; `ts` (else `timestamp`, as seed clients send it) is echoed, else
    /// the `pong` carries the server time. Either, when given, must be a number.
    Ping {
        /// Any number.
        #[serde(default, deserialize_with = "given_number")]
        ts: Option<serde_json::Number>,
        /// What some clients call `ts`.
        #[serde(default, deserialize_with = "given_number")]
        timestamp: Option<serde_json::Number>,
    },
    /// Send a message to `conv`, or to the direct chat with `to`.
    Send(SendFrame),
    /// Cumulative delivery confirmation.
    Delivered {
        /// Conversation.
        conv: u64,
        /// Up to and including this seq.
        seq: u64,
    },
    /// Cumulative read confirmation.
    Read {
        /// Conversation.
        conv: u64,
        /// Up to and including this seq.
        seq: u64,
    },
    /// Catch up after a reconnect.
    Sync {
        /// conv id (decimal string) -> last seq seen.
        convs: BTreeMap<String, u64>,
        /// Messages per conversation (default 50, max 500).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// A history page, like the HTTP one.
    History {
        /// Conversation.
        conv: u64,
        /// Messages older than this seq.
        #[serde(default)]
        before: Option<u64>,
        /// Messages newer than this seq.
        #[serde(default)]
        after: Option<u64>,
        /// Page size (default 20, clamped to 100).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Take back one's own message within the window.
    Recall {
        /// Conversation.
        conv: u64,
        /// The message.
        seq: u64,
    },
    /// "is typing", relayed and not stored.
    Typing {
        /// Conversation.
        conv: u64,
    },
    /// Replace the text of one's own message.
    Edit {
        /// Conversation.
        conv: u64,
        /// The message.
        seq: u64,
        /// The new text.
        body: String,
        /// Dedupe id of the edit.
        client_id: String,
    },
    /// Add or take back a reaction.
    React {
        /// Conversation.
        conv: u64,
        /// The message.
        seq: u64,
        /// 1-32 bytes.
        emoji: String,
        /// Add (true) or take back (false).
        on: bool,
        /// Dedupe id of the reaction.
        client_id: String,
    },
}

/// The fields of a `send` frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SendFrame {
    /// Target conversation (or use `to`).
    #[serde(default)]
    pub conv: Option<u64>,
    /// Username: finds or creates the direct conversation.
    #[serde(default)]
    pub to: Option<String>,
    /// 1-64 chars, unique per sender.
    pub client_id: String,
    /// text, image, voice or video.
    #[serde(default)]
    pub kind: MessageKind,
    /// Text or caption: required for `text`, may be left out when `media_url` is given.
    #[serde(default)]
    pub body: Option<String>,
    /// Optional link from POST /api/media.
    #[serde(default)]
    pub media_url: Option<String>,
    /// The seq it answers (same conversation, a stored non-event).
    #[serde(default)]
    pub reply_to: Option<u64>,
    /// Usernames it mentions (non-members are dropped, then cut to 50).
    #[serde(default)]
    pub mentions: Vec<String>,
}

/// The version of shared/PROTOCOL.md this node implements, in `auth_ok` and
/// `/api/features`: "1.1" since the last of the v1.1 additions (indexed search) landed.
pub const PROTOCOL_VERSION: &str = "1.1";

/// Frames the node sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authentication succeeded.
    AuthOk {
        /// The contract version this node implements ([`PROTOCOL_VERSION`]).
        protocol: &'static str,
        /// Username.
        user: String,
        /// This socket's session id.
        session: String,
        /// Node time in ms.
        server_time: u64,
        /// How often the node expects a frame.
        heartbeat_ms: u64,
        /// How long after sending a message its sender may recall it (an addition to
        /// the contract: a client shows its "recall" button only while it would work).
        recall_window_ms: u64,
        /// The same for editing (`messages.edit_window_secs`; 0: editing is off).
        edit_window_ms: u64,
    },
    /// A stored message.
    Message {
        /// The message.
        msg: MessageView,
    },
    /// The sender's message is durable.
    Ack {
        /// The sender's id for it.
        client_id: String,
        /// Conversation.
        conv: u64,
        /// Its seq.
        seq: u64,
        /// Its server time.
        ts: u64,
    },
    /// Someone received or read up to `seq`.
    Receipt {
        /// Conversation.
        conv: u64,
        /// Who.
        user: String,
        /// "delivered" or "read".
        status: &'static str,
        /// Up to this seq.
        seq: u64,
    },
    /// This user's unread count changed (from another device, a recall, ...).
    Unread {
        /// Conversation.
        conv: u64,
        /// New count.
        count: u64,
        /// Of those, the ones mentioning the user (added to the contract's frame).
        mentions: u64,
    },
    /// A message was recalled.
    Recalled {
        /// Conversation.
        conv: u64,
        /// Which.
        seq: u64,
        /// Who recalled it.
        by: String,
    },
    /// A user came online (first socket) or went offline (last socket).
    Presence {
        /// Who.
        user: String,
        /// Online or not.
        online: bool,
    },
    /// Someone is typing.
    Typing {
        /// Conversation.
        conv: u64,
        /// Who.
        user: String,
    },
    /// Missed messages of one conversation.
    SyncBatch {
        /// Conversation.
        conv: u64,
        /// Oldest first.
        messages: Vec<MessageView>,
        /// More after these.
        has_more: bool,
    },
    /// End of the offline queue or of a `sync`.
    SyncDone {},
    /// A history page.
    History {
        /// Conversation.
        conv: u64,
        /// Ascending by seq.
        messages: Vec<MessageView>,
        /// More in the direction asked.
        has_more: bool,
    },
    /// A conversation was created or changed. Built with [`ServerFrame::conv_update`].
    ConvUpdate {
        /// The conversation object's fields at the top level, as PROTOCOL.md's table
        /// reads ("conv_update | conversation object").
        #[serde(flatten)]
        fields: Box<ConversationView>,
        /// The same object under `conversation`, as the node first sent it: kept so
        /// that clients written against either reading work.
        conversation: Box<ConversationView>,
    },
    /// Heartbeat answer.
    Pong {
        /// Echo of the ping's ts.
        ts: serde_json::Number,
    },
    /// Something was wrong with a frame.
    Error {
        /// Protocol error code.
        code: &'static str,
        /// Human-readable.
        message: String,
        /// client_id or frame type it answers.
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
}

impl ServerFrame {
    /// The `error` frame for `err`, answering `reference`.
    pub fn error(err: &Error, reference: Option<String>) -> Self {
        ServerFrame::Error {
            code: err.code(),
            message: err.client_message(),
            reference,
        }
    }

    /// The `conv_update` frame for `view`.
    pub fn conv_update(view: ConversationView) -> Self {
        let view = Box::new(view);
        ServerFrame::ConvUpdate {
            fields: view.clone(),
            conversation: view,
        }
    }

    /// Serializes the frame; frames are plain data, so this cannot fail in practice.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"encode failed","ref":null}"#.into()
        })
    }
}

/// A client frame that cannot be run, and what answers it.
#[derive(Debug)]
pub struct BadFrame {
    /// The error to send.
    pub error: Error,
    /// Its `ref`: the frame's client_id, else its type.
    pub reference: Option<String>,
    /// The conversation the frame names, if it names one: a non-member must get
    /// `no_such_conversation` instead, before any other check (PROTOCOL.md).
    pub conv: Option<u64>,
}

impl BadFrame {
    fn new(error: Error) -> Self {
        BadFrame {
            error,
            reference: None,
            conv: None,
        }
    }
}

/// A field that may be left out but, when given, is a number (`null` included is not).
fn given_number<'de, D>(d: D) -> Result<Option<serde_json::Number>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    serde_json::Number::deserialize(d).map(Some)
}

/// What a `pong` answers to a ping with `ts` and `timestamp`: the first one given,
/// else the server time (ms since the epoch).
pub fn pong_ts(
    ts: Option<serde_json::Number>,
    timestamp: Option<serde_json::Number>,
    now_ms: u64,
) -> serde_json::Number {
    ts.or(timestamp)
        .unwrap_or_else(|| serde_json::Number::from(now_ms))
}

/// A decoded client frame, or why it cannot be run.
pub fn decode_client_frame(text: &str) -> Result<ClientFrame, BadFrame> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| BadFrame::new(Error::bad(format!("not JSON: {e}"))))?;
    let obj = value
        .as_object()
        .ok_or_else(|| BadFrame::new(Error::bad("a frame must be a JSON object")))?;
    let frame_type = obj
        .get("type")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .ok_or_else(|| BadFrame::new(Error::bad("missing field `type`")))?;
    let reference = obj
        .get("client_id")
        .and_then(|c| c.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| frame_type.clone());
    let conv = obj
        .get("conv")
        .and_then(|c| c.as_u64())
        .filter(|c| (1..=MAX_CONV_ID).contains(c));
    let bad = |error| BadFrame {
        error,
        reference: Some(reference.clone()),
        conv,
    };
    let frame: ClientFrame =
        serde_json::from_value(value).map_err(|e| bad(Error::bad(e.to_string())))?;
    validate(&frame).map_err(bad)?;
    Ok(frame)
}

/// Field checks serde cannot express.
fn validate(frame: &ClientFrame) -> Result<(), Error> {
    let conv_ok = |c: u64| {
        if c == 0 || c > MAX_CONV_ID {
            Err(Error::bad("conv out of range"))
        } else {
            Ok(())
        }
    };
    match frame {
        ClientFrame::Send(s) => {
            match (s.conv, &s.to) {
                (Some(c), None) => conv_ok(c)?,
                (None, Some(to)) => {
                    if !valid_username(to) {
                        return Err(Error::bad("`to` is not a valid username"));
                    }
                }
                _ => return Err(Error::bad("give exactly one of `conv` and `to`")),
            }
            validate_send(s)?;
        }
        ClientFrame::Edit {
            conv, client_id, ..
        } => {
            conv_ok(*conv)?;
            client_id_ok(client_id)?;
        }
        ClientFrame::React {
            conv,
            client_id,
            emoji,
            ..
        } => {
            conv_ok(*conv)?;
            client_id_ok(client_id)?;
            if emoji.is_empty() {
                return Err(Error::bad("emoji must not be empty"));
            }
            if emoji.len() > MAX_EMOJI_BYTES {
                return Err(Error::TooLarge(format!(
                    "emoji is over {MAX_EMOJI_BYTES} bytes"
                )));
            }
        }
        ClientFrame::Delivered { conv, .. }
        | ClientFrame::Read { conv, .. }
        | ClientFrame::History { conv, .. }
        | ClientFrame::Recall { conv, .. }
        | ClientFrame::Typing { conv } => conv_ok(*conv)?,
        ClientFrame::Sync { convs, .. } => {
            if convs.len() > 10_000 {
                return Err(Error::bad("too many conversations in one sync"));
            }
            for key in convs.keys() {
                conv_ok(parse_conv_key(key)?)?;
            }
        }
        ClientFrame::Auth { token } if token.len() > 512 => {
            return Err(Error::bad("token too long"))
        }
        ClientFrame::Auth { .. } | ClientFrame::Ping { .. } => {}
    }
    Ok(())
}

/// Longest reaction emoji, in bytes (PROTOCOL.md: 1-32).
pub const MAX_EMOJI_BYTES: usize = 32;

fn client_id_ok(client_id: &str) -> Result<(), Error> {
    if client_id.is_empty() || client_id.chars().count() > 64 {
        return Err(Error::bad("client_id must be 1-64 characters"));
    }
    Ok(())
}

/// The checks of a `send` that do not depend on its target: one rule for the
/// WebSocket frame and `POST /api/conversations/{conv}/messages`.
pub fn validate_send(s: &SendFrame) -> Result<(), Error> {
    client_id_ok(&s.client_id)?;
    if s.kind == MessageKind::System || s.kind.is_event() {
        return Err(Error::bad(
            "kinds `system`, `edit`, `reaction` and `recall` are written by the node only",
        ));
    }
    if s.kind == MessageKind::File && s.media_url.is_none() {
        return Err(Error::bad("a `file` message needs `media_url`"));
    }
    if s.body.is_none() && s.media_url.is_none() {
        return Err(Error::bad("missing field `body`"));
    }
    if let Some(url) = &s.media_url {
        if url.len() > 256 {
            return Err(Error::bad("media_url too long"));
        }
    }
    if s.reply_to == Some(0) {
        return Err(Error::bad("reply_to: no such message"));
    }
    Ok(())
}

/// A conv id written as a JSON object key.
pub fn parse_conv_key(key: &str) -> Result<u64, Error> {
    key.parse::<u64>()
        .map_err(|_| Error::bad(format!("`{key}` is not a conversation id")))
}

/// Usernames: 1-32 chars of `[a-z0-9_.-]`.
pub fn valid_username(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn decodes_send_and_reports_ref() {
        let f = decode_client_frame(
            r#"{"type":"send","conv":3,"client_id":"c1","kind":"text","body":"hi"}"#,
        );
        assert!(matches!(
            f,
            Ok(ClientFrame::Send(SendFrame { conv: Some(3), .. }))
        ));
        let err = decode_client_frame(r#"{"type":"send","client_id":"c9"}"#);
        match err {
            Err(bad) => {
                assert_eq!(bad.error.code(), "bad_frame");
                assert_eq!(bad.reference.as_deref(), Some("c9"));
                assert_eq!(bad.conv, None);
            }
            Ok(_) => panic!("a send without a target must fail"),
        }
    }

    #[test]
    fn a_bad_frame_names_its_conversation_and_body_is_required_for_text() {
        let bad = decode_client_frame(r#"{"type":"send","conv":7,"client_id":"c1","kind":"text"}"#);
        match bad {
            Err(bad) => {
                assert_eq!(bad.error.code(), "bad_frame");
                assert_eq!(bad.conv, Some(7));
            }
            Ok(_) => panic!("a text without a body must fail"),
        }
        let image = decode_client_frame(
            r#"{"type":"send","conv":7,"client_id":"c2","kind":"image","media_url":"/media/x"}"#,
        );
        assert!(image.is_ok(), "an image may come without a caption");
    }

    #[test]
    fn conv_update_has_the_object_flat_and_nested() {
        let view = ConversationView {
            conv: 5,
            kind: ConvKind::Group,
            name: "g".into(),
            members: vec!["a".into(), "b".into()],
            last_seq: 0,
            last_message: None,
            unread: 0,
            mentions: 0,
            pinned: false,
            muted: false,
            owner: Some("a".into()),
            admins: vec!["a".into()],
            first_seq: 1,
            read_seq: 0,
            delivered_seq: 0,
            peer_read_seq: None,
            peer_delivered_seq: None,
            receipts: Default::default(),
        };
        let json: serde_json::Value =
            serde_json::from_str(&ServerFrame::conv_update(view).to_json()).unwrap();
        assert_eq!(json["type"], "conv_update");
        assert_eq!(json["conv"], 5);
        assert_eq!(json["kind"], "group");
        assert_eq!(json["conversation"]["conv"], 5);
        assert_eq!(json["conversation"]["members"], json["members"]);
    }

    #[test]
    fn ping_fields_when_given_are_numbers() {
        for text in [
            r#"{"type":"ping","ts":null}"#,
            r#"{"type":"ping","ts":"1"}"#,
            r#"{"type":"ping","timestamp":"1"}"#,
        ] {
            assert!(
                matches!(
                    decode_client_frame(text),
                    Err(BadFrame {
                        error: Error::BadRequest(_),
                        ..
                    })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn pong_echoes_ts_else_timestamp_else_the_time() {
        let pong = |text: &str| match decode_client_frame(text) {
            Ok(ClientFrame::Ping { ts, timestamp }) => pong_ts(ts, timestamp, 99).to_string(),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(pong(r#"{"type":"ping"}"#), "99");
        assert_eq!(
            pong(r#"{"type":"ping","timestamp":1700000000123}"#),
            "1700000000123"
        );
        assert_eq!(pong(r#"{"type":"ping","ts":5,"timestamp":7}"#), "5");
    }

    #[test]
    fn ping_ts_is_echoed_exactly() {
        for ts in ["1796556591.5908859", "0.1", "12345", "-7", "1e300"] {
            let frame = decode_client_frame(&format!(r#"{{"type":"ping","ts":{ts}}}"#));
            let Ok(ClientFrame::Ping {
                ts: Some(echoed), ..
            }) = frame
            else {
                panic!("ping {ts} not decoded");
            };
            let pong = ServerFrame::Pong { ts: echoed }.to_json();
            // read back with std's parser (correctly rounded), not serde_json's
            let text = pong.split(r#""ts":"#).nth(1).unwrap().trim_end_matches('}');
            assert_eq!(
                text.parse::<f64>().unwrap(),
                ts.parse::<f64>().unwrap(),
                "{ts} came back as {pong}"
            );
        }
    }

    #[test]
    fn unknown_type_and_garbage_are_bad_frames() {
        for text in ["nope", "[1,2]", r#"{"type":"fly"}"#, r#"{"conv":1}"#] {
            let r = decode_client_frame(text);
            assert!(
                matches!(
                    r,
                    Err(BadFrame {
                        error: Error::BadRequest(_),
                        ..
                    })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(decode_client_frame(&deep).is_err());
    }
}
