//! A byte-exact emulation of glibc's `getopt_long` (kmod-tools §2): clustering, required
//! and optional arguments, `--name=value`, unambiguous long prefixes (with glibc's
//! same-value exception), permutation of operands, `--`, the `+` (stop at the first
//! operand) mode, and glibc's error texts, which name `argv[0]` verbatim.

/// Whether an option takes an argument (`no_argument`, `required_argument`,
/// `optional_argument`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    No,
    Required,
    Optional,
}

/// One entry of a long-option table (`struct option` with `flag == NULL`).
#[derive(Debug, Clone, Copy)]
pub struct LongOpt {
    pub name: &'static str,
    pub has_arg: HasArg,
    /// What `getopt_long` returns: usually the short option character.
    pub val: u32,
}

impl LongOpt {
    pub const fn new(name: &'static str, has_arg: HasArg, val: u32) -> LongOpt {
        LongOpt { name, has_arg, val }
    }
}

/// What one step of parsing produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An option (its `val`) and its argument, if any.
    Opt(u32, Option<Vec<u8>>),
    /// glibc returned `'?'`; the text is glibc's complete stderr line, newline included.
    Error(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering {
    Permute,
    RequireOrder,
}

/// The parser state over one argument vector (`argv[0]` included).
pub struct Getopt<'a> {
    argv: &'a [Vec<u8>],
    shorts: &'a [u8],
    longs: &'a [LongOpt],
    ordering: Ordering,
    /// Index of the next argument word to examine.
    next: usize,
    /// Position inside a short-option cluster (`argv[cluster.0][cluster.1..]`).
    cluster: Option<(usize, usize)>,
    operands: Vec<Vec<u8>>,
    done: bool,
    /// The long name of the option returned last (None when it was a short one).
    last_long: Option<&'static str>,
}

impl<'a> Getopt<'a> {
    /// `optstring` as in C: a leading `+` disables permutation (as does `POSIXLY_CORRECT`).
    pub fn new(argv: &'a [Vec<u8>], optstring: &'a str, longs: &'a [LongOpt]) -> Getopt<'a> {
        let mut shorts = optstring.as_bytes();
        let mut ordering = if std::env::var_os("POSIXLY_CORRECT").is_some() {
            Ordering::RequireOrder
        } else {
            Ordering::Permute
        };
        if let Some(rest) = shorts.strip_prefix(b"+") {
            ordering = Ordering::RequireOrder;
            shorts = rest;
        }
        Getopt {
            argv,
            shorts,
            longs,
            ordering,
            next: 1,
            cluster: None,
            operands: Vec::new(),
            done: false,
            last_long: None,
        }
    }

    /// The full long name of the option just returned, when it was given in long form
    /// (what `longindex` tells a C tool).
    pub fn last_long(&self) -> Option<&'static str> {
        self.last_long
    }

    fn prog(&self) -> &[u8] {
        self.argv.first().map(Vec::as_slice).unwrap_or(b"")
    }

    /// The operands (non-options) in order, once parsing has finished (or stopped early:
    /// then the remaining words are included too).
    pub fn operands(mut self) -> Vec<Vec<u8>> {
        if self.cluster.is_some() {
            // A tool stopping in the middle of a cluster ignores its rest, like C.
            self.cluster = None;
        }
        let rest = self.argv.get(self.next..).unwrap_or(&[]);
        self.operands.extend(rest.iter().cloned());
        self.operands
    }

    /// Kind of a short option character: None when it is not in the option string.
    fn short_kind(&self, c: u8) -> Option<HasArg> {
        if c == b':' {
            return None;
        }
        let pos = self.shorts.iter().position(|&b| b == c)?;
        let colons = self.shorts[pos + 1..]
            .iter()
            .take(2)
            .take_while(|&&b| b == b':')
            .count();
        Some(match colons {
            0 => HasArg::No,
            1 => HasArg::Required,
            _ => HasArg::Optional,
        })
    }

    fn error(&self, parts: &[&[u8]]) -> Item {
        let mut msg = self.prog().to_vec();
        msg.extend_from_slice(b": ");
        for p in parts {
            msg.extend_from_slice(p);
        }
        msg.push(b'\n');
        Item::Error(msg)
    }

    fn next_short(&mut self, word: usize, pos: usize) -> Item {
        let text = &self.argv[word];
        let c = text[pos];
        let rest_start = pos + 1;
        let at_end = rest_start >= text.len();
        self.cluster = if at_end {
            None
        } else {
            Some((word, rest_start))
        };
        let Some(kind) = self.short_kind(c) else {
            return self.error(&[b"invalid option -- '", &[c], b"'"]);
        };
        match kind {
            HasArg::No => Item::Opt(u32::from(c), None),
            HasArg::Optional => {
                self.cluster = None;
                let arg = (!at_end).then(|| text[rest_start..].to_vec());
                Item::Opt(u32::from(c), arg)
            }
            HasArg::Required => {
                self.cluster = None;
                if !at_end {
                    return Item::Opt(u32::from(c), Some(text[rest_start..].to_vec()));
                }
                match self.argv.get(self.next) {
                    Some(arg) => {
                        self.next += 1;
                        Item::Opt(u32::from(c), Some(arg.clone()))
                    }
                    None => self.error(&[b"option requires an argument -- '", &[c], b"'"]),
                }
            }
        }
    }

