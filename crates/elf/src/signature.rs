//! The signature appended to a module image and the fields modinfo shows from it.

/// `sig_id` as modinfo prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureId {
    Pgp,
    X509,
    Pkcs7,
}

/// The fields of modinfo's signature lines (kmod-tools §11.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub id: SignatureId,
    pub signer: Vec<u8>,
    pub key: Vec<u8>,
    pub hash_algo: String,
    pub signature: Vec<u8>,
}

impl Signature {
    /// Parse the trailer of a (decompressed) module image; None when it is not signed or
    /// the trailer is rejected (then modinfo prints no signature lines).
    pub fn parse(image: &[u8]) -> Option<Signature> {
        let _ = image;
        todo!("elf helper")
    }
}
