//! Read-only file mappings, for index files that are looked up but rarely read whole:
//! only the pages a lookup touches are read from disk, as libkmod's mmap reader does.

use std::fs::File;
use std::io;
use std::path::Path;

/// A file mapped read-only (or, when empty, no mapping at all).
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
}

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }
}

/// Map `path` read-only.
#[allow(unsafe_code)]
pub fn map_file(path: &Path) -> io::Result<MappedFile> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(MappedFile { map: None });
    }
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the mapping is private and read-only. Index files are replaced by rename
    // (depmod writes a temporary file and renames it), never rewritten in place, so the
    // mapped inode's bytes do not change under us; a file truncated by a foreign writer
    // would raise SIGBUS, the same exposure libkmod's own mmap reader has. The length is
    // the one just read from the same descriptor.
    let map = unsafe { memmap2::MmapOptions::new().len(len).map(&file)? };
    Ok(MappedFile { map: Some(map) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_files_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(map_file(&p).unwrap().as_ref(), b"abc");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(map_file(&p).unwrap().as_ref(), b"");
        assert!(map_file(&dir.path().join("none")).is_err());
    }
}
