# SPDX-License-Identifier: MIT
# FindBLIS.cmake: the BLIS library (github.com/flame/blis), which ships no
# CMake package file and, in Debian, no pkg-config file either.
#
# Looked for in this order (the first place holding both blis.h and libblis
# wins):
#   1. BLIS_ROOT, as a CMake or an environment variable: PREFIX/include[/blis]
#      and PREFIX/lib[64] (CMake searches <Package>_ROOT first, policy CMP0074);
#   2. CMAKE_PREFIX_PATH (what Spack and most module files set);
#   3. pkg-config's blis.pc (BLIS's own `make install`, Spack, conda);
#   4. Debian's side-by-side builds, /usr/{include,lib}/<multiarch>/blis-FLAVOUR,
#      FLAVOUR = BLIS_FLAVOUR (openmp, pthread or serial; default openmp);
#   5. the compiler's default paths (Debian's alternative, plain -lblis).
# Debian's folders come before the default paths on purpose: the default
# libblis.so is whichever flavour the alternatives system points at.
#
# Defines: BLIS_FOUND, BLIS_LIBRARY, BLIS_INCLUDE_DIR, and the imported target
# BLIS::BLIS (with libm and threads). A static libblis.a built with OpenMP
# needs the program to link OpenMP as well (swat does).
if(NOT BLIS_FLAVOUR)
  set(BLIS_FLAVOUR openmp)
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_BLIS QUIET blis)
endif()

set(_blis_debian_inc "")
set(_blis_debian_lib "")
if(CMAKE_LIBRARY_ARCHITECTURE)
  set(_blis_debian_inc /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/blis-${BLIS_FLAVOUR})
  set(_blis_debian_lib /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/blis-${BLIS_FLAVOUR})
endif()

find_path(BLIS_INCLUDE_DIR NAMES blis.h
  HINTS ${PC_BLIS_INCLUDE_DIRS} ${_blis_debian_inc}
  PATH_SUFFIXES blis
  DOC "Folder of blis.h")
find_library(BLIS_LIBRARY NAMES blis blis-mt
  HINTS ${PC_BLIS_LIBRARY_DIRS} ${_blis_debian_lib}
  DOC "The BLIS library")

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BLIS
  REQUIRED_VARS BLIS_LIBRARY BLIS_INCLUDE_DIR
  REASON_FAILURE_MESSAGE
    "give -DBLIS_ROOT=PREFIX (PREFIX/include/blis/blis.h, PREFIX/lib/libblis.so), or install it (Debian: libblis-dev)")

# blis.h's inline functions call libm and pthreads directly, so a program
# that includes it links them too (BLIS's own blis.pc says the same).
if(BLIS_FOUND AND NOT TARGET BLIS::BLIS)
  find_package(Threads REQUIRED)
  add_library(BLIS::BLIS UNKNOWN IMPORTED)
  set_target_properties(BLIS::BLIS PROPERTIES
    IMPORTED_LOCATION "${BLIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${BLIS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;$<$<BOOL:${UNIX}>:m>")
endif()
mark_as_advanced(BLIS_INCLUDE_DIR BLIS_LIBRARY)
