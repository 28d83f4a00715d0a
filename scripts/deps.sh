#!/usr/bin/env bash
# Install what cmhash needs to build and test, from Debian's packages,
# plus any package named on the command line.
# Installs only what is missing; needs root (or sudo) when something is.
set -euo pipefail
# The last line: the anchor tools bench_short (in the default ctest set)
# compares against; bench/setup.sh adds gnuplot for the full driver's charts.
pkgs=(build-essential cmake pkg-config libssl-dev librsync-dev libinih-dev
      libcmocka-dev liburing-dev rdiff python3 attr util-linux
      time hashdeep rhash b3sum openssl)
pkgs+=("$@") # extra packages named by the caller (bench/setup.sh)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
