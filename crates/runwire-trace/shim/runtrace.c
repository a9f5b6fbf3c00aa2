/*
 * runtrace: the LD_PRELOAD shim of runwire-trace (Linux, glibc).
 *
 * Every interposed libc entry point calls the real function first, then appends one
 * event (kind, pid, absolute path, optional aux string) to a shared-memory ring that the
 * supervisor created and named in RUNWIRE_TRACE_RING. Appending is lock-free (one atomic
 * fetch_add reserves space, one release store commits), so a traced process never waits
 * for the supervisor and events written before a crash survive in the shared mapping.
 *
 * Rules kept throughout:
 * - never change what the program sees: the real call's result and errno are returned;
 * - never crash because of tracing: any failure of the shim just drops tracing (the
 *   supervisor notices a process that did not report in, see K_START / K_EXEC);
 * - paths are sent as "base/relative"; lexical normalization happens in the supervisor.
 *
 * The record layout must match src/ring.rs; the record codes and ring constants come from
 * runtrace_codes.h, generated from src/record.rs (`cargo xtask codegen`), never written here.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

#include "runtrace_codes.h"

#define EXPORT __attribute__((visibility("default")))

/* ---- ring layout (see src/ring.rs; the constants are in runtrace_codes.h) ---- */
struct ring_header {
    uint64_t magic;
    uint32_t version;
    uint32_t reserved;
    uint64_t capacity; /* bytes of record space after RING_DATA_OFFSET */
    uint8_t pad1[40];
    uint64_t write_off; /* offset 64: next free byte, bumped with fetch_add */
    uint8_t pad2[56];
    uint32_t overflow; /* offset 128: set when a record did not fit */
};

/* Record kinds (enum kind, K_*), K_INCOMPLETE reasons (enum reason, R_*) and K_SERVICE
 * reasons (enum service, S_*) are in runtrace_codes.h. What the fields carry:
 * K_DIRENTRY: path = directory, aux = one name it returned; K_START: the shim loaded in
 * this pid, path = /proc/self/exe; K_EXEC: this pid is about to exec path (expects a
 * K_START); K_SPAWNED: pid field = child pid of posix_spawn, path = program; K_SERVICE:
 * path = /proc/self/exe, reason = what it did (a run doing this is not a build). */
#if defined(__x86_64__)
#define NATIVE_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define NATIVE_MACHINE EM_AARCH64
#else
#error "runtrace: unsupported architecture"
#endif


static struct ring_header *g_ring;
static char *g_data;
static uint64_t g_capacity;
static int g_active;
/* Environment entries re-injected into every exec'd child (a tool may pass env -i). */
static char g_preload_entry[PATH_MAX + 16];
static char g_ring_entry[PATH_MAX + 32];
static char g_lock_entry[48]; /* RUNWIRE_TRACE_LOCK_FD=<n>, empty without a lock */
/* RUNWIRE_TRACE_SECCOMP_SOCK=<path>: the supervisor takes seccomp listeners there (see
 * src/linux/seccomp/); empty when the runner switched the feature off. */
#define SOCK_VAR "RUNWIRE_TRACE_SECCOMP_SOCK="
#define ACTIVE_VAR "RUNWIRE_TRACE_SECCOMP_ACTIVE="
static char g_sock_entry[sizeof SOCK_VAR + sizeof(((struct sockaddr_un *)0)->sun_path)];
static const char *g_self_path; /* path of this .so as loaded */
/* pid for access records, refreshed in fork children (getpid() is a syscall). Records
 * that pair processes (exec, start, spawn) call getpid() itself: vfork children run no
 * atfork handlers. */
static pid_t g_pid;
static void refresh_pid(void) { g_pid = getpid(); }

/* ---- real functions, resolved lazily (another library's constructor may call us first) ---- */
#define REAL(ret, name, params) \
    static ret(*real_##name) params; \
    static ret(*get_##name(void)) params { \
        if (!real_##name) real_##name = (ret(*) params)dlsym(RTLD_NEXT, #name); \
        return real_##name; \
    }

REAL(int, open, (const char *, int, ...))
REAL(int, open64, (const char *, int, ...))
REAL(int, openat, (int, const char *, int, ...))
REAL(int, openat64, (int, const char *, int, ...))
REAL(int, __open_2, (const char *, int))
REAL(int, __open64_2, (const char *, int))
REAL(int, __openat_2, (int, const char *, int))
REAL(int, __openat64_2, (int, const char *, int))
REAL(int, creat, (const char *, mode_t))
REAL(int, creat64, (const char *, mode_t))
REAL(FILE *, fopen, (const char *, const char *))
REAL(FILE *, fopen64, (const char *, const char *))
REAL(FILE *, freopen, (const char *, const char *, FILE *))
REAL(FILE *, freopen64, (const char *, const char *, FILE *))
REAL(int, utimensat, (int, const char *, const struct timespec *, int))
REAL(int, utimes, (const char *, const struct timeval *))
REAL(int, lutimes, (const char *, const struct timeval *))
REAL(int, utime, (const char *, const struct utimbuf *))
REAL(int, chmod, (const char *, mode_t))
REAL(int, fchmodat, (int, const char *, mode_t, int))
REAL(int, stat, (const char *, struct stat *))
REAL(int, stat64, (const char *, struct stat64 *))
REAL(int, lstat, (const char *, struct stat *))
REAL(int, lstat64, (const char *, struct stat64 *))
REAL(int, fstatat, (int, const char *, struct stat *, int))
REAL(int, fstatat64, (int, const char *, struct stat64 *, int))
REAL(int, statx, (int, const char *, int, unsigned, struct statx *))
REAL(int, __xstat, (int, const char *, struct stat *))
REAL(int, __xstat64, (int, const char *, struct stat64 *))
REAL(int, __lxstat, (int, const char *, struct stat *))
REAL(int, __lxstat64, (int, const char *, struct stat64 *))
REAL(int, __fxstatat, (int, int, const char *, struct stat *, int))
REAL(int, __fxstatat64, (int, int, const char *, struct stat64 *, int))
REAL(int, access, (const char *, int))
REAL(int, faccessat, (int, const char *, int, int))
REAL(int, euidaccess, (const char *, int))
REAL(int, eaccess, (const char *, int))
REAL(DIR *, opendir, (const char *))
REAL(DIR *, fdopendir, (int))
REAL(int, closedir, (DIR *))
REAL(struct dirent *, readdir, (DIR *))
REAL(struct dirent64 *, readdir64, (DIR *))
REAL(int, scandir, (const char *, struct dirent ***, int (*)(const struct dirent *),
                    int (*)(const struct dirent **, const struct dirent **)))
REAL(int, scandir64, (const char *, struct dirent64 ***, int (*)(const struct dirent64 *),
                      int (*)(const struct dirent64 **, const struct dirent64 **)))
REAL(ssize_t, getdents64, (int, void *, size_t))
REAL(ssize_t, readlink, (const char *, char *, size_t))
REAL(ssize_t, readlinkat, (int, const char *, char *, size_t))
REAL(char *, realpath, (const char *, char *))
REAL(int, mkdir, (const char *, mode_t))
REAL(int, mkdirat, (int, const char *, mode_t))
REAL(int, rmdir, (const char *))
REAL(int, unlink, (const char *))
REAL(int, unlinkat, (int, const char *, int))
REAL(int, rename, (const char *, const char *))
REAL(int, renameat, (int, const char *, int, const char *))
REAL(int, renameat2, (int, const char *, int, const char *, unsigned))
REAL(int, link, (const char *, const char *))
REAL(int, linkat, (int, const char *, int, const char *, int))
REAL(int, symlink, (const char *, const char *))
REAL(int, symlinkat, (const char *, int, const char *))
REAL(int, truncate, (const char *, off_t))
REAL(int, truncate64, (const char *, off64_t))
REAL(int, chdir, (const char *))
REAL(int, mkstemp, (char *))
REAL(int, mkostemp, (char *, int))
REAL(int, mkstemps, (char *, int))
REAL(int, mkostemps, (char *, int, int))
REAL(char *, mkdtemp, (char *))
REAL(int, execve, (const char *, char *const[], char *const[]))
REAL(int, execvpe, (const char *, char *const[], char *const[]))
REAL(int, posix_spawn, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[], char *const[]))
REAL(int, posix_spawnp, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                         const posix_spawnattr_t *, char *const[], char *const[]))
REAL(void *, dlopen, (const char *, int))
REAL(int, system, (const char *))
REAL(FILE *, popen, (const char *, const char *))
REAL(long, syscall, (long, long, long, long, long, long, long))

