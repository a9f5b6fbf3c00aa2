//! Env var names as bytes (not always UTF-8) and the env map the world is validated against.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An env var name. Serialized as a string when UTF-8, else as `{"bytes": [...]}`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(pub Vec<u8>);

impl EnvName {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for EnvName {
    fn from(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum NameRepr {
    Text(String),
    Bytes { bytes: Vec<u8> },
}

impl Serialize for EnvName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(t) => NameRepr::Text(t.to_owned()).serialize(s),
            Err(_) => NameRepr::Bytes {
                bytes: self.0.clone(),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match NameRepr::deserialize(d)? {
            NameRepr::Text(t) => Self(t.into_bytes()),
            NameRepr::Bytes { bytes } => Self(bytes),
        })
    }
}

/// The runner's full environment (name -> value), as the protocol server sees it.
pub type EnvMap = BTreeMap<Vec<u8>, Vec<u8>>;

/// The current process environment as an [`EnvMap`].
pub fn current_env() -> EnvMap {
    use std::os::unix::ffi::OsStringExt;
    std::env::vars_os()
        .map(|(k, v)| (k.into_vec(), v.into_vec()))
        .collect()
}
