//! Compression of module files: detection by magic bytes and decompression in memory.
//!
//! Output buffers are sized once, up front, from what the stream says about itself: the xz
//! index (sum of the records' uncompressed sizes), the zstd frame header's content size, or
//! the gzip trailer's `ISIZE`; when that is unknown or implausible, from a multiple of the
//! input. Every decoder writes straight into the output's spare capacity. Output is capped at
//! [`MAX_IMAGE_SIZE`] so a decompression bomb is refused instead of exhausting memory.
use std::borrow::Cow;
use std::io::Read;

use crate::Error;

/// The largest decompressed module image we accept (1 GiB); larger output is an error.
pub const MAX_IMAGE_SIZE: usize = 1 << 30;

/// Claimed sizes up to this are believed whatever the input size (16 MiB).
const TRUSTED_CLAIM: u64 = 16 << 20;

/// xz stream header magic.
const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
/// zstd frame magic (little-endian 0xFD2FB528).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// gzip member magic.
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];

/// How a module file is compressed, decided by its magic bytes, never its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Zstd,
    Gzip,
}

impl Compression {
    /// Detect by magic: zstd `28 B5 2F FD`, xz `FD 37 7A 58 5A 00`, gzip `1F 8B`, else None.
    pub fn detect(bytes: &[u8]) -> Compression {
        if bytes.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else if bytes.starts_with(&XZ_MAGIC) {
            Compression::Xz
        } else if bytes.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// The name used in error messages (`xz`, `zstd`, `gzip`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        }
    }
}

/// The module image: borrowed if the file is not compressed, else decompressed.
pub fn decompress(bytes: &[u8]) -> Result<Cow<'_, [u8]>, crate::Error> {
    decompress_with_limit(bytes, MAX_IMAGE_SIZE)
}

/// Like [`decompress`], refusing output larger than `limit` bytes.
pub fn decompress_with_limit(bytes: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, Error> {
    match Compression::detect(bytes) {
        Compression::None => Ok(Cow::Borrowed(bytes)),
        Compression::Xz => decompress_xz(bytes, limit).map(Cow::Owned),
        Compression::Zstd => decompress_zstd(bytes, limit).map(Cow::Owned),
        Compression::Gzip => decompress_gzip(bytes, limit).map(Cow::Owned),
    }
}

fn corrupt(format: Compression, detail: impl ToString) -> Error {
    Error::Decompress {
        format: format.as_str(),
        detail: detail.to_string(),
    }
}

/// The first buffer size: the stream's own claim if plausible, else 4 × the input.
fn initial_capacity(claimed: Option<u64>, input_len: usize, limit: usize) -> usize {
    let guess = input_len.saturating_mul(4).max(4096);
    let cap = match claimed {
        // A claim far above any real compression ratio is not trusted for the allocation.
        Some(n) if n <= (input_len as u64).saturating_mul(1032).max(TRUSTED_CLAIM) => {
            // One spare byte lets liblzma read the stream's index and footer after the last
            // output byte without a regrowth (it makes no progress with no output space).
            usize::try_from(n).map_or(guess, |n| n.saturating_add(1))
        }
        _ => guess,
    };
    cap.min(limit.saturating_add(1))
}

/// Decode an xz file (possibly several concatenated streams) with liblzma.
fn decompress_xz(bytes: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    use liblzma::stream::{Action, Status, Stream, CONCATENATED};
    let fmt = Compression::Xz;
    let mut stream =
        Stream::new_stream_decoder(u64::MAX, CONCATENATED).map_err(|e| corrupt(fmt, e))?;
    let mut out = Vec::with_capacity(initial_capacity(
        xz_uncompressed_size(bytes),
        bytes.len(),
        limit,
    ));
    loop {
        let consumed = usize::try_from(stream.total_in()).unwrap_or(usize::MAX);
        let input = bytes.get(consumed..).unwrap_or_default();
        let before = (stream.total_in(), stream.total_out());
        // All input is present from the start, so Finish tells liblzma no more will come.
        let status = stream
            .process_vec(input, &mut out, Action::Finish)
            .map_err(|e| corrupt(fmt, e))?;
        if out.len() > limit {
            return Err(too_large(fmt, limit));
        }
        if status == Status::StreamEnd {
            return Ok(out);
        }
        let progressed = (stream.total_in(), stream.total_out()) != before;
        if progressed {
            // A full buffer is retried first: with an exact size from the index, liblzma
            // still has to read the index and footer, which needs no output space.
            continue;
        }
        if out.len() < out.capacity() {
            return Err(corrupt(fmt, "truncated stream"));
        }
        grow(&mut out, limit).ok_or_else(|| too_large(fmt, limit))?;
    }
}

/// Grow `out` (double, at most to `limit + 1`); None when already past the limit.
fn grow(out: &mut Vec<u8>, limit: usize) -> Option<()> {
    let len = out.len();
    if len > limit {
        return None;
    }
    let target = len.saturating_mul(2).max(4096).min(limit.saturating_add(1));
    if target <= len {
        return None;
    }
    out.reserve_exact(target - len);
    Some(())
}

fn too_large(format: Compression, limit: usize) -> Error {
    corrupt(format, format!("decompressed size exceeds {limit} bytes"))
}

/// The uncompressed size of the last xz stream, read from its index (cheap: the footer says
/// where the index starts). None if anything looks off; it is only a sizing hint.
fn xz_uncompressed_size(bytes: &[u8]) -> Option<u64> {
    let footer_at = bytes.len().checked_sub(12)?;
    let footer = bytes.get(footer_at..)?;
    if footer.get(10..12)? != b"YZ" {
        return None;
    }
    let backward = u32::from_le_bytes(footer.get(4..8)?.try_into().ok()?);
    let index_size = (u64::from(backward) + 1) * 4;
    let index_at = footer_at.checked_sub(usize::try_from(index_size).ok()?)?;
    let index = bytes.get(index_at..footer_at)?;
    let (&indicator, mut rest) = index.split_first()?;
    if indicator != 0 {
        return None;
    }
    let records = read_vli(&mut rest)?;
    let mut total: u64 = 0;
    for _ in 0..records {
        let _unpadded = read_vli(&mut rest)?;
        total = total.checked_add(read_vli(&mut rest)?)?;
    }
    Some(total)
}

/// One xz variable-length integer (7 bits per byte, little-endian, at most 9 bytes).
fn read_vli(bytes: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Decode a zstd file (all frames).
fn decompress_zstd(bytes: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let fmt = Compression::Zstd;
    let claimed = zstd::zstd_safe::get_frame_content_size(bytes)
        .ok()
        .flatten();
    let decoder = zstd::stream::read::Decoder::with_buffer(bytes).map_err(|e| corrupt(fmt, e))?;
    read_all(
        fmt,
        decoder,
        initial_capacity(claimed, bytes.len(), limit),
        limit,
    )
}

/// Decode a gzip file (all members, like zlib's `gzread`).
fn decompress_gzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let fmt = Compression::Gzip;
    // ISIZE: the last member's size modulo 2^32, a good hint for single-member files.
    let claimed = bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes.get(at..))
        .and_then(|b| b.try_into().ok())
        .map(|b| u64::from(u32::from_le_bytes(b)));
    let decoder = flate2::bufread::MultiGzDecoder::new(bytes);
    read_all(
        fmt,
        decoder,
        initial_capacity(claimed, bytes.len(), limit),
        limit,
    )
}