/* ---- per-process de-duplication: a lock-free set of 64-bit (kind, path, aux) hashes ---- */
#define SEEN_SLOTS (1u << 16)
static uint64_t g_seen[SEEN_SLOTS];

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 0x100000001b3ULL; }
    return h;
}

/* Returns 1 if the hash was already present; inserts it otherwise. A full probe window
 * means "not seen": an extra event is harmless, a missing one is not. */
static int seen_before(uint64_t h) {
    if (h == 0) h = 1;
    for (unsigned i = 0; i < 16; i++) {
        uint64_t *slot = &g_seen[(h + i) & (SEEN_SLOTS - 1)];
        uint64_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
        if (cur == h) return 1;
        if (cur == 0) {
            uint64_t expected = 0;
            if (__atomic_compare_exchange_n(slot, &expected, h, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                return 0;
            if (expected == h) return 1;
        }
    }
    return 0;
}

/* ---- the append itself ---- */
static void emit_raw(int kind, int reason, int32_t pid, const char *path, size_t plen,
                     const char *aux, size_t alen) {
    if (!g_active) return;
    if (kind <= K_DIRENTRY) { /* control records are never de-duplicated */
        uint64_t h = hash_bytes(0xcbf29ce484222325ULL ^ (uint64_t)kind, path, plen);
        h = hash_bytes(h ^ 0xff, aux, alen);
        if (seen_before(h)) return;
    }
    uint64_t len = (REC_HEADER + plen + alen + 7) & ~(uint64_t)7;
    uint64_t off = __atomic_fetch_add(&g_ring->write_off, len, __ATOMIC_RELAXED);
    if (off + len > g_capacity) {
        __atomic_store_n(&g_ring->overflow, 1, __ATOMIC_RELAXED);
        return;
    }
    char *rec = g_data + off;
    uint32_t lens[3] = {(uint32_t)pid, (uint32_t)plen, (uint32_t)alen};
    rec[4] = (char)kind;
    rec[5] = (char)reason;
    memcpy(rec + 8, lens, sizeof lens);
    memcpy(rec + REC_HEADER, path, plen);
    if (alen) memcpy(rec + REC_HEADER + plen, aux, alen);
    /* Commit last: the reader trusts a record only once this word is set. */
    __atomic_store_n((uint32_t *)rec, (uint32_t)len | REC_COMMITTED, __ATOMIC_RELEASE);
}

/* Directory of a file descriptor ("" on failure), via the kernel's view of it. */
static ssize_t fd_path(int fd, char *buf, size_t cap) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = get_readlink()(link, buf, cap - 1);
    if (n < 0) return -1;
    buf[n] = 0;
    return n;
}

/* Absolute form of (dirfd, path): "base/path" (not normalized). Returns length or -1. */
static ssize_t absolute(int dirfd, const char *path, char *buf, size_t cap) {
    if (!path) return -1;
    size_t plen = strnlen(path, PATH_MAX);
    if (plen == PATH_MAX) return -1; /* the kernel rejects it too (ENAMETOOLONG) */
    if (path[0] == '/') {
        if (plen >= cap) return -1;
        memcpy(buf, path, plen + 1);
        return (ssize_t)plen;
    }
    ssize_t n;
    if (dirfd == AT_FDCWD) {
        if (!getcwd(buf, cap)) return -1;
        n = (ssize_t)strlen(buf);
    } else {
        n = fd_path(dirfd, buf, cap);
        if (n < 0) return -1;
    }
    if (plen == 0) return n; /* AT_EMPTY_PATH style: the directory itself */
    if ((size_t)n + 1 + plen >= cap) return -1;
    buf[n] = '/';
    memcpy(buf + n + 1, path, plen + 1);
    return n + 1 + (ssize_t)plen;
}

static void note_at(int dirfd, const char *path, int kind) {
    if (!g_active || !path) return;
    char buf[2 * PATH_MAX];
    ssize_t n = absolute(dirfd, path, buf, sizeof buf);
    if (n > 0) emit_raw(kind, 0, g_pid, buf, (size_t)n, NULL, 0);
}

/* Classifies a finished call: success -> ok_kind; "nothing there" -> NotFound; other
 * failures (EEXIST, EACCES, EISDIR...) prove something exists -> Stat. */
static void note_result(int dirfd, const char *path, int ok_kind, int ok, int err) {
    if (ok) note_at(dirfd, path, ok_kind);
    else if (err == ENOENT || err == ENOTDIR) note_at(dirfd, path, K_NOTFOUND);
    else if (err != EFAULT && err != EBADF && err != EINVAL && err != ENAMETOOLONG && err != ENOSYS)
        note_at(dirfd, path, K_STAT);
}

/* A write open with O_CREAT but without O_TRUNC/O_EXCL (sqlite, fopen "a"/"a+", `>>`)
 * keeps the prior content if there was one: only a probe before the call tells "appended to
 * an existing file" from "created". Returns 1 existed, 0 did not, -1 not asked (every other
 * open needs no probe). */
static int existed_before(int dirfd, const char *path, int flags) {
    if (!g_active || !path || (flags & O_ACCMODE) == O_RDONLY || !(flags & O_CREAT) ||
        (flags & (O_TRUNC | O_EXCL)))
        return -1;
    int e = errno;
    int r = get_faccessat()(dirfd, path, F_OK, 0) == 0;
    errno = e;
    return r;
}

/* `fd` is the opened descriptor (or -1): a directory opened for reading is a probe, its
 * listing shows up separately through getdents/readdir. `existed` as existed_before(). */
static void note_open(int dirfd, const char *path, int flags, int fd, int err, int existed) {
    int acc = flags & O_ACCMODE, ok = fd >= 0;
    struct stat st;
    if (g_active && ok && acc == O_RDONLY && !(flags & (O_DIRECTORY | O_CREAT | O_TRUNC | O_PATH)) &&
        fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        flags |= O_DIRECTORY;
    /* ENOTDIR from an O_DIRECTORY open usually means the path exists and is not a
     * directory (cp opens its target this way first); only a parent that is not a directory
     * means "nothing there". One probe on this error path tells them apart. */
    if (!ok && err == ENOTDIR && (flags & O_DIRECTORY) && g_active && path) {
        int e = errno;
        int exists = get_faccessat()(dirfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
        errno = e;
        note_at(dirfd, path, exists ? K_STAT : K_NOTFOUND);
        return;
    }
    if ((flags & O_TMPFILE) == O_TMPFILE || (flags & O_PATH)) {
        note_result(dirfd, path, K_STAT, ok, err);
    } else if (acc == O_RDONLY && !(flags & (O_CREAT | O_TRUNC))) {
        note_result(dirfd, path, (flags & O_DIRECTORY) ? K_STAT : K_READ, ok, err);
    } else {
        /* Writing without truncation keeps the prior content (O_RDWR reads it, an append
         * builds on it): the result depends on it, so record a read first. `echo x >> log`
         * is then a read-then-write, never a cacheable "output only". */
        if (acc != O_RDONLY && !(flags & O_TRUNC) && !(flags & O_EXCL) && existed != 0)
            note_result(dirfd, path, K_READ, ok, err);
        if (ok && existed == 0 && (flags & O_APPEND)) {
            /* An append to a missing file: the next run appends to what is there, so its
             * absence was an input. Not found, then written in place (never a plain
             * create, which a cache hit could restore over a newer file). */
            note_at(dirfd, path, K_NOTFOUND);
            note_at(dirfd, path, K_WRITE);
            return;
        }
        int kind = (((flags & O_CREAT) && (flags & O_EXCL)) || existed == 0) ? K_CREATE
                 : (flags & O_TRUNC) ? K_TRUNCATE : K_WRITE;
        note_result(dirfd, path, kind, ok, err);
    }
}

static int fopen_flags(const char *mode) {
    int plus = mode && strchr(mode, '+') != NULL;
    int excl = mode && strchr(mode, 'x') != NULL;
    switch (mode ? mode[0] : 'r') {
    case 'w': return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC | (excl ? O_EXCL : 0);
    case 'a': return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
    default: return plus ? O_RDWR : O_RDONLY;
    }
}

static void note_exe_incomplete(int reason, const char *program) {
    char buf[PATH_MAX];
    const char *p = program;
    if (!p) {
        ssize_t n = get_readlink()("/proc/self/exe", buf, sizeof buf - 1);
        if (n < 0) n = 0;
        buf[n] = 0;
        p = buf;
    }
    emit_raw(K_INCOMPLETE, reason, getpid(), p, strlen(p), NULL, 0);
}

/* ---- directory streams: remember which path each DIR* lists ---- */
#define DIR_SLOTS 64
static struct { DIR *d; char *path; } g_dirs[DIR_SLOTS];
static pthread_mutex_t g_dirs_lock = PTHREAD_MUTEX_INITIALIZER;

/* fork() while another thread holds the lock would leave the child's copy locked forever:
 * hold it across fork (atfork handlers, registered at start-up). */
static void dirs_lock(void) { pthread_mutex_lock(&g_dirs_lock); }
static void dirs_unlock(void) { pthread_mutex_unlock(&g_dirs_lock); }
static void after_fork_child(void) {
    pthread_mutex_init(&g_dirs_lock, NULL);
    refresh_pid();
}

static void dir_remember(DIR *d, const char *abs) {
    char *copy = strdup(abs);
    if (!copy) return;
    pthread_mutex_lock(&g_dirs_lock);
    for (int i = 0; i < DIR_SLOTS; i++)
        if (!g_dirs[i].d) { g_dirs[i].d = d; g_dirs[i].path = copy; copy = NULL; break; }
    pthread_mutex_unlock(&g_dirs_lock);
    free(copy); /* table full: readdir falls back to /proc/self/fd */
}

static void dir_forget(DIR *d) {
    char *old = NULL;
    pthread_mutex_lock(&g_dirs_lock);
    for (int i = 0; i < DIR_SLOTS; i++)
        if (g_dirs[i].d == d) { old = g_dirs[i].path; g_dirs[i].d = NULL; g_dirs[i].path = NULL; break; }
    pthread_mutex_unlock(&g_dirs_lock);
    free(old);
}

static void note_listed(const char *abs, size_t n) {
    emit_raw(K_LISTDIR, 0, g_pid, abs, n, NULL, 0);
}

static void note_entry(DIR *d, const char *name) {
    if (!g_active || !name || (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))) return;
    char buf[PATH_MAX];
    buf[0] = 0;
    pthread_mutex_lock(&g_dirs_lock);
    for (int i = 0; i < DIR_SLOTS; i++)
        if (g_dirs[i].d == d) { snprintf(buf, sizeof buf, "%s", g_dirs[i].path); break; }
    pthread_mutex_unlock(&g_dirs_lock);
    if (!buf[0] && fd_path(dirfd(d), buf, sizeof buf) < 0) return;
    emit_raw(K_DIRENTRY, 0, g_pid, buf, strlen(buf), name, strlen(name));
}

static void note_dir_opened(DIR *d, int dirfd_, const char *path) {
    char buf[2 * PATH_MAX];
    ssize_t n = path ? absolute(AT_FDCWD, path, buf, sizeof buf) : fd_path(dirfd_, buf, sizeof buf);
    if (n <= 0) return;
    note_listed(buf, (size_t)n);
    dir_remember(d, buf);
}

/* getdents64 buffers: struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; } */
static void note_getdents(int fd, const char *buf, ssize_t n) {
    if (!g_active || n <= 0) return;
    char dir[PATH_MAX];
    ssize_t dl = fd_path(fd, dir, sizeof dir);
    if (dl <= 0) return;
    note_listed(dir, (size_t)dl);
    for (ssize_t pos = 0; pos + 19 < n;) {
        unsigned short reclen;
        memcpy(&reclen, buf + pos + 16, 2);
        if (reclen == 0) break;
        const char *name = buf + pos + 19;
        if (!(name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]))))
            emit_raw(K_DIRENTRY, 0, g_pid, dir, (size_t)dl, name, strnlen(name, reclen));
        pos += reclen;
    }
}

