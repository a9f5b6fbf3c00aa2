/*
 * spawn_time OUTFILE PROGRAM [ARGS...]
 *
 * Runs PROGRAM (found on PATH) in the current directory with its stdout and stderr in
 * OUTFILE, prints its wall time in microseconds on stdout, and exits with its status (128 +
 * signal when it was killed). The clock runs from just before posix_spawn to waitpid:
 * opening OUTFILE, the shell that started this helper and its fork stay outside the
 * measurement, as with `hyperfine -N`. bench/peers.sh builds and uses it, so both tools it
 * compares are timed the same way and nothing else is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn_time OUTFILE PROGRAM [ARGS...]\n");
        return 2;
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "spawn_time: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fd, STDERR_FILENO);

    struct timespec start, end;
    pid_t pid;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = posix_spawnp(&pid, argv[2], &actions, NULL, argv + 2, environ);
    if (rc != 0) {
        fprintf(stderr, "spawn_time: %s: %s\n", argv[2], strerror(rc));
        return 2;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "spawn_time: waitpid: %s\n", strerror(errno));
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long us = (long long)(end.tv_sec - start.tv_sec) * 1000000 +
                   (end.tv_nsec - start.tv_nsec) / 1000;
    printf("%lld\n", us);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
