//! Media: every record has its file (and thumbnail), every file its record, every
//! reference a recorded medium in a real conversation.

use std::collections::{HashMap, HashSet};

use super::{show_key, split_zero, CheckReport};
use crate::error::Result;
use crate::store::codec::read_be;
use crate::store::{ConvRecord, MediaRecord, Store};

impl Store {
    /// Checks media records, files and references; answers the recorded media ids.
    pub(super) fn check_media(
        &self,
        r: &mut CheckReport,
        convs: &HashMap<u64, ConvRecord>,
    ) -> Result<HashSet<String>> {
        let mut media: HashSet<String> = HashSet::new();
        for kv in self.media.iter() {
            let (k, v) = kv?;
            let id = String::from_utf8_lossy(&k).into_owned();
            let Some(record) = r.decoded::<MediaRecord>("mediaid_media", &k, &v) else {
                continue;
            };
            match std::fs::metadata(self.media_path(&id)) {
                Ok(m) if m.len() == record.size => {}
                Ok(m) => r.problem(
                    "media",
                    format!(
                        "media {id}: file has {} bytes, record says {}",
                        m.len(),
                        record.size
                    ),
                ),
                Err(e) => r.problem(
                    "media",
                    format!("media {id}: file {:?}: {e}", self.media_path(&id)),
                ),
            }
            if record.thumb && !self.thumb_path(&id).is_file() {
                r.problem(
                    "media",
                    format!("media {id}: its thumbnail file is missing"),
                );
            }
            media.insert(id);
        }
        r.stats.media = media.len() as u64;
        // files with no record (a crash between deleting a record and its file, or a
        // file put there by hand); unfinished uploads (.part) are the sweep's business
        if let Ok(entries) = std::fs::read_dir(self.media_dir()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let id = name
                    .strip_suffix(crate::store::THUMB_SUFFIX)
                    .unwrap_or(&name);
                if name.ends_with(crate::store::PART_SUFFIX) || media.contains(id) {
                    continue;
                }
                r.problem(
                    "media",
                    format!("file {name:?} in the media directory has no record"),
                );
            }
        }
        for kv in self.media_refs.iter() {
            let (k, _) = kv?;
            let Some((id, conv)) = split_zero(&k).and_then(|(id, c)| {
                Some((String::from_utf8_lossy(id).into_owned(), read_be(c).ok()?))
            }) else {
                r.problem("undecodable", format!("mediaconv_ref key {}", show_key(&k)));
                continue;
            };
            if !media.contains(&id) {
                r.problem(
                    "media",
                    format!("conversation {conv} references media {id}, which is not recorded"),
                );
            }
            if !convs.contains_key(&conv) {
                r.problem(
                    "media",
                    format!(
                        "media {id} is referenced by conversation {conv}, which does not exist"
                    ),
                );
            }
        }
        Ok(media)
    }
}
