#!/usr/bin/env python3
"""Independent checker of an SCCMContentLib against docs/FORMAT.md.

The oracle of the snapshot tests: it shares no code with the engine. It
re-reads every byte the writer fixes (section 3), hashes every FileLib file a
live content uses, recomputes content and signature hashes (sections 5, 6.2)
and checks the reference lists (3.4).

usage: libcheck.py LIB [--strict] [--allow-temps] [--allow-orphan-files] [--rdiff]
                       [--expect PKG=VER:HASH[,VER:HASH...]]...
       libcheck.py --selftest VECTORS_DIR

Valid (exit 0) means: every package in PkgLib resolves to one complete
content whose files are all in FileLib with the right size and SHA-256 and
whose INIs are byte-exact; leftovers are only warnings: .cmhash-tmp-* temps,
orphan files and contents, dangling references. --strict turns every warning
into an error (except temps with --allow-temps, and FileLib data or .SIG
files that no reference list names with --allow-orphan-files: both are
gc's work after a crash): the library must be exactly what a clean run
writes. --expect pins a package to one of the listed
versions, each with its content hash. --rdiff compares each live .SIG with
`rdiff signature`. Exit 1: invalid; 2: usage.
"""
import hashlib
import os
import re
import subprocess
import sys

HEX64 = re.compile(r"[0-9A-F]{64}")
PKGID = re.compile(r"[A-Z0-9]{3}[0-9A-F]{5}")
CID = re.compile(r"([A-Z0-9]{3}[0-9A-F]{5})\.([1-9][0-9]*)")
TMP = ".cmhash-tmp-"
HASH_OR_SIG = tuple("0123456789ABCDEF") + (".SIG",)

CONTENT_INI = re.compile(
    rb"\[Info\]\r\nHash=([0-9A-F]{64})\r\nHashAlgorithm=32780\r\n"
    rb"\[cmhash\]\r\nSignatureHash=([0-9A-F]{64})\r\nFiles=(0|[1-9][0-9]*)\r\n"
    rb"Folders=(0|[1-9][0-9]*)\r\nBytes=(0|[1-9][0-9]*)\r\n"
    rb"(?:Source=([^\r\n]*)\r\n)?Created=([1-9][0-9]*)\r\n\Z")
FILE_INI = re.compile(
    rb"\[File\]\r\nAttributes=([0-9A-F]{8})\r\nSize=(0|[1-9][0-9]*)\r\n"
    rb"TimeModified=(0|[1-9][0-9]*)\r\nHash=([0-9A-F]{64})\r\n\Z")


# ---- content hash (section 5) ----

def simple_upper(c):
    if ord(c) > 0xFFFF:
        return c
    u = c.upper()
    return u if len(u) == 1 else c  # simple mapping only: no 'SS' for ß


def simple_lower(c):
    if ord(c) > 0xFFFF:
        return c
    if c == "\u0130":
        return "i"  # simple mapping (full mapping adds U+0307)
    lo = c.lower()
    return lo if len(lo) == 1 else c


def ntfs_key(name):
    u = "".join(simple_upper(c) for c in name).encode("utf-16-le")
    return [u[i] | u[i + 1] << 8 for i in range(0, len(u), 2)]


def content_hash(tree, use_sig=False):
    """tree: {'dirs': {name: tree}, 'files': {name: (sha_hex, sig_hex)}}"""
    h = hashlib.sha256()

    def emit(s):
        h.update(s.encode("utf-16-le", "surrogatepass"))

    def lower(s):
        return "".join(simple_lower(c) for c in s)

    def visit(t, rel):
        ds = sorted(t["dirs"], key=ntfs_key)
        fs = sorted(t["files"], key=ntfs_key)
        j = (lambda x: x) if rel == "" else (lambda x: rel + "\\" + x)
        for d in ds:
            emit(lower(j(d)))
        for f in fs:
            emit(lower(j(f)))
        for f in fs:
            emit(t["files"][f][1 if use_sig else 0])
        for d in ds:
            visit(t["dirs"][d], j(d))

    visit(tree, "")
    return h.hexdigest().upper()