/* ---- exec: keep children traced and detect programs the shim cannot enter ---- */

/* Inspects an executable: 0 = dynamic (the shim will load), -1 = cannot open (errno
 * set), else a reason code. For a "#!" script the interpreter is inspected (one level). */
static int inspect_exe(const char *path, int depth) {
    int fd = get_open()(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int result = 0;
    struct stat st;
    unsigned char hdr[256];
    ssize_t n = pread(fd, hdr, sizeof hdr - 1, 0);
    if (fstat(fd, &st) == 0 && (((st.st_mode & S_ISUID) && st.st_uid != getuid()) ||
                                ((st.st_mode & S_ISGID) && st.st_gid != getgid()))) {
        result = R_SETUID; /* the loader runs it in secure mode and ignores LD_PRELOAD */
    } else if (n >= 4 && hdr[0] == '#' && hdr[1] == '!' && depth == 0) {
        hdr[n] = 0;
        char *p = (char *)hdr + 2;
        while (*p == ' ' || *p == '\t') p++;
        char *e = p;
        while (*e && *e != ' ' && *e != '\t' && *e != '\n') e++;
        *e = 0;
        if (*p) {
            int interp = inspect_exe(p, 1);
            if (interp > 0) result = interp;
        }
    } else if (n >= (ssize_t)sizeof(Elf64_Ehdr) && memcmp(hdr, ELFMAG, SELFMAG) == 0) {
        Elf64_Ehdr eh;
        memcpy(&eh, hdr, sizeof eh);
        if (hdr[EI_CLASS] != ELFCLASS64 || eh.e_machine != NATIVE_MACHINE) {
            result = R_FOREIGN;
        } else {
            result = R_STATIC;
            Elf64_Phdr ph[64];
            size_t want = (eh.e_phnum < 64 ? eh.e_phnum : 64) * sizeof(Elf64_Phdr);
            ssize_t got = eh.e_phentsize == sizeof(Elf64_Phdr) ? pread(fd, ph, want, (off_t)eh.e_phoff) : -1;
            for (ssize_t i = 0; got > 0 && i < got / (ssize_t)sizeof(Elf64_Phdr); i++)
                if (ph[i].p_type == PT_INTERP) { result = 0; break; }
            /* Go programs make file syscalls directly even when dynamically linked (cgo):
             * the toolchain marks them with an ELF note "Go", type 4 (build id). */
            for (ssize_t i = 0; result == 0 && got > 0 && i < got / (ssize_t)sizeof(Elf64_Phdr); i++) {
                if (ph[i].p_type != PT_NOTE) continue;
                unsigned char notes[512];
                size_t len = ph[i].p_filesz < sizeof notes ? ph[i].p_filesz : sizeof notes;
                ssize_t nr = pread(fd, notes, len, (off_t)ph[i].p_offset);
                for (ssize_t pos = 0; pos + 12 <= nr;) {
                    uint32_t nh[3];
                    memcpy(nh, notes + pos, sizeof nh);
                    /* The Go linker writes the name "Go\0\0" (namesz 4); "Go\0" (namesz 3) is
                     * the ELF spec's form. Either marks a Go build id. */
                    if ((nh[0] == 3 || nh[0] == 4) && nh[2] == 4 && pos + 16 <= nr &&
                        memcmp(notes + pos + 12, "Go\0", 3) == 0 && (nh[0] == 3 || notes[pos + 15] == 0)) {
                        result = R_GO;
                        break;
                    }
                    pos += 12 + ((nh[0] + 3) & ~3u) + ((nh[1] + 3) & ~3u);
                }
            }
        }
    }
    close(fd);
    return result;
}

/* ---- static programs: a seccomp filter whose listener goes to the supervisor ---- */

/* The filter program comes from the supervisor (src/linux/seccomp/filter.rs, `filter()`), one source
 * for both installers: a little-endian u16 count, then that many sock_filter. */
enum { MAX_FILTER = 128 };

/* Reads exactly `len` bytes, or fails. */
static int recv_all(int s, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = recv(s, p, len, MSG_WAITALL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { if (n == 0) errno = ECONNRESET; return -1; }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Installs the filter in this task and sends its listener to the supervisor. Connects
 * first: a filter whose listener never reaches the supervisor would make every file call
 * fail with ENOSYS. Stack memory and system calls only (this may run in a vfork child).
 * Returns 0, or -1 with `cause` filled. */
static int seccomp_install(char *cause, size_t cap) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", g_sock_entry + strlen(SOCK_VAR));
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) { snprintf(cause, cap, "socket: %s", strerror(errno)); return -1; }
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
        snprintf(cause, cap, "connecting to the supervisor: %s", strerror(errno));
        close(s);
        return -1;
    }
    unsigned char count[2];
    struct sock_filter f[MAX_FILTER];
    if (recv_all(s, count, sizeof count) != 0) {
        snprintf(cause, cap, "receiving the filter: %s", strerror(errno));
        close(s);
        return -1;
    }
    size_t n = (size_t)count[0] | (size_t)count[1] << 8;
    if (n == 0 || n > MAX_FILTER || recv_all(s, f, n * sizeof f[0]) != 0) {
        snprintf(cause, cap, "receiving the filter: %s", n == 0 || n > MAX_FILTER ? "bad length" : strerror(errno));
        close(s);
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(cause, cap, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        close(s);
        return -1;
    }
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
    long lfd = get_syscall()(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                             (long)&prog, 0, 0, 0);
    if (lfd < 0) {
        snprintf(cause, cap, "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER): %s", strerror(errno));
        close(s);
        return -1;
    }
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int l = (int)lfd;
    memcpy(CMSG_DATA(c), &l, sizeof l);
    ssize_t sent = sendmsg(s, &msg, MSG_NOSIGNAL);
    int e = errno;
    close(l);
    close(s);
    if (sent != 1) {
        /* The filter is in place without a listener: file calls now fail (ENOSYS). */
        snprintf(cause, cap, "sending the listener: %s", strerror(e));
        return -1;
    }
    return 0;
}

/* Is this process under a seccomp filter at all (ours sets RUNWIRE_TRACE_SECCOMP_ACTIVE,
 * but a variable alone proves nothing)? */
static int has_seccomp_filter(void) {
    int fd = get_open()("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *p = strstr(buf, "\nSeccomp_filters:");
    return p && atoi(p + 17) > 0;
}

/* Records the exec of `path` (already resolved): the program file is read (or probed and
 * not found: a shell's PATH search), and either an expectation that the shim reports in
 * from this pid (K_EXEC) or an incomplete trace. Returns 1 when a K_EXEC was written (so
 * a failed exec must cancel it). */
static int note_exec(const char *path, int spawn, int *filtered) {
    if (!g_active || !path) return 0;
    char buf[2 * PATH_MAX];
    ssize_t n = absolute(AT_FDCWD, path, buf, sizeof buf);
    if (n <= 0) return 0;
    int reason = inspect_exe(buf, 0);
    if (reason < 0) {
        if (errno == ENOENT || errno == ENOTDIR) emit_raw(K_NOTFOUND, 0, getpid(), buf, (size_t)n, NULL, 0);
        return 0;
    }
    emit_raw(K_READ, 0, getpid(), buf, (size_t)n, NULL, 0);
    if ((reason == R_STATIC || reason == R_GO) && !spawn && g_sock_entry[0]) {
        /* A static or Go program: follow it through seccomp. posix_spawn cannot get here
         * (the filter would land in the parent): that stays incomplete. */
        char cause[256];
        if (seccomp_install(cause, sizeof cause) == 0) {
            *filtered = 1;
            return 0;
        }
        emit_raw(K_INCOMPLETE, R_SECCOMP, getpid(), buf, (size_t)n, cause, strlen(cause));
        return 0;
    }
    if (reason) {
        emit_raw(K_INCOMPLETE, reason, getpid(), buf, (size_t)n, NULL, 0);
        return 0;
    }
    if (spawn) return 1; /* posix_spawn: K_SPAWNED is written once the pid is known */
    emit_raw(K_EXEC, 0, getpid(), buf, (size_t)n, NULL, 0);
    return 1;
}

/* PATH search as execvp does it, to know which file will run; the misses are probes
 * (a command that appears later in an earlier PATH directory changes what runs). */
static int search_path(const char *file, const char *pathvar, char *out, size_t cap) {
    if (!file || !*file) return -1;
    if (strchr(file, '/')) { snprintf(out, cap, "%s", file); return 0; }
    const char *p = pathvar ? pathvar : "/bin:/usr/bin";
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0) snprintf(out, cap, "%s", file);
        else snprintf(out, cap, "%.*s/%s", (int)len, p, file);
        if (get_access()(out, X_OK) == 0) return 0;
        if (errno == ENOENT || errno == ENOTDIR) note_at(AT_FDCWD, out, K_NOTFOUND);
        if (!end) break;
        p = end + 1;
    }
    return -1;
}

