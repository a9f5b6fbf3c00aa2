//! Framing over blocking `std::io`: a u32 little-endian payload length, then one protobuf
//! message (spec/framing.md). A length over the maximum is rejected before any payload byte
//! is read or allocated.

use std::io::{self, Read, Write};

use prost::Message;

use crate::ErrorCode;

/// Bytes of the length prefix.
pub const LEN_PREFIX: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than the maximum; the connection cannot be resynced.
    #[error("frame length {len} exceeds the maximum of {max} bytes")]
    TooLarge { len: u64, max: u32 },
    /// The peer closed the connection inside a frame.
    #[error("connection closed inside a frame: {received} of {expected} {part} bytes received")]
    Truncated {
        /// `"length prefix"` or `"payload"`.
        part: &'static str,
        received: usize,
        expected: usize,
    },
    /// The payload is not a valid protobuf encoding of the expected message. The framing is
    /// intact, so the next frame can still be read.
    #[error("frame payload is not a valid {message}: {source}")]
    Decode {
        message: &'static str,
        source: prost::DecodeError,
    },
    /// The underlying stream failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl FrameError {
    /// The protocol error code for this fault.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::FrameTooLarge,
            Self::Decode { .. } | Self::Truncated { .. } => ErrorCode::MalformedMessage,
            Self::Io(_) => ErrorCode::Internal,
        }
    }
}

/// Checks a length prefix against `max` and returns the payload length.
pub fn check_len(prefix: [u8; LEN_PREFIX], max: u32) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(prefix);
    if len > max {
        return Err(FrameError::TooLarge {
            len: u64::from(len),
            max,
        });
    }
    Ok(len as usize)
}

/// Appends one frame holding `message` to `out`.
///
/// # Panics
/// If the encoded message is 4 GiB or larger, which no protocol message can be.
pub fn encode_frame<M: Message>(message: &M, out: &mut Vec<u8>) {
    let len = message.encoded_len();
    let prefix = u32::try_from(len).expect("a protocol message is far below 4 GiB");
    out.reserve(LEN_PREFIX + len);
    out.extend_from_slice(&prefix.to_le_bytes());
    message.encode(out).expect("a Vec grows to fit the message");
}

/// Writes one frame with a single `write_all`, so a report is in the socket when this returns.
/// `scratch` is reused between calls to avoid an allocation per message.
pub fn write_message<W: Write, M: Message>(
    writer: &mut W,
    message: &M,
    max: u32,
    scratch: &mut Vec<u8>,
) -> Result<(), FrameError> {
    scratch.clear();
    encode_frame(message, scratch);
    let len = scratch.len() - LEN_PREFIX;
    if len > max as usize {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max,
        });
    }
    writer.write_all(scratch)?;
    Ok(())
}

/// Reads one frame's payload into `buf` (cleared first). `Ok(false)`: the peer closed the
/// connection cleanly between frames.
pub fn read_frame<R: Read>(
    reader: &mut R,
    max: u32,
    buf: &mut Vec<u8>,
) -> Result<bool, FrameError> {
    let mut prefix = [0u8; LEN_PREFIX];
    let got = read_full(reader, &mut prefix)?;
    if got == 0 {
        return Ok(false);
    }
    if got < LEN_PREFIX {
        return Err(FrameError::Truncated {
            part: "length prefix",
            received: got,
            expected: LEN_PREFIX,
        });
    }
    let len = check_len(prefix, max)?;
    buf.clear();
    // `take` + `read_to_end` grows the buffer as bytes arrive: a peer that announces a large
    // frame and sends nothing costs no memory.
    let received = reader.take(len as u64).read_to_end(buf)?;
    if received < len {
        return Err(FrameError::Truncated {
            part: "payload",
            received,
            expected: len,
        });
    }
    Ok(true)
}

/// Reads one frame and decodes it as `M`. `Ok(None)`: clean end of stream.
pub fn read_message<R: Read, M: Message + Default>(
    reader: &mut R,
    max: u32,
    buf: &mut Vec<u8>,
) -> Result<Option<M>, FrameError> {
    if !read_frame(reader, max, buf)? {
        return Ok(None);
    }
    decode_message(buf).map(Some)
}

