# Runs argv[1:] on a pseudo-terminal (vite binds its keyboard shortcuts only on a TTY), waits
# for vite's shortcut hint, types "q" + Enter and exits with the program's status.
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
seen, typed = b"", False
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    sys.stdout.buffer.write(chunk)
    seen += chunk
    if not typed and b"h + enter" in seen:
        os.write(fd, b"q\n")
        typed = True
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
