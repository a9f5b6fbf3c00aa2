/* dlopen by bare name (found through this program's RUNPATH $ORIGIN/lib: only works if the
 * shim keeps the caller the caller) and by path (recorded as a read). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
    void *a = dlopen("libdlx.so", RTLD_NOW);
    if (!a) { fprintf(stderr, "bare: %s\n", dlerror()); return 2; }
    void *b = dlopen(argv[1], RTLD_NOW);
    if (!b) { fprintf(stderr, "path: %s\n", dlerror()); return 3; }
    int (*f)(void) = (int (*)(void))dlsym(b, "dlx_answer");
    return f && f() == 42 ? 0 : 4;
}