static const char *env_lookup(char *const envp[], const char *name) {
    size_t nl = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, nl) == 0 && envp[i][nl] == '=') return envp[i] + nl + 1;
    return NULL;
}

/* Builds into `out` (room for count(envp) + 7) the child's environment: envp with our
 * LD_PRELOAD entry (kept in front of any the tool set), our ring variable and, unless the
 * tool chose a value, UV_USE_IO_URING=0. Stack memory only: this runs in vfork children. */
static char **inject_env(char *const envp[], char **out, char *preload_buf, size_t cap, int filtered) {
    size_t k = 0;
    int has_uv = 0;
    const char *tool_preload = env_lookup(envp, "LD_PRELOAD");
    for (size_t i = 0; envp && envp[i]; i++) {
        if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0) continue;
        if (strncmp(envp[i], "RUNWIRE_TRACE_RING=", 19) == 0) continue;
        if (strncmp(envp[i], "RUNWIRE_TRACE_LOCK_FD=", 22) == 0) continue;
        if (strncmp(envp[i], SOCK_VAR, strlen(SOCK_VAR)) == 0) continue;
        if (strncmp(envp[i], ACTIVE_VAR, strlen(ACTIVE_VAR)) == 0) continue;
        if (strncmp(envp[i], "UV_USE_IO_URING=", 16) == 0) has_uv = 1;
        out[k++] = envp[i];
    }
    if (tool_preload && *tool_preload && g_self_path && !strstr(tool_preload, g_self_path)) {
        snprintf(preload_buf, cap, "%s:%s", g_preload_entry, tool_preload);
        out[k++] = preload_buf;
    } else if (tool_preload && *tool_preload) {
        snprintf(preload_buf, cap, "LD_PRELOAD=%s", tool_preload);
        out[k++] = preload_buf;
    } else {
        out[k++] = g_preload_entry;
    }
    out[k++] = g_ring_entry;
    if (g_lock_entry[0]) out[k++] = g_lock_entry;
    if (g_sock_entry[0]) out[k++] = g_sock_entry;
    if (filtered) out[k++] = (char *)ACTIVE_VAR "1";
    if (!has_uv) out[k++] = (char *)"UV_USE_IO_URING=0";
    out[k] = NULL;
    return out;
}

