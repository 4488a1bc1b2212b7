//! Module-name and alias normalisation as kmod applies it (kmod-formats §3).

/// `alias_normalize`: `-` → `_` outside `[...]`; an unmatched bracket is an error (None).
pub fn alias_normalize(alias: &[u8]) -> Option<Vec<u8>> {
    let _ = alias;
    todo!("index helper")
}

/// `modname_normalize`: up to the first `.`, with `-` → `_`.
pub fn modname_normalize(name: &[u8]) -> Vec<u8> {
    let _ = name;
    todo!("index helper")
}

/// `path_to_modname`: `modname_normalize(basename(path))`.
pub fn path_to_modname(path: &[u8]) -> Vec<u8> {
    let _ = path;
    todo!("index helper")
}
