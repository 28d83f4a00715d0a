# Toolchain file: cross-compile cmhash.exe (64-bit Windows) on Debian with
# mingw-w64 (package gcc-mingw-w64-x86-64; the "-posix" compilers give
# winpthreads, linked statically). Used by scripts/build-windows.sh:
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake \
#         -DCMHASH_MINGW_PREFIX=<cache from scripts/win-deps.sh>
# CMHASH_MINGW_PREFIX holds the static libcrypto, librsync and inih built by
# scripts/win-deps.sh (lib/, lib64/, include/, lib/pkgconfig/inih.pc).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(_mingw x86_64-w64-mingw32)
find_program(CMAKE_C_COMPILER NAMES ${_mingw}-gcc-posix ${_mingw}-gcc REQUIRED)
find_program(CMAKE_RC_COMPILER NAMES ${_mingw}-windres)
set(CMAKE_CROSSCOMPILING_EMULATOR wine)

# The toolchain file is read again for try_compile projects: pass the prefix on.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CMHASH_MINGW_PREFIX)
if(NOT CMHASH_MINGW_PREFIX AND DEFINED ENV{CMHASH_MINGW_PREFIX})
  set(CMHASH_MINGW_PREFIX "$ENV{CMHASH_MINGW_PREFIX}")
endif()
set(CMAKE_FIND_ROOT_PATH /usr/${_mingw} ${CMHASH_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

if(CMHASH_MINGW_PREFIX)
  set(OPENSSL_ROOT_DIR "${CMHASH_MINGW_PREFIX}")
  set(OPENSSL_USE_STATIC_LIBS TRUE)
  # pkg-config (inih) must see only the cross prefix, never the host's .pc.
  set(ENV{PKG_CONFIG_LIBDIR} "${CMHASH_MINGW_PREFIX}/lib/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
endif()