static size_t env_count(char *const envp[]) {
    size_t n = 0;
    while (envp && envp[n]) n++;
    return n;
}

#define WITH_TRACED_ENV(envp, newenv, filtered) \
    char *newenv##_slots[env_count(envp) + 7]; \
    char newenv##_preload[PATH_MAX + 4096]; \
    char **newenv = g_active ? inject_env(envp, newenv##_slots, newenv##_preload, sizeof newenv##_preload, filtered) \
                             : (char **)(envp)

static int traced_execve(const char *path, char *const argv[], char *const envp[]) {
    int filtered = 0; /* a local, not a global: this may run in a vfork child */
    int expect = note_exec(path, 0, &filtered);
    WITH_TRACED_ENV(envp, env, filtered);
    int r = get_execve()(path, argv, env);
    int e = errno;
    if (expect) emit_raw(K_EXEC_FAILED, 0, getpid(), path, strlen(path), NULL, 0);
    errno = e;
    return r;
}

static int traced_execvpe(const char *file, char *const argv[], char *const envp[]) {
    char resolved[PATH_MAX];
    int expect = 0, filtered = 0;
    if (search_path(file, getenv("PATH"), resolved, sizeof resolved) == 0) expect = note_exec(resolved, 0, &filtered);
    WITH_TRACED_ENV(envp, env, filtered);
    int r = get_execvpe()(file, argv, env);
    int e = errno;
    if (expect) emit_raw(K_EXEC_FAILED, 0, getpid(), resolved, strlen(resolved), NULL, 0);
    errno = e;
    return r;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[]) { return traced_execve(path, argv, envp); }
EXPORT int execv(const char *path, char *const argv[]) { return traced_execve(path, argv, environ); }
EXPORT int execvp(const char *file, char *const argv[]) { return traced_execvpe(file, argv, environ); }
EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) { return traced_execvpe(file, argv, envp); }

/* execl family: collect the variadic argv (and envp for execle) into an array. */
#define COLLECT_ARGS(arg0, argv, ap_envp) \
    va_list ap; va_start(ap, arg0); size_t argc = 1; \
    while (va_arg(ap, char *)) argc++; \
    va_end(ap); \
    char *argv[argc + 1]; \
    va_start(ap, arg0); argv[0] = (char *)arg0; \
    for (size_t i = 1; i <= argc; i++) argv[i] = va_arg(ap, char *); \
    char *const *ap_envp = va_arg(ap, char *const *); \
    va_end(ap); \
    (void)ap_envp

EXPORT int execl(const char *path, const char *arg, ...) {
    COLLECT_ARGS(arg, argv, unused);
    return traced_execve(path, argv, environ);
}
EXPORT int execlp(const char *file, const char *arg, ...) {
    COLLECT_ARGS(arg, argv, unused);
    return traced_execvpe(file, argv, environ);
}
EXPORT int execle(const char *path, const char *arg, ...) {
    COLLECT_ARGS(arg, argv, envp);
    return traced_execve(path, argv, envp);
}

static int traced_spawn(int search, pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
    char resolved[PATH_MAX];
    pid_t child = 0;
    int expect = 0, unused = 0;
    if (search ? search_path(file, getenv("PATH"), resolved, sizeof resolved) == 0
               : (snprintf(resolved, sizeof resolved, "%s", file ? file : ""), 1))
        expect = note_exec(resolved, 1, &unused);
    WITH_TRACED_ENV(envp, env, 0);
    int r = search ? get_posix_spawnp()(&child, file, fa, attr, argv, env)
                   : get_posix_spawn()(&child, file, fa, attr, argv, env);
    if (r == 0) {
        if (pid) *pid = child;
        if (expect) {
            char buf[2 * PATH_MAX];
            ssize_t n = absolute(AT_FDCWD, resolved, buf, sizeof buf);
            if (n > 0) emit_raw(K_SPAWNED, 0, (int32_t)child, buf, (size_t)n, NULL, 0);
        }
    }
    return r;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
    return traced_spawn(0, pid, path, fa, attr, argv, envp);
}
EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
    return traced_spawn(1, pid, file, fa, attr, argv, envp);
}

/* dlopen by path (node addons, Python extensions, ctypes) loads a file that is an input.
 * A bare name is searched with the *caller's* RUNPATH, and $ORIGIN expands to the caller's
 * directory; the loader finds the caller from the return address, so those cases are a
 * plain tail call (-O2 sibling call, a jmp: checked by the dlopen test) and the caller
 * stays the caller. */
EXPORT void *dlopen(const char *file, int mode) {
    if (!g_active || !file || !strchr(file, '/') || strchr(file, '$')) return get_dlopen()(file, mode);
    void *h = get_dlopen()(file, mode);
    if (h) {
        int e = errno;
        note_at(AT_FDCWD, file, K_READ);
        errno = e;
    }
    return h;
}

/* system() and popen() spawn /bin/sh inside libc with the current environ, which the tool
 * may have stripped of our variables: put them back first (a tool removing LD_PRELOAD
 * does not get to hide its children). */
static void restore_environ(void) {
    if (!g_active) return;
    const char *pre = getenv("LD_PRELOAD");
    if (!pre || !g_self_path || !strstr(pre, g_self_path)) {
        char buf[PATH_MAX + 4096];
        if (pre && *pre) snprintf(buf, sizeof buf, "%s:%s", g_self_path, pre);
        else snprintf(buf, sizeof buf, "%s", g_self_path ? g_self_path : "");
        setenv("LD_PRELOAD", buf, 1);
    }
    if (!getenv("RUNWIRE_TRACE_RING")) setenv("RUNWIRE_TRACE_RING", g_ring_entry + 19, 1);
    if (g_lock_entry[0] && !getenv("RUNWIRE_TRACE_LOCK_FD")) setenv("RUNWIRE_TRACE_LOCK_FD", g_lock_entry + 22, 1);
    if (g_sock_entry[0] && !getenv("RUNWIRE_TRACE_SECCOMP_SOCK"))
        setenv("RUNWIRE_TRACE_SECCOMP_SOCK", g_sock_entry + strlen(SOCK_VAR), 1);
}
EXPORT int system(const char *cmd) {
    restore_environ();
    return get_system()(cmd);
}
EXPORT FILE *popen(const char *cmd, const char *mode) {
    restore_environ();
    return get_popen()(cmd, mode);
}

