//! The plaintext of a version's encrypted columns: its JSON, compressed when that pays.
//!
//! The columns are encrypted, so the database cannot compress them itself (ciphertext does not
//! compress): a skill's files and its normalized payload would travel to the database and into
//! its write-ahead log at full size, twice over for the body both hold. They are compressed here,
//! before encryption, instead. A version's content comes from one source (a repository or one API
//! call), never mixed with secrets, so its compressed length tells nothing it does not already
//! tell through `size_bytes`.
//!
//! The format is one tag byte: JSON never starts with a NUL byte, so a plaintext starting with
//! [`LZ4`] is an LZ4 block (its decompressed size prepended) and anything else is the JSON itself,
//! which is also how every version written before compression reads.

use std::borrow::Cow;

use trove_core::{AppError, AppResult};

/// The tag of a compressed plaintext.
const LZ4: u8 = 0;
/// JSON shorter than this is stored as it is: too little to gain.
const MIN_PACKED_LEN: usize = 512;
/// The largest plaintext a version may unpack to; a version holds at most the files of one
/// object, each bounded far below this by the sync's file-size limit.
const MAX_UNPACKED_LEN: usize = 1 << 30;

/// The stored plaintext of `json`: compressed when that saves at least an eighth.
pub(super) fn pack(json: Vec<u8>) -> Vec<u8> {
    let Ok(len) = u32::try_from(json.len()) else {
        return json;
    };
    if json.len() < MIN_PACKED_LEN {
        return json;
    }
    // Tag, decompressed size, then the block, compressed straight into place.
    let mut packed = vec![0; 5 + lz4_flex::block::get_maximum_output_size(json.len())];
    packed[0] = LZ4;
    packed[1..5].copy_from_slice(&len.to_le_bytes());
    let Ok(written) = lz4_flex::block::compress_into(&json, &mut packed[5..]) else {
        return json;
    };
    packed.truncate(5 + written);
    if packed.len() <= json.len() - json.len() / 8 {
        packed
    } else {
        json
    }
}

/// The JSON of a stored plaintext written by [`pack`] (or before it existed).
pub(super) fn unpack(plain: &[u8]) -> AppResult<Cow<'_, [u8]>> {
    let Some((&LZ4, block)) = plain.split_first() else {
        return Ok(Cow::Borrowed(plain));
    };
    let declared = block
        .first_chunk::<4>()
        .map(|n| u32::from_le_bytes(*n) as usize)
        .ok_or_else(|| AppError::internal("a compressed version is truncated"))?;
    if declared > MAX_UNPACKED_LEN {
        return Err(AppError::internal(
            "a compressed version declares an impossible size",
        ));
    }
    lz4_flex::decompress_size_prepended(block)
        .map(Cow::Owned)
        .map_err(|e| AppError::internal(format!("a compressed version cannot be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetitive_json_is_compressed_and_comes_back() {
        let json = serde_json::to_vec(&serde_json::json!({
            "body": "- read the files, check the conventions, make the change\n".repeat(40),
        }))
        .unwrap();
        let packed = pack(json.clone());
        assert_eq!(packed[0], LZ4);
        assert!(
            packed.len() * 4 < json.len(),
            "{} of {}",
            packed.len(),
            json.len()
        );
        assert_eq!(unpack(&packed).unwrap().as_ref(), json.as_slice());
    }

    #[test]
    fn short_or_incompressible_json_is_kept_as_it_is() {
        let short = br#"{"name":"x"}"#.to_vec();
        assert_eq!(pack(short.clone()), short);
        // Hex of a hash chain: no repeats for LZ4 to find.
        let mut noise = String::from("[\"");
        let mut h = 0x9e37_79b9_7f4a_7c15_u64;
        while noise.len() < 4096 {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            noise.push_str(&format!("{h:016x}"));
        }
        noise.push_str("\"]");
        let noise = noise.into_bytes();
        assert_eq!(pack(noise.clone()), noise);
        assert_eq!(unpack(&noise).unwrap().as_ref(), noise.as_slice());
    }

    #[test]
    fn json_written_before_compression_reads_unchanged() {
        for json in [&b"{}"[..], b"[]", b" {\"a\":1}", b""] {
            assert!(matches!(unpack(json).unwrap(), Cow::Borrowed(j) if j == json));
        }
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let json = serde_json::to_vec(&vec!["the same line again"; 100]).unwrap();
        let packed = pack(json);
        assert_eq!(packed[0], LZ4);
        for cut in [1, 3, 5, packed.len() / 2, packed.len() - 1] {
            assert!(unpack(&packed[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = vec![LZ4];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 16]);
        assert!(unpack(&huge).is_err());
        let mut lying = packed.clone();
        lying[1..5].copy_from_slice(&3u32.to_le_bytes());
        assert!(unpack(&lying).is_err(), "a size smaller than the content");
    }
}
