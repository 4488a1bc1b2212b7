//! Synthetic module files for tests: ELF32/ELF64, either byte order, with `.modinfo`,
//! `__versions`, exports (with or without `__crc_` symbols), undefined symbols, a build-id
//! and optionally a signature trailer, optionally compressed.
//!
//! The ELF writer is hand-written and small: an ELF header, the section contents one after
//! another (each aligned), then the section header table. It writes a relocatable object
//! (`ET_REL`) shaped like a kernel module; kmod 30's `modinfo` and `depmod` accept it.
//!
//! ```
//! use modkit_elf::synth::{Class, Endian, ModuleBuilder};
//! let image = ModuleBuilder::new()
//!     .class(Class::Elf32)
//!     .endian(Endian::Big)
//!     .modinfo("name", "foo")
//!     .export("foo_fn", 0x1234)
//!     .undefined("printk", modkit_elf::Binding::Global)
//!     .build();
//! let module = modkit_elf::Module::parse(&image).unwrap();
//! assert_eq!(module.exports().unwrap()[0].name, b"foo_fn");
//! ```
use std::io::Write;

use cms::cert::x509::attr::AttributeTypeAndValue;
use cms::cert::x509::name::{Name, RdnSequence, RelativeDistinguishedName};
use cms::cert::x509::serial_number::SerialNumber;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, Tag};

use crate::signature::{const_oids, MODULE_SIGNATURE_SIZE, SIGNATURE_MAGIC};
use crate::{Binding, Compression, SignatureId};

/// ELF class of the synthetic module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Elf32,
    Elf64,
}

/// Byte order of the synthetic module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

/// How exports carry their CRCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcStyle {
    /// `__crc_<name>` symbols with `SHN_ABS` whose value is the CRC (older kernels).
    Absolute,
    /// `__crc_<name>` symbols pointing into a `__kcrctab` section holding 32-bit CRCs.
    Kcrctab,
    /// No `__crc_` symbols: exports only through `__ksymtab_strings` (no modversions).
    None,
}

/// `e_machine` of x86-64, the default.
pub const EM_X86_64: u16 = 62;

/// The appended signature of a synthetic module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureSpec {
    /// A PKCS#7 trailer around this DER (see [`pkcs7_der`]).
    Pkcs7Der(Vec<u8>),
    /// A legacy PGP/X509 trailer with the fields given directly.
    Legacy {
        id: SignatureId,
        algo: u8,
        hash: u8,
        signer: Vec<u8>,
        key_id: Vec<u8>,
        signature: Vec<u8>,
    },
    /// Bytes appended verbatim (for malformed-trailer tests).
    Raw(Vec<u8>),
}

impl SignatureSpec {
    /// A PKCS#7 trailer for the given issuer CN, serial, digest OID and signature value.
    pub fn pkcs7(
        signer_cn: &[u8],
        serial: &[u8],
        digest_oid: &str,
        signature: &[u8],
    ) -> Result<Self, der::Error> {
        pkcs7_der(signer_cn, serial, digest_oid, signature).map(SignatureSpec::Pkcs7Der)
    }
}

/// A DER `ContentInfo { SignedData }` with one `SignerInfo` (issuerAndSerialNumber with the
/// issuer `CN=<signer_cn>`, the digest OID, rsaEncryption, the given signature bytes), no
/// content and no certificates — the shape `sign-file` writes. Well-formed, not verifiable.
/// Fails for an invalid OID or a serial longer than 20 bytes.
pub fn pkcs7_der(
    signer_cn: &[u8],
    serial: &[u8],
    digest_oid: &str,
    signature: &[u8],
) -> Result<Vec<u8>, der::Error> {
    pkcs7_der_with_issuer(&[("2.5.4.3", signer_cn)], serial, digest_oid, signature)
}

/// Like [`pkcs7_der`] with the issuer given as a list of (attribute OID, UTF8String value),
/// one RDN each, in order (e.g. `[("2.5.4.10", b"Org"), ("2.5.4.3", b"Name")]`).
pub fn pkcs7_der_with_issuer(
    issuer: &[(&str, &[u8])],
    serial: &[u8],
    digest_oid: &str,
    signature: &[u8],
) -> Result<Vec<u8>, der::Error> {
    pkcs7_der_signed_with(issuer, serial, digest_oid, RSA_ENCRYPTION, signature)
}

/// rsaEncryption, the signature algorithm `sign-file` names for an RSA key.
pub const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// ecdsa-with-SHA256, what it names for an ECDSA key (Debian's 6.12 modules).
pub const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";

