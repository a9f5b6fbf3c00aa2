/* Reads one file, writes another, then dies by SIGSEGV. */
#include <fcntl.h>
#include <unistd.h>

int main(void) {
    int fd = open("before.txt", O_RDONLY);
    if (fd >= 0) close(fd);
    fd = open("written.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) close(fd);
    *(volatile int *)0 = 1;
    return 0;
}
