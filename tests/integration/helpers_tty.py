"""Running a command on a real pseudo-terminal (pty.fork), answering its prompts: for
the commands that ask a password on /dev/tty without echo (`deardiary user`, `login`)."""
import os
import pty
import select
import time


def run_on_tty(argv, replies, env=None, timeout=20):
    """Run argv with a pty as its controlling terminal; each time a prompt (": ") appears,
    write the next of `replies` (bytes, without the newline). Returns (exit code, bytes the
    terminal showed, number of replies given). The child is killed after `timeout`."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env if env is not None else os.environ)
    out, answered, deadline = b"", 0, time.time() + timeout
    while time.time() < deadline:
        if answered < out.count(b": ") and answered < len(replies):
            os.write(fd, replies[answered] + b"\n")
            answered += 1
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:     # the child closed the terminal: it exited
            break
        if not chunk:
            break
        out += chunk
    if time.time() >= deadline:   # never wait forever for a stuck prompt
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out, answered