/// Like [`pkcs7_der_with_issuer`] with the signer's signature algorithm OID given
/// (e.g. [`ECDSA_WITH_SHA256`]).
pub fn pkcs7_der_signed_with(
    issuer: &[(&str, &[u8])],
    serial: &[u8],
    digest_oid: &str,
    signature_oid: &str,
    signature: &[u8],
) -> Result<Vec<u8>, der::Error> {
    let digest = cms::cert::x509::spki::AlgorithmIdentifierOwned {
        oid: oid(digest_oid)?,
        parameters: None,
    };
    let mut rdns = Vec::with_capacity(issuer.len());
    for (attr, value) in issuer {
        let atv = AttributeTypeAndValue {
            oid: oid(attr)?,
            value: Any::new(Tag::Utf8String, value.to_vec())?,
        };
        rdns.push(RelativeDistinguishedName::try_from(vec![atv])?);
    }
    let issuer = Name::from_der(&RdnSequence::from(rdns).to_der()?)?;
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer,
            serial_number: SerialNumber::new(serial)?,
        }),
        digest_alg: digest.clone(),
        signed_attrs: None,
        signature_algorithm: cms::cert::x509::spki::AlgorithmIdentifierOwned {
            oid: oid(signature_oid)?,
            parameters: None,
        },
        signature: OctetString::new(signature.to_vec())?,
        unsigned_attrs: None,
    };
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: const_oids::DATA,
            econtent: None,
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer])?),
    };
    ContentInfo {
        content_type: const_oids::SIGNED_DATA,
        content: Any::encode_from(&signed)?,
    }
    .to_der()
}

fn oid(dotted: &str) -> Result<ObjectIdentifier, der::Error> {
    ObjectIdentifier::new(dotted).map_err(|_| der::Error::from(der::ErrorKind::OidMalformed))
}

/// Builds one synthetic module file. Start with [`ModuleBuilder::new`] (ELF64,
/// little-endian, x86-64, empty `.modinfo`, 16-byte `.text`).
#[derive(Debug, Clone)]
pub struct ModuleBuilder {
    class: Class,
    endian: Endian,
    machine: u16,
    modinfo: Vec<Vec<u8>>,
    versions: Vec<(u64, Vec<u8>)>,
    exports: Vec<(Vec<u8>, u64)>,
    crc_style: CrcStyle,
    undefined: Vec<(Vec<u8>, Binding)>,
    build_id: Option<Vec<u8>>,
    text: u64,
    init_text: Option<u64>,
    data: Option<u64>,
    bss: Option<u64>,
    this_module: Option<u64>,
    no_modinfo: bool,
    extra: Vec<(String, u32, u64, Vec<u8>)>,
    signature: Option<SignatureSpec>,
    compression: Compression,
}

