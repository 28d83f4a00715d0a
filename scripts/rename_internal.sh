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

names=$(LC_ALL=C comm -23 <(echo "$defined") <(echo "$public"))
if [ "${1:-}" = --list ]; then
    echo "$names"
    exit 0
fi
[ -n "$names" ] || { echo "rename_internal: nothing to rename"; exit 0; }

files=$(git ls-files engine include cli tests bench docs examples README.md |
    grep -E '\.(c|h|md|sh|py|txt|1|in)$' |
    grep -vE '^tests/(fuzz/corpus|vectors|fixtures)/')

# a new name must not exist yet, and an old one must not be in the public
# headers in any role (a tag or type there would change the API). A tag
# that shares an internal name is renamed with it (win32_posix.h's
# struct cmh_w_stat and cmh_w_stat(), both behind "#define stat").
for n in $names; do
    new=cmh__${n#cmh_}
    if grep -qw -- "$new" $files; then
        echo "rename_internal: $new already exists; rename $n by hand" >&2
        exit 1
    fi
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
