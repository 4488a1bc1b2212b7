//! Module-name and alias normalisation as kmod applies it (kmod-formats §3).
//!
//! `alias_normalize` prepares lookup strings and alias keys (`-` → `_` except inside
//! `[...]`), `modname_normalize` turns a file name into a module name, `path_to_modname`
//! does the same for a path.

/// `alias_normalize`: `-` → `_` outside `[...]`; an unmatched bracket is an error (None).
///
/// A `[` copies everything up to and including the next `]` verbatim; a `]` outside a
/// bracket, or a `[` with no later `]`, makes the alias invalid.
pub fn alias_normalize(alias: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(alias.len());
    let mut rest = alias.iter();
    while let Some(&b) = rest.next() {
        match b {
            b'[' => {
                out.push(b);
                loop {
                    let &inner = rest.next()?;
                    out.push(inner);
                    if inner == b']' {
                        break;
                    }
                }
            }
            b']' => return None,
            b'-' => out.push(b'_'),
            _ => out.push(b),
        }
    }
    Some(out)
}

/// `modname_normalize`: up to the first `.`, with `-` → `_`.
pub fn modname_normalize(name: &[u8]) -> Vec<u8> {
    name.iter()
        .take_while(|&&b| b != b'.')
        .map(|&b| if b == b'-' { b'_' } else { b })
        .collect()
}

/// `path_to_modname`: `modname_normalize(basename(path))`, where the basename is
/// everything after the last `/` (empty for a path ending in `/`, like GNU `basename`).
pub fn path_to_modname(path: &[u8]) -> Vec<u8> {
    let base = match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => path.get(slash + 1..).unwrap_or_default(),
        None => path,
    };
    modname_normalize(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_dashes_become_underscores_outside_brackets() {
        assert_eq!(
            alias_normalize(b"fs-ext4").as_deref(),
            Some(&b"fs_ext4"[..])
        );
        assert_eq!(
            alias_normalize(b"usb:v*p[0-9a-f]-x").as_deref(),
            Some(&b"usb:v*p[0-9a-f]_x"[..])
        );
        assert_eq!(alias_normalize(b"").as_deref(), Some(&b""[..]));
        // Nothing else changes: case and dots are kept.
        assert_eq!(alias_normalize(b"A.b").as_deref(), Some(&b"A.b"[..]));
    }

    #[test]
    fn alias_bracket_copied_up_to_first_close() {
        // `[` inside a bracket is copied; the first `]` closes it.
        assert_eq!(alias_normalize(b"[[-]-").as_deref(), Some(&b"[[-]_"[..]));
    }

    #[test]
    fn alias_unmatched_brackets_are_errors() {
        assert_eq!(alias_normalize(b"a]"), None);
        assert_eq!(alias_normalize(b"a[b-c"), None);
        assert_eq!(alias_normalize(b"[]]"), None);
        assert_eq!(alias_normalize(b"["), None);
    }

    #[test]
    fn modname_stops_at_first_dot() {
        assert_eq!(modname_normalize(b"foo-pci.ko.xz"), b"foo_pci");
        assert_eq!(modname_normalize(b"a-b-c"), b"a_b_c");
        assert_eq!(modname_normalize(b".ko"), b"");
    }

    #[test]
    fn path_to_modname_uses_basename() {
        assert_eq!(path_to_modname(b"kernel/drivers/foo-pci.ko.xz"), b"foo_pci");
        assert_eq!(path_to_modname(b"/abs/x.y-z/snd-hda.ko"), b"snd_hda");
        assert_eq!(path_to_modname(b"ext4.ko"), b"ext4");
        assert_eq!(path_to_modname(b"dir/"), b"");
    }
}
