//! Differential tests of our `fnmatch` against the machine's glibc `fnmatch(p, s, 0)`.
//!
//! The oracle is a tiny C program compiled with `cc` into cargo's test tempdir; it reads
//! length-prefixed (pattern, string) records on stdin and prints one `1`/`0` per record,
//! so thousands of pairs cost one process. No FFI is needed on our side.
use modkit_index::fnmatch;
use proptest::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const ORACLE_C: &str = r#"
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
static int get(unsigned char *buf, unsigned len) {
    return fread(buf, 1, len, stdin) == len;
}
int main(void) {
    static unsigned char p[65536], s[65536];
    unsigned char hdr[4];
    for (;;) {
        unsigned plen, slen;
        if (!get(hdr, 4)) break;
        plen = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (unsigned)hdr[3] << 24;
        if (plen >= sizeof p || !get(p, plen)) return 2;
        p[plen] = 0;
        if (!get(hdr, 4)) return 2;
        slen = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (unsigned)hdr[3] << 24;
        if (slen >= sizeof s || !get(s, slen)) return 2;
        s[slen] = 0;
        putchar(fnmatch((char *)p, (char *)s, 0) == 0 ? '1' : '0');
    }
    return fflush(stdout) != 0;
}
"#;

/// Build the oracle once per test binary.
fn oracle() -> &'static PathBuf {
    static ORACLE: OnceLock<PathBuf> = OnceLock::new();
    ORACLE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fnmatch-oracle");
        std::fs::create_dir_all(&dir).expect("create oracle dir");
        // Compile under a private name, then rename into place: concurrent test runs
        // never see a half-written binary and old ones do not pile up.
        let src = dir.join(format!("oracle-{}.c", std::process::id()));
        let tmp = dir.join(format!("oracle-{}.tmp", std::process::id()));
        let bin = dir.join("oracle");
        std::fs::write(&src, ORACLE_C).expect("write oracle source");
        let status = Command::new("cc")
            .arg("-O1")
            .arg("-o")
            .arg(&tmp)
            .arg(&src)
            .status()
            .expect("the glibc oracle needs a C compiler (`cc`)");
        assert!(status.success(), "compiling the fnmatch oracle failed");
        let _ = std::fs::remove_file(&src);
        std::fs::rename(&tmp, &bin).expect("install oracle");
        bin
    })
}

