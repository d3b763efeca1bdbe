//! Media work outside the store: image inspection and thumbnails ([`image`]), `Range`
//! headers ([`range`]), file names ([`names`]), and the orphan sweep ([`sweep`]).

pub mod image;
pub mod names;
pub mod range;
pub mod sweep;
