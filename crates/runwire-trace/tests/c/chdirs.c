/* Moves around with chdir and fchdir, opening the same relative name after each move, and
 * takes fstat of an open file (AT_EMPTY_PATH: no path, not a record of its own). Threads:
 * a second thread opens relative names after the main thread's chdir (they share it). */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static void touch_read(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        struct stat st;
        fstat(fd, &st);
        close(fd);
    }
}

static void *worker(void *arg) {
    (void)arg;
    touch_read("t.txt");
    return 0;
}

int main(void) {
    touch_read("a.txt");
    if (chdir("one") != 0) return 1;
    touch_read("a.txt");
    int two = open("../two", O_RDONLY | O_DIRECTORY);
    if (two < 0 || fchdir(two) != 0) return 2;
    close(two);
    touch_read("a.txt");
    if (chdir("/nonexistent-runwire-dir") == 0) return 3;
    touch_read("b.txt");
    if (chdir("../three") != 0) return 4;
    pthread_t t;
    if (pthread_create(&t, 0, worker, 0) != 0) return 5;
    pthread_join(t, 0);
    return 0;
}
