#!/usr/bin/env bash
# Install the benchmark driver's anchor tools and chart renderer (Debian).
# Installs only what is missing; needs root (or sudo) when something is.
# The driver reports any tool still missing as "absent" and goes on.
set -euo pipefail
pkgs=(time hashdeep rhash b3sum gnuplot-nox rdiff coreutils findutils
      python3 openssl)
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
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null
fi
