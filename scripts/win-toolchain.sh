#!/usr/bin/env bash
# Install what the Windows cross build and its Wine tests need (Debian
# packages), when missing: the mingw-w64 compiler and Wine. Needs root (or
# sudo) when something is missing. The Linux build never needs these.
set -euo pipefail
pkgs=(gcc-mingw-w64-x86-64 wine64 cmake make)
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
