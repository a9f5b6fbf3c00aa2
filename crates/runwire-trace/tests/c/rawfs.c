/* File calls made directly (openat/statx/getdents64 through syscall()) and through libc;
 * built both dynamic (traced by the shim) and -static (traced through seccomp), the
 * traces must agree. Run in a directory holding d/{a,b} and in.txt. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    char buf[4096];
    long fd = syscall(SYS_openat, AT_FDCWD, "in.txt", O_RDONLY);          /* read */
    if (fd < 0) return 10;
    if (read((int)fd, buf, sizeof buf) < 0) return 11;
    close((int)fd);
    if (syscall(SYS_openat, AT_FDCWD, "nothing.txt", O_RDONLY) >= 0) return 12; /* not found */
    long dir = syscall(SYS_openat, AT_FDCWD, "d", O_RDONLY | O_DIRECTORY);      /* stat */
    if (dir < 0) return 13;
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {}         /* list d */
    if (n < 0) return 14;
    if (syscall(SYS_statx, (int)dir, "a", 0, 0x7ff, buf) != 0) return 15;      /* stat d/a */
    if (syscall(SYS_statx, (int)dir, "zz", 0, 0x7ff, buf) == 0) return 16;     /* not found */
    fd = openat((int)dir, "new.txt", O_WRONLY | O_CREAT | O_EXCL, 0644);       /* create */
    if (fd < 0) return 17;
    if (write((int)fd, "x", 1) != 1) return 18;
    close((int)fd);
    close((int)dir);
    fd = open("out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);                  /* truncate */
    if (fd < 0) return 19;
    close((int)fd);
    if (mkdir("made", 0755) != 0) return 20;                                    /* create */
    if (rename("d/new.txt", "made/moved.txt") != 0) return 21;                  /* rename */
    if (symlink("in.txt", "link") != 0) return 22;                               /* create */
    if (readlink("link", buf, sizeof buf) < 0) return 23;                        /* read */
    if (access("gone.txt", F_OK) == 0) return 24;                                /* not found */
    if (unlink("d/b") != 0) return 25;                                           /* delete */
    if (truncate("out.txt", 0) != 0) return 26;                                  /* truncate */
    for (int i = 0; i < 2; i++) { /* not found + write, then read + write (appends keep the content) */
        fd = open("log.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || write((int)fd, "x", 1) != 1) return 28;
        close((int)fd);
    }
    fd = open("in.txt", O_RDWR); /* read + write */
    if (fd < 0) return 29;
    close((int)fd);
    struct stat st;
    if (lstat("link", &st) != 0) return 27;                                      /* stat */
    return 0;
}
