//! The env-name glob against a naive recursive reference matcher, on random patterns and
//! names, and its parser on random bytes (it never panics).

use proptest::prelude::*;

/// A slow, obviously correct reference matcher (recursive, over a parsed token list) to check
/// the iterative one against.
mod reference {
    #[derive(Debug, Clone)]
    pub enum Tok {
        Byte(u8),
        Any,
        Run,
        Class(bool, Vec<(u8, u8)>),
    }

    pub fn matches(tokens: &[Tok], name: &[u8]) -> bool {
        match tokens.split_first() {
            None => name.is_empty(),
            Some((Tok::Run, rest)) => (0..=name.len()).any(|skip| matches(rest, &name[skip..])),
            Some((token, rest)) => name.split_first().is_some_and(|(&b, tail)| {
                let hit = match token {
                    Tok::Byte(x) => *x == b,
                    Tok::Any => true,
                    Tok::Class(negated, ranges) => {
                        ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&b)) != *negated
                    }
                    Tok::Run => unreachable!(),
                };
                hit && matches(rest, tail)
            }),
        }
    }

    /// Renders tokens as a pattern in the glob syntax (escaping every literal).
    pub fn render(tokens: &[Tok]) -> Vec<u8> {
        let mut out = Vec::new();
        for token in tokens {
            match token {
                Tok::Byte(b) => out.extend_from_slice(&[b'\\', *b]),
                Tok::Any => out.push(b'?'),
                Tok::Run => out.push(b'*'),
                Tok::Class(negated, ranges) => {
                    out.push(b'[');
                    if *negated {
                        out.push(b'!');
                    }
                    for &(lo, hi) in ranges {
                        out.extend_from_slice(&[b'\\', lo, b'-', b'\\', hi]);
                    }
                    out.push(b']');
                }
            }
        }
        out
    }
}

fn name_byte() -> impl Strategy<Value = u8> {
    // A small alphabet makes matches likely; 0x80.. covers non-UTF-8 names.
    prop_oneof![Just(b'A'), Just(b'B'), Just(b'_'), Just(b'*'), Just(0xff)]
}

fn token() -> impl Strategy<Value = reference::Tok> {
    use reference::Tok;
    prop_oneof![
        name_byte().prop_map(Tok::Byte),
        Just(Tok::Any),
        Just(Tok::Run),
        (
            any::<bool>(),
            proptest::collection::vec((name_byte(), name_byte()), 1..3)
        )
            .prop_map(|(negated, ranges)| Tok::Class(
                negated,
                ranges
                    .into_iter()
                    .map(|(a, b)| (a.min(b), a.max(b)))
                    .collect()
            )),
    ]
}

proptest! {
    #[test]
    fn glob_matches_like_the_reference(
        tokens in proptest::collection::vec(token(), 1..6),
        names in proptest::collection::vec(proptest::collection::vec(name_byte(), 0..7), 1..8),
    ) {
        let pattern = reference::render(&tokens);
        let glob = runwire_model::EnvGlob::new(&pattern).unwrap();
        for name in names {
            prop_assert_eq!(glob.matches(&name), reference::matches(&tokens, &name), "{:?} vs {:?}", pattern.escape_ascii().to_string(), name.escape_ascii().to_string());
        }
    }

    #[test]
    fn glob_parsing_never_panics(pattern in proptest::collection::vec(any::<u8>(), 0..20), name in proptest::collection::vec(any::<u8>(), 0..20)) {
        if let Ok(glob) = runwire_model::EnvGlob::new(&pattern) {
            let _ = glob.matches(&name);
        }
    }
}
