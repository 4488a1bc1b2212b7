//! The signature appended to a module image and the fields modinfo shows from it.
//!
//! Layout (kmod-tools §11.5): `[module][signer][key id][signature][struct module_signature]
//! ["~Module signature appended~\n"]`. Legacy PGP/X509 trailers carry the fields directly;
//! PKCS#7 trailers carry a DER `SignedData` whose first `SignerInfo` gives the signer (issuer
//! commonName, else the issuer's last attribute), the key (serial number), the digest algorithm and the signature value.
//!
//! kmod 30 names the digest with the kernel's own list of nine hash algorithms (md4, md5,
//! sha1, rmd160, sha256, sha384, sha512, sha224, sm3) and treats a PKCS#7 signature with any
//! other digest as no signature at all (checked with the oracle; this differs from the
//! OpenSSL `OBJ_obj2txt` naming that kmod-tools §11.5 describes).
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::ObjectIdentifier;
use der::Decode;

/// The magic string ending a signed module.
pub const SIGNATURE_MAGIC: &[u8; 28] = b"~Module signature appended~\n";
/// `sizeof(struct module_signature)`.
pub const MODULE_SIGNATURE_SIZE: usize = 12;

/// `hash` values of `struct module_signature` (the kernel's `hash_algo` order).
const HASH_NAMES: [&str; 9] = [
    "md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224", "sm3",
];
/// `algo` values accepted: DSA (0) and RSA (1).
const ALGO_COUNT: u8 = 2;

/// `sig_id` as modinfo prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureId {
    Pgp,
    X509,
    Pkcs7,
}

impl SignatureId {
    /// `PGP`, `X509` or `PKCS#7`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureId::Pgp => "PGP",
            SignatureId::X509 => "X509",
            SignatureId::Pkcs7 => "PKCS#7",
        }
    }

    /// The `id_type` byte of `struct module_signature`.
    pub fn id_type(self) -> u8 {
        match self {
            SignatureId::Pgp => 0,
            SignatureId::X509 => 1,
            SignatureId::Pkcs7 => 2,
        }
    }

    fn from_id_type(id_type: u8) -> Option<SignatureId> {
        match id_type {
            0 => Some(SignatureId::Pgp),
            1 => Some(SignatureId::X509),
            2 => Some(SignatureId::Pkcs7),
            _ => None,
        }
    }
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

/// `struct module_signature` as read from the trailer.
struct Trailer {
    algo: u8,
    hash: u8,
    id_type: u8,
    signer_len: usize,
    key_id_len: usize,
    sig_len: usize,
}

impl Signature {
    /// Parse the trailer of a (decompressed) module image; None when it is not signed or
    /// the trailer is rejected (then modinfo prints no signature lines).
    pub fn parse(image: &[u8]) -> Option<Signature> {
        let (t, struct_at) = locate_trailer(image)?;
        let id = SignatureId::from_id_type(t.id_type)?;
        if t.algo >= ALGO_COUNT || usize::from(t.hash) >= HASH_NAMES.len() || t.sig_len == 0 {
            return None;
        }
        let sig_at = struct_at.checked_sub(t.sig_len)?;
        let key_at = sig_at.checked_sub(t.key_id_len)?;
        let signer_at = key_at.checked_sub(t.signer_len)?;
        let signature = image.get(sig_at..struct_at)?;
        match id {
            SignatureId::Pkcs7 => parse_pkcs7(signature),
            SignatureId::Pgp | SignatureId::X509 => Some(Signature {
                id,
                signer: image.get(signer_at..key_at)?.to_vec(),
                key: image.get(key_at..sig_at)?.to_vec(),
                hash_algo: HASH_NAMES.get(usize::from(t.hash))?.to_string(),
                signature: signature.to_vec(),
            }),
        }
    }
}

