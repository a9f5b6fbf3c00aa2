//! Can the shim enter a program? The supervisor checks the root program itself (the shim
//! does the same for every exec inside the tree).

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::trace::IncompleteReason;

const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// The program `std::process::Command` would run for `program`, best effort.
pub(crate) fn resolve(
    program: &OsStr,
    cwd: Option<&Path>,
    path_var: Option<&OsStr>,
) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 || p.is_absolute() {
        let base = cwd.map_or_else(|| std::env::current_dir().ok(), |c| Some(c.to_owned()))?;
        return Some(base.join(p));
    }
    let var = path_var
        .map(OsStr::to_owned)
        .or_else(|| std::env::var_os("PATH"))?;
    std::env::split_paths(&var).map(|d| d.join(p)).find(|c| {
        c.metadata()
            .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
    })
}

/// `None` when the shim can load into `path` (or we cannot tell), else why not.
pub(crate) fn untraceable(path: &Path) -> Option<IncompleteReason> {
    inspect(path, 0)
}

fn inspect(path: &Path, depth: u8) -> Option<IncompleteReason> {
    let mut f = File::open(path).ok()?;
    let meta = f.metadata().ok()?;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let gid = std::fs::metadata("/proc/self").ok()?.gid();
    if (meta.mode() & 0o4000 != 0 && meta.uid() != uid)
        || (meta.mode() & 0o2000 != 0 && meta.gid() != gid)
    {
        return Some(IncompleteReason::SetuidBinary {
            program: path.to_owned(),
        });
    }
    let mut head = [0u8; 256];
    let n = f.read(&mut head).ok()?;
    let head = &head[..n];
    if head.starts_with(b"#!") && depth == 0 {
        let line = head[2..].split(|b| *b == b'\n').next()?;
        let interp = line
            .split(|b| *b == b' ' || *b == b'\t')
            .find(|w| !w.is_empty())?;
        return inspect(
            Path::new(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(interp)),
            1,
        );
    }
    if n < 64 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let machine = u16::from_le_bytes([head[18], head[19]]);
    let native = if cfg!(target_arch = "aarch64") {
        EM_AARCH64
    } else {
        EM_X86_64
    };
    if head[4] != 2 || machine != native {
        return Some(IncompleteReason::UnsupportedBinary {
            program: path.to_owned(),
        });
    }
    let phoff = u64::from_le_bytes(head[32..40].try_into().ok()?);
    let phentsize = u64::from(u16::from_le_bytes([head[54], head[55]]));
    let phnum = u64::from(u16::from_le_bytes([head[56], head[57]]));
    let mut dynamic = false;
    let mut notes = Vec::new();
    for i in 0..phnum.min(256) {
        let mut ph = [0u8; 56];
        f.read_exact_at(&mut ph, phoff + i * phentsize).ok()?;
        match u32::from_le_bytes(ph[0..4].try_into().ok()?) {
            PT_INTERP => dynamic = true,
            PT_NOTE => notes.push((
                u64::from_le_bytes(ph[8..16].try_into().ok()?),
                u64::from_le_bytes(ph[32..40].try_into().ok()?),
            )),
            _ => {}
        }
    }
    let program = path.to_owned();
    if !dynamic {
        return Some(IncompleteReason::StaticBinary { program });
    }
    // Go programs make file syscalls directly even when dynamically linked (cgo); the
    // toolchain marks them with an ELF note named "Go" of type 4 (build id).
    for (offset, size) in notes {
        let mut buf = vec![0u8; usize::try_from(size.min(512)).ok()?];
        f.read_exact_at(&mut buf, offset).ok()?;
        if has_go_note(&buf) {
            return Some(IncompleteReason::GoBinary { program });
        }
    }
    None
}

fn has_go_note(mut notes: &[u8]) -> bool {
    let word = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    while notes.len() >= 12 {
        let (namesz, descsz, kind) = (word(notes, 0), word(notes, 4), word(notes, 8));
        // The linker writes the name "Go\0\0" with namesz 4 (cmd/link); "Go\0" with namesz 3
        // is the form the ELF spec suggests. Either is a Go build id.
        let name_len = namesz as usize;
        if kind == 4
            && (name_len == 3 || name_len == 4)
            && notes.len() >= 12 + name_len
            && notes[12..12 + name_len].starts_with(b"Go\0")
            && notes[14..12 + name_len].iter().all(|b| *b == 0)
        {
            return true;
        }
        let skip = 12 + (namesz as usize).div_ceil(4) * 4 + (descsz as usize).div_ceil(4) * 4;
        if skip > notes.len() {
            return false;
        }
        notes = &notes[skip..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_build_id_notes_in_both_name_forms() {
        let note = |namesz: u32, name: &[u8]| {
            let mut n = Vec::new();
            for w in [namesz, 8, 4] {
                n.extend_from_slice(&w.to_le_bytes());
            }
            n.extend_from_slice(name);
            n.extend_from_slice(b"buildid\0");
            n
        };
        // What cmd/link writes, and the ELF spec's form.
        assert!(has_go_note(&note(4, b"Go\0\0")));
        assert!(has_go_note(&note(3, b"Go\0\0")));
        assert!(!has_go_note(&note(4, b"Gox\0")));
        assert!(!has_go_note(&note(4, b"GNU\0")));
        // A GNU build id first, then Go's.
        let mut two = note(4, b"GNU\0");
        two.extend(note(4, b"Go\0\0"));
        assert!(has_go_note(&two));
    }

    #[test]
    fn dynamic_programs_are_traceable() {
        assert_eq!(untraceable(Path::new("/bin/cat")), None);
    }

    #[test]
    fn busybox_static_is_not() {
        let bb = Path::new("/bin/busybox");
        assert!(
            bb.exists(),
            "busybox-static missing: run scripts/install.sh"
        );
        assert_eq!(
            untraceable(bb),
            Some(IncompleteReason::StaticBinary {
                program: bb.to_owned()
            })
        );
    }
}
