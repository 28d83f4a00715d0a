#!/usr/bin/env python3
"""Scale corpus helper (bench/scale.sh): (re)write a source tree of COUNT
tiny files whose bytes are unique to TAG, so every file of every package is
a distinct FileLib entry.  Files go 1000 to a folder (d00000/f000..f999);
an existing tree of the same shape is rewritten in place (same names, new
bytes), which keeps the generator I/O-light between packages.

usage: scale_gen.py DIR COUNT TAG
"""
import os
import sys


def main():
    root, count, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    per_dir = 1000
    for i in range(count):
        d, f = divmod(i, per_dir)
        if f == 0:
            os.makedirs(os.path.join(root, "d%05d" % d), exist_ok=True)
        path = os.path.join(root, "d%05d" % d, "f%03d" % f)
        # Same length for every TAG and no O_TRUNC: ext4 flushes a file
        # truncated to zero and rewritten on close (auto_da_alloc), which
        # made an in-place rewrite of 50,000 files take minutes, not seconds.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"%-12s %09d\n" % (tag.encode()[:12], i))
        os.close(fd)


if __name__ == "__main__":
    main()
