/* Removes the tracer's variables from its own environment, then runs children through
 * system() and popen(), which spawn /bin/sh inside libc. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    unsetenv("LD_PRELOAD");
    unsetenv("RUNWIRE_TRACE_RING");
    if (system("cat in.txt > /dev/null") != 0) return 2;
    FILE *p = popen("cat in2.txt", "r");
    if (!p) return 3;
    char buf[64];
    while (fgets(buf, sizeof buf, p)) {}
    return pclose(p) == 0 ? 0 : 4;
}