impl Default for ModuleBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ModuleBuilder {
    /// ELF64, little-endian, x86-64, empty `.modinfo`, 16-byte `.text`, uncompressed.
    pub fn new() -> Self {
        ModuleBuilder {
            class: Class::Elf64,
            endian: Endian::Little,
            machine: EM_X86_64,
            modinfo: Vec::new(),
            versions: Vec::new(),
            exports: Vec::new(),
            crc_style: CrcStyle::Absolute,
            undefined: Vec::new(),
            build_id: None,
            text: 16,
            init_text: None,
            data: None,
            bss: None,
            this_module: None,
            no_modinfo: false,
            extra: Vec::new(),
            signature: None,
            compression: Compression::None,
        }
    }
    pub fn class(mut self, class: Class) -> Self {
        self.class = class;
        self
    }
    pub fn endian(mut self, endian: Endian) -> Self {
        self.endian = endian;
        self
    }
    /// `e_machine` (default x86-64).
    pub fn machine(mut self, machine: u16) -> Self {
        self.machine = machine;
        self
    }
    /// Appends a `key=value` `.modinfo` entry.
    pub fn modinfo(mut self, key: &str, value: &str) -> Self {
        self.modinfo.push(format!("{key}={value}").into_bytes());
        self
    }
    /// Appends a raw `.modinfo` string (e.g. one without `=`); it must not contain NUL.
    pub fn modinfo_raw(mut self, entry: &[u8]) -> Self {
        self.modinfo.push(entry.to_vec());
        self
    }
    /// Leaves out the `.modinfo` section entirely.
    pub fn without_modinfo(mut self) -> Self {
        self.no_modinfo = true;
        self
    }
    /// Appends a `__versions` record.
    pub fn version(mut self, crc: u64, name: &str) -> Self {
        self.versions.push((crc, name.as_bytes().to_vec()));
        self
    }
    /// Exports `name` (defined in `.text`) with a CRC, written as [`CrcStyle`] says.
    pub fn export(mut self, name: &str, crc: u64) -> Self {
        self.exports.push((name.as_bytes().to_vec(), crc));
        self
    }
    pub fn crc_style(mut self, style: CrcStyle) -> Self {
        self.crc_style = style;
        self
    }
    /// Adds an undefined symbol (binding Global, Weak or Local).
    pub fn undefined(mut self, name: &str, binding: Binding) -> Self {
        self.undefined.push((name.as_bytes().to_vec(), binding));
        self
    }
    /// Adds a `.note.gnu.build-id` with this descriptor.
    pub fn build_id(mut self, id: &[u8]) -> Self {
        self.build_id = Some(id.to_vec());
        self
    }
    /// Size of `.text` (default 16).
    pub fn text_size(mut self, size: u64) -> Self {
        self.text = size;
        self
    }
    pub fn init_text_size(mut self, size: u64) -> Self {
        self.init_text = Some(size);
        self
    }
    pub fn data_size(mut self, size: u64) -> Self {
        self.data = Some(size);
        self
    }
    /// Adds a `.bss` (`SHT_NOBITS`) of this size.
    pub fn bss_size(mut self, size: u64) -> Self {
        self.bss = Some(size);
        self
    }
    /// Adds `.gnu.linkonce.this_module` of this size with a `__this_module` symbol.
    pub fn this_module_size(mut self, size: u64) -> Self {
        self.this_module = Some(size);
        self
    }
    /// Adds an arbitrary section (`sh_type`, `sh_flags`, contents).
    pub fn section(mut self, name: &str, sh_type: u32, flags: u64, data: &[u8]) -> Self {
        self.extra
            .push((name.to_string(), sh_type, flags, data.to_vec()));
        self
    }
    pub fn signature(mut self, signature: SignatureSpec) -> Self {
        self.signature = Some(signature);
        self
    }
    /// Compresses the whole file (after the signature, as the kernel build does).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The uncompressed ELF image with the signature trailer, if any.
    pub fn build_image(&self) -> Vec<u8> {
        let mut image = self.write_elf();
        if let Some(sig) = &self.signature {
            append_signature(&mut image, sig);
        }
        image
    }

    /// The module file: [`Self::build_image`], compressed if asked.
    pub fn build(&self) -> Vec<u8> {
        let image = self.build_image();
        // Compressing into memory cannot fail short of an allocation failure.
        compress(&image, self.compression).unwrap_or(image)
    }

