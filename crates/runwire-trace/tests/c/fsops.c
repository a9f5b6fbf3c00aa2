/* Relative paths after chdir and through a dirfd, plus statx through syscall(). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    if (chdir("sub") != 0) return 10;
    int fd = open("f.txt", O_RDONLY);          /* -> <root>/sub/f.txt, read */
    if (fd < 0) return 11;
    close(fd);
    int dir = open("../other", O_RDONLY | O_DIRECTORY); /* -> <root>/other, stat */
    if (dir < 0) return 12;
    fd = openat(dir, "g.txt", O_RDONLY);       /* -> <root>/other/g.txt, read */
    if (fd < 0) return 13;
    close(fd);
    struct stat st;
    if (fstatat(dir, "missing", &st, 0) == 0) return 14; /* -> <root>/other/missing, not found */
    fd = openat(dir, "new.txt", O_WRONLY | O_CREAT | O_EXCL, 0644); /* -> create */
    if (fd < 0) return 15;
    close(fd);
    if (unlinkat(dir, "new.txt", 0) != 0) return 16; /* -> delete */
    char buf[256];
    if (syscall(SYS_statx, dir, "g.txt", 0, 0x7ff, buf) != 0) return 17; /* -> stat */
    if (fchdir(dir) != 0) return 18;
    if (access("h.txt", F_OK) == 0) return 19;  /* -> <root>/other/h.txt, not found */
    return 0;
}
