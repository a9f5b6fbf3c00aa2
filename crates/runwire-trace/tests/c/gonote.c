/* Carries the ELF note the Go linker writes (name "Go\0\0", namesz 4, type 4: build id), as a dynamic
 * cgo-enabled Go binary would: the tracer must treat it as bypassing libc. */
struct go_note {
    unsigned namesz, descsz, type;
    char name[4];
    char desc[8];
};
__attribute__((section(".note.go.buildid"), used, aligned(4)))
static const struct go_note note = {4, 8, 4, "Go", "buildid"};

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A system call instruction inline, as Go's runtime makes them: neither libc's wrappers
 * nor syscall() (both of which the shim hooks) are involved. */
static long raw_openat(int dirfd, const char *path, int flags) {
#if defined(__x86_64__)
    long r;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_openat), "D"((long)dirfd), "S"(path), "d"((long)flags), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
#else
    return syscall(SYS_openat, dirfd, path, flags, 0);
#endif
}

/* With an argument, opens it the way Go does. */
int main(int argc, char **argv) {
    if (argc > 1 && raw_openat(AT_FDCWD, argv[1], O_RDONLY | O_CLOEXEC) < 0) return 3;
    return 0;
}
