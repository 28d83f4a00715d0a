#!/usr/bin/env bash
# Build cmhash's three dependencies for 64-bit Windows, statically, with
# mingw-w64 (issue 15): OpenSSL's libcrypto, librsync and inih, from the
# upstream source archives in $CMHASH_DEPS_SRC (default ../shared/third_party,
# see its README.md for versions, checksums and the recipe).
# Results go to a cache folder keyed by the archives' checksums and this
# recipe's version, so a second run reuses it (seconds, not minutes):
#   $CMHASH_WIN_DEPS_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/cmhash.
# The last line printed is the prefix (include/, lib/, lib64/) to hand to
# cmake as -DCMHASH_MINGW_PREFIX. Exit 2 when an archive is missing, 1 on
# any other failure. The Linux build never needs this script.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=${CMHASH_DEPS_SRC:-$here/../shared/third_party}
recipe=1 # bump when the build steps below change
declare -A want=(
  [openssl_3.0.22.orig.tar.gz]=67ebca7e50d17383028045486653492195b83db95f8558709701bb47b5c1ef81
  [librsync_2.3.2.orig.tar.gz]=40ddad49e5c59ba92f3fdf7f06c81ee2fb925f58c80770d9f207dc726cecd88b
  [inih-r62.tar.gz]=2515af46a93532b13f6d90af3ddda08a627ef826887f81d04008cb7a7aa6b49d
)
missing=()
for a in "${!want[@]}"; do [ -f "$src/$a" ] || missing+=("$a"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "win-deps: missing in $src: ${missing[*]}" >&2
  echo "win-deps: fetch these three upstream archives into that folder (or name another with CMHASH_DEPS_SRC):" >&2
  echo "  openssl_3.0.22.orig.tar.gz  https://deb.debian.org/debian/pool/main/o/openssl/ (OpenSSL 3.0.22)" >&2
  echo "  librsync_2.3.2.orig.tar.gz  https://deb.debian.org/debian/pool/main/libr/librsync/ (librsync 2.3.2)" >&2
  echo "  inih-r62.tar.gz             https://github.com/benhoyt/inih/archive/refs/tags/r62.tar.gz" >&2
  exit 2
fi
for a in "${!want[@]}"; do
  got=$(sha256sum "$src/$a" | cut -d' ' -f1)
  if [ "$got" != "${want[$a]}" ]; then
    echo "win-deps: $src/$a: SHA-256 $got, expected ${want[$a]}; fetch it again" >&2
    exit 2
  fi
done
cross=x86_64-w64-mingw32
cc=$(command -v $cross-gcc-posix || command -v $cross-gcc || true)
if [ -z "$cc" ] || ! command -v cmake >/dev/null; then
  echo "win-deps: $cross-gcc or cmake not found; run: bash scripts/win-toolchain.sh" >&2
  exit 1
fi
key=$(printf '%s\n' "recipe=$recipe" "cc=$($cc -dumpversion)" \
        "${want[@]}" | sort | sha256sum | cut -c1-12)
cache=${CMHASH_WIN_DEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cmhash}
P=$cache/mingw-deps-$key
if [ -f "$P/.complete" ]; then
  echo "win-deps: reusing $P" >&2
  echo "$P"
  exit 0
fi
jobs=${CMHASH_JOBS:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/cmhash-win-deps.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$P"
mkdir -p "$P/lib/pkgconfig" "$P/include"
log=$work/log
t0=$SECONDS
run() { # run a build step quietly; on failure show the tail of its log
  if ! "$@" >>"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "win-deps: failed: $*" >&2
    exit 1
  fi
}

echo "win-deps: OpenSSL 3.0.22 (libcrypto, static; ~6 min on 2 cores)" >&2
tar -xzf "$src/openssl_3.0.22.orig.tar.gz" -C "$work"
( cd "$work/openssl-3.0.22" &&
  run ./Configure mingw64 --cross-compile-prefix=$cross- no-shared no-tests \
      --prefix="$P" --libdir=lib64 &&
  run make -j"$jobs" build_libs &&
  run make install_dev )
rm -f "$P"/lib64/libssl* # cmhash uses libcrypto only

echo "win-deps: librsync 2.3.2 (static)" >&2
tar -xzf "$src/librsync_2.3.2.orig.tar.gz" -C "$work"
cat >"$work/tc.cmake" <<TC
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER $cc)
set(CMAKE_FIND_ROOT_PATH /usr/$cross $P)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
TC
run cmake -S "$work/librsync-2.3.2" -B "$work/rs" \
    -DCMAKE_TOOLCHAIN_FILE="$work/tc.cmake" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$P" -DBUILD_SHARED_LIBS=OFF -DBUILD_RDIFF=OFF \
    -DENABLE_COMPRESSION=OFF -DENABLE_TRACE=OFF -DBUILD_TESTING=OFF
run cmake --build "$work/rs" -j"$jobs"
run cmake --install "$work/rs"

echo "win-deps: inih r62 (static; inih's default options, as Debian's build)" >&2
tar -xzf "$src/inih-r62.tar.gz" -C "$work"
run "$cc" -O2 -c "$work/inih-r62/ini.c" -o "$work/ini.o"
run $cross-ar rcs "$P/lib/libinih.a" "$work/ini.o"
cp "$work/inih-r62/ini.h" "$P/include/"
cat >"$P/lib/pkgconfig/inih.pc" <<PC
prefix=$P
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: inih
Description: simple .INI file parser (static, mingw-w64)
Version: 62
Libs: -L\${libdir} -linih
Cflags: -I\${includedir}
PC
touch "$P/.complete"
echo "win-deps: built in $((SECONDS - t0)) s into $P" >&2
echo "$P"