impl Signature {
    /// The kernel's `info->len` after `module_sig_check()`: the image without the magic
    /// and, when the `module_signature` is a well-formed PKCS#7 one (`mod_check_sig`), without
    /// the struct and the signature either (kernel-loader §5.1).
    pub fn module_len(image: &[u8]) -> usize {
        let Some(body_end) = image.len().checked_sub(SIGNATURE_MAGIC.len()) else {
            return image.len();
        };
        if image.len() <= SIGNATURE_MAGIC.len()
            || image.get(body_end..) != Some(SIGNATURE_MAGIC.as_slice())
        {
            return image.len();
        }
        let Some(struct_at) = body_end
            .checked_sub(MODULE_SIGNATURE_SIZE)
            .filter(|_| body_end > MODULE_SIGNATURE_SIZE)
        else {
            return body_end;
        };
        let Some(raw) = image.get(struct_at..body_end) else {
            return body_end;
        };
        let Some(t) = read_trailer(raw) else {
            return body_end;
        };
        let pad_clear = raw.get(5..8) == Some([0u8; 3].as_slice());
        let pkcs7_only = t.id_type == SignatureId::Pkcs7.id_type()
            && t.algo == 0
            && t.hash == 0
            && t.signer_len == 0
            && t.key_id_len == 0
            && pad_clear;
        if pkcs7_only && t.sig_len < struct_at {
            struct_at - t.sig_len
        } else {
            body_end
        }
    }
}

/// The public-key algorithm of a signature: what the kernel's `mod_verify_sig()` verifies
/// with, which decides what the verification costs (Debian signs its 6.1 modules with RSA,
/// its 6.12 modules with ECDSA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkeyAlgo {
    Rsa,
    Ecdsa,
}

impl PkeyAlgo {
    /// The name the kernel's `public_key` gives the algorithm family.
    pub fn as_str(self) -> &'static str {
        match self {
            PkeyAlgo::Rsa => "rsa",
            PkeyAlgo::Ecdsa => "ecdsa",
        }
    }

    pub fn parse(name: &str) -> Option<PkeyAlgo> {
        match name {
            "rsa" => Some(PkeyAlgo::Rsa),
            "ecdsa" => Some(PkeyAlgo::Ecdsa),
            _ => None,
        }
    }

    /// The family of a signature algorithm OID: rsaEncryption and the `sha*WithRSAEncryption`
    /// arc, or the ANSI X9.62 arc (`id-ecPublicKey`, `ecdsa-with-SHA*`).
    fn of_oid(oid: &ObjectIdentifier) -> Option<PkeyAlgo> {
        let dotted = oid.to_string();
        if dotted.starts_with("1.2.840.113549.1.1.") {
            Some(PkeyAlgo::Rsa)
        } else if dotted.starts_with("1.2.840.10045.") {
            Some(PkeyAlgo::Ecdsa)
        } else {
            None
        }
    }
}

impl Signature {
    /// The public-key algorithm of the first signer of a PKCS#7 trailer — the only kind the
    /// kernel verifies (`mod_check_sig`); None for an unsigned image, a legacy trailer or an
    /// algorithm of neither family.
    pub fn pkey_algo(image: &[u8]) -> Option<PkeyAlgo> {
        let (t, struct_at) = locate_trailer(image)?;
        if t.id_type != SignatureId::Pkcs7.id_type() {
            return None;
        }
        let der_bytes = image.get(struct_at.checked_sub(t.sig_len)?..struct_at)?;
        let signed = signed_data(der_bytes)?;
        let signer = signed.signer_infos.0.iter().next()?;
        PkeyAlgo::of_oid(&signer.signature_algorithm.oid)
    }
}

/// The `struct module_signature` of a signed image and where it starts.
fn locate_trailer(image: &[u8]) -> Option<(Trailer, usize)> {
    let body_end = image.len().checked_sub(SIGNATURE_MAGIC.len())?;
    if image.get(body_end..)? != SIGNATURE_MAGIC {
        return None;
    }
    let struct_at = body_end.checked_sub(MODULE_SIGNATURE_SIZE)?;
    Some((read_trailer(image.get(struct_at..body_end)?)?, struct_at))
}