/// glibc's answers for a batch of (pattern, string) pairs (NUL-free).
fn glibc(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<bool> {
    let mut input = Vec::new();
    for (p, s) in pairs {
        for part in [p, s] {
            let len = u32::try_from(part.len()).expect("short test strings");
            input.extend_from_slice(&len.to_le_bytes());
            input.extend_from_slice(part);
        }
    }
    let bin = oracle();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fnmatch-oracle");
    let file = dir.join(format!(
        "input-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::File::create(&file)
        .and_then(|mut f| f.write_all(&input))
        .expect("write oracle input");
    let out = Command::new(bin)
        .env_remove("POSIXLY_CORRECT")
        .env("LC_ALL", "C")
        .stdin(std::fs::File::open(&file).expect("reopen oracle input"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run oracle");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "oracle failed: {:?}", out.status);
    assert_eq!(out.stdout.len(), pairs.len(), "oracle answered every pair");
    out.stdout.iter().map(|&b| b == b'1').collect()
}

/// Compare a batch; report every disagreement (up to a few) with readable strings.
fn check(pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<(), String> {
    let want = glibc(pairs);
    let mut bad = Vec::new();
    for ((p, s), &w) in pairs.iter().zip(&want) {
        let got = fnmatch(p, s);
        if got != w {
            bad.push(format!(
                "pattern {:?} string {:?}: glibc {w}, ours {got}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(s)
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        let n = bad.len();
        bad.truncate(20);
        Err(format!("{n} disagreements:\n{}", bad.join("\n")))
    }
}

/// Every pattern of up to four bytes over the bracket-heavy alphabet, against a set of
/// short strings: exhaustive over the corner cases of bracket parsing.
#[test]
fn exhaustive_short_patterns_agree_with_glibc() {
    let alphabet = b"[]!^-\\*?ab:.=";
    let strings: Vec<&[u8]> = vec![
        b"", b"a", b"b", b"c", b"[", b"]", b"-", b"!", b"^", b"\\", b":", b".", b"=", b"ab", b"a]",
        b"[a", b"[]", b"]]", b"aa", b"a-", b"-a", b"[!", b"[^]", b"ba", b"?", b"*", b"[[", b"[:",
        b"[.", b"[=", b"[-", b"[\\", b"a[",
    ];
    let mut patterns: Vec<Vec<u8>> = vec![Vec::new()];
    let mut frontier: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for p in &frontier {
            for &c in alphabet {
                let mut q = p.clone();
                q.push(c);
                next.push(q);
            }
        }
        patterns.extend(next.iter().cloned());
        frontier = next;
    }
    let mut pairs = Vec::new();
    for p in &patterns {
        for s in &strings {
            pairs.push((p.clone(), s.to_vec()));
        }
    }
    if let Err(e) = check(&pairs) {
        panic!("{e}");
    }
}

/// Named classes, collating symbols and equivalence classes in every position.
#[test]
fn class_forms_agree_with_glibc() {
    let classes = [
        "alnum",
        "alpha",
        "blank",
        "cntrl",
        "digit",
        "graph",
        "lower",
        "print",
        "punct",
        "space",
        "upper",
        "xdigit",
        "foo",
        "combining",
        "z",
        "",
        "Alpha",
        "al-pha",
    ];
    let mut patterns = Vec::new();
    for c in classes {
        for shape in [
            "[[:{}:]]",
            "[![:{}:]]",
            "[^[:{}:]x]",
            "[[:{}:]",
            "[a[:{}:]]",
            "[[:{}:][:digit:]]",
            "[[:{}:]-z]",
            "[[:{}:]\\]]",
            "*[[:{}:]]*",
            "[[:{}:]]]",
            "[x[:{}:]",
        ] {
            patterns.push(shape.replace("{}", c));
        }
    }
    patterns.extend(
        [
            "[[.a.]]",
            "[[.a.]-c]",
            "[[.a.]-]",
            "[[.ab.]]",
            "[[..]]",
            "[[.].]]",
            "[[.-.]]",
            "[a-[.c.]]",
            "[a-[.cd.]]",
            "[[=a=]]",
            "[[=a=]-c]",
            "[[==]]",
            "[[=ab=]]",
            "[[=]=]]",
            "[![=a=]]",
            "[x[=a=]",
            "[a[.b.]",
            "[[.a",
            "[[=a",
            "[[:a",
            "[a-\\]]",
            "[a-\\",
            "[a-",
            "[\\",
            "[!\\",
            "[]-a]",
            "[!]-a]",
            "[--a]",
            "[a--]",
            "[%--]",
            "[[:alpha:]-]",
        ]
        .map(String::from),
    );
    let long = format!("[[:{}:]]", "a".repeat(300));
    patterns.push(long);
    patterns.push(format!("[x[:{}x]]", "b".repeat(260)));
    patterns.push(format!("[x[:{}:]]", "b".repeat(255)));
    patterns.push(format!("[x[:{}:]]", "b".repeat(254)));
    patterns.push(format!("[[:alpha:]x[:{}x]]", "b".repeat(260)));
    patterns.push(format!("[[:alpha:]x[:{}:]]", "b".repeat(254)));
    patterns.push(format!("[[:alpha:]x[:{}:]]", "b".repeat(253)));
    let mut pairs = Vec::new();
    for p in &patterns {
        for s in 1u8..=255 {
            pairs.push((p.as_bytes().to_vec(), vec![s]));
        }
        for s in ["]", "a]", "x]", "[[:alpha:]", "-]", "ab", "::", "]]"] {
            pairs.push((p.as_bytes().to_vec(), s.as_bytes().to_vec()));
        }
    }
    if let Err(e) = check(&pairs) {
        panic!("{e}");
    }
}

/// Pattern pieces: ordinary bytes, wildcards, and whole bracket forms.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(b"ab-_:.x/".to_vec()).prop_map(|c| vec![c]),
        3 => prop::sample::select(b"[]!^\\*?".to_vec()).prop_map(|c| vec![c]),
        1 => prop::sample::select(vec![
            "[:alpha:]", "[:digit:]", "[:upper:]", "[:punct:]", "[:nope:]", "[.a.]", "[=b=]",
            "a-z", "0-9", "[a-c]", "[!ab]", "[^x]", "[]]", "\\]",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => (1u8..=255).prop_map(|c| vec![c]),
    ]
}

fn pattern() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(token(), 0..10).prop_map(|t| t.concat())
}

/// A subject derived from a pattern (so that matches are common) or random.
fn subject(p: &[u8], mode: u8, noise: &[u8]) -> Vec<u8> {
    let mut s: Vec<u8> = match mode % 3 {
        0 => p
            .iter()
            .copied()
            .filter(|&c| !b"*\\[]".contains(&c))
            .collect(),
        1 => p
            .iter()
            .map(|&c| if c == b'?' || c == b'*' { b'a' } else { c })
            .collect(),
        _ => Vec::new(),
    };
    s.extend_from_slice(noise);
    s.retain(|&c| c != 0);
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_patterns_agree_with_glibc(
        batch in prop::collection::vec(
            (pattern(), any::<u8>(), prop::collection::vec(
                prop::sample::select(b"ab-_:.x/[]!^\\".to_vec()), 0..4)),
            400)
    ) {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = batch
            .iter()
            .map(|(p, mode, noise)| (p.clone(), subject(p, *mode, noise)))
            .collect();
        if let Err(e) = check(&pairs) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// The table of kmod-formats §2.4 (written against glibc 2.41) holds on this glibc too,
/// and our matcher gives the same answers.
#[test]
fn spec_table_holds_for_this_glibc() {
    let rows: &[(&str, &str, bool)] = include!("data/fnmatch_spec_table.rs");
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = rows
        .iter()
        .map(|(p, s, _)| (p.as_bytes().to_vec(), s.as_bytes().to_vec()))
        .collect();
    let answers = glibc(&pairs);
    for ((p, s, want), got) in rows.iter().zip(answers) {
        assert_eq!(got, *want, "glibc fnmatch({p:?}, {s:?})");
        assert_eq!(
            fnmatch(p.as_bytes(), s.as_bytes()),
            *want,
            "ours ({p:?}, {s:?})"
        );
    }
}
