//! Format 2 -> 3: older history may be sealed into chunks (`convseq_chunk`) and dedupe
//! entries pruned after a window (`store::compaction`). Nothing is rewritten: a format-2
//! store is a format-3 store with nothing sealed yet, and the compactor seals it in the
//! background once the node runs. The stamp is what matters: a format-2 build, which
//! reads only `convseq_message`, must refuse a store whose history it would not see.

use super::super::Store;
use crate::error::Result;
use crate::progress::Progress;

pub(super) fn run(_store: &Store, _progress: &mut Progress) -> Result<()> {
    Ok(())
}
