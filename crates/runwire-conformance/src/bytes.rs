//! Byte strings in the two notations the suite uses: quoted with `\xNN` escapes in case files
//! (readable, and able to carry non-UTF-8), base64 on the JSON-lines wire to testees.

use std::fmt::Write as _;

/// `(name, value)` pairs of environment variables.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4) with padding: the canonical spelling [`b64_decode`] takes.
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

/// What is wrong at the first character a canonical text could not have there.
#[derive(Clone, Copy)]
enum Why {
    /// Not in the alphabet and not padding.
    Alphabet,
    /// Padding where the group cannot end, or anything after the padding.
    Padding,
    /// The last character before the padding sets bits past the data.
    Bits,
}

fn not_base64(at: usize, found: char, why: Why) -> String {
    let rule = match why {
        Why::Alphabet => "only A-Z, a-z, 0-9, '+' and '/', then '=' padding",
        Why::Padding => "'=' pads a group of four after two or three characters, and ends the text",
        Why::Bits => "it sets bits past the data: not the canonical spelling",
    };
    format!("not base64: {found:?} at character {at} ({rule})")
}

/// Decodes standard base64 in its one canonical spelling, the rule of the whole suite
/// (conformance/README.md, "Writing a testee"): only `A`-`Z`, `a`-`z`, `0`-`9`, `+` and `/`
/// (no whitespace, line breaks or URL-safe `-`/`_`), padded with `=` to a multiple of four
/// characters, `=` only at the end, and the bits the last character before the padding
/// carries past the data all zero. So each byte string has exactly one text, the one
/// [`b64_encode`] writes. The error names the first character where the text leaves that
/// spelling, and its position counted in characters from 0.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    // The group of four being read: its bits so far, how many characters and how many pads.
    let (mut bits, mut read, mut pads) = (0u32, 0, 0);
    let mut padded = false;
    let mut length = 0;
    for (at, c) in text.chars().enumerate() {
        length = at + 1;
        if padded {
            return Err(not_base64(at, c, Why::Padding));
        }
        if c == '=' {
            // A group holds two or three data characters before its padding.
            if read < 2 {
                return Err(not_base64(at, c, Why::Padding));
            }
            pads += 1;
            read += 1;
            if read == 4 {
                // 12 or 18 bits carry 1 or 2 bytes; the 4 or 2 bits left over must be zero.
                let spare = if pads == 2 { 4 } else { 2 };
                if bits & ((1 << spare) - 1) != 0 {
                    let last = at - pads;
                    let found = text.chars().nth(last).unwrap_or_default();
                    return Err(not_base64(last, found, Why::Bits));
                }
                let data = (bits >> spare).to_be_bytes();
                out.extend_from_slice(&data[4 - (3 - pads)..]);
                padded = true;
            }
            continue;
        }
        let Some(value) = u8::try_from(c)
            .ok()
            .and_then(|b| ALPHABET.iter().position(|&a| a == b))
        else {
            return Err(not_base64(at, c, Why::Alphabet));
        };
        if pads > 0 {
            return Err(not_base64(at, c, Why::Padding));
        }
        bits = bits << 6 | value as u32;
        read += 1;
        if read == 4 {
            out.extend_from_slice(&bits.to_be_bytes()[1..]);
            (bits, read) = (0, 0);
        }
    }
    if read != 0 && !padded {
        return Err(format!(
            "not base64: ends at character {length}, inside a group of four ('=' pads to a multiple of four characters)"
        ));
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

    /// The one rule (see [`b64_decode`]): each bad text is refused at the character named.
    #[test]
    fn base64_refuses_every_spelling_but_the_canonical_one() {
        let refused = [
            ("Zm9v!", "'!' at character 4 (only A-Z"),
            ("Zm 9v", "' ' at character 2 (only A-Z"),
            ("Zm9v\n", "'\\n' at character 4 (only A-Z"),
            ("Zm9v\r\n", "'\\r' at character 4 (only A-Z"),
            ("Zm-v", "'-' at character 2 (only A-Z"),
            ("Zm_v", "'_' at character 2 (only A-Z"),
            ("Zm9\u{e9}", "'\u{e9}' at character 3 (only A-Z"),
            ("Zm8", "ends at character 3, inside a group of four"),
            ("Zg=", "ends at character 3, inside a group of four"),
            ("Z", "ends at character 1, inside a group of four"),
            ("Z===", "'=' at character 1 ('=' pads"),
            ("=", "'=' at character 0 ('=' pads"),
            ("Zm8==", "'=' at character 4 ('=' pads"),
            ("Zg=g", "'g' at character 3 ('=' pads"),
            ("Zg==Zg==", "'Z' at character 4 ('=' pads"),
            ("Zm9v=", "'=' at character 4 ('=' pads"),
            ("Zh==", "'h' at character 1 (it sets bits past the data"),
            ("Zm9=", "'9' at character 2 (it sets bits past the data"),
        ];
        for (text, why) in refused {
            let error = b64_decode(text).unwrap_err();
            assert!(error.starts_with("not base64: "), "{text:?}: {error}");
            assert!(error.contains(why), "{text:?}: {error} (expected {why:?})");
        }
        for (text, bytes) in [
            ("", &b""[..]),
            ("Zg==", b"f"),
            ("Zm8=", b"fo"),
            ("+/+/", b"\xfb\xff\xbf"),
        ] {
            assert_eq!(b64_decode(text).unwrap(), bytes, "{text:?}");
        }
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
