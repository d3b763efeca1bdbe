//! `mediaid_media`: an uploaded file; the bytes live in data_dir/media/ID.

use serde::{Deserialize, Serialize};

use super::Versioned;
use crate::error::{Error, Result};
use crate::store::codec::from_body;

/// `mediaid_media`: an uploaded file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
// `remote = "Self"`: serde derives the functions but not the Serialize trait, so the
// record can only be stored through `records::encode`, never in layout 1 by `codec::encode`.
#[serde(remote = "Self")]
pub struct MediaRecord {
    /// Who uploaded it.
    pub uploader: String,
    /// Its Content-Type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// When, ms.
    pub created_ms: u64,
    /// The file name the uploader gave (layout 2; format 1: none).
    pub name: Option<String>,
    /// Image or video width in pixels, if known (layout 2; format 1: none).
    pub width: Option<u32>,
    /// Image or video height in pixels, if known (layout 2; format 1: none).
    pub height: Option<u32>,
    /// A thumbnail file exists beside it (layout 2; format 1: false).
    pub thumb: bool,
}

/// Layout 1 (store format 1).
#[derive(Deserialize, Serialize)]
struct Layout1 {
    uploader: String,
    content_type: String,
    size: u64,
    created_ms: u64,
}

layout_body!(MediaRecord);

impl Versioned for MediaRecord {
    const LAYOUT: u8 = 2;
    const NAME: &'static str = "media record";

    fn decode_layout(layout: u8, body: &[u8]) -> Result<Self> {
        match layout {
            1 => from_body::<Layout1>(body).map(|v| MediaRecord {
                uploader: v.uploader,
                content_type: v.content_type,
                size: v.size,
                created_ms: v.created_ms,
                ..MediaRecord::default()
            }),
            2 => Self::from_layout_body(body),
            other => Err(Error::Internal(format!("no media layout {other}"))),
        }
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        self.to_layout_body()
    }
}
