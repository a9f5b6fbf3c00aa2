//! Captured stdout/stderr as chunks tagged with their stream, replayed in the original order.

use std::io::Write;

use serde::Serialize;

/// Which stream a chunk was written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One write of the task, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StdioChunk {
    pub stream: Stream,
    pub data: Vec<u8>,
}

/// Encoding: per chunk `u8 stream (1 stdout, 2 stderr) ++ u32le len ++ bytes`.
pub(crate) fn encode(chunks: &[StdioChunk]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunks.iter().map(|c| c.data.len() + 5).sum());
    for c in chunks {
        // Chunks over 4 GiB are split so each length fits its u32.
        for part in c.data.chunks(u32::MAX as usize) {
            out.push(match c.stream {
                Stream::Stdout => 1,
                Stream::Stderr => 2,
            });
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

pub(crate) fn decode(mut data: &[u8]) -> Option<Vec<StdioChunk>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let stream = match data[0] {
            1 => Stream::Stdout,
            2 => Stream::Stderr,
            _ => return None,
        };
        let len = u32::from_le_bytes(data.get(1..5)?.try_into().ok()?) as usize;
        let body = data.get(5..5 + len)?;
        out.push(StdioChunk {
            stream,
            data: body.to_vec(),
        });
        data = &data[5 + len..];
    }
    Some(out)
}

/// Writes the chunks to the two sinks in their original interleaving.
pub fn replay(
    chunks: &[StdioChunk],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    for c in chunks {
        match c.stream {
            Stream::Stdout => {
                err.flush()?;
                out.write_all(&c.data)?;
            }
            Stream::Stderr => {
                out.flush()?;
                err.write_all(&c.data)?;
            }
        }
    }
    out.flush()?;
    err.flush()
}
