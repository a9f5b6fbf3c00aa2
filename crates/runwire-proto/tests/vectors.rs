//! `spec/test_vectors/`, checked both ways: each `.txtpb` (protobuf text format, the message a
//! frame encodes) must encode to exactly the frame in the `.hex` beside it, and the frame must
//! decode to that message, both with a descriptor-driven decoder compiled from the `.proto`
//! and with the generated prost types. `invalid/` frames must fail with the code in `.error`.
//!
//! `RUNWIRE_UPDATE_VECTORS=1 cargo test -p runwire-proto --test vectors` rewrites the `.hex`
//! files from the `.txtpb` files (review the diff: a changed frame is a wire break).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use runwire_proto::frame::{self, FrameError};
use runwire_proto::v1;

fn vectors_dir() -> PathBuf {
    xtask::repo_root().join("spec/test_vectors")
}

fn pool() -> DescriptorPool {
    let root = xtask::repo_root();
    let mut compiler = protox::Compiler::new([root.join("proto")]).unwrap();
    compiler.open_files(xtask::PROTO_FILES).unwrap();
    compiler.descriptor_pool()
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

/// Hex bytes separated by whitespace; `#` starts a comment line.
fn parse_hex(text: &str, path: &Path) -> Vec<u8> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(|byte| {
            u8::from_str_radix(byte, 16)
                .unwrap_or_else(|e| panic!("{}: bad hex byte {byte:?}: {e}", path.display()))
        })
        .collect()
}

fn render_hex(source: &str, frame: &[u8]) -> String {
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = format!(
        "# Frame of {source}: u32 little-endian payload length, then the payload.\n{}\n",
        hex(&frame[..4])
    );
    for chunk in frame[4..].chunks(16) {
        writeln!(out, "{}", hex(chunk)).unwrap();
    }
    out
}

/// Checks every vector of one direction; returns how many were checked.
fn check_direction<M: Message + Default + PartialEq + std::fmt::Debug>(
    dir_name: &str,
    descriptor: &MessageDescriptor,
) -> usize {
    let dir = vectors_dir().join(dir_name);
    let update = std::env::var_os("RUNWIRE_UPDATE_VECTORS").is_some();
    let mut checked = 0;
    for txtpb in files(&dir, "txtpb") {
        let name = format!(
            "{dir_name}/{}",
            txtpb.file_name().unwrap().to_string_lossy()
        );
        let text = std::fs::read_to_string(&txtpb).unwrap();
        let expected = DynamicMessage::parse_text_format(descriptor.clone(), &text)
            .unwrap_or_else(|e| panic!("{name}: not valid text format: {e}"));
        let mut encoded = Vec::new();
        frame::encode_frame(&expected, &mut encoded);
        let hex_path = txtpb.with_extension("hex");
        if update {
            std::fs::write(&hex_path, render_hex(&name, &encoded)).unwrap();
        }
        let hex_text = std::fs::read_to_string(&hex_path)
            .unwrap_or_else(|e| panic!("{}: {e}", hex_path.display()));
        let wire = parse_hex(&hex_text, &hex_path);

        // Message -> bytes.
        assert_eq!(
            wire, encoded,
            "{name}: the message does not encode to the frame in the .hex"
        );

        // Bytes -> message, descriptor-driven.
        let (payload, rest) = frame::split_frame(&wire, runwire_proto::DEFAULT_MAX_FRAME_LEN)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: the .hex is not one whole frame"));
        assert!(rest.is_empty(), "{name}: bytes after the frame");
        let decoded = DynamicMessage::decode(descriptor.clone(), payload).unwrap();
        assert_eq!(
            decoded, expected,
            "{name}: the frame decodes to another message (a field written at its default value in the .txtpb is not encoded: leave it out)"
        );

        // Bytes -> message -> bytes through the generated types.
        let generated: M = frame::decode_message(payload).unwrap();
        assert_eq!(
            generated.encode_to_vec(),
            payload,
            "{name}: generated types re-encode differently"
        );
        checked += 1;
    }
    checked
}

#[test]
fn client_vectors_match_both_ways() {
    let pool = pool();
    let descriptor = pool
        .get_message_by_name("runwire.v1.ClientMessage")
        .unwrap();
    assert!(check_direction::<v1::ClientMessage>("client", &descriptor) >= 12);
}

#[test]
fn server_vectors_match_both_ways() {
    let pool = pool();
    let descriptor = pool
        .get_message_by_name("runwire.v1.ServerMessage")
        .unwrap();
    assert!(check_direction::<v1::ServerMessage>("server", &descriptor) >= 5);
}

