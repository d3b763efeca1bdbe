//! What the node does to an uploaded image, on a blocking thread: read its declared size
//! (refusing image bombs before anything is decoded), make a <= 320 px JPEG thumbnail with
//! the EXIF orientation applied, and strip location metadata from the file it serves.

use std::{
    fs::File,
    io::{self, BufReader, BufWriter, Read, Write},
    path::Path,
};

use image::{
    codecs::jpeg::JpegEncoder, metadata::Orientation, DynamicImage, ImageDecoder, ImageFormat,
    ImageReader, Limits,
};

/// Longest side of a thumbnail, px (PROTOCOL.md: at most 320).
pub const THUMB_SIDE: u32 = 320;

/// Most pixels an image may declare for the node to decode it (a 50 MP photo is fine,
/// a 50,000 x 50,000 bomb is not); also each side at most [`MAX_SIDE`].
pub const MAX_PIXELS: u64 = 50_000_000;

/// Longest side an image may declare, px.
pub const MAX_SIDE: u32 = 20_000;

/// Most bytes the decoder may allocate for one image.
const MAX_ALLOC: u64 = 512 << 20;

/// What was learnt from an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Width as displayed (orientation applied).
    pub width: u32,
    /// Height as displayed.
    pub height: u32,
    /// Whether a thumbnail was written.
    pub thumb: bool,
}

/// Why an image was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// It declares more pixels than the node decodes (an image bomb, or just too big).
    #[error("the image declares {0} x {1} pixels, over the node's limit")]
    TooManyPixels(u32, u32),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The formats the node decodes.
fn decodable(format: Option<ImageFormat>) -> bool {
    matches!(
        format,
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP)
    )
}

/// Looks at the upload at `path`: `None` if it is not an image the node decodes (it is
/// stored as a plain file then); else its size, with a thumbnail written to `thumb_path`
/// when decoding worked, and location metadata stripped from `path` in place.
pub fn process(path: &Path, thumb_path: &Path) -> Result<Option<ImageInfo>, ImageError> {
    let reader = ImageReader::open(path)?.with_guessed_format()?;
    let format = reader.format();
    if !decodable(format) {
        return Ok(None);
    }
    // header only: nothing is allocated for the pixels yet
    let Ok((w, h)) = reader.into_dimensions() else {
        return Ok(None);
    };
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ImageError::TooManyPixels(w, h));
    }
    let mut reader = ImageReader::open(path)?.with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let decoded = reader.into_decoder().and_then(|mut decoder| {
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        DynamicImage::from_decoder(decoder).map(|img| (img, orientation))
    });
    let (width, height, thumb, orientation) = match decoded {
        Ok((mut img, orientation)) => {
            img.apply_orientation(orientation);
            let thumb = write_thumbnail(&img, thumb_path).is_ok();
            (img.width(), img.height(), thumb, orientation)
        }
        // declared fine but broken inside: a file with a size and no thumbnail
        Err(_) => (w, h, false, Orientation::NoTransforms),
    };
    match format {
        Some(ImageFormat::Jpeg) => strip_jpeg(path, orientation)?,
        Some(ImageFormat::Png) => strip_png(path)?,
        _ => {}
    }
    Ok(Some(ImageInfo {
        width,
        height,
        thumb,
    }))
}