/* ---- open / fopen families ---- */
#define OPEN_MODE(flags) \
    mode_t mode = 0; \
    if ((flags) & O_CREAT || ((flags) & O_TMPFILE) == O_TMPFILE) { \
        va_list ap; va_start(ap, flags); mode = (mode_t)va_arg(ap, int); va_end(ap); \
    }

#define HOOK_OPEN(name) \
    EXPORT int name(const char *path, int flags, ...) { \
        OPEN_MODE(flags); \
        int before = existed_before(AT_FDCWD, path, flags); \
        int r = get_##name()(path, flags, mode); \
        int e = errno; note_open(AT_FDCWD, path, flags, r, e, before); errno = e; return r; \
    }
#define HOOK_OPENAT(name) \
    EXPORT int name(int dirfd, const char *path, int flags, ...) { \
        OPEN_MODE(flags); \
        int before = existed_before(dirfd, path, flags); \
        int r = get_##name()(dirfd, path, flags, mode); \
        int e = errno; note_open(dirfd, path, flags, r, e, before); errno = e; return r; \
    }
HOOK_OPEN(open)
HOOK_OPEN(open64)
HOOK_OPENAT(openat)
HOOK_OPENAT(openat64)

#define HOOK_OPEN2(name) \
    EXPORT int name(const char *path, int flags) { \
        int before = existed_before(AT_FDCWD, path, flags); \
        int r = get_##name()(path, flags); \
        int e = errno; note_open(AT_FDCWD, path, flags, r, e, before); errno = e; return r; \
    }
#define HOOK_OPENAT2(name) \
    EXPORT int name(int dirfd, const char *path, int flags) { \
        int before = existed_before(dirfd, path, flags); \
        int r = get_##name()(dirfd, path, flags); \
        int e = errno; note_open(dirfd, path, flags, r, e, before); errno = e; return r; \
    }
HOOK_OPEN2(__open_2)
HOOK_OPEN2(__open64_2)
HOOK_OPENAT2(__openat_2)
HOOK_OPENAT2(__openat64_2)

#define HOOK_CREAT(name) \
    EXPORT int name(const char *path, mode_t mode) { \
        int r = get_##name()(path, mode); \
        int e = errno; note_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, r, e, -1); errno = e; return r; \
    }
HOOK_CREAT(creat)
HOOK_CREAT(creat64)

#define HOOK_FOPEN(name) \
    EXPORT FILE *name(const char *path, const char *mode) { \
        int before = existed_before(AT_FDCWD, path, fopen_flags(mode)); \
        FILE *f = get_##name()(path, mode); \
        int e = errno; note_open(AT_FDCWD, path, fopen_flags(mode), f ? fileno(f) : -1, e, before); errno = e; return f; \
    }
#define HOOK_FREOPEN(name) \
    EXPORT FILE *name(const char *path, const char *mode, FILE *stream) { \
        int before = existed_before(AT_FDCWD, path, fopen_flags(mode)); \
        FILE *f = get_##name()(path, mode, stream); \
        int e = errno; if (path) note_open(AT_FDCWD, path, fopen_flags(mode), f ? fileno(f) : -1, e, before); errno = e; return f; \
    }
HOOK_FOPEN(fopen)
HOOK_FOPEN(fopen64)
HOOK_FREOPEN(freopen)
HOOK_FREOPEN(freopen64)

/* ---- stat / access / readlink probes ---- */
#define HOOK_PROBE(ret, name, params, call, dirfd, path, kind) \
    EXPORT ret name params { \
        ret r = get_##name() call; \
        int e = errno; note_result(dirfd, path, kind, r >= 0, e); errno = e; return r; \
    }
/* fstatat(fd, "", buf, AT_EMPTY_PATH) is an fstat: the file was recorded when opened. */
#define HOOK_PROBE_AT(ret, name, params, call, dirfd, path, flags) \
    EXPORT ret name params { \
        ret r = get_##name() call; \
        int e = errno; \
        if (!((flags) & AT_EMPTY_PATH && path && !path[0])) note_result(dirfd, path, K_STAT, r >= 0, e); \
        errno = e; return r; \
    }

HOOK_PROBE(int, stat, (const char *p, struct stat *b), (p, b), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, stat64, (const char *p, struct stat64 *b), (p, b), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, lstat, (const char *p, struct stat *b), (p, b), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, lstat64, (const char *p, struct stat64 *b), (p, b), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, __xstat, (int v, const char *p, struct stat *b), (v, p, b), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, __xstat64, (int v, const char *p, struct stat64 *b), (v, p, b), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, __lxstat, (int v, const char *p, struct stat *b), (v, p, b), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, __lxstat64, (int v, const char *p, struct stat64 *b), (v, p, b), AT_FDCWD, p, K_STAT)
HOOK_PROBE_AT(int, fstatat, (int d, const char *p, struct stat *b, int f), (d, p, b, f), d, p, f)
HOOK_PROBE_AT(int, fstatat64, (int d, const char *p, struct stat64 *b, int f), (d, p, b, f), d, p, f)
HOOK_PROBE_AT(int, __fxstatat, (int v, int d, const char *p, struct stat *b, int f), (v, d, p, b, f), d, p, f)
HOOK_PROBE_AT(int, __fxstatat64, (int v, int d, const char *p, struct stat64 *b, int f), (v, d, p, b, f), d, p, f)
HOOK_PROBE_AT(int, statx, (int d, const char *p, int f, unsigned m, struct statx *b), (d, p, f, m, b), d, p, f)
HOOK_PROBE(int, access, (const char *p, int m), (p, m), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, euidaccess, (const char *p, int m), (p, m), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, eaccess, (const char *p, int m), (p, m), AT_FDCWD, p, K_STAT)
HOOK_PROBE(int, faccessat, (int d, const char *p, int m, int f), (d, p, m, f), d, p, K_STAT)
HOOK_PROBE(ssize_t, readlink, (const char *p, char *b, size_t n), (p, b, n), AT_FDCWD, p, K_READ)
HOOK_PROBE(ssize_t, readlinkat, (int d, const char *p, char *b, size_t n), (d, p, b, n), d, p, K_READ)

/* chdir: resolve before the call, since afterwards the relative path means something else. */
EXPORT int chdir(const char *path) {
    char buf[2 * PATH_MAX];
    ssize_t n = g_active ? absolute(AT_FDCWD, path, buf, sizeof buf) : -1;
    int r = get_chdir()(path);
    int e = errno;
    if (n > 0) note_result(AT_FDCWD, buf, K_STAT, r == 0, e);
    errno = e;
    return r;
}

EXPORT char *realpath(const char *path, char *resolved) {
    char *r = get_realpath()(path, resolved);
    int e = errno; note_result(AT_FDCWD, path, K_STAT, r != NULL, e); errno = e; return r;
}

