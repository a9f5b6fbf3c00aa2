//! The ring's record codes, in one place: the kind byte of every record, the reason byte
//! of an `Incomplete` record and of a `Service` record, plus the ring layout constants.
//!
//! The shim does not spell them out itself: `shim/runtrace_codes.h` is generated from the
//! enums here by [`c_header`] (`cargo xtask codegen` writes it) and committed, and a test
//! fails when the committed header is not what [`c_header`] produces now. The supervisor
//! side writes records as a typed [`Event`] and reads them back through the same enums
//! (`trace.rs`), so a code has one spelling in Rust and one generated spelling in C.

use std::fmt::Write as _;

use crate::trace::AccessKind;

/// Declares a `#[repr(u8)]` enum of record codes together with its C spelling: the C
/// `enum` tag, and for each variant its C name and comment. Keeps the Rust value, the C
/// name and the decoding table in one line per code.
macro_rules! codes {
    (
        $(#[$meta:meta])*
        enum $name:ident as $c_enum:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal as $c_name:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub(crate) enum $name {
            $( $(#[$vmeta])* $variant = $value, )+
        }

        impl $name {
            /// Every code, in declaration order.
            pub(crate) const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// The C `enum` tag the header declares.
            pub(crate) const C_ENUM: &'static str = $c_enum;

            /// The code with this byte, if this build knows it.
            pub(crate) fn from_u8(code: u8) -> Option<Self> {
                Self::ALL.iter().copied().find(|c| *c as u8 == code)
            }

            /// The enumerator name in the C header.
            pub(crate) fn c_name(self) -> &'static str {
                match self {
                    $( Self::$variant => $c_name, )+
                }
            }
        }

        impl From<$name> for u8 {
            fn from(code: $name) -> u8 {
                code as u8
            }
        }
    };
}

codes! {
    /// The kind byte of a record.
    enum RecordKind as "kind" {
        /// An access of [`AccessKind::Read`]; the next nine are the other access kinds.
        Read = 1 as "K_READ",
        Stat = 2 as "K_STAT",
        NotFound = 3 as "K_NOTFOUND",
        ListDir = 4 as "K_LISTDIR",
        Write = 5 as "K_WRITE",
        Create = 6 as "K_CREATE",
        Truncate = 7 as "K_TRUNCATE",
        Delete = 8 as "K_DELETE",
        RenameFrom = 9 as "K_RENAME_FROM",
        RenameTo = 10 as "K_RENAME_TO",
        /// Path = a directory, aux = one name a listing of it returned.
        DirEntry = 20 as "K_DIRENTRY",
        /// The shim loaded in this pid; path = `/proc/self/exe`.
        Start = 30 as "K_START",
        /// This pid is about to exec path (a `Start` is expected from it).
        Exec = 31 as "K_EXEC",
        /// The exec announced last by this pid failed.
        ExecFailed = 32 as "K_EXEC_FAILED",
        /// Pid field = the child pid of a `posix_spawn`, path = its program.
        Spawned = 33 as "K_SPAWNED",
        /// The trace is incomplete; reason = an [`IncompleteCode`], path = the program.
        Incomplete = 40 as "K_INCOMPLETE",
        /// A server or watcher; reason = a [`ServiceCode`], path = the program.
        Service = 41 as "K_SERVICE",
    }
}

codes! {
    /// The reason byte of a [`RecordKind::Incomplete`] record.
    enum IncompleteCode as "reason" {
        /// A static program, followed by nobody.
        Static = 1 as "R_STATIC",
        /// A setuid/setgid program: the loader ignores `LD_PRELOAD`.
        Setuid = 2 as "R_SETUID",
        /// `io_uring_setup` was called.
        IoUring = 3 as "R_IO_URING",
        /// A program for another architecture or ELF class.
        Foreign = 4 as "R_FOREIGN",
        /// A Go program, followed by nobody.
        Go = 5 as "R_GO",
        /// Installing the seccomp filter failed; aux = the cause.
        Seccomp = 6 as "R_SECCOMP",
    }
}

codes! {
    /// The reason byte of a [`RecordKind::Service`] record: what the process did (a run
    /// doing this is not a build).
    enum ServiceCode as "service" {
        Listen = 1 as "S_LISTEN",
        Inotify = 2 as "S_INOTIFY",
        Fanotify = 3 as "S_FANOTIFY",
    }
}

impl RecordKind {
    /// The access this kind records, for the ten access kinds.
    pub(crate) fn access(self) -> Option<AccessKind> {
        Some(match self {
            Self::Read => AccessKind::Read,
            Self::Stat => AccessKind::Stat,
            Self::NotFound => AccessKind::NotFound,
            Self::ListDir => AccessKind::ListDir,
            Self::Write => AccessKind::Write,
            Self::Create => AccessKind::Create,
            Self::Truncate => AccessKind::Truncate,
            Self::Delete => AccessKind::Delete,
            Self::RenameFrom => AccessKind::RenameFrom,
            Self::RenameTo => AccessKind::RenameTo,
            Self::DirEntry
            | Self::Start
            | Self::Exec
            | Self::ExecFailed
            | Self::Spawned
            | Self::Incomplete
            | Self::Service => return None,
        })
    }
}

impl From<AccessKind> for RecordKind {
    fn from(kind: AccessKind) -> Self {
        match kind {
            AccessKind::Read => Self::Read,
            AccessKind::Stat => Self::Stat,
            AccessKind::NotFound => Self::NotFound,
            AccessKind::ListDir => Self::ListDir,
            AccessKind::Write => Self::Write,
            AccessKind::Create => Self::Create,
            AccessKind::Truncate => Self::Truncate,
            AccessKind::Delete => Self::Delete,
            AccessKind::RenameFrom => Self::RenameFrom,
            AccessKind::RenameTo => Self::RenameTo,
        }
    }
}

/// One record the supervisor appends (the shim writes the same records in C).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// `op` on an absolute path.
    Access { op: AccessKind, path: Vec<u8> },
    /// One name a listing of `dir` returned.
    DirEntry { dir: Vec<u8>, name: Vec<u8> },
    /// The trace is incomplete because of `program`.
    Incomplete {
        reason: IncompleteCode,
        program: Vec<u8>,
    },
    /// `program` served or watched.
    Service {
        service: ServiceCode,
        program: Vec<u8>,
    },
}

impl Event {
    /// The record's kind byte.
    pub(crate) fn kind(&self) -> RecordKind {
        match self {
            Self::Access { op, .. } => RecordKind::from(*op),
            Self::DirEntry { .. } => RecordKind::DirEntry,
            Self::Incomplete { .. } => RecordKind::Incomplete,
            Self::Service { .. } => RecordKind::Service,
        }
    }

    /// The record's reason byte (0 unless the kind has reasons).
    pub(crate) fn reason(&self) -> u8 {
        match self {
            Self::Access { .. } | Self::DirEntry { .. } => 0,
            Self::Incomplete { reason, .. } => *reason as u8,
            Self::Service { service, .. } => *service as u8,
        }
    }

    /// The record's path field.
    pub(crate) fn path(&self) -> &[u8] {
        match self {
            Self::Access { path, .. } => path,
            Self::DirEntry { dir, .. } => dir,
            Self::Incomplete { program, .. } | Self::Service { program, .. } => program,
        }
    }

    /// The record's aux field (empty unless a listing's name).
    pub(crate) fn aux(&self) -> &[u8] {
        match self {
            Self::DirEntry { name, .. } => name,
            Self::Access { .. } | Self::Incomplete { .. } | Self::Service { .. } => &[],
        }
    }
}

/// Where the C header is committed, relative to the crate.
pub const C_HEADER_PATH: &str = "shim/runtrace_codes.h";

fn c_enum<T: Copy>(out: &mut String, tag: &str, all: &[T], name: impl Fn(T) -> &'static str)
where
    u8: From<T>,
{
    let _ = writeln!(out, "enum {tag} {{");
    for &code in all {
        let _ = writeln!(out, "    {} = {},", name(code), u8::from(code));
    }
    out.push_str("};\n\n");
}

/// The C header the shim includes (`shim/runtrace_codes.h`): the record codes and the
/// ring layout constants, generated from this module and `ring.rs`.
pub fn c_header() -> String {
    use crate::ring;
    let mut out = String::from(
        "/* Generated by `cargo xtask codegen` from crates/runwire-trace/src/record.rs and\n \
         * src/ring.rs: do not edit. A test fails when this file is stale. */\n\
         #ifndef RUNTRACE_CODES_H\n#define RUNTRACE_CODES_H\n\n\
         /* ---- ring layout (see src/ring.rs) ---- */\n",
    );
    let _ = writeln!(
        out,
        "#define RING_MAGIC 0x{:016X}ULL /* \"RWTRACE1\" little-endian */",
        ring::MAGIC
    );
    let _ = writeln!(out, "#define RING_VERSION {}", ring::VERSION);
    let _ = writeln!(out, "#define RING_DATA_OFFSET {}", ring::DATA_OFFSET);
    let _ = writeln!(out, "#define REC_HEADER {}", ring::RECORD_HEADER);
    let _ = writeln!(out, "#define REC_COMMITTED 0x{:08X}u\n", ring::COMMITTED);
    out.push_str("/* The kind byte of a record. */\n");
    c_enum(
        &mut out,
        RecordKind::C_ENUM,
        RecordKind::ALL,
        RecordKind::c_name,
    );
    out.push_str("/* The reason byte of a K_INCOMPLETE record. */\n");
    c_enum(
        &mut out,
        IncompleteCode::C_ENUM,
        IncompleteCode::ALL,
        IncompleteCode::c_name,
    );
    out.push_str("/* The reason byte of a K_SERVICE record: what the process did. */\n");
    c_enum(
        &mut out,
        ServiceCode::C_ENUM,
        ServiceCode::ALL,
        ServiceCode::c_name,
    );
    out.push_str("#endif /* RUNTRACE_CODES_H */\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_c_header_is_fresh() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(C_HEADER_PATH);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == c_header(),
            "crates/runwire-trace/{C_HEADER_PATH} is stale: run `cargo xtask codegen` and \
             commit the result"
        );
    }

    #[test]
    fn codes_round_trip_and_are_unique() {
        for &k in RecordKind::ALL {
            assert_eq!(RecordKind::from_u8(k as u8), Some(k));
            if let Some(a) = k.access() {
                assert_eq!(RecordKind::from(a), k);
            }
        }
        let n = |v: Vec<u8>| v.iter().collect::<std::collections::HashSet<_>>().len();
        let kinds: Vec<u8> = RecordKind::ALL.iter().map(|k| *k as u8).collect();
        assert_eq!(n(kinds.clone()), kinds.len());
        assert_eq!(RecordKind::from_u8(0), None);
        assert_eq!(IncompleteCode::from_u8(4), Some(IncompleteCode::Foreign));
        assert_eq!(ServiceCode::from_u8(4), None);
        // The shim de-duplicates every kind up to K_DIRENTRY and no control record.
        for &k in RecordKind::ALL {
            assert_eq!(
                k.access().is_some() || k == RecordKind::DirEntry,
                k as u8 <= RecordKind::DirEntry as u8,
                "{k:?}"
            );
        }
    }

    #[test]
    fn events_encode_as_the_shim_writes_them() {
        let e = Event::DirEntry {
            dir: b"/d".to_vec(),
            name: b"n".to_vec(),
        };
        assert_eq!(
            (e.kind() as u8, e.reason(), e.path(), e.aux()),
            (20, 0, &b"/d"[..], &b"n"[..])
        );
        let e = Event::Service {
            service: ServiceCode::Inotify,
            program: b"/bin/x".to_vec(),
        };
        assert_eq!((e.kind() as u8, e.reason()), (41, 2));
        let e = Event::Access {
            op: AccessKind::RenameTo,
            path: b"/t".to_vec(),
        };
        assert_eq!((e.kind() as u8, e.reason(), e.aux()), (10, 0, &b""[..]));
    }
}