    fn write_elf(&self) -> Vec<u8> {
        let mut sections = vec![OutSection::null()];
        let text = push(
            &mut sections,
            OutSection::progbits(".text", SHF_ALLOC | SHF_EXECINSTR, zeros(self.text)),
        );
        if let Some(size) = self.init_text {
            push(
                &mut sections,
                OutSection::progbits(".init.text", SHF_ALLOC | SHF_EXECINSTR, zeros(size)),
            );
        }
        if let Some(size) = self.data {
            push(
                &mut sections,
                OutSection::progbits(".data", SHF_ALLOC | SHF_WRITE, zeros(size)),
            );
        }
        let this_module = self.this_module.map(|size| {
            let s = OutSection::progbits(
                ".gnu.linkonce.this_module",
                SHF_ALLOC | SHF_WRITE,
                zeros(size),
            );
            push(&mut sections, s)
        });
        if let Some(size) = self.bss {
            let mut s = OutSection::progbits(".bss", SHF_ALLOC | SHF_WRITE, Vec::new());
            s.sh_type = SHT_NOBITS;
            s.nobits_size = size;
            push(&mut sections, s);
        }
        if !self.no_modinfo {
            let data = self
                .modinfo
                .iter()
                .flat_map(|e| e.iter().copied().chain([0]))
                .collect();
            push(
                &mut sections,
                OutSection::progbits(".modinfo", SHF_ALLOC, data).align(1),
            );
        }
        let w = Writer {
            class: self.class,
            endian: self.endian,
        };
        if !self.versions.is_empty() {
            push(
                &mut sections,
                OutSection::progbits("__versions", SHF_ALLOC, self.versions_data(w))
                    .align(w.word()),
            );
        }
        if !self.exports.is_empty() {
            let data = self
                .exports
                .iter()
                .flat_map(|(n, _)| n.iter().copied().chain([0]))
                .collect();
            push(
                &mut sections,
                OutSection::progbits("__ksymtab_strings", SHF_ALLOC, data).align(1),
            );
        }
        let kcrctab =
            (self.crc_style == CrcStyle::Kcrctab && !self.exports.is_empty()).then(|| {
                let mut data = Vec::new();
                for &(_, crc) in &self.exports {
                    w.u32(&mut data, crc as u32);
                }
                push(
                    &mut sections,
                    OutSection::progbits("__kcrctab", SHF_ALLOC, data).align(4),
                )
            });
        if let Some(id) = &self.build_id {
            let mut s = OutSection::progbits(".note.gnu.build-id", SHF_ALLOC, build_id_note(w, id))
                .align(4);
            s.sh_type = SHT_NOTE;
            push(&mut sections, s);
        }
        for (name, sh_type, flags, data) in &self.extra {
            let mut s = OutSection::progbits(name, *flags, data.clone()).align(1);
            s.sh_type = *sh_type;
            push(&mut sections, s);
        }
        let symbols = self.symbols(text, this_module, kcrctab);
        let symtab_index = sections.len();
        let (symtab, strtab) = w.symtab(&symbols);
        let mut symtab = OutSection::progbits(".symtab", 0, symtab).align(w.word());
        symtab.sh_type = SHT_SYMTAB;
        symtab.link = symtab_index as u32 + 1;
        symtab.info = 1; // only the null symbol is local
        symtab.entsize = w.sym_size();
        sections.push(symtab);
        let mut strtab = OutSection::progbits(".strtab", 0, strtab).align(1);
        strtab.sh_type = SHT_STRTAB;
        sections.push(strtab);
        let mut shstrtab = OutSection::progbits(".shstrtab", 0, Vec::new()).align(1);
        shstrtab.sh_type = SHT_STRTAB;
        sections.push(shstrtab);
        w.write(self.machine, sections)
    }

    fn versions_data(&self, w: Writer) -> Vec<u8> {
        let mut data = Vec::new();
        let name_len = 64 - w.word() as usize;
        for (crc, name) in &self.versions {
            w.word_value(&mut data, *crc);
            let mut field = name.clone();
            field.resize(name_len, 0);
            if let Some(last) = field.last_mut() {
                *last = 0;
            }
            data.extend_from_slice(&field);
        }
        data
    }

    fn symbols(&self, text: u16, this_module: Option<u16>, kcrctab: Option<u16>) -> Vec<OutSymbol> {
        let mut symbols = Vec::new();
        for (i, (name, crc)) in self.exports.iter().enumerate() {
            symbols.push(OutSymbol::new(name.clone(), STB_GLOBAL, STT_FUNC, text, 0));
            let crc_name = [b"__crc_".as_slice(), name].concat();
            match (self.crc_style, kcrctab) {
                (CrcStyle::Absolute, _) => symbols.push(OutSymbol::new(
                    crc_name, STB_GLOBAL, STT_NOTYPE, SHN_ABS, *crc,
                )),
                (CrcStyle::Kcrctab, Some(sec)) => symbols.push(OutSymbol::new(
                    crc_name,
                    STB_GLOBAL,
                    STT_OBJECT,
                    sec,
                    4 * i as u64,
                )),
                _ => {}
            }
        }
        if let Some(sec) = this_module {
            symbols.push(OutSymbol::new(
                b"__this_module".to_vec(),
                STB_GLOBAL,
                STT_OBJECT,
                sec,
                0,
            ));
        }
        for (name, binding) in &self.undefined {
            let bind = match binding {
                Binding::Local => STB_LOCAL,
                Binding::Global => STB_GLOBAL,
                Binding::Weak => STB_WEAK,
            };
            symbols.push(OutSymbol::new(name.clone(), bind, STT_NOTYPE, 0, 0));
        }
        symbols
    }
}

/// Compresses a module image the way the kernel build does (xz with CRC32 check, zstd, gzip).
pub fn compress(image: &[u8], compression: Compression) -> std::io::Result<Vec<u8>> {
    match compression {
        Compression::None => Ok(image.to_vec()),
        Compression::Xz => {
            let stream =
                liblzma::stream::Stream::new_easy_encoder(6, liblzma::stream::Check::Crc32)?;
            let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
            enc.write_all(image)?;
            enc.finish()
        }
        Compression::Zstd => zstd::bulk::compress(image, 19),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(image)?;
            enc.finish()
        }
    }
}