/* ---- changes ---- */
HOOK_PROBE(int, mkdir, (const char *p, mode_t m), (p, m), AT_FDCWD, p, K_CREATE)
HOOK_PROBE(int, mkdirat, (int d, const char *p, mode_t m), (d, p, m), d, p, K_CREATE)
HOOK_PROBE(int, rmdir, (const char *p), (p), AT_FDCWD, p, K_DELETE)
HOOK_PROBE(int, unlink, (const char *p), (p), AT_FDCWD, p, K_DELETE)
HOOK_PROBE(int, unlinkat, (int d, const char *p, int f), (d, p, f), d, p, K_DELETE)
HOOK_PROBE(int, truncate, (const char *p, off_t n), (p, n), AT_FDCWD, p, K_TRUNCATE)
HOOK_PROBE(int, truncate64, (const char *p, off64_t n), (p, n), AT_FDCWD, p, K_TRUNCATE)
HOOK_PROBE(int, symlinkat, (const char *t, int d, const char *p), (t, d, p), d, p, K_CREATE)
HOOK_PROBE(int, symlink, (const char *t, const char *p), (t, p), AT_FDCWD, p, K_CREATE)

/* Setting times changes the file (its ctime; make and tsc -b read its mtime) without
 * touching its content: a write in place. tsc -b updates its .tsbuildinfo this way when
 * nothing needs building. utimensat(fd, NULL, ...) is a futimens: the fd's open was
 * recorded already. */
EXPORT int utimensat(int d, const char *p, const struct timespec t[2], int f) {
    int r = get_utimensat()(d, p, t, f);
    int e = errno;
    if (p) note_result(d, p, K_WRITE, r == 0, e);
    errno = e;
    return r;
}
HOOK_PROBE(int, utimes, (const char *p, const struct timeval t[2]), (p, t), AT_FDCWD, p, K_WRITE)
HOOK_PROBE(int, lutimes, (const char *p, const struct timeval t[2]), (p, t), AT_FDCWD, p, K_WRITE)
HOOK_PROBE(int, utime, (const char *p, const struct utimbuf *t), (p, t), AT_FDCWD, p, K_WRITE)
/* A mode change is a change of the file (modes are facts and outputs: `chmod +x bin/x` as
 * a task's whole work must be restored by a hit). fchmod(fd) was recorded at the open. */
HOOK_PROBE(int, chmod, (const char *p, mode_t m), (p, m), AT_FDCWD, p, K_WRITE)
HOOK_PROBE(int, fchmodat, (int d, const char *p, mode_t m, int f), (d, p, m, f), d, p, K_WRITE)

/* rename: the source's prior content moves to the target (an input if not written first),
 * and the source is gone; the target is written. */
static void note_rename(int od, const char *from, int nd, const char *to, int ok, int err) {
    note_result(od, from, K_RENAME_FROM, ok, err);
    if (ok) note_at(nd, to, K_RENAME_TO);
}
EXPORT int rename(const char *a, const char *b) {
    int r = get_rename()(a, b);
    int e = errno; note_rename(AT_FDCWD, a, AT_FDCWD, b, r == 0, e); errno = e; return r;
}
EXPORT int renameat(int ad, const char *a, int bd, const char *b) {
    int r = get_renameat()(ad, a, bd, b);
    int e = errno; note_rename(ad, a, bd, b, r == 0, e); errno = e; return r;
}
EXPORT int renameat2(int ad, const char *a, int bd, const char *b, unsigned f) {
    int r = get_renameat2()(ad, a, bd, b, f);
    int e = errno; note_rename(ad, a, bd, b, r == 0, e); errno = e; return r;
}
/* link: the new name gets the old file's content. */
EXPORT int link(const char *a, const char *b) {
    int r = get_link()(a, b);
    int e = errno; note_result(AT_FDCWD, a, K_READ, r == 0, e); if (r == 0) note_at(AT_FDCWD, b, K_CREATE);
    errno = e; return r;
}
EXPORT int linkat(int ad, const char *a, int bd, const char *b, int f) {
    int r = get_linkat()(ad, a, bd, b, f);
    int e = errno; note_result(ad, a, K_READ, r == 0, e); if (r == 0) note_at(bd, b, K_CREATE);
    errno = e; return r;
}

/* mkstemp & co. open internally; the filled-in template names the created file. */
#define HOOK_MKSTEMP(name, params, call, tmpl) \
    EXPORT int name params { \
        int r = get_##name() call; \
        int e = errno; if (r >= 0) note_at(AT_FDCWD, tmpl, K_CREATE); errno = e; return r; \
    }
HOOK_MKSTEMP(mkstemp, (char *t), (t), t)
HOOK_MKSTEMP(mkostemp, (char *t, int f), (t, f), t)
HOOK_MKSTEMP(mkstemps, (char *t, int s), (t, s), t)
HOOK_MKSTEMP(mkostemps, (char *t, int s, int f), (t, s, f), t)
EXPORT char *mkdtemp(char *t) {
    char *r = get_mkdtemp()(t);
    int e = errno; if (r) note_at(AT_FDCWD, r, K_CREATE); errno = e; return r;
}

/* ---- directory listings ---- */
EXPORT DIR *opendir(const char *path) {
    DIR *d = get_opendir()(path);
    int e = errno;
    if (g_active) {
        if (d) note_dir_opened(d, -1, path);
        else note_result(AT_FDCWD, path, K_LISTDIR, 0, e);
    }
    errno = e; return d;
}
EXPORT DIR *fdopendir(int fd) {
    DIR *d = get_fdopendir()(fd);
    int e = errno; if (d && g_active) note_dir_opened(d, fd, NULL); errno = e; return d;
}
EXPORT int closedir(DIR *d) {
    if (g_active) dir_forget(d);
    return get_closedir()(d);
}
EXPORT struct dirent *readdir(DIR *d) {
    struct dirent *r = get_readdir()(d);
    int e = errno; if (r) note_entry(d, r->d_name); errno = e; return r;
}
EXPORT struct dirent64 *readdir64(DIR *d) {
    struct dirent64 *r = get_readdir64()(d);
    int e = errno; if (r) note_entry(d, r->d_name); errno = e; return r;
}
#define HOOK_SCANDIR(name, ent) \
    EXPORT int name(const char *path, struct ent ***list, int (*sel)(const struct ent *), \
                    int (*cmp)(const struct ent **, const struct ent **)) { \
        int r = get_##name()(path, list, sel, cmp); \
        int e = errno; \
        if (g_active) { \
            char buf[2 * PATH_MAX]; \
            ssize_t n = r >= 0 ? absolute(AT_FDCWD, path, buf, sizeof buf) : -1; \
            if (n > 0) { \
                note_listed(buf, (size_t)n); \
                for (int i = 0; i < r; i++) { \
                    const char *nm = (*list)[i]->d_name; \
                    if (!(nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))) \
                        emit_raw(K_DIRENTRY, 0, g_pid, buf, (size_t)n, nm, strlen(nm)); \
                } \
            } else if (r < 0) note_result(AT_FDCWD, path, K_LISTDIR, 0, e); \
        } \
        errno = e; return r; \
    }
HOOK_SCANDIR(scandir, dirent)
HOOK_SCANDIR(scandir64, dirent64)

EXPORT ssize_t getdents64(int fd, void *buf, size_t n) {
    ssize_t r = get_getdents64()(fd, buf, n);
    int e = errno; note_getdents(fd, buf, r); errno = e; return r;
}

/* ---- servers and watchers: listen() and inotify/fanotify watches, once per kind ---- */
static int g_served[4];

