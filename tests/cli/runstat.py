#!/usr/bin/env python3
"""runstat.py OUT CMD...: run CMD; write to OUT "rc=R rchar=N maxrss_kb=M".

rchar (bytes the process read with read(2) and friends, /proc/PID/io) is
taken from the exited process before it is reaped (waitid WNOWAIT: the
zombie still has its totals), and maxrss (peak resident set, KiB) from
wait4's rusage. CMD's stdout/stderr pass through.
"""
import os
import sys


def main():
    out, cmd = sys.argv[1], sys.argv[2:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    io = {}
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            k, v = line.split(":")
            io[k.strip()] = int(v)
    _, status, ru = os.wait4(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        f.write("rc=%d rchar=%d maxrss_kb=%d\n" % (rc, io["rchar"],
                                                   ru.ru_maxrss))
    return 0


if __name__ == "__main__":
    sys.exit(main())
