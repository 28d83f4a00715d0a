# FindLibRsync: librsync (Debian ships no pkg-config file or CMake config).
# Defines LibRsync_FOUND, LibRsync_VERSION and the imported target
# LibRsync::LibRsync.
find_path(LibRsync_INCLUDE_DIR NAMES librsync.h)
find_library(LibRsync_LIBRARY NAMES rsync)
if(LibRsync_INCLUDE_DIR AND EXISTS "${LibRsync_INCLUDE_DIR}/librsync_export.h")
  # librsync.h declares the version only as a runtime string; the
  # librsync_config / version macros are not installed, so probe the symbol
  # that appeared in 2.3 (rs_sig_args).
  file(STRINGS "${LibRsync_INCLUDE_DIR}/librsync.h" _rs_sig_args
       REGEX "rs_sig_args")
  if(_rs_sig_args)
    set(LibRsync_VERSION "2.3")
  else()
    set(LibRsync_VERSION "2.0")
  endif()
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibRsync
  REQUIRED_VARS LibRsync_LIBRARY LibRsync_INCLUDE_DIR
  VERSION_VAR LibRsync_VERSION)
if(LibRsync_FOUND AND NOT TARGET LibRsync::LibRsync)
  add_library(LibRsync::LibRsync UNKNOWN IMPORTED)
  set_target_properties(LibRsync::LibRsync PROPERTIES
    IMPORTED_LOCATION "${LibRsync_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LibRsync_INCLUDE_DIR}")
endif()
mark_as_advanced(LibRsync_INCLUDE_DIR LibRsync_LIBRARY)