/// Appends `[signer][key id][signature][struct module_signature][magic]`.
fn append_signature(image: &mut Vec<u8>, sig: &SignatureSpec) {
    let (algo, hash, id_type, signer, key_id, signature): (u8, u8, u8, &[u8], &[u8], &[u8]) =
        match sig {
            SignatureSpec::Raw(bytes) => {
                image.extend_from_slice(bytes);
                return;
            }
            SignatureSpec::Pkcs7Der(der) => (0, 0, SignatureId::Pkcs7.id_type(), &[], &[], der),
            SignatureSpec::Legacy {
                id,
                algo,
                hash,
                signer,
                key_id,
                signature,
            } => (*algo, *hash, id.id_type(), signer, key_id, signature),
        };
    image.extend_from_slice(signer);
    image.extend_from_slice(key_id);
    image.extend_from_slice(signature);
    let mut trailer = [0u8; MODULE_SIGNATURE_SIZE];
    trailer[0] = algo;
    trailer[1] = hash;
    trailer[2] = id_type;
    trailer[3] = signer.len() as u8;
    trailer[4] = key_id.len() as u8;
    trailer[8..12].copy_from_slice(&(signature.len() as u32).to_be_bytes());
    image.extend_from_slice(&trailer);
    image.extend_from_slice(SIGNATURE_MAGIC);
}

fn zeros(size: u64) -> Vec<u8> {
    vec![0; size as usize]
}

/// Pushes a section and returns its index.
fn push(sections: &mut Vec<OutSection>, section: OutSection) -> u16 {
    sections.push(section);
    (sections.len() - 1) as u16
}

fn build_id_note(w: Writer, id: &[u8]) -> Vec<u8> {
    let mut note = Vec::new();
    w.u32(&mut note, 4);
    w.u32(&mut note, id.len() as u32);
    w.u32(&mut note, 3); // NT_GNU_BUILD_ID
    note.extend_from_slice(b"GNU\0");
    note.extend_from_slice(id);
    note.resize(note.len().next_multiple_of(4), 0);
    note
}

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_NOTE: u32 = 7;
const SHT_NOBITS: u32 = 8;
const SHF_WRITE: u64 = 1;
const SHF_ALLOC: u64 = 2;
const SHF_EXECINSTR: u64 = 4;
const SHN_ABS: u16 = 0xfff1;
const STB_LOCAL: u8 = 0;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;
const STT_NOTYPE: u8 = 0;
const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;

/// One section to write.
struct OutSection {
    name: String,
    sh_type: u32,
    flags: u64,
    data: Vec<u8>,
    nobits_size: u64,
    align: u64,
    link: u32,
    info: u32,
    entsize: u64,
}

impl OutSection {
    fn null() -> Self {
        let mut s = Self::progbits("", 0, Vec::new()).align(0);
        s.sh_type = 0;
        s
    }
    fn progbits(name: &str, flags: u64, data: Vec<u8>) -> Self {
        OutSection {
            name: name.to_string(),
            sh_type: SHT_PROGBITS,
            flags,
            data,
            nobits_size: 0,
            align: 16,
            link: 0,
            info: 0,
            entsize: 0,
        }
    }
    fn align(mut self, align: u64) -> Self {
        self.align = align;
        self
    }
}

/// One symbol to write.
struct OutSymbol {
    name: Vec<u8>,
    info: u8,
    shndx: u16,
    value: u64,
}

impl OutSymbol {
    fn new(name: Vec<u8>, bind: u8, typ: u8, shndx: u16, value: u64) -> Self {
        OutSymbol {
            name,
            info: bind << 4 | typ,
            shndx,
            value,
        }
    }
}

/// Class- and byte-order-aware encoder of ELF structures.
#[derive(Debug, Clone, Copy)]
struct Writer {
    class: Class,
    endian: Endian,
}