fn read_trailer(b: &[u8]) -> Option<Trailer> {
    let sig_len = u32::from_be_bytes(b.get(8..12)?.try_into().ok()?);
    Some(Trailer {
        algo: *b.first()?,
        hash: *b.get(1)?,
        id_type: *b.get(2)?,
        signer_len: usize::from(*b.get(3)?),
        key_id_len: usize::from(*b.get(4)?),
        sig_len: usize::try_from(sig_len).ok()?,
    })
}

/// The PKCS#7 fields from the first SignerInfo of a DER `ContentInfo { SignedData }`.
fn parse_pkcs7(der_bytes: &[u8]) -> Option<Signature> {
    let signed = signed_data(der_bytes)?;
    let signer = signed.signer_infos.0.iter().next()?;
    let SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer,
        serial_number,
    }) = &signer.sid
    else {
        return None;
    };
    // The first commonName; without one, kmod 30 prints the issuer's last attribute
    // (checked with the oracle: O=a,OU=b gives "b"); an empty issuer gives "".
    let signer_name = issuer
        .iter()
        .find(|atv| atv.oid == const_oids::COMMON_NAME)
        .or_else(|| issuer.iter().last())
        .map(|atv| atv.value.value().to_vec())
        .unwrap_or_default();
    Some(Signature {
        id: SignatureId::Pkcs7,
        signer: signer_name,
        key: strip_leading_zeros(serial_number.as_bytes()).to_vec(),
        hash_algo: digest_name(&signer.digest_alg.oid)?.to_string(),
        signature: signer.signature.as_bytes().to_vec(),
    })
}

/// The `SignedData` of a DER `ContentInfo`. Bytes after the first DER object are ignored,
/// as kmod 30 (OpenSSL's d2i) does.
fn signed_data(der_bytes: &[u8]) -> Option<SignedData> {
    let mut reader = der::SliceReader::new(der_bytes).ok()?;
    let info = ContentInfo::decode(&mut reader).ok()?;
    if info.content_type != const_oids::SIGNED_DATA {
        return None;
    }
    info.content.decode_as().ok()
}

/// Minimal unsigned big-endian bytes (OpenSSL `BN_bn2bin`): no leading zero bytes.
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

/// OIDs this module needs by name.
pub(crate) mod const_oids {
    use der::asn1::ObjectIdentifier;
    pub const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
    pub const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
    pub const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
}

/// The digest OIDs kmod 30 accepts in a PKCS#7 signature, as indexes into [`HASH_NAMES`]
/// (the kernel's `hash_algo` list). Checked with the oracle: kmod 30 prints `rmd160` for
/// RIPEMD-160, and for any other digest (sha3-*, sha512-224, streebog, an unknown OID) it
/// prints no signature lines at all, as if the module were unsigned.
const DIGEST_OIDS: &[(&str, usize)] = &[
    ("1.2.840.113549.2.4", 0),     // md4
    ("1.2.840.113549.2.5", 1),     // md5
    ("1.3.14.3.2.26", 2),          // sha1
    ("1.3.36.3.2.1", 3),           // rmd160
    ("2.16.840.1.101.3.4.2.1", 4), // sha256
    ("2.16.840.1.101.3.4.2.2", 5), // sha384
    ("2.16.840.1.101.3.4.2.3", 6), // sha512
    ("2.16.840.1.101.3.4.2.4", 7), // sha224
    ("1.2.156.10197.1.401", 8),    // sm3
];

/// The name kmod 30 prints for a PKCS#7 digest OID; None makes the signature rejected.
pub fn digest_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    let dotted = oid.to_string();
    let (_, index) = DIGEST_OIDS.iter().find(|(o, _)| *o == dotted)?;
    HASH_NAMES.get(*index).copied()
}
