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