impl Writer {
    fn u16(self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        });
    }
    fn u32(self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        });
    }
    fn u64(self, out: &mut Vec<u8>, v: u64) {
        out.extend_from_slice(&match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        });
    }
    /// An address-sized word (`Elf32_Addr`/`Elf64_Addr`, also `Elf*_Off`, `Elf*_Xword`).
    fn word_value(self, out: &mut Vec<u8>, v: u64) {
        match self.class {
            Class::Elf32 => self.u32(out, v as u32),
            Class::Elf64 => self.u64(out, v),
        }
    }
    fn word(self) -> u64 {
        match self.class {
            Class::Elf32 => 4,
            Class::Elf64 => 8,
        }
    }
    fn sym_size(self) -> u64 {
        match self.class {
            Class::Elf32 => 16,
            Class::Elf64 => 24,
        }
    }

    /// `.symtab` and `.strtab` contents (the null symbol first).
    fn symtab(self, symbols: &[OutSymbol]) -> (Vec<u8>, Vec<u8>) {
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; self.sym_size() as usize];
        for sym in symbols {
            let name = strtab.len() as u32;
            strtab.extend_from_slice(&sym.name);
            strtab.push(0);
            self.u32(&mut symtab, name);
            match self.class {
                Class::Elf32 => {
                    self.u32(&mut symtab, sym.value as u32);
                    self.u32(&mut symtab, 0);
                    symtab.extend_from_slice(&[sym.info, 0]);
                    self.u16(&mut symtab, sym.shndx);
                }
                Class::Elf64 => {
                    symtab.extend_from_slice(&[sym.info, 0]);
                    self.u16(&mut symtab, sym.shndx);
                    self.u64(&mut symtab, sym.value);
                    self.u64(&mut symtab, 0);
                }
            }
        }
        (symtab, strtab)
    }

    /// The whole file: header, section contents, `.shstrtab` (last section), headers.
    fn write(self, machine: u16, mut sections: Vec<OutSection>) -> Vec<u8> {
        let mut shstrtab = vec![0u8];
        let mut name_offsets = Vec::with_capacity(sections.len());
        for s in &sections {
            if s.name.is_empty() {
                name_offsets.push(0);
            } else {
                name_offsets.push(shstrtab.len() as u32);
                shstrtab.extend_from_slice(s.name.as_bytes());
                shstrtab.push(0);
            }
        }
        if let Some(last) = sections.last_mut() {
            last.data = shstrtab;
        }
        let (ehsize, shentsize) = match self.class {
            Class::Elf32 => (52usize, 40u16),
            Class::Elf64 => (64usize, 64u16),
        };
        let mut body = vec![0u8; ehsize];
        let mut offsets = Vec::with_capacity(sections.len());
        for s in &sections {
            let align = s.align.max(1) as usize;
            body.resize(body.len().next_multiple_of(align), 0);
            offsets.push(body.len() as u64);
            body.extend_from_slice(&s.data);
        }
        body.resize(body.len().next_multiple_of(self.word() as usize), 0);
        let shoff = body.len() as u64;
        for ((s, &offset), &name) in sections.iter().zip(&offsets).zip(&name_offsets) {
            let size = if s.sh_type == SHT_NOBITS {
                s.nobits_size
            } else {
                s.data.len() as u64
            };
            let offset = if s.sh_type == 0 { 0 } else { offset };
            self.u32(&mut body, name);
            self.u32(&mut body, s.sh_type);
            self.word_value(&mut body, s.flags);
            self.word_value(&mut body, 0); // sh_addr
            self.word_value(&mut body, offset);
            self.word_value(&mut body, size);
            self.u32(&mut body, s.link);
            self.u32(&mut body, s.info);
            self.word_value(&mut body, s.align);
            self.word_value(&mut body, s.entsize);
        }
        let mut header = Vec::with_capacity(ehsize);
        header.extend_from_slice(&[0x7f, b'E', b'L', b'F']);
        header.push(match self.class {
            Class::Elf32 => 1,
            Class::Elf64 => 2,
        });
        header.push(match self.endian {
            Endian::Little => 1,
            Endian::Big => 2,
        });
        header.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        self.u16(&mut header, 1); // ET_REL
        self.u16(&mut header, machine);
        self.u32(&mut header, 1); // EV_CURRENT
        self.word_value(&mut header, 0); // e_entry
        self.word_value(&mut header, 0); // e_phoff
        self.word_value(&mut header, shoff);
        self.u32(&mut header, 0); // e_flags
        self.u16(&mut header, ehsize as u16);
        self.u16(&mut header, 0); // e_phentsize
        self.u16(&mut header, 0); // e_phnum
        self.u16(&mut header, shentsize);
        self.u16(&mut header, sections.len() as u16);
        self.u16(&mut header, (sections.len() - 1) as u16); // .shstrtab is last
        body.splice(0..ehsize, header);
        body
    }
}
