//! runwire protocol v1 for Rust: the generated protobuf types ([`v1`]) and the frame codecs
//! ([`frame`] for blocking `std::io`, `tokio_codec` for tokio behind the `tokio` feature).
//! The argument rules both ends agree on (env names, the env-name glob, paths) are the
//! domain's, in `runwire-model`; [`caller_error_code`] gives their codes on the wire.
//!
//! The `.proto` source is `proto/runwire/v1/runwire.proto`; the generated code in `src/gen/` is
//! committed and regenerated with `cargo xtask codegen` (a test fails when it is stale).
//! spec/ is the normative prose.

pub mod frame;
#[cfg(feature = "tokio")]
pub mod tokio_codec;

/// Generated types of package `runwire.v1`.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags
)]
pub mod v1 {
    include!("gen/runwire.v1.rs");
}

pub use v1::ErrorCode;

/// The protocol version this crate implements.
pub const PROTOCOL_VERSION: u32 = 1;

/// Every protocol version this crate speaks, oldest first.
pub const SUPPORTED_VERSIONS: &[u32] = &[PROTOCOL_VERSION];

/// The largest frame (length prefix not counted) unless the handshake says otherwise: 16 MiB.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;

/// The environment variable naming the runner's socket. Unset or empty: no runner.
pub const SOCKET_ENV: &str = "RUNWIRE_SOCKET";

mod capabilities {
    include!("gen/capabilities.rs");
}
pub use capabilities::{V1_CAPABILITIES, body_name};

/// The bodies every v1 server accepts, whatever its minor revision (spec/versioning.md):
/// the ten of the first v1. Frozen: a body added later within v1 is advertised in
/// [`V1_CAPABILITIES`] but is not here, because an older v1 server would refuse it, so it
/// must never be sent before the server's `HelloResponse` has listed it.
pub const V1_BASELINE_BODIES: &[&str] = &[
    "hello",
    "get_env",
    "get_envs",
    "ignore_input",
    "ignore_output",
    "disable_cache",
    "report_input",
    "report_output",
    "report_glob",
    "salt",
];

/// The largest frame (length prefix not counted) a client may send right behind `Hello`,
/// before it has read `HelloResponse`, and so the smallest `max_frame_length` a server may
/// advertise (spec/protocol.md, "Pipelining after Hello").
pub const PIPELINED_FRAME_MAX_LEN: u32 = 256;

/// Whether a client whose `Hello` offered `offered_versions` may send a message with this
/// body (a proto field name) and payload length right behind it (spec/protocol.md,
/// "Pipelining after Hello"): the body must be one every server of every offered version
/// accepts (v1 is the only version: [`V1_BASELINE_BODIES`]), and the frame small enough
/// for any server. `hello` itself never qualifies (a second Hello is an error).
pub fn pipelinable(offered_versions: &[u32], body: &str, payload_len: usize) -> bool {
    !offered_versions.is_empty()
        && offered_versions.iter().all(|&v| v == PROTOCOL_VERSION)
        && body != "hello"
        && V1_BASELINE_BODIES.contains(&body)
        && payload_len <= PIPELINED_FRAME_MAX_LEN as usize
}

/// Every caller-error code (the argument was bad), in value order. Bindings build one
/// exception class per entry; see [`ErrorCode::is_caller_error`].
pub const CALLER_ERROR_CODES: &[ErrorCode] = &[
    ErrorCode::InvalidArgument,
    ErrorCode::EmptyName,
    ErrorCode::InvalidName,
    ErrorCode::EmptyPattern,
    ErrorCode::InvalidPattern,
    ErrorCode::EmptyPath,
    ErrorCode::InvalidPath,
    ErrorCode::EmptyKey,
];

/// The wire code of a bad argument: `runwire_model::ArgError` codes are the caller-error
/// codes' short names.
pub fn caller_error_code(error: &runwire_model::ArgError) -> ErrorCode {
    ErrorCode::from_str_name(&format!("ERROR_CODE_{}", error.code()))
        .unwrap_or(ErrorCode::InvalidArgument)
}

/// The model's argument error for a caller-error code received on the wire; a code this
/// build does not know becomes the generic `INVALID_ARGUMENT`.
pub fn arg_error(code: ErrorCode, message: impl Into<String>) -> runwire_model::ArgError {
    runwire_model::ArgError::with_code(code.short_name(), message)
}

impl ErrorCode {
    /// Caller errors (values 1 to 99) are reported to the tool; every other code is a
    /// protocol fault that a client turns into a silent no-op and one warning.
    pub fn is_caller_error(self) -> bool {
        (1..100).contains(&(self as i32))
    }

    /// The code's stable name without the `ERROR_CODE_` prefix, e.g. `EMPTY_NAME`.
    pub fn short_name(self) -> &'static str {
        let full = self.as_str_name();
        full.strip_prefix("ERROR_CODE_").unwrap_or(full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The baseline is the start of what this server advertises: a body is added within v1
    /// by appending it to the proto's oneof, never by dropping one.
    #[test]
    fn every_baseline_body_is_advertised_first() {
        assert_eq!(
            &V1_CAPABILITIES[..V1_BASELINE_BODIES.len()],
            V1_BASELINE_BODIES
        );
    }

    /// A body advertised beyond the baseline may be sent only after `HelloResponse`.
    #[test]
    fn only_baseline_bodies_are_pipelined() {
        for body in V1_CAPABILITIES {
            assert_eq!(
                pipelinable(&[PROTOCOL_VERSION], body, 8),
                *body != "hello" && V1_BASELINE_BODIES.contains(body),
                "{body}"
            );
        }
        assert!(!pipelinable(&[PROTOCOL_VERSION], "report_directory", 8));
    }

    #[test]
    fn caller_error_list_matches_the_value_range() {
        let from_range: Vec<ErrorCode> = (0..200)
            .filter_map(|v| ErrorCode::try_from(v).ok())
            .filter(|code| code.is_caller_error())
            .collect();
        assert_eq!(from_range, CALLER_ERROR_CODES);
        assert!(!ErrorCode::Unspecified.is_caller_error());
        assert!(!ErrorCode::FrameTooLarge.is_caller_error());
        assert_eq!(ErrorCode::EmptyName.short_name(), "EMPTY_NAME");
    }

    /// The model's argument codes are exactly the protocol's caller errors, in value order.
    #[test]
    fn model_codes_are_the_caller_error_codes() {
        let names: Vec<&str> = CALLER_ERROR_CODES.iter().map(|c| c.short_name()).collect();
        assert_eq!(names, runwire_model::ArgError::CODES);
        for &code in CALLER_ERROR_CODES {
            let error = arg_error(code, "m");
            assert_eq!(caller_error_code(&error), code);
        }
    }
}
