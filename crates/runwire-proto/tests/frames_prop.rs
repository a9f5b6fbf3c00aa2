//! Property tests of both codecs: arbitrary bytes never panic a decoder, and every message
//! survives encode then decode, however the byte stream is split.

use bytes::BytesMut;
use proptest::prelude::*;
use runwire_proto::frame::{self, FrameError};
use runwire_proto::tokio_codec::FrameCodec;
use runwire_proto::v1::{self, client_message::Body, get_envs::Selector};
use tokio_util::codec::Decoder;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..40)
}

fn body() -> impl Strategy<Value = Option<Body>> {
    prop_oneof![
        Just(None),
        (
            any::<String>(),
            any::<String>(),
            proptest::collection::vec(any::<u32>(), 0..4)
        )
            .prop_map(|(client_name, client_version, supported_versions)| Some(
                Body::Hello(v1::Hello {
                    client_name,
                    client_version,
                    supported_versions
                })
            )),
        (bytes(), any::<bool>())
            .prop_map(|(name, tracked)| Some(Body::GetEnv(v1::GetEnv { name, tracked }))),
        (bytes(), any::<bool>(), any::<bool>()).prop_map(|(pattern, glob, tracked)| {
            let selector = if glob {
                Selector::Glob(pattern)
            } else {
                Selector::Prefix(pattern)
            };
            Some(Body::GetEnvs(v1::GetEnvs {
                selector: Some(selector),
                tracked,
            }))
        }),
        bytes().prop_map(|path| Some(Body::IgnoreInput(v1::IgnoreInput { path }))),
        bytes().prop_map(|path| Some(Body::IgnoreOutput(v1::IgnoreOutput { path }))),
        any::<String>().prop_map(|reason| Some(Body::DisableCache(v1::DisableCache { reason }))),
        bytes().prop_map(|path| Some(Body::ReportInput(v1::ReportInput { path }))),
        bytes().prop_map(|path| Some(Body::ReportOutput(v1::ReportOutput { path }))),
        (bytes(), bytes())
            .prop_map(|(base, pattern)| Some(Body::ReportGlob(v1::ReportGlob { base, pattern }))),
        (any::<String>(), bytes())
            .prop_map(|(key, value)| Some(Body::Salt(v1::Salt { key, value }))),
    ]
}

fn message() -> impl Strategy<Value = v1::ClientMessage> {
    (any::<u64>(), body()).prop_map(|(request_id, body)| v1::ClientMessage { request_id, body })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_blocking_decoder(wire in proptest::collection::vec(any::<u8>(), 0..300), max in 0u32..200) {
        let mut reader = wire.as_slice();
        let mut buf = Vec::new();
        // Reads frames until the stream ends or a fault stops it; any outcome but a panic is fine.
        while let Ok(Some(_)) | Err(FrameError::Decode { .. }) =
            frame::read_message::<_, v1::ClientMessage>(&mut reader, max, &mut buf)
        {}
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_tokio_decoder(wire in proptest::collection::vec(any::<u8>(), 0..300), max in 0u32..200, chunk in 1usize..17) {
        let mut codec = FrameCodec::new(max);
        let mut src = BytesMut::new();
        'feed: for piece in wire.chunks(chunk) {
            src.extend_from_slice(piece);
            loop {
                match codec.decode(&mut src) {
                    Ok(Some(payload)) => { let _ = frame::decode_message::<v1::ClientMessage>(&payload); }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
        let _ = codec.decode_eof(&mut src);
    }

    #[test]
    fn messages_round_trip_through_both_codecs(messages in proptest::collection::vec(message(), 1..6), chunk in 1usize..23) {
        let mut wire = Vec::new();
        for m in &messages {
            frame::encode_frame(m, &mut wire);
        }
        // Blocking codec.
        let mut reader = wire.as_slice();
        let mut buf = Vec::new();
        for m in &messages {
            let got: v1::ClientMessage = frame::read_message(&mut reader, runwire_proto::DEFAULT_MAX_FRAME_LEN, &mut buf).unwrap().unwrap();
            prop_assert_eq!(&got, m);
        }
        prop_assert!(frame::read_message::<_, v1::ClientMessage>(&mut reader, 1 << 20, &mut buf).unwrap().is_none());
        // Tokio codec, fed in chunks.
        let mut codec = FrameCodec::new(runwire_proto::DEFAULT_MAX_FRAME_LEN);
        let mut src = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            src.extend_from_slice(piece);
            while let Some(payload) = codec.decode(&mut src).unwrap() {
                got.push(frame::decode_message::<v1::ClientMessage>(&payload).unwrap());
            }
        }
        prop_assert!(codec.decode_eof(&mut src).unwrap().is_none());
        prop_assert_eq!(got, messages);
    }
}

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
        let glob = runwire_proto::glob::EnvGlob::new(&pattern).unwrap();
        for name in names {
            prop_assert_eq!(glob.matches(&name), reference::matches(&tokens, &name), "{:?} vs {:?}", pattern.escape_ascii().to_string(), name.escape_ascii().to_string());
        }
    }

    #[test]
    fn glob_parsing_never_panics(pattern in proptest::collection::vec(any::<u8>(), 0..20), name in proptest::collection::vec(any::<u8>(), 0..20)) {
        if let Ok(glob) = runwire_proto::glob::EnvGlob::new(&pattern) {
            let _ = glob.matches(&name);
        }
    }
}
