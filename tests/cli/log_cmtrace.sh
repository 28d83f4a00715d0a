#!/bin/bash
# --log FILE on every command: CMTrace lines, the terminal's messages
# (distmgr-style for snapshot), warnings type 2, errors type 3; appended.
. "$CMHASH_TESTLIB"
set -e
SRC=$SCRATCH/src
LIB=$SCRATCH/lib
LOG=$SCRATCH/cmhash.log
mkdir -p "$SRC"
printf 'a' >"$SRC/a.txt"
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB" --no-fsync --quiet --log "$LOG"
H=$("$CMHASH" hash "$SRC" | cut -d' ' -f1)
expect_rc 0 "$CMHASH" ls --log="$LOG" --lib "$LIB"
expect_rc 0 "$CMHASH" extract MSC00001 "$SCRATCH/x" --lib "$LIB" --log "$LOG"
expect_rc 0 "$CMHASH" diff MSC00001 "$SCRATCH/x" --lib "$LIB" --log "$LOG"
expect_rc 2 "$CMHASH" extract BAD "$SCRATCH/y" --lib "$LIB" --log "$LOG"
expect_rc 0 "$CMHASH" hash "$SRC/a.txt" --log "$LOG"

re='^<!\[LOG\[.*\]LOG\]!><time="[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}\+000" date="[01][0-9]-[0-3][0-9]-20[0-9]{2}" component="cmhash" context="" type="[123]" thread="[0-9]+" file="">$'
bad=$(grep -Evc "$re" "$LOG" || true)
[ "$bad" = 0 ] || fail "$bad lines not in CMTrace format: $(grep -Ev "$re" "$LOG" | head -2)"
grep -q "^<!\[LOG\[The hash for algorithm 32780 is $H\]LOG\]!>.*type=\"1\"" "$LOG" || fail "snapshot message"
grep -q '^<!\[LOG\[Taking package snapshot for package MSC00001 from source' "$LOG" || fail "snapshot start"
grep -q '^<!\[LOG\[Total: 1 packages' "$LOG" || fail "ls total"
grep -q '^<!\[LOG\[Extracted content MSC00001.1 to ' "$LOG" || fail "extract"
grep -q '^<!\[LOG\[No differences\]LOG' "$LOG" || fail "diff"
grep -q "^<!\[LOG\['BAD' is not a content ID.*type=\"3\"" "$LOG" || fail "error line type 3"
grep -q '^<!\[LOG\[extract finished with exit code 2\]LOG.*type="3"' "$LOG" || fail "exit line"
[ "$(grep -c 'Started: [^ ]*cmhash ' "$LOG")" = 6 ] || fail "one start line per run"
[ "$(date -u +%m-%d-%Y)" = "$(tail -1 "$LOG" | sed 's/.*date="\([^"]*\)".*/\1/')" ] || fail "date is not today (UTC)"
# a line cannot break out of its LOG[ ] or span lines
mkdir -p "$SCRATCH/evil]LOG]!>"
expect_rc 3 "$CMHASH" diff "$SCRATCH/evil]LOG]!>/nope" "$SRC" --log "$LOG"
[ "$(grep -Evc "$re" "$LOG" || true)" = 0 ] &&
    [ "$(grep -c ']LOG]!>.*]LOG]!>' "$LOG" || true)" = 0 ] || fail "message broke the format"
grep -q 'evil]LOG] !>/nope' "$LOG" || fail "neutralised marker"
# bad --log
expect_rc 2 "$CMHASH" ls --lib "$LIB" --log
expect_rc 5 "$CMHASH" ls --lib "$LIB" --log "$SCRATCH/no/such/dir/log"
echo "$ERR" | grep -q "cannot open log file $SCRATCH/no/such/dir/log" || fail "msg: $ERR"
finish
