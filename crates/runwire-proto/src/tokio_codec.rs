//! Framing for tokio: tokio-util's `LengthDelimitedCodec` set to a u32 little-endian prefix,
//! wrapped so that errors say what was wrong (the announced length, the bytes missing) in the
//! same [`FrameError`] terms as the blocking codec.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use crate::frame::{FrameError, LEN_PREFIX, check_len};

/// Decodes frame payloads (`BytesMut`) and encodes payloads (`Bytes`) into frames.
#[derive(Debug)]
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
    max: u32,
    /// Payload length of the frame whose prefix the inner codec has consumed.
    pending: Option<usize>,
}

impl FrameCodec {
    /// A codec that accepts and emits payloads of at most `max` bytes.
    pub fn new(max: u32) -> Self {
        let inner = LengthDelimitedCodec::builder()
            .little_endian()
            .length_field_length(LEN_PREFIX)
            .max_frame_length(max as usize)
            .new_codec();
        Self {
            inner,
            max,
            pending: None,
        }
    }
}

impl FrameCodec {
    /// The largest payload accepted and emitted.
    pub fn max(&self) -> u32 {
        self.max
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        if self.pending.is_none() {
            let Some(prefix) = src.first_chunk::<LEN_PREFIX>() else {
                return Ok(None);
            };
            // Checked here, before the inner codec reserves room for the payload.
            self.pending = Some(check_len(*prefix, self.max)?);
        }
        let frame = self.inner.decode(src)?;
        if frame.is_some() {
            self.pending = None;
        }
        Ok(frame)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        match self.pending {
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                part: "length prefix",
                received: src.len(),
                expected: LEN_PREFIX,
            }),
            Some(expected) => Err(FrameError::Truncated {
                part: "payload",
                received: src.len(),
                expected,
            }),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        if payload.len() > self.max as usize {
            return Err(FrameError::TooLarge {
                len: payload.len() as u64,
                max: self.max,
            });
        }
        Ok(self.inner.encode(payload, dst)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_frames_split_at_any_byte() {
        let mut codec = FrameCodec::new(100);
        let mut wire = BytesMut::new();
        codec
            .encode(Bytes::from_static(b"hello"), &mut wire)
            .unwrap();
        codec.encode(Bytes::from_static(b""), &mut wire).unwrap();
        assert_eq!(&wire[..4], &[5, 0, 0, 0], "little-endian prefix");
        let mut src = BytesMut::new();
        let mut frames = Vec::new();
        for byte in wire {
            src.extend_from_slice(&[byte]);
            while let Some(frame) = codec.decode(&mut src).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, vec![BytesMut::from(&b"hello"[..]), BytesMut::new()]);
        assert!(codec.decode_eof(&mut src).unwrap().is_none());
    }

    #[test]
    fn rejects_an_over_max_length_before_reserving() {
        let mut codec = FrameCodec::new(16);
        let mut src = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let err = codec.decode(&mut src).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::TooLarge {
                    len: 0xffff_ffff,
                    max: 16
                }
            ),
            "{err}"
        );
        assert!(src.capacity() < 1024);
    }

    #[test]
    fn eof_inside_a_frame_is_truncation() {
        let mut codec = FrameCodec::new(16);
        let mut src = BytesMut::from(&[3, 0, 0, 0, b'a'][..]);
        assert!(codec.decode(&mut src).unwrap().is_none());
        let err = codec.decode_eof(&mut src).unwrap_err();
        assert_eq!(
            err.to_string(),
            "connection closed inside a frame: 1 of 3 payload bytes received"
        );
        let mut codec = FrameCodec::new(16);
        let err = codec
            .decode_eof(&mut BytesMut::from(&[3, 0][..]))
            .unwrap_err();
        assert!(matches!(
            err,
            FrameError::Truncated {
                part: "length prefix",
                received: 2,
                ..
            }
        ));
    }
}
