//! The canonical byte encoding that every key and id is the blake3 of (spec/fingerprint.md).
//!
//! Integers are little-endian; a byte string is its u64 length then its bytes; a list is its
//! u64 count then its items; an optional value is a 0 byte, or a 1 byte then the value; a
//! hash is its 32 raw bytes. Every encoding starts with a domain string (as a byte string)
//! and the format version (u32), so keys of different kinds or formats never collide.

use crate::hash::Hash32;

/// Streams a canonical encoding into blake3 (nothing is buffered).
#[derive(Debug)]
pub struct Canon {
    h: blake3::Hasher,
}

impl Canon {
    pub fn new(domain: &str, version: u32) -> Self {
        let mut c = Self {
            h: blake3::Hasher::new(),
        };
        c.bytes(domain.as_bytes());
        c.u32(version);
        c
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.h.update(&[v]);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.h.update(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.h.update(&v.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u64(b.len() as u64);
        self.h.update(b);
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub fn hash(&mut self, h: &Hash32) -> &mut Self {
        self.h.update(&h.0);
        self
    }

    pub fn count(&mut self, n: usize) -> &mut Self {
        self.u64(n as u64)
    }

    pub fn opt_hash(&mut self, h: Option<&Hash32>) -> &mut Self {
        match h {
            None => self.u8(0),
            Some(h) => self.u8(1).hash(h),
        }
    }

    pub fn finish(&self) -> Hash32 {
        self.h.finalize().into()
    }
}
