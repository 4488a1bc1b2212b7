//! Constants of the on-disk index format shared by the reader and the writer
//! (kmod-formats §1.1–1.3).

/// Magic number at offset 0 ("BOOTFAST").
pub(crate) const INDEX_MAGIC: u32 = 0xB007_F457;
/// Version word written at offset 4: major 2, minor 1.
pub(crate) const INDEX_VERSION: u32 = 0x0002_0001;
/// Readers check only the major version (`version >> 16`).
pub(crate) const INDEX_VERSION_MAJOR: u32 = 2;
/// Magic, version, root node word.
pub(crate) const HEADER_LEN: usize = 12;

/// The node has a non-empty prefix string.
pub(crate) const FLAG_PREFIX: u32 = 0x8000_0000;
/// The node has at least one value.
pub(crate) const FLAG_VALUES: u32 = 0x4000_0000;
/// The node has at least one child.
pub(crate) const FLAG_CHILDS: u32 = 0x2000_0000;
/// Low 28 bits of a node word: the absolute file offset of the node body.
pub(crate) const OFFSET_MASK: u32 = 0x0FFF_FFFF;
/// Child bytes (and so key bytes) are 7-bit.
pub(crate) const CHILD_MAX: u8 = 128;
