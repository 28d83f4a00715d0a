#!/usr/bin/env bash
# Install what the Windows cross build and its Wine tests need, when
# missing: the Linux build's packages (scripts/deps.sh: the Wine tests
# compare with the Linux cmhash) plus the mingw-w64 compiler and Wine.
# The Linux build never needs the last two.
set -euo pipefail
exec bash "$(dirname "$0")/deps.sh" gcc-mingw-w64-x86-64 wine64
