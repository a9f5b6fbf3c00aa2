/* Behaves like a server and a watcher for an instant: listen() on a TCP socket (port chosen
 * by the kernel), an inotify watch on ".", and with argument "fanotify" a fanotify mark on
 * "." too (needs CAP_SYS_ADMIN). Everything is closed again; exit 0. */
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || listen(s, 1) != 0) return 2;
    close(s);
    int in = inotify_init1(IN_CLOEXEC);
    if (in < 0 || inotify_add_watch(in, ".", IN_MODIFY) < 0) return 3;
    close(in);
    if (argc > 1 && strcmp(argv[1], "fanotify") == 0) {
        int fa = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
        if (fa < 0 || fanotify_mark(fa, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, ".") != 0) return 4;
        close(fa);
    }
    return 0;
}