/// Writes a JPEG of `img` fitting in [`THUMB_SIDE`] px to `path` (via a temp file,
/// fsync'd, renamed).
fn write_thumbnail(img: &DynamicImage, path: &Path) -> io::Result<()> {
    // never enlarged: a small image is its own thumbnail
    let small = match img.width().max(img.height()) > THUMB_SIDE {
        true => img.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8(),
        false => img.to_rgb8(),
    };
    let tmp = path.with_extension("thumb-tmp");
    let mut out = BufWriter::new(File::create(&tmp)?);
    JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&small)
        .map_err(io::Error::other)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Rewrites `path` through `rewrite` (to a temp file, fsync'd, renamed over it).
fn rewrite_in_place(
    path: &Path,
    rewrite: impl FnOnce(&mut BufReader<File>, &mut BufWriter<File>) -> io::Result<bool>,
) -> io::Result<()> {
    let tmp = path.with_extension("strip-tmp");
    let mut input = BufReader::new(File::open(path)?);
    let mut output = BufWriter::new(File::create(&tmp)?);
    let changed = match rewrite(&mut input, &mut output) {
        Ok(changed) => changed,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if !changed {
        drop(output);
        return std::fs::remove_file(&tmp);
    }
    let file = output.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Drops every EXIF and XMP segment of a JPEG (where cameras put GPS positions) and, if
/// the photo is rotated, puts back an EXIF segment holding only its orientation, so
/// viewers still show it upright. Everything from the scan on is copied as it is.
fn strip_jpeg(path: &Path, orientation: Orientation) -> io::Result<()> {
    rewrite_in_place(path, |input, output| {
        let mut soi = [0u8; 2];
        input.read_exact(&mut soi)?;
        if soi != [0xFF, 0xD8] {
            return Ok(false);
        }
        output.write_all(&soi)?;
        let mut changed = false;
        let exif = orientation.to_exif();
        if exif != 1 {
            output.write_all(&orientation_segment(exif))?;
        }
        loop {
            let mut marker = [0u8; 2];
            input.read_exact(&mut marker)?;
            if marker[0] != 0xFF {
                return Err(io::Error::other("not a JPEG segment"));
            }
            // markers without a length; the scan (SOS) runs to the end of the file
            if marker[1] == 0xDA || marker[1] == 0xD9 || (0xD0..=0xD7).contains(&marker[1]) {
                output.write_all(&marker)?;
                io::copy(input, output)?;
                return Ok(changed || exif != 1);
            }
            let mut len = [0u8; 2];
            input.read_exact(&mut len)?;
            let len = usize::from(u16::from_be_bytes(len)).saturating_sub(2);
            let mut data = vec![0u8; len];
            input.read_exact(&mut data)?;
            let metadata = marker[1] == 0xE1
                && (data.starts_with(b"Exif\0") || data.starts_with(b"http://ns.adobe.com/xap"));
            if metadata {
                changed = true;
                continue;
            }
            output.write_all(&marker)?;
            output.write_all(&((len + 2) as u16).to_be_bytes())?;
            output.write_all(&data)?;
        }
    })
}

/// An APP1 segment with a minimal EXIF block: one IFD entry, the orientation.
fn orientation_segment(exif: u8) -> Vec<u8> {
    let mut seg = vec![0xFF, 0xE1, 0, 34];
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big-endian TIFF, first IFD at 8
    seg.extend_from_slice(&1u16.to_be_bytes()); // one entry
    seg.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    seg.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    seg.extend_from_slice(&1u32.to_be_bytes()); // one value
    seg.extend_from_slice(&[0, exif, 0, 0]); // the value, padded
    seg.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    seg
}

/// Drops a PNG's `eXIf` chunk and its XMP text chunk (where location goes).
fn strip_png(path: &Path) -> io::Result<()> {
    rewrite_in_place(path, |input, output| {
        let mut signature = [0u8; 8];
        input.read_exact(&mut signature)?;
        output.write_all(&signature)?;
        let mut changed = false;
        loop {
            let mut head = [0u8; 8];
            match input.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(changed),
                Err(e) => return Err(e),
            }
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
            let kind = &head[4..8];
            let mut chunk = input.by_ref().take(len + 4);
            let drop_it = match kind {
                b"eXIf" => true,
                b"iTXt" => {
                    // keyword first: read it to tell XMP apart
                    let mut body = Vec::with_capacity(len as usize + 4);
                    chunk.read_to_end(&mut body)?;
                    if body.starts_with(b"XML:com.adobe.xmp\0") {
                        changed = true;
                        continue;
                    }
                    output.write_all(&head)?;
                    output.write_all(&body)?;
                    continue;
                }
                _ => false,
            };
            if drop_it {
                io::copy(&mut chunk, &mut io::sink())?;
                changed = true;
                continue;
            }
            output.write_all(&head)?;
            let copied = io::copy(&mut chunk, output)?;
            if copied != len + 4 {
                return Err(io::Error::other("PNG chunk cut short"));
            }
            if kind == b"IEND" {
                return Ok(changed);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_orientation_segment_is_well_formed() {
        let seg = orientation_segment(6);
        assert_eq!(
            seg.len(),
            2 + 34,
            "marker + the length the segment declares"
        );
        assert_eq!(
            Orientation::from_exif_chunk(&seg[10..]),
            Orientation::from_exif(6)
        );
    }
}