/// Read a decoder to its end into a buffer of `capacity`, refusing more than `limit` bytes.
fn read_all(
    format: Compression,
    decoder: impl Read,
    capacity: usize,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(capacity);
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    decoder
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(format, e))?;
    if out.len() > limit {
        return Err(too_large(format, limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::compress;

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn detect_by_magic_only() {
        assert_eq!(Compression::detect(&XZ_MAGIC), Compression::Xz);
        assert_eq!(Compression::detect(&ZSTD_MAGIC), Compression::Zstd);
        assert_eq!(Compression::detect(&GZIP_MAGIC), Compression::Gzip);
        assert_eq!(Compression::detect(&XZ_MAGIC[..5]), Compression::None);
        assert_eq!(Compression::detect(b"\x7fELF"), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
    }

    #[test]
    fn xz_index_gives_the_exact_size() {
        let data = sample();
        let xz = compress(&data, Compression::Xz).unwrap();
        assert_eq!(xz_uncompressed_size(&xz), Some(data.len() as u64));
        assert_eq!(xz_uncompressed_size(&xz[..xz.len() - 1]), None);
        assert_eq!(xz_uncompressed_size(b"short"), None);
    }

    #[test]
    fn output_is_sized_once() {
        // Exact sizes from the xz index, the zstd header and the gzip trailer: no regrowth.
        let data = sample();
        for c in [Compression::Xz, Compression::Zstd, Compression::Gzip] {
            let file = compress(&data, c).unwrap();
            let out = decompress(&file).unwrap().into_owned();
            assert_eq!(out, data, "{c:?}");
            assert!(
                out.capacity() <= data.len() + 64,
                "{c:?}: capacity {}",
                out.capacity()
            );
        }
    }

    #[test]
    fn implausible_claims_are_not_trusted() {
        assert_eq!(initial_capacity(Some(u64::MAX), 100, MAX_IMAGE_SIZE), 4096);
        assert_eq!(
            initial_capacity(Some(1 << 40), 1 << 20, MAX_IMAGE_SIZE),
            4 << 20
        );
        assert_eq!(initial_capacity(Some(50_000), 100, MAX_IMAGE_SIZE), 50_001);
        assert_eq!(initial_capacity(None, 10_000, MAX_IMAGE_SIZE), 40_000);
        assert_eq!(initial_capacity(None, 10_000, 100), 101);
    }

    #[test]
    fn vli_decoding() {
        let mut b: &[u8] = &[0x7f, 0x80, 0x01, 0xff];
        assert_eq!(read_vli(&mut b), Some(0x7f));
        assert_eq!(read_vli(&mut b), Some(0x80));
        assert_eq!(read_vli(&mut b), None);
    }
}