    /// Find the long option named by `name` (exact, else an unambiguous prefix).
    fn find_long(&self, name: &[u8]) -> Result<usize, Vec<usize>> {
        if let Some(i) = self.longs.iter().position(|o| o.name.as_bytes() == name) {
            return Ok(i);
        }
        let mut found: Option<usize> = None;
        let mut ambiguous: Vec<usize> = Vec::new();
        for (i, o) in self.longs.iter().enumerate() {
            if !o.name.as_bytes().starts_with(name) {
                continue;
            }
            match found {
                None => found = Some(i),
                Some(f) => {
                    let first = &self.longs[f];
                    if first.has_arg != o.has_arg || first.val != o.val {
                        if ambiguous.is_empty() {
                            ambiguous.push(f);
                        }
                        ambiguous.push(i);
                    }
                }
            }
        }
        match found {
            Some(_) if !ambiguous.is_empty() => Err(ambiguous),
            Some(f) => Ok(f),
            None => Err(Vec::new()),
        }
    }

    fn next_long(&mut self, word: usize) -> Item {
        let text = &self.argv[word][2..];
        let (name, value) = match text.iter().position(|&b| b == b'=') {
            Some(eq) => (&text[..eq], Some(&text[eq + 1..])),
            None => (text, None),
        };
        let index = match self.find_long(name) {
            Ok(i) => i,
            Err(set) if set.is_empty() => {
                return self.error(&[b"unrecognized option '--", text, b"'"]);
            }
            Err(set) => {
                let mut parts: Vec<&[u8]> =
                    vec![b"option '--", text, b"' is ambiguous; possibilities:"];
                for i in set {
                    parts.push(b" '--");
                    parts.push(self.longs[i].name.as_bytes());
                    parts.push(b"'");
                }
                return self.error(&parts);
            }
        };
        let opt = self.longs[index];
        self.last_long = Some(opt.name);
        let name = opt.name.as_bytes();
        match (opt.has_arg, value) {
            (HasArg::No, Some(_)) => {
                self.error(&[b"option '--", name, b"' doesn't allow an argument"])
            }
            (HasArg::No, None) | (HasArg::Optional, None) => Item::Opt(opt.val, None),
            (_, Some(v)) => Item::Opt(opt.val, Some(v.to_vec())),
            (HasArg::Required, None) => match self.argv.get(self.next) {
                Some(arg) => {
                    self.next += 1;
                    Item::Opt(opt.val, Some(arg.clone()))
                }
                None => self.error(&[b"option '--", name, b"' requires an argument"]),
            },
        }
    }
}

