//! The per-cache-dir key of keyed env hashes: 32 random bytes in `env.key`, mode 0600,
//! created once (atomically, so concurrent runners agree on one key).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use runwire_fingerprint::EnvKey;

use crate::error::{CacheError, io};

pub(crate) fn load_or_create(path: &Path) -> Result<EnvKey, CacheError> {
    if let Some(k) = read(path)? {
        return Ok(k);
    }
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io("reading random bytes from", "/dev/urandom"))?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("creating", &tmp))?;
    f.write_all(&bytes).map_err(io("writing", &tmp))?;
    drop(f);
    // hard_link fails if another runner created the key first: then both use theirs.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(EnvKey(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(path)?.ok_or_else(|| CacheError::BadKeyFile {
                path: path.to_path_buf(),
                why: "vanished".into(),
            })
        }
        Err(e) => Err(CacheError::Io {
            action: "creating",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

pub(crate) fn read(path: &Path) -> Result<Option<EnvKey>, CacheError> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CacheError::Io {
                action: "reading",
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    let bytes: [u8; 32] = data
        .as_slice()
        .try_into()
        .map_err(|_| CacheError::BadKeyFile {
            path: path.to_path_buf(),
            why: format!("expected 32 bytes, found {}", data.len()),
        })?;
    let mode = fs::metadata(path)
        .map_err(io("inspecting", path))?
        .permissions()
        .mode()
        & 0o777;
    if mode != 0o600 {
        // Tighten rather than fail: the key is only as secret as its file.
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(io("setting mode of", path))?;
    }
    Ok(Some(EnvKey(bytes)))
}