def selftest(vdir):
    bad = 0
    names = sorted(n for n in os.listdir(vdir) if n.endswith(".tree"))
    for n in names:
        tree = {"dirs": {}, "files": {}}
        want = None

        def node(path, create_file=None):
            t = tree
            parts = path.split("/")
            last = parts.pop() if create_file is not None else None
            for p in parts:
                t = t["dirs"].setdefault(p, {"dirs": {}, "files": {}})
            if last is not None:
                t["files"][last] = (create_file, "")

        with open(os.path.join(vdir, n), encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                kind, rest = line.split(" ", 1)
                if kind == "dir":
                    node(rest)
                elif kind == "file":
                    path, spec = rest.rsplit(" ", 1)
                    if spec == "-":
                        data = b""
                    elif spec.startswith("repeat:"):
                        _, xx, cnt = spec.split(":")
                        data = bytes([int(xx, 16)]) * int(cnt)
                    else:
                        data = bytes.fromhex(spec)
                    node(path, hashlib.sha256(data).hexdigest().upper())
                elif kind == "content-hash":
                    want = rest.strip()
        got = content_hash(tree)
        if got != want:
            print("selftest FAIL %s: got %s want %s" % (n, got, want))
            bad += 1
    print("selftest: %d vectors, %d failed" % (len(names), bad))
    return 1 if bad or not names else 0


# ---- library check ----

class Check:
    def __init__(self, lib, strict, allow_temps, allow_orphan_files=False):
        self.allow_orphan_files = allow_orphan_files
        self.lib = lib
        self.strict = strict
        self.allow_temps = allow_temps
        self.errors = 0
        self.warnings = 0
        self.sha_cache = {}

    def error(self, code, path, msg):
        self.errors += 1
        print("ERROR %s %s: %s" % (code, path, msg))

    def warn(self, code, path, msg):
        if (code == "TEMP" and self.allow_temps) or \
                (code == "ORPHAN_FILE" and self.allow_orphan_files and
                 path.endswith(HASH_OR_SIG)):
            print("note %s %s: %s" % (code, path, msg))
            return
        if self.strict:
            self.error(code, path, msg + " (strict)")
            return
        self.warnings += 1
        print("warning %s %s: %s" % (code, path, msg))

    def p(self, *parts):
        return os.path.join(self.lib, *parts)

    def file_sha(self, path):
        if path not in self.sha_cache:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
            self.sha_cache[path] = h.hexdigest().upper()
        return self.sha_cache[path]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def check_mirror(c, cid, root):
    """Walk DataLib/<cid>; return (tree, files, folders, bytes, hashes)."""
    tree = {"dirs": {}, "files": {}}
    stats = {"files": 0, "folders": 0, "bytes": 0}
    used = {}  # hash -> size

    def walk(dirpath, t, rel):
        names = os.listdir(dirpath)
        lower_seen = {}
        for nm in names:
            p = os.path.join(dirpath, nm)
            relp = rel + "/" + nm if rel else nm
            if os.path.islink(p):
                c.error("MIRROR_BAD", p, "symbolic link in the mirror")
                continue
            if os.path.isdir(p):
                stats["folders"] += 1
                sub = {"dirs": {}, "files": {}}
                t["dirs"][nm] = sub
                walk(p, sub, relp)
                key = nm.upper()
            elif os.path.isfile(p) and nm.endswith(".INI") and len(nm) > 4:
                data = read(p)
                m = FILE_INI.match(data)
                if not m:
                    c.error("FILE_INI_BAD", p, "not the exact [File] layout: %r"
                            % data[:200])
                    continue
                size, h = int(m.group(2)), m.group(4).decode()
                stats["files"] += 1
                stats["bytes"] += size
                t["files"][nm[:-4]] = (h, None)
                if h in used and used[h] != size:
                    c.error("FILE_INI_BAD", p, "size %d differs from another "
                            "file with hash %s" % (size, h))
                used[h] = size
                key = nm.upper()
            else:
                c.error("MIRROR_BAD", p, "not a folder or a .INI file")
                continue
            if key in lower_seen:
                c.error("MIRROR_BAD", p, "collides with " + lower_seen[key])
            lower_seen[key] = nm

    walk(root, tree, "")
    return tree, stats, used


def check(lib, strict, allow_temps, expects, do_rdiff, allow_orphan_files):
    c = Check(lib, strict, allow_temps, allow_orphan_files)
    for d in ("PkgLib", "DataLib", "FileLib"):
        if not os.path.isdir(c.p(d)):
            c.error("LIB_LAYOUT", c.p(d), "missing")
    if c.errors:
        return c

    # PkgLib
    live = {}  # cid -> pkgid
    packages = {}
    for nm in sorted(os.listdir(c.p("PkgLib"))):
        p = c.p("PkgLib", nm)
        if nm.startswith(TMP):
            c.warn("TEMP", p, "leftover temp")
            continue
        if nm == ".cmhash-lib.lock" or (nm.endswith(".lock") and
                                        PKGID.fullmatch(nm[:-5])):
            continue
        if not (nm.endswith(".INI") and PKGID.fullmatch(nm[:-4])):
            c.warn("STRAY", p, "unexpected entry")
            continue
        pkg = nm[:-4]
        data = read(p)
        m = re.fullmatch(rb"\[Packages\]\r\n(%s)\.([1-9][0-9]*)=\r\n\[Info\]"
                         rb"\r\nVersion=([1-9][0-9]*)\r\n" % pkg.encode(), data)
        if not m or m.group(2) != m.group(3):
            c.error("PKG_INI_BAD", p, "not the exact PkgLib layout: %r" % data)
            continue
        ver = int(m.group(2))
        cid = "%s.%d" % (pkg, ver)
        packages[pkg] = ver
        live[cid] = pkg

    for pkg, want in expects.items():
        if pkg not in packages:
            c.error("EXPECT", pkg, "package missing from PkgLib")

    # live contents
    uses = {}  # hash -> set of live cids
    sizes = {}
    for cid in sorted(live):
        pkg = live[cid]
        ini = c.p("DataLib", cid + ".INI")
        root = c.p("DataLib", cid)
        if not os.path.isfile(ini) or not os.path.isdir(root):
            c.error("PKG_CONTENT_MISSING", cid, "DataLib INI or folder missing")
            continue
        data = read(ini)
        m = CONTENT_INI.match(data)
        if not m:
            c.error("CONTENT_INI_BAD", ini, "not the exact layout: %r" % data)
            continue
        tree, stats, used = check_mirror(c, cid, root)
        for k, g in (("files", 3), ("folders", 4), ("bytes", 5)):
            if int(m.group(g)) != stats[k]:
                c.error("CONTENT_INI_BAD", ini, "%s=%s but the mirror has %d"
                        % (k, m.group(g).decode(), stats[k]))
        complete = True
        for h, size in sorted(used.items()):
            uses.setdefault(h, set()).add(cid)
            sizes[h] = size
            fp = c.p("FileLib", h[:4], h)
            if not os.path.isfile(fp) or os.path.islink(fp):
                c.error("FILE_MISSING", fp, "used by " + cid)
                complete = False
                continue
            if os.path.getsize(fp) != size:
                c.error("FILE_SIZE_MISMATCH", fp, "%d bytes, %s says %d"
                        % (os.path.getsize(fp), cid, size))
                complete = False
                continue
            if c.file_sha(fp) != h:
                c.error("FILE_HASH_MISMATCH", fp, "SHA-256 is " + c.file_sha(fp))
                complete = False
            sp = fp + ".SIG"
            if not os.path.isfile(sp):
                c.warn("SIG_MISSING", sp, "used by " + cid)
                complete = False
            elif do_rdiff:
                want = subprocess.run(["rdiff", "signature", fp, "-"],
                                      stdout=subprocess.PIPE,
                                      check=True).stdout
                if read(sp) != want:
                    c.error("SIG_BAD", sp, "differs from rdiff signature")
            ip = fp + ".INI"
            if not os.path.isfile(ip) or \
                    (cid + "=").encode() not in read(ip).split(b"\r\n")[1:]:
                c.error("REF_MISSING", ip, "does not list " + cid)
        if not complete:
            continue
        for h in used:
            sp = c.p("FileLib", h[:4], h + ".SIG")
            tree_set_sig(tree, h, c.file_sha(sp))
        got = content_hash(tree)
        if got != m.group(1).decode():
            c.error("CONTENT_HASH_MISMATCH", ini, "recomputed %s" % got)
        gots = content_hash(tree, use_sig=True)
        if gots != m.group(2).decode():
            c.error("SIG_HASH_MISMATCH", ini, "recomputed %s" % gots)
        if pkg in expects:
            ok = expects[pkg]
            ver = int(cid.split(".")[1])
            if ver not in ok:
                c.error("EXPECT", cid, "version %d, expected one of %s"
                        % (ver, sorted(ok)))
            elif ok[ver] and ok[ver] != got:
                c.error("EXPECT", cid, "content hash %s, expected %s"
                        % (got, ok[ver]))

    # DataLib leftovers
    for nm in sorted(os.listdir(c.p("DataLib"))):
        p = c.p("DataLib", nm)
        if nm.startswith(TMP):
            c.warn("TEMP", p, "leftover temp")
            continue
        base = nm[:-4] if nm.endswith(".INI") else nm
        if not CID.fullmatch(base):
            c.warn("STRAY", p, "unexpected entry")
        elif base not in live:
            c.warn("ORPHAN_CONTENT", p, "no PkgLib INI lists " + base)

    # FileLib
    for h4 in sorted(os.listdir(c.p("FileLib"))):
        d = c.p("FileLib", h4)
        if h4.startswith(TMP):
            c.warn("TEMP", d, "leftover temp")
            continue
        if not re.fullmatch(r"[0-9A-F]{4}", h4) or not os.path.isdir(d):
            c.warn("STRAY", d, "unexpected entry")
            continue
        names = set(os.listdir(d))
        if not names:  # left by retirement on purpose (docs/FORMAT.md)
            print("note EMPTY_H4 %s: empty folder" % d)
        hashes = set()
        for nm in names:
            if nm.startswith(TMP):
                c.warn("TEMP", os.path.join(d, nm), "leftover temp")
                continue
            base = nm[:-4] if nm.endswith((".INI", ".SIG")) else nm
            if not HEX64.fullmatch(base) or base[:4] != h4:
                c.warn("STRAY", os.path.join(d, nm), "unexpected entry")
                continue
            hashes.add(base)
        for h in sorted(hashes):
            fp = os.path.join(d, h)
            users = uses.get(h, set())
            if h not in names:
                if not users:  # (a live user already reported FILE_MISSING)
                    c.warn("ORPHAN_FILE", fp + (".INI" if h + ".INI" in names
                                                else ".SIG"),
                           "INI or SIG without the file")
                continue
            if h + ".INI" not in names:
                if not users:
                    c.warn("ORPHAN_FILE", fp, "no reference list")
                continue
            if h + ".SIG" not in names and not users:
                c.warn("SIG_MISSING", fp + ".SIG", "no signature")
            ip = fp + ".INI"
            data = read(ip)
            m = re.fullmatch(rb"\[File\]\r\n((?:[^\r\n=]+=\r\n)*)", data)
            if not m:
                c.error("FILE_INI_BAD", ip, "not the exact layout: %r"
                        % data[:300])
                continue
            ids = [x[:-1].decode() for x in m.group(1).split(b"\r\n") if x]
            if ids != sorted(set(ids), key=lambda s: s.encode()):
                c.error("FILE_INI_BAD", ip, "references not sorted and "
                        "unique: %s" % ids)
            if not ids:
                c.warn("ORPHAN_FILE", ip, "empty reference list")
            for cid in ids:
                if cid not in users:
                    c.warn("REF_DANGLING", ip, "lists %s, which does not use "
                           "it" % cid)
            if not users:
                c.warn("ORPHAN_FILE", fp, "no live content uses it")
    return c


def tree_set_sig(t, h, sig):
    for nm, (fh, fs) in list(t["files"].items()):
        if fh == h:
            t["files"][nm] = (fh, sig)
    for sub in t["dirs"].values():
        tree_set_sig(sub, h, sig)


def main(argv):
    if len(argv) >= 2 and argv[0] == "--selftest":
        return selftest(argv[1])
    lib = None
    strict = allow_temps = do_rdiff = allow_orphan_files = False
    expects = {}
    it = iter(argv)
    for a in it:
        if a == "--strict":
            strict = True
        elif a == "--allow-temps":
            allow_temps = True
        elif a == "--allow-orphan-files":
            allow_orphan_files = True
        elif a == "--rdiff":
            do_rdiff = True
        elif a == "--expect":
            pkg, rest = next(it).split("=", 1)
            vers = {}
            for item in rest.split(","):
                v, _, h = item.partition(":")
                vers[int(v)] = h.upper()
            expects[pkg] = vers
        elif lib is None:
            lib = a
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if lib is None:
        print(__doc__, file=sys.stderr)
        return 2
    c = check(lib, strict, allow_temps, expects, do_rdiff, allow_orphan_files)
    print("libcheck %s: %d errors, %d warnings" % (lib, c.errors, c.warnings))
    return 1 if c.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