/// Decodes one payload as `M`, naming the message type in the error.
pub fn decode_message<M: Message + Default>(payload: &[u8]) -> Result<M, FrameError> {
    M::decode(payload).map_err(|source| FrameError::Decode {
        message: short_type_name::<M>(),
        source,
    })
}

/// A frame's payload and the bytes after the frame.
pub type Split<'a> = (&'a [u8], &'a [u8]);

/// Splits the first frame off `bytes`: `Ok(Some((payload, rest)))`, or `Ok(None)` when `bytes`
/// holds no complete frame yet. For buffers and test vectors.
pub fn split_frame(bytes: &[u8], max: u32) -> Result<Option<Split<'_>>, FrameError> {
    let Some((prefix, rest)) = bytes.split_first_chunk::<LEN_PREFIX>() else {
        return Ok(None);
    };
    let len = check_len(*prefix, max)?;
    if rest.len() < len {
        return Ok(None);
    }
    Ok(Some(rest.split_at(len)))
}

fn short_type_name<M>() -> &'static str {
    let full = std::any::type_name::<M>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Reads until `buf` is full or end of stream; returns the bytes read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{ClientMessage, GetEnv, client_message::Body};

    fn get_env(id: u64, name: &[u8]) -> ClientMessage {
        ClientMessage {
            request_id: id,
            body: Some(Body::GetEnv(GetEnv {
                name: name.to_vec(),
                tracked: true,
            })),
        }
    }

    #[test]
    fn frames_round_trip_through_a_stream() {
        let mut wire = Vec::new();
        let mut scratch = Vec::new();
        write_message(&mut wire, &get_env(1, b"A"), 100, &mut scratch).unwrap();
        write_message(&mut wire, &get_env(2, b"\xff"), 100, &mut scratch).unwrap();
        let mut reader = wire.as_slice();
        let mut buf = Vec::new();
        let first: ClientMessage = read_message(&mut reader, 100, &mut buf).unwrap().unwrap();
        let second: ClientMessage = read_message(&mut reader, 100, &mut buf).unwrap().unwrap();
        assert_eq!(first, get_env(1, b"A"));
        assert_eq!(second, get_env(2, b"\xff"));
        assert!(
            read_message::<_, ClientMessage>(&mut reader, 100, &mut buf)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn over_max_length_is_rejected_without_reading_the_payload() {
        let wire = [0xff, 0xff, 0xff, 0xff];
        let mut buf = Vec::new();
        let err = read_frame(&mut wire.as_slice(), DEFAULT_MAX, &mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::TooLarge {
                    len: 0xffff_ffff,
                    max: DEFAULT_MAX
                }
            ),
            "{err}"
        );
        assert_eq!(buf.capacity(), 0, "nothing was allocated for the payload");
    }
    const DEFAULT_MAX: u32 = crate::DEFAULT_MAX_FRAME_LEN;

    #[test]
    fn truncation_names_the_part_and_the_byte_counts() {
        let mut buf = Vec::new();
        let err = read_frame(&mut [1u8, 0].as_slice(), 10, &mut buf).unwrap_err();
        assert_eq!(
            err.to_string(),
            "connection closed inside a frame: 2 of 4 length prefix bytes received"
        );
        let err = read_frame(&mut [5u8, 0, 0, 0, 1, 2].as_slice(), 10, &mut buf).unwrap_err();
        assert_eq!(
            err.to_string(),
            "connection closed inside a frame: 2 of 5 payload bytes received"
        );
    }

    #[test]
    fn an_oversized_outgoing_message_is_refused() {
        let mut sink = Vec::new();
        let err =
            write_message(&mut sink, &get_env(1, &[b'A'; 64]), 16, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { max: 16, .. }));
        assert!(sink.is_empty());
    }

    #[test]
    fn split_frame_waits_for_a_whole_frame() {
        let mut wire = Vec::new();
        encode_frame(&get_env(7, b"X"), &mut wire);
        assert!(split_frame(&wire[..wire.len() - 1], 100).unwrap().is_none());
        let (payload, rest) = split_frame(&wire, 100).unwrap().unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            decode_message::<ClientMessage>(payload).unwrap(),
            get_env(7, b"X")
        );
    }
}
