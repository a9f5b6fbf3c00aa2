/* A tiny library for the dlopen test. */
int dlx_answer(void) { return 42; }