/// `client_alternate/`: frames no runwire encoder writes (unpacked repeated fields, two oneof
/// members, unknown groups) that must still decode to the message in the `.txtpb`.
#[test]
fn alternate_client_encodings_decode_to_their_message() {
    let pool = pool();
    let descriptor = pool
        .get_message_by_name("runwire.v1.ClientMessage")
        .unwrap();
    let dir = vectors_dir().join("client_alternate");
    let mut checked = 0;
    for txtpb in files(&dir, "txtpb") {
        let name = txtpb.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&txtpb).unwrap();
        let expected = DynamicMessage::parse_text_format(descriptor.clone(), &text)
            .unwrap_or_else(|e| panic!("{name}: not valid text format: {e}"));
        let hex_path = txtpb.with_extension("hex");
        let wire = parse_hex(&std::fs::read_to_string(&hex_path).unwrap(), &hex_path);
        let (payload, rest) = frame::split_frame(&wire, runwire_proto::DEFAULT_MAX_FRAME_LEN)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: the .hex is not one whole frame"));
        assert!(rest.is_empty(), "{name}: bytes after the frame");
        let mut canonical = Vec::new();
        frame::encode_frame(&expected, &mut canonical);
        let want: v1::ClientMessage = frame::decode_message(&canonical[4..]).unwrap();
        // Both decoders; compared through the generated type, which drops unknown fields.
        let dynamic: v1::ClientMessage = DynamicMessage::decode(descriptor.clone(), payload)
            .unwrap()
            .transcode_to()
            .unwrap();
        assert_eq!(dynamic, want, "{name}: descriptor-driven decoding");
        let generated: v1::ClientMessage = frame::decode_message(payload).unwrap();
        assert_eq!(generated, want, "{name}: generated types");
        assert_ne!(
            canonical, wire,
            "{name}: this is the canonical encoding; it belongs in client/"
        );
        checked += 1;
    }
    assert!(checked >= 3);
}

#[test]
fn invalid_vectors_fail_with_their_code() {
    let dir = vectors_dir().join("invalid");
    let mut checked = 0;
    for hex_path in files(&dir, "hex") {
        let wire = parse_hex(&std::fs::read_to_string(&hex_path).unwrap(), &hex_path);
        let expected = std::fs::read_to_string(hex_path.with_extension("error")).unwrap();
        let result = frame::read_message::<_, v1::ClientMessage>(
            &mut wire.as_slice(),
            runwire_proto::DEFAULT_MAX_FRAME_LEN,
            &mut Vec::new(),
        );
        let error: FrameError = match result {
            Err(error) => error,
            Ok(message) => panic!("{}: decoded as {message:?}", hex_path.display()),
        };
        assert_eq!(
            error.code().short_name(),
            expected.trim(),
            "{}: {error}",
            hex_path.display()
        );
        checked += 1;
    }
    assert!(checked >= 5);
}

#[test]
fn a_message_with_an_empty_optional_value_differs_from_unset() {
    // The wire difference the get_env_empty / get_env_unset vectors pin down.
    let set = v1::GetEnvResponse {
        value: Some(Vec::new()),
    };
    let unset = v1::GetEnvResponse { value: None };
    assert_eq!(set.encode_to_vec(), [0x0a, 0x00]);
    assert!(unset.encode_to_vec().is_empty());
}

#[test]
fn the_example_in_framing_md_is_the_vector() {
    let prose = std::fs::read_to_string(xtask::repo_root().join("spec/framing.md")).unwrap();
    let path = vectors_dir().join("client/get_env_tracked.hex");
    let wire = parse_hex(&std::fs::read_to_string(&path).unwrap(), &path);
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (prefix, payload) = wire.split_at(4);
    let quoted = format!(
        "is the {}-byte payload\n`{}`, framed as `{}`",
        payload.len(),
        hex(payload),
        hex(prefix)
    );
    assert!(
        prose.contains(&quoted),
        "spec/framing.md must quote:\n{quoted}"
    );
}

/// The byte-level examples of framing.md, "Presence", are the payloads of these vectors.
#[test]
fn the_presence_examples_in_framing_md_are_the_vectors() {
    let prose = std::fs::read_to_string(xtask::repo_root().join("spec/framing.md")).unwrap();
    let prose = prose.split_whitespace().collect::<Vec<_>>().join(" ");
    for vector in [
        "client/disable_cache_empty_reason.hex",
        "server/get_env_empty.hex",
        "server/get_env_unset.hex",
        "client/hello_versions_only.hex",
        "client_alternate/hello_unpacked_versions.hex",
    ] {
        let path = vectors_dir().join(vector);
        let wire = parse_hex(&std::fs::read_to_string(&path).unwrap(), &path);
        let payload = &wire[4..];
        let hex: Vec<String> = payload.iter().map(|b| format!("{b:02x}")).collect();
        let quoted = format!("{}-byte payload `{}`", payload.len(), hex.join(" "));
        assert!(
            prose.contains(&quoted),
            "spec/framing.md, \"Presence\", must quote {vector} as: {quoted}"
        );
    }
}
