#!/usr/bin/env bash
# Dev-only, issue 13 item 3 ("cmh__ for every internal name"): rename every
# engine function or global that is not static and not declared in a public
# header (include/cmhash/*.h) from cmh_xxx to cmh__xxx, in every source,
# test, benchmark and document of the tree. Re-runnable: names already
# cmh__xxx are left alone, so after merging branches that add new cmh_
# internals, run it again (then build and run the tests).
#   bash scripts/rename_internal.sh          rename
#   bash scripts/rename_internal.sh --list   only print the names
set -euo pipefail
cd "$(dirname "$0")/.."

# the API: every "cmh_name(" the public headers mention
public=$(cat include/cmhash/*.h | grep -oE '\bcmh_[a-z0-9_]+[[:space:]]*\(' |
    sed 's/[[:space:]]*($//' | LC_ALL=C sort -u)

# engine definitions at file scope (house style: the line that starts a
# definition begins in column 0 with its type), not static: functions
# ("type cmh_name(") and data ("type cmh_name[" or "type cmh_name =")
defined=$(git ls-files 'engine/*.c' | xargs grep -hE '^[a-zA-Z_]' |
    grep -vE '^(static|typedef|extern|#)' |
    grep -oE '\bcmh_[a-z0-9][a-z0-9_]*[[:space:]]*(\(|\[|=)' |
    sed -E 's/[[:space:]]*.$//' | LC_ALL=C sort -u)

# ... and those already renamed (cmh__name): after a merge, code from the
# other side may still call them by the old name
defined2=$(git ls-files 'engine/*.c' | xargs grep -hE '^[a-zA-Z_]' |
    grep -vE '^(static|typedef|extern|#)' |
    grep -oE '\bcmh__[a-z0-9][a-z0-9_]*[[:space:]]*(\(|\[|=)' |
    sed -E 's/[[:space:]]*.$//' | LC_ALL=C sort -u)
both=$(LC_ALL=C comm -12 <(echo "$defined") <(echo "$defined2" | sed 's/^cmh__/cmh_/'))
# (both names defined: after a merge, one side renamed a definition the
# other side still has, e.g. posix.c and aread_none.c; renamed alike)
[ -z "$both" ] || echo "rename_internal: also renaming" $both >&2
names=$( (echo "$defined"; echo "$defined2" | sed 's/^cmh__/cmh_/') |
    grep . | LC_ALL=C sort -u | LC_ALL=C comm -23 - <(echo "$public"))
if [ "${1:-}" = --list ]; then
    echo "$names"
    exit 0
fi
[ -n "$names" ] || { echo "rename_internal: nothing to rename"; exit 0; }

files=$(git ls-files engine include cli tests bench docs examples README.md |
    grep -E '\.(c|h|md|sh|py|txt|1|in)$' |
    grep -vE '^tests/(fuzz/corpus|vectors|fixtures)/')

# an old name must not be in the public headers in any role (a tag or
# type there would change the API). A tag that shares an internal name is
# renamed with it (win32_posix.h's struct cmh_w_stat and cmh_w_stat(), both
# behind "#define stat").
for n in $names; do
    if grep -qw -- "$n" include/cmhash/*.h; then
        echo "rename_internal: $n is in a public header; not renamed" >&2
        exit 1
    fi
done

alt=$(echo "$names" | sed 's/^cmh_//' | paste -sd'|')
# shellcheck disable=SC2086
perl -pi -e "s/\\bcmh_($alt)\\b/cmh__\$1/g" $files
echo "rename_internal: renamed $(echo "$names" | wc -l) names in" \
    "$(git diff --name-only | wc -l) files"
