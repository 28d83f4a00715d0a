# Issue 12 item 4: the man page, `cmhash help CMD`, README and the bash
# completion list the same options for every command. Each source is
# parsed independently:
#   help        lines of `cmhash help CMD` that start with "  --OPT"
#   man page    the .SS section of the command (\-\- tokens)
#   README      the synopsis lines "cmhash CMD ..." in code blocks (and
#               their indented continuation lines)
#   completion  what _cmhash offers after "cmhash CMD --"
# --help and --log (every command, documented once) are left out.
. "$CMHASH_TESTLIB"
set -e
ROOT=$(cd "$(dirname "$CMHASH_TESTLIB")/../.." && pwd)
CMDS="snapshot hash verify ls extract diff delta patch gc status bench"

for c in $CMDS; do
    "$CMHASH" help "$c" >"$SCRATCH/help-$c.txt"
    # bash completion: simulate "cmhash CMD --<TAB>"
    bash -c '. "$1"; COMP_WORDS=(cmhash "$2" --); COMP_CWORD=2; _cmhash
             printf "%s\n" "${COMPREPLY[@]}"' _ \
        "$ROOT/contrib/bash-completion/cmhash" "$c" >"$SCRATCH/comp-$c.txt"
done

cat >"$SCRATCH/agree.py" <<'PY'
import re, sys
root, scratch, cmds = sys.argv[1], sys.argv[2], sys.argv[3:]
GLOBAL = {"--help", "--log"}
OPT = re.compile(r"--[a-z][a-z0-9-]*")

def from_help(c):
    s = set()
    for line in open("%s/help-%s.txt" % (scratch, c)):
        m = re.match(r"\s+(--[a-z][a-z0-9-]*)", line)
        if m:
            s.add(m.group(1))
    return s - GLOBAL

def from_comp(c):
    return set(l.strip() for l in open("%s/comp-%s.txt" % (scratch, c))
               if l.strip()) - GLOBAL

man = open(root + "/docs/cmhash.1", encoding="utf-8").read()
def from_man(c):
    m = re.search(r"^\.SS %s\b.*?(?=^\.S[SH] )" % re.escape(c), man,
                  re.S | re.M)
    if not m:
        return None
    return set(OPT.findall(m.group(0).replace("\\-", "-"))) - GLOBAL

readme = open(root + "/README.md", encoding="utf-8").read()
def from_readme(c):
    s, found = set(), False
    for block in re.findall(r"^```[a-z]*\n(.*?)^```$", readme, re.S | re.M):
        cur = None
        for line in block.splitlines():
            m = re.match(r"cmhash (\S+)", line)
            if m:
                cur = m.group(1)
            elif not line.startswith(" "):
                cur = None
            if cur == c:
                found = True
                s |= set(OPT.findall(line))
    return (s - GLOBAL) if found else None

bad = 0
for c in cmds:
    h, m, r, k = from_help(c), from_man(c), from_readme(c), from_comp(c)
    for name, other in (("man page", m), ("README", r), ("completion", k)):
        if other is None:
            print("%s: no section for it in the %s" % (c, name))
            bad += 1
        elif other != h:
            print("%s: %s differs from `cmhash help %s`: missing %s, extra %s"
                  % (c, name, c, sorted(h - other), sorted(other - h)))
            bad += 1
    if not h:
        print("%s: help lists no options" % c)
        bad += 1
print("%d commands, %d disagreements" % (len(cmds), bad))
sys.exit(1 if bad else 0)
PY
TESTS_RUN=$((TESTS_RUN + 1))
python3 "$SCRATCH/agree.py" "$ROOT" "$SCRATCH" $CMDS && ok "options agree" ||
    fail "option lists disagree (see above)"
finish