impl Iterator for Getopt<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        self.last_long = None;
        if let Some((word, pos)) = self.cluster {
            return Some(self.next_short(word, pos));
        }
        if self.done {
            return None;
        }
        loop {
            let word = self.next;
            let Some(text) = self.argv.get(word) else {
                self.done = true;
                return None;
            };
            if text.as_slice() == b"--" {
                self.next += 1;
                self.done = true;
                let rest = &self.argv[self.next..];
                self.operands.extend(rest.iter().cloned());
                self.next = self.argv.len();
                return None;
            }
            let is_option = text.len() > 1 && text[0] == b'-';
            if !is_option {
                if self.ordering == Ordering::RequireOrder {
                    self.done = true;
                    return None;
                }
                self.operands.push(text.clone());
                self.next += 1;
                continue;
            }
            self.next += 1;
            if text.starts_with(b"--") {
                return Some(self.next_long(word));
            }
            return Some(self.next_short(word, 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONGS: &[LongOpt] = &[
        LongOpt::new("all", HasArg::No, b'a' as u32),
        LongOpt::new("config", HasArg::Required, b'C' as u32),
        LongOpt::new("verbose", HasArg::No, b'v' as u32),
        LongOpt::new("version", HasArg::No, b'V' as u32),
        LongOpt::new("show", HasArg::No, b'n' as u32),
        LongOpt::new("show-all", HasArg::No, b'n' as u32),
        LongOpt::new("dry-run", HasArg::No, b'n' as u32),
        LongOpt::new("opt", HasArg::Optional, b'o' as u32),
    ];

    fn argv(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn run(words: &[&str], optstring: &str) -> (Vec<Item>, Vec<Vec<u8>>) {
        let args = argv(words);
        let mut g = Getopt::new(&args, optstring, LONGS);
        let items: Vec<Item> = g.by_ref().collect();
        (items, g.operands())
    }

    fn opt(c: u8, arg: Option<&str>) -> Item {
        Item::Opt(u32::from(c), arg.map(|a| a.as_bytes().to_vec()))
    }

    fn err(text: &str) -> Item {
        Item::Error(format!("{text}\n").into_bytes())
    }

    #[test]
    fn clusters_and_attached_arguments() {
        let (items, ops) = run(&["p", "-avCfoo", "-C", "bar"], "avC:");
        assert_eq!(
            items,
            vec![
                opt(b'a', None),
                opt(b'v', None),
                opt(b'C', Some("foo")),
                opt(b'C', Some("bar"))
            ]
        );
        assert!(ops.is_empty());
    }

    #[test]
    fn permutation_keeps_operand_order() {
        let (items, ops) = run(&["p", "x", "-a", "y", "--", "-v", "z"], "av");
        assert_eq!(items, vec![opt(b'a', None)]);
        assert_eq!(ops, argv(&["x", "y", "-v", "z"]));
    }

    #[test]
    fn plus_stops_at_first_operand() {
        let (items, ops) = run(&["kmod", "-a", "list", "-v"], "+av");
        assert_eq!(items, vec![opt(b'a', None)]);
        assert_eq!(ops, argv(&["list", "-v"]));
    }

    #[test]
    fn lone_dash_is_an_operand() {
        let (items, ops) = run(&["p", "-", "-a"], "a");
        assert_eq!(items, vec![opt(b'a', None)]);
        assert_eq!(ops, argv(&["-"]));
    }

    #[test]
    fn long_forms() {
        let (items, _) = run(
            &["p", "--config=x", "--config", "y", "--conf", "z", "--all"],
            "aC:",
        );
        assert_eq!(
            items,
            vec![
                opt(b'C', Some("x")),
                opt(b'C', Some("y")),
                opt(b'C', Some("z")),
                opt(b'a', None)
            ]
        );
    }

    #[test]
    fn same_value_prefixes_are_not_ambiguous() {
        // show, show-all and dry-run all return 'n': `--sh` is fine.
        let (items, _) = run(&["p", "--sh"], "n");
        assert_eq!(items, vec![opt(b'n', None)]);
    }

    #[test]
    fn ambiguous_prefix_lists_differing_options() {
        let (items, _) = run(&["/x/p", "--ver=3"], "vV");
        assert_eq!(
            items,
            vec![err(
                "/x/p: option '--ver=3' is ambiguous; possibilities: '--verbose' '--version'"
            )]
        );
    }

    #[test]
    fn exact_match_wins_over_prefix() {
        let (items, _) = run(&["p", "--show"], "n");
        assert_eq!(items, vec![opt(b'n', None)]);
    }

    #[test]
    fn error_texts() {
        let cases: &[(&[&str], &str)] = &[
            (&["p", "-x"], "p: invalid option -- 'x'"),
            (&["p", "-C"], "p: option requires an argument -- 'C'"),
            (&["p", "--foo=1"], "p: unrecognized option '--foo=1'"),
            (
                &["p", "--config"],
                "p: option '--config' requires an argument",
            ),
            (
                &["p", "--verb=1"],
                "p: option '--verbose' doesn't allow an argument",
            ),
        ];
        for (words, text) in cases {
            let (items, _) = run(words, "aC:vV");
            assert_eq!(items, vec![err(text)], "{words:?}");
        }
    }

    #[test]
    fn invalid_short_continues_cluster() {
        let (items, _) = run(&["p", "-axv"], "av");
        assert_eq!(
            items,
            vec![
                opt(b'a', None),
                err("p: invalid option -- 'x'"),
                opt(b'v', None)
            ]
        );
    }

    #[test]
    fn optional_arguments() {
        let (items, ops) = run(&["p", "--opt", "w", "--opt=v", "-o", "-ou"], "o::");
        assert_eq!(
            items,
            vec![
                opt(b'o', None),
                opt(b'o', Some("v")),
                opt(b'o', None),
                opt(b'o', Some("u"))
            ]
        );
        assert_eq!(ops, argv(&["w"]));
    }

    #[test]
    fn colon_is_never_an_option() {
        let (items, _) = run(&["p", "-:"], "C:");
        assert_eq!(items, vec![err("p: invalid option -- ':'")]);
    }

    proptest::proptest! {
        /// Any argument vector parses without panicking, and every word ends up either
        /// consumed by an option or returned as an operand.
        #[test]
        fn never_panics(words in proptest::collection::vec("(-{0,3}[a-z=:C-]{0,6})", 0..8)) {
            let mut args = vec![b"prog".to_vec()];
            args.extend(words.iter().map(|w| w.as_bytes().to_vec()));
            let mut g = Getopt::new(&args, "avC:o::", LONGS);
            let items: Vec<Item> = g.by_ref().collect();
            let operands = g.operands();
            proptest::prop_assert!(items.len() + operands.len() <= 8 * 6 + 1);
            for op in &operands {
                proptest::prop_assert!(args[1..].contains(op));
            }
        }
    }
}
