//! glibc `fnmatch(pattern, string, 0)` in the C locale, byte for byte (kmod-formats §2.4).

/// True when `pattern` matches `string` as glibc's `fnmatch(pattern, string, 0) == 0`.
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    let _ = (pattern, string);
    todo!("index helper")
}
