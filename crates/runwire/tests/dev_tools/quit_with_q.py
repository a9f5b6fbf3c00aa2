# Runs argv[1:] on a pseudo-terminal (vite binds its keyboard shortcuts only on a TTY), waits
# for vite's shortcut hint, types "q" + Enter and exits with the program's status.
# A safety net, not a measurement: with no hint after 120 s the program is killed and the
# script fails, instead of hanging the test suite.
import os, pty, select, signal, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
seen, typed = b"", False
while True:
    ready, _, _ = select.select([fd], [], [], 120)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.exit("quit_with_q.py: no keyboard-shortcut hint from the program in 120 s")
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
