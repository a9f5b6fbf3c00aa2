//! The two records that travel besides plain blobs: an entry (one variant) and the index of
//! variants under one spawn key. A small versioned binary form ending in a blake3 checksum, so a
//! truncated or altered record is rejected as a whole (the caller treats that as a miss).

use crate::{BlobRef, RemoteError};

const ENTRY_MAGIC: &[u8; 8] = b"RWRENT01";
const INDEX_MAGIC: &[u8; 8] = b"RWRIDX01";
/// Bounds that keep a hostile record from making the decoder allocate without limit.
const MAX_FIELD: usize = 256 * 1024 * 1024;
const MAX_BLOBS: usize = 1_000_000;
/// Variants kept per spawn key in the remote index (newest first).
pub const MAX_VARIANTS: usize = 16;

/// One variant as it travels: the post-run fingerprint and the output manifest in the local
/// store's own encodings (opaque here), the stdio blob and every blob the entry needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEntry {
    /// The spawn key the entry was stored under (checked again on download).
    pub spawn_key: [u8; 32],
    /// Id of the fingerprint (the local store's dedup key for variants).
    pub fingerprint_id: [u8; 32],
    /// The encoded post-run fingerprint.
    pub fingerprint: Vec<u8>,
    /// The encoded output manifest.
    pub manifest: Vec<u8>,
    /// The captured stdout/stderr blob, if any.
    pub stdio: Option<BlobRef>,
    /// Every blob the manifest and stdio reference, with the digests each backend needs.
    pub blobs: Vec<BlobRef>,
}

/// One line of the index: which fingerprint, and where its entry record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexLine {
    pub fingerprint_id: [u8; 32],
    pub entry: BlobRef,
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_ref(out: &mut Vec<u8>, r: &BlobRef) {
    out.extend_from_slice(&r.blake3);
    out.extend_from_slice(&r.sha256);
    out.extend_from_slice(&r.size.to_le_bytes());
}

fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// Checks magic and checksum, returning the body between them.
fn unseal<'a>(
    bytes: &'a [u8],
    magic: [u8; 8],
    what: &'static str,
) -> Result<Reader<'a>, RemoteError> {
    let bad = |why: &str| RemoteError::Corrupt(format!("{what}: {why}"));
    if bytes.len() < magic.len() + 32 {
        return Err(bad("truncated"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return Err(bad("checksum mismatch (truncated or altered)"));
    }
    if body[..magic.len()] != magic {
        return Err(bad("unknown format or version"));
    }
    Ok(Reader {
        rest: &body[magic.len()..],
        what,
    })
}

struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RemoteError> {
        if self.rest.len() < n {
            return Err(RemoteError::Corrupt(format!("{}: truncated", self.what)));
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }
    fn array(&mut self) -> Result<[u8; 32], RemoteError> {
        Ok(self.take(32)?.try_into().expect("took 32 bytes"))
    }
    fn u64(&mut self) -> Result<u64, RemoteError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("took 8 bytes"),
        ))
    }
    fn count(&mut self, max: usize) -> Result<usize, RemoteError> {
        let n = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
        if n > max {
            return Err(RemoteError::Corrupt(format!(
                "{}: length {n} over the limit",
                self.what
            )));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, RemoteError> {
        let n = self.count(MAX_FIELD)?;
        Ok(self.take(n)?.to_vec())
    }
    fn blob_ref(&mut self) -> Result<BlobRef, RemoteError> {
        Ok(BlobRef {
            blake3: self.array()?,
            sha256: self.array()?,
            size: self.u64()?,
        })
    }
    fn end(&self) -> Result<(), RemoteError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(RemoteError::Corrupt(format!(
                "{}: trailing bytes",
                self.what
            )))
        }
    }
}

impl RemoteEntry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = ENTRY_MAGIC.to_vec();
        out.extend_from_slice(&self.spawn_key);
        out.extend_from_slice(&self.fingerprint_id);
        put_bytes(&mut out, &self.fingerprint);
        put_bytes(&mut out, &self.manifest);
        match &self.stdio {
            None => out.push(0),
            Some(r) => {
                out.push(1);
                put_ref(&mut out, r);
            }
        }
        out.extend_from_slice(&(self.blobs.len() as u64).to_le_bytes());
        for r in &self.blobs {
            put_ref(&mut out, r);
        }
        seal(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, RemoteError> {
        let mut r = unseal(bytes, *ENTRY_MAGIC, "remote entry")?;
        let spawn_key = r.array()?;
        let fingerprint_id = r.array()?;
        let fingerprint = r.bytes()?;
        let manifest = r.bytes()?;
        let stdio = match r.take(1)?[0] {
            0 => None,
            1 => Some(r.blob_ref()?),
            _ => return Err(RemoteError::Corrupt("remote entry: bad stdio flag".into())),
        };
        let n = r.count(MAX_BLOBS)?;
        let blobs = (0..n).map(|_| r.blob_ref()).collect::<Result<_, _>>()?;
        r.end()?;
        Ok(Self {
            spawn_key,
            fingerprint_id,
            fingerprint,
            manifest,
            stdio,
            blobs,
        })
    }
}

pub fn encode_index(lines: &[IndexLine]) -> Vec<u8> {
    let mut out = INDEX_MAGIC.to_vec();
    out.extend_from_slice(&(lines.len() as u64).to_le_bytes());
    for l in lines {
        out.extend_from_slice(&l.fingerprint_id);
        put_ref(&mut out, &l.entry);
    }
    seal(out)
}

pub fn decode_index(bytes: &[u8]) -> Result<Vec<IndexLine>, RemoteError> {
    let mut r = unseal(bytes, *INDEX_MAGIC, "remote index")?;
    let n = r.count(MAX_VARIANTS * 4)?;
    let lines = (0..n)
        .map(|_| {
            Ok(IndexLine {
                fingerprint_id: r.array()?,
                entry: r.blob_ref()?,
            })
        })
        .collect::<Result<_, RemoteError>>()?;
    r.end()?;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> RemoteEntry {
        RemoteEntry {
            spawn_key: [1; 32],
            fingerprint_id: [2; 32],
            fingerprint: b"fp".to_vec(),
            manifest: b"{}".to_vec(),
            stdio: Some(BlobRef::of(b"out")),
            blobs: vec![BlobRef::of(b"a"), BlobRef::of(b"out")],
        }
    }

    #[test]
    fn entry_round_trips() {
        let e = entry();
        assert_eq!(RemoteEntry::decode(&e.encode()).unwrap(), e);
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_rejected() {
        let bytes = entry().encode();
        for n in 0..bytes.len() {
            assert!(
                RemoteEntry::decode(&bytes[..n]).is_err(),
                "prefix of {n} bytes accepted"
            );
            let mut t = bytes.clone();
            t[n] ^= 0x40;
            assert!(RemoteEntry::decode(&t).is_err(), "flip at {n} accepted");
        }
    }

    #[test]
    fn index_round_trips_and_rejects_truncation() {
        let lines = vec![IndexLine {
            fingerprint_id: [3; 32],
            entry: BlobRef::of(b"e"),
        }];
        let bytes = encode_index(&lines);
        assert_eq!(decode_index(&bytes).unwrap(), lines);
        assert!(decode_index(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_index(b"").is_err());
    }
}
