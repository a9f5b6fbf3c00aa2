//! Byte strings in the two notations the suite uses: quoted with `\xNN` escapes in case files
//! (readable, and able to carry non-UTF-8), base64 on the JSON-lines wire to testees.

use std::fmt::Write as _;

/// `(name, value)` pairs of environment variables.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64; padding optional. The error names the offending character.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, String> {
    let trimmed = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut n = 0u32;
    let mut bits = 0;
    for (at, c) in trimmed.bytes().enumerate() {
        let Some(value) = ALPHABET.iter().position(|&a| a == c) else {
            return Err(format!("not base64: {:?} at character {at}", char::from(c)));
        };
        n = n << 6 | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((n >> bits) as u8);
            n &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// A byte string as a case file writes it: `"..."` with `\\`, `\"`, `\n`, `\t`, `\xNN`.
pub fn show(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// Parses the inside of a quoted byte string (without the quotes).
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some((&e, tail)) = rest.split_first() else {
            return Err("a trailing backslash escapes nothing".to_owned());
        };
        rest = tail;
        match e {
            b'\\' | b'"' => out.push(e),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'x' => {
                let hex = rest
                    .get(..2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| "\\x must be followed by two hex digits".to_owned())?;
                out.push(hex);
                rest = &rest[2..];
            }
            other => {
                return Err(format!(
                    "unknown escape \\{} (use \\\\, \\\", \\n, \\t or \\xNN)",
                    char::from(other)
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length() {
        let data: Vec<u8> = (0..=255).collect();
        for len in 0..20 {
            let encoded = b64_encode(&data[..len]);
            assert_eq!(encoded.len() % 4, 0);
            assert_eq!(b64_decode(&encoded).unwrap(), &data[..len]);
        }
        assert_eq!(b64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64_encode(b"fo"), "Zm8=");
        assert!(b64_decode("Zm9v!").unwrap_err().contains("'!'"));
    }

    #[test]
    fn quoted_strings_round_trip_non_utf8() {
        let raw = b"A\xff\"\\\n\x01\xc3\xa9";
        let shown = show(raw);
        assert_eq!(shown, "\"A\\xff\\\"\\\\\\n\\x01\u{e9}\"");
        assert_eq!(unescape(&shown[1..shown.len() - 1]).unwrap(), raw);
        assert!(unescape("\\q").unwrap_err().contains("\\q"));
        assert!(unescape("\\x4").is_err());
    }
}
