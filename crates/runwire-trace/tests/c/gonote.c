/* Carries the ELF note a Go toolchain writes (name "Go", type 4: build id), as a dynamic
 * cgo-enabled Go binary would: the tracer must treat it as bypassing libc. */
struct go_note {
    unsigned namesz, descsz, type;
    char name[4];
    char desc[8];
};
__attribute__((section(".note.go.buildid"), used, aligned(4)))
static const struct go_note note = {3, 8, 4, "Go", "buildid"};

int main(void) { return 0; }
