//! The kernel command line as libkmod reads it (kmod-tools §5.4): `MODULE.PARAM[=VALUE]`
//! tokens become `options` entries, `modprobe.blacklist=a,b` becomes `blacklist` entries;
//! everything else is ignored. Parsed after every configuration file.
//!
//! A byte-by-byte state machine: a token is a module name up to the first `.`, a parameter
//! up to the first `=`, then a value. Quotes toggle a quoted mode in which blanks are only
//! allowed inside a value; a quote anywhere else (or a second `.`, or an `=` before the
//! `.`) makes the token ignored, and an unbalanced quote swallows the rest of the line.

use crate::modprobe_d::{underscores, ModprobeConfig, ModuleOptions};

/// libkmod reads at most this many bytes of `/proc/cmdline`.
pub const MAX_CMDLINE: usize = 4095;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Modname,
    Param,
    Value,
    Ignore,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// One complete `MODULE.PARAM[=VALUE]` token.
struct Token<'a> {
    modname: &'a [u8],
    param: &'a [u8],
    quoted_start: bool,
}

/// The scanner's position in the current token.
struct Scan {
    state: State,
    quoted: bool,
    start: usize,
    quoted_start: bool,
    dot: usize,
}

impl Scan {
    fn new_token(&mut self, at: usize) {
        *self = Scan {
            state: State::Modname,
            quoted: false,
            start: at,
            quoted_start: false,
            dot: at,
        };
    }
}

/// Every option and blacklist token of `cmdline`, in order.
fn scan(cmdline: &[u8], mut emit: impl FnMut(Token<'_>)) {
    let data = &cmdline[..cmdline.len().min(MAX_CMDLINE)];
    let mut s = Scan {
        state: State::Modname,
        quoted: false,
        start: 0,
        quoted_start: false,
        dot: 0,
    };
    for i in 0..=data.len() {
        let b = data.get(i).copied().unwrap_or(0);
        match b {
            b'"' => {
                s.quoted = !s.quoted;
                if s.quoted && s.state == State::Modname && i == s.start {
                    s.quoted_start = true;
                } else if s.state != State::Value {
                    s.state = State::Ignore;
                }
            }
            _ if b == 0 || is_space(b) => {
                if s.quoted && s.state == State::Value {
                    continue;
                }
                if s.quoted {
                    s.state = State::Ignore;
                    continue;
                }
                if matches!(s.state, State::Param | State::Value) {
                    let name_from = s.start + usize::from(s.quoted_start);
                    emit(Token {
                        modname: &data[name_from..s.dot],
                        param: &data[s.dot + 1..i],
                        quoted_start: s.quoted_start,
                    });
                }
                s.new_token(i + 1);
            }
            b'.' => match s.state {
                State::Modname => {
                    s.dot = i;
                    s.state = State::Param;
                }
                State::Param => s.state = State::Ignore,
                _ => {}
            },
            b'=' => match s.state {
                State::Param => s.state = State::Value,
                State::Modname => s.state = State::Ignore,
                _ => {}
            },
            _ => {}
        }
    }
}

/// A parameter of a token that started with a quote: `p=a b"` → `p="a b"` (the quote moves
/// from the front of the token to after the first `=`).
fn requote(param: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(param.len() + 1);
    match param.iter().position(|&b| b == b'=') {
        Some(eq) => {
            out.extend_from_slice(&param[..=eq]);
            out.push(b'"');
            out.extend_from_slice(&param[eq + 1..]);
        }
        None => out.extend_from_slice(param),
    }
    out
}

/// Add the command line's options and blacklist entries to `cfg`.
pub fn parse_into(cfg: &mut ModprobeConfig, cmdline: &[u8]) {
    scan(cmdline, |tok| {
        let param = if tok.quoted_start {
            requote(tok.param)
        } else {
            tok.param.to_vec()
        };
        if tok.modname == b"modprobe" {
            if let Some(list) = param.strip_prefix(b"blacklist=") {
                cfg.blacklists
                    .extend(list.split(|&b| b == b',').map(<[u8]>::to_vec));
                return;
            }
        }
        let module = underscores(tok.modname).unwrap_or_else(|| tok.modname.to_vec());
        cfg.options.push(ModuleOptions {
            module,
            options: param,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> (Vec<String>, Vec<String>) {
        let mut cfg = ModprobeConfig::default();
        parse_into(&mut cfg, line.as_bytes());
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            cfg.options
                .iter()
                .map(|o| format!("{} {}", s(&o.module), s(&o.options)))
                .collect(),
            cfg.blacklists.iter().map(|b| s(b)).collect(),
        )
    }

    /// The table of kmod-tools §5.4.
    #[test]
    fn spec_table() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "my-mod.p1=1 my-mod.flag",
                &["my_mod p1=1", "my_mod flag"],
                &[],
            ),
            ("a.b.c=1 x=y.z console=ttyS0 quiet", &[], &[]),
            ("\"q-mod.s=a b\"", &["q_mod s=\"a b\""], &[]),
            ("q2.s=\"c d\"", &["q2 s=\"c d\""], &[]),
            ("m2.p=\"x y\"z", &["m2 p=\"x y\"z"], &[]),
            ("m3.\"p=1\"", &[], &[]),
            ("m4.p=\"\"", &["m4 p=\"\""], &[]),
            ("mod.p=v=w", &["mod p=v=w"], &[]),
            (".p=1", &[" p=1"], &[]),
            ("m.=2", &["m =2"], &[]),
            ("M.p=", &["M p="], &[]),
            ("modprobe.blacklist=aa,b-b", &[], &["aa", "b-b"]),
            ("modprobe.blacklist=", &[], &[""]),
            ("Modprobe.blacklist=zz", &["Modprobe blacklist=zz"], &[]),
            ("a.x=1 bad\"q.x=1 c.y=2 d.z=3", &["a x=1"], &[]),
            (
                "modprobe.blacklist=a modprobe.blacklist=b,c",
                &[],
                &["a", "b", "c"],
            ),
        ];
        for (line, options, blacklists) in cases {
            let (o, b) = parsed(line);
            assert_eq!(o, *options, "{line}");
            assert_eq!(b, *blacklists, "{line}");
        }
    }

    #[test]
    fn trailing_newline_and_other_blanks_separate() {
        let (o, _) = parsed("a.x=1\tb.y=2\n");
        assert_eq!(o, vec!["a x=1", "b y=2"]);
    }

    #[test]
    fn only_the_first_4095_bytes_count() {
        let mut line = "x".repeat(4090);
        line.push_str(" m.p=1 n.q=2");
        let (o, _) = parsed(&line);
        assert_eq!(o, vec!["m p="]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut cfg = ModprobeConfig::default();
            parse_into(&mut cfg, &data);
        }
    }
}