static void note_service(int what) {
    if (!g_active || __atomic_exchange_n(&g_served[what], 1, __ATOMIC_RELAXED)) return;
    int e = errno;
    char buf[PATH_MAX];
    ssize_t n = get_readlink()("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0) n = 0;
    emit_raw(K_SERVICE, what, getpid(), buf, (size_t)n, NULL, 0);
    errno = e;
}

REAL(int, listen, (int, int))
EXPORT int listen(int fd, int backlog) {
    int r = get_listen()(fd, backlog);
    if (r == 0) note_service(S_LISTEN);
    return r;
}

REAL(int, inotify_add_watch, (int, const char *, uint32_t))
EXPORT int inotify_add_watch(int fd, const char *path, uint32_t mask) {
    int r = get_inotify_add_watch()(fd, path, mask);
    if (r >= 0) note_service(S_INOTIFY);
    return r;
}

REAL(int, fanotify_mark, (int, unsigned int, uint64_t, int, const char *))
EXPORT int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path) {
    int r = get_fanotify_mark()(fd, flags, mask, dirfd, path);
    if (r == 0) note_service(S_FANOTIFY);
    return r;
}

/* ---- syscall(): libuv calls statx and io_uring_setup this way ---- */
EXPORT long syscall(long n, ...) {
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), f = va_arg(ap, long), g = va_arg(ap, long);
    va_end(ap);
    /* io_uring's file operations would bypass every hook: a traced process gets ENOSYS, as
     * on a kernel without io_uring, and runtimes fall back (libuv to epoll and its thread
     * pool; Node 22 sets up a ring even with UV_USE_IO_URING=0). */
    if (g_active && n == SYS_io_uring_setup) {
        errno = ENOSYS;
        return -1;
    }
    long r = get_syscall()(n, a, b, c, d, f, g);
    if (!g_active) return r;
    int e = errno, ok = r >= 0;
    const char *p1 = (const char *)a, *p2 = (const char *)b;
    switch (n) {
    case SYS_statx:
    case SYS_newfstatat: {
        int flags = (int)(n == SYS_statx ? c : d);
        if (!((flags & AT_EMPTY_PATH) && p2 && !p2[0])) note_result((int)a, p2, K_STAT, ok, e);
        break;
    }
#ifdef SYS_stat /* the legacy path syscalls exist on x86_64, not on aarch64 */
    case SYS_stat: case SYS_lstat: case SYS_access: note_result(AT_FDCWD, p1, K_STAT, ok, e); break;
    case SYS_readlink: note_result(AT_FDCWD, p1, K_READ, ok, e); break;
    case SYS_open: note_open(AT_FDCWD, p1, (int)b, ok ? (int)r : -1, e, -1); break;
    case SYS_mkdir: note_result(AT_FDCWD, p1, K_CREATE, ok, e); break;
    case SYS_rmdir: case SYS_unlink: note_result(AT_FDCWD, p1, K_DELETE, ok, e); break;
    case SYS_rename: note_rename(AT_FDCWD, p1, AT_FDCWD, p2, ok, e); break;
#endif
    case SYS_faccessat: case SYS_faccessat2: note_result((int)a, p2, K_STAT, ok, e); break;
    case SYS_readlinkat: note_result((int)a, p2, K_READ, ok, e); break;
    case SYS_openat: note_open((int)a, p2, (int)c, ok ? (int)r : -1, e, -1); break;
    case SYS_mkdirat: note_result((int)a, p2, K_CREATE, ok, e); break;
    case SYS_unlinkat: note_result((int)a, p2, K_DELETE, ok, e); break;
#ifdef SYS_renameat
    case SYS_renameat:
#endif
    case SYS_renameat2: note_rename((int)a, p2, (int)c, (const char *)d, ok, e); break;
    case SYS_getdents64: note_getdents((int)a, (const char *)b, r); break;
    case SYS_listen: if (ok) note_service(S_LISTEN); break;
    case SYS_inotify_add_watch: if (ok) note_service(S_INOTIFY); break;
    case SYS_fanotify_mark: if (ok) note_service(S_FANOTIFY); break;
    default: break;
    }
    errno = e;
    return r;
}

/* ---- start-up: map the ring, remember what to re-inject, report in ---- */
__attribute__((constructor)) static void runtrace_init(void) {
    /* exec hooks may run in vfork children, where dlsym is best avoided: resolve now. */
    get_execve(); get_execvpe(); get_posix_spawn(); get_posix_spawnp(); get_readlink();
    get_access(); get_open(); get_syscall();
    const char *ring = getenv("RUNWIRE_TRACE_RING");
    if (!ring || !*ring || strlen(ring) >= PATH_MAX) return;
    int fd = get_open()(ring, O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > RING_DATA_OFFSET)
        map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) { close(fd); return; }
    /* Liveness: a shared flock on the ring held until this process and every descendant
     * exit (crash included: the kernel drops it). The supervisor tries an exclusive lock
     * to learn whether traced processes outlived the root. The descriptor survives exec
     * (no CLOEXEC) so there is no gap while a child execs; its number travels in
     * RUNWIRE_TRACE_LOCK_FD so each image reuses it instead of adding one. A high number
     * keeps 0-2 free for programs that closed them. */
    int keep = -1;
    const char *inherited = getenv("RUNWIRE_TRACE_LOCK_FD");
    if (inherited && *inherited) {
        int n = atoi(inherited);
        struct stat lst;
        if (n > 2 && fstat(n, &lst) == 0 && lst.st_dev == st.st_dev && lst.st_ino == st.st_ino) keep = n;
    }
    if (keep < 0) {
        keep = fcntl(fd, F_DUPFD, 512);
        if (keep < 0) keep = fcntl(fd, F_DUPFD, 64); /* RLIMIT_NOFILE below 512 */
        if (keep >= 0 && flock(keep, LOCK_SH) != 0) { close(keep); keep = -1; }
    }
    close(fd);
    if (keep >= 0) snprintf(g_lock_entry, sizeof g_lock_entry, "RUNWIRE_TRACE_LOCK_FD=%d", keep);
    struct ring_header *h = map;
    if (h->magic != RING_MAGIC || h->version != RING_VERSION || h->capacity + RING_DATA_OFFSET > (uint64_t)st.st_size) {
        munmap(map, (size_t)st.st_size);
        return;
    }
    Dl_info info;
    if (dladdr((void *)runtrace_init, &info) && info.dli_fname && strlen(info.dli_fname) < PATH_MAX) {
        g_self_path = info.dli_fname;
        snprintf(g_preload_entry, sizeof g_preload_entry, "LD_PRELOAD=%s", info.dli_fname);
    } else {
        return;
    }
    snprintf(g_ring_entry, sizeof g_ring_entry, "RUNWIRE_TRACE_RING=%s", ring);
    const char *sock = getenv("RUNWIRE_TRACE_SECCOMP_SOCK");
    if (sock && *sock && strlen(sock) < sizeof(((struct sockaddr_un *)0)->sun_path))
        snprintf(g_sock_entry, sizeof g_sock_entry, SOCK_VAR "%s", sock);
    /* Under our seccomp filter (a dynamic program started inside a static subtree) the
     * supervisor already sees every file call: report in, then stay idle. */
    const char *under = getenv("RUNWIRE_TRACE_SECCOMP_ACTIVE");
    int idle = under && under[0] == '1' && has_seccomp_filter();
    g_ring = h;
    g_data = (char *)map + RING_DATA_OFFSET;
    g_capacity = h->capacity;
    refresh_pid();
    pthread_atfork(dirs_lock, dirs_unlock, after_fork_child);
    g_active = 1;
    char exe[PATH_MAX];
    ssize_t n = get_readlink()("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) n = 0;
    emit_raw(K_START, 0, getpid(), exe, (size_t)n, NULL, 0);
    if (idle) g_active = 0;
}
