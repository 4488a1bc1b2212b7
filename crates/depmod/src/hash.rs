//! Paul Hsieh's SuperFastHash, as depmod uses it for its hash-table iteration orders:
//! module order before `modules.order` (`& 511`) and `modules.symbols` order (`& 2047`)
//! (kmod-formats §6). 16-bit words are read little-endian (the x86 order the Debian
//! outputs were produced with).

/// SuperFastHash of `key` with 32-bit wrapping arithmetic.
pub fn superfasthash(key: &[u8]) -> u32 {
    let len = key.len();
    let mut h = len as u32;
    let rem = len & 3;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        let (w0, w1) = (word(c, 0), word(c, 2));
        h = h.wrapping_add(w0);
        let tmp = (w1 << 11) ^ h;
        h = (h << 16) ^ tmp;
        h = h.wrapping_add(h >> 11);
    }
    let tail = chunks.remainder();
    match rem {
        3 => {
            h = h.wrapping_add(word(tail, 0));
            h ^= h << 16;
            h ^= (sext(tail, 2) as u32) << 18;
            h = h.wrapping_add(h >> 11);
        }
        2 => {
            h = h.wrapping_add(word(tail, 0));
            h ^= h << 11;
            h = h.wrapping_add(h >> 17);
        }
        1 => {
            h = h.wrapping_add(sext(tail, 0) as u32);
            h ^= h << 10;
            h = h.wrapping_add(h >> 1);
        }
        _ => {}
    }
    h ^= h << 3;
    h = h.wrapping_add(h >> 5);
    h ^= h << 4;
    h = h.wrapping_add(h >> 17);
    h ^= h << 25;
    h = h.wrapping_add(h >> 6);
    h
}

fn word(b: &[u8], at: usize) -> u32 {
    let lo = b.get(at).copied().unwrap_or(0) as u32;
    let hi = b.get(at + 1).copied().unwrap_or(0) as u32;
    lo | (hi << 8)
}

fn sext(b: &[u8], at: usize) -> i32 {
    b.get(at).copied().unwrap_or(0) as i8 as i32
}

/// Bucket of a module name in depmod's 512-bucket module hash.
pub fn module_bucket(name: &[u8]) -> u32 {
    superfasthash(name) & 511
}

/// Bucket of a symbol in depmod's 2048-bucket symbol hash.
pub fn symbol_bucket(name: &[u8]) -> u32 {
    superfasthash(name) & 2047
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vectors() {
        let table: [(&str, u32, u32, u32); 8] = [
            ("a", 0x115ea782, 386, 1922),
            ("ab", 0x516b8b44, 324, 836),
            ("abc", 0xd2be198a, 394, 394),
            ("abcd", 0xdad8b8db, 219, 219),
            ("abcde", 0x51ed072e, 302, 1838),
            ("ext4", 0xe679ab16, 278, 790),
            ("crc16", 0x662168a6, 166, 166),
            ("jbd2_journal_start", 0xf1bade19, 25, 1561),
        ];
        for (key, hash, m, s) in table {
            assert_eq!(superfasthash(key.as_bytes()), hash, "{key}");
            assert_eq!(module_bucket(key.as_bytes()), m, "{key}");
            assert_eq!(symbol_bucket(key.as_bytes()), s, "{key}");
        }
    }

    #[test]
    fn high_bytes_are_sign_extended() {
        // Only the sign-extension path differs: a lone 0x80 must not equal a lone 0x00+0x80.
        assert_ne!(superfasthash(&[0x80]), superfasthash(&[0x7f]));
        assert_eq!(superfasthash(&[]), 0);
    }
}
