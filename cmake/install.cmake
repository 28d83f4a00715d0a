# Install rules (issue 5): tool, library, headers, man page, bash
# completion, pkg-config file and CMake package config, so that another
# project can use `pkg-config --static cmhash` or `find_package(cmhash)`.
include(CMakePackageConfigHelpers)

add_library(cmhash::cmhash ALIAS cmhash)
install(TARGETS cmhash EXPORT cmhashTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/cmhash
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

# liburing (verify's io_uring reads) is a private dependency when found
if(LIBURING_FOUND)
  set(CMHASH_USES_LIBURING ON)
  set(CMHASH_PC_URING " liburing")
else()
  set(CMHASH_USES_LIBURING OFF)
  set(CMHASH_PC_URING "")
endif()
set(CMHASH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cmhash)
install(EXPORT cmhashTargets NAMESPACE cmhash::
  DESTINATION ${CMHASH_CMAKE_DIR})
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/cmhashConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmhashConfig.cmake
  INSTALL_DESTINATION ${CMHASH_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmhashConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmhashConfig.cmake
  ${PROJECT_BINARY_DIR}/cmhashConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/FindLibRsync.cmake
  DESTINATION ${CMHASH_CMAKE_DIR})

# pkg-config: prefix relative to the .pc file, so --prefix at install time
# (cmake --install --prefix) still gives a working file.
set(CMHASH_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH CMHASH_PC_TO_PREFIX /_/${CMHASH_PC_DIR} /_)
string(REGEX REPLACE "/$" "" CMHASH_PC_TO_PREFIX "${CMHASH_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/cmhash.pc.in
  ${PROJECT_BINARY_DIR}/cmhash.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmhash.pc DESTINATION ${CMHASH_PC_DIR})

install(FILES ${PROJECT_SOURCE_DIR}/docs/cmhash.1
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/docs/libcmhash.3
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)
install(FILES ${PROJECT_SOURCE_DIR}/contrib/bash-completion/cmhash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
# the API example (README "Installing and using the library")
install(FILES ${PROJECT_SOURCE_DIR}/examples/api/audit.c
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
