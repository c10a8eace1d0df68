# SPDX-License-Identifier: MIT
# SwatMPI.cmake: MPI, its launcher and a parallel HDF5 built for that same MPI.
#
#   swat_find_mpi_hdf5()  finds MPI (MPI::MPI_C, MPIEXEC_*) and parallel HDF5
#                         (HDF5::HDF5) and checks that they belong together.
#
# Several MPIs side by side (Debian's openmpi and mpich packages, or modules on
# a cluster) make two silent mistakes easy, and both only show at run time:
#   - the launcher of one MPI starting programs built with another: every
#     rank then runs alone as rank 0 of 1;
#   - an HDF5 built for the other MPI: the program links both MPI libraries
#     and crashes or hangs in the first collective.
# So the MPI of the build decides the other two:
#   - Debian names each MPI's tools with a suffix (mpicc.mpich,
#     mpiexec.mpich, h5pcc.mpich; the unsuffixed names are alternatives). The
#     suffix is taken from the C compiler when it is such a wrapper
#     (-DCMAKE_C_COMPILER=mpicc.mpich), else from the MPI compiler wrapper
#     FindMPI found (/usr/bin/mpicc → mpicc.openmpi), and it selects the
#     launcher (FindMPI's MPI_EXECUTABLE_SUFFIX) and HDF5's wrapper h5pcc.SUFFIX
#     as long as the user named neither (MPIEXEC_EXECUTABLE; HDF5_ROOT or
#     HDF5_C_COMPILER_EXECUTABLE), so no path of any system is written here;
#   - whatever was found, the MPI library HDF5 was linked against must be the
#     one this build links: compared by shared-library name (objdump -p: the
#     NEEDED entries of libhdf5 and of a small MPI program), with an error that
#     says what to set.

# The suffix of an MPI compiler wrapper named mpicc.SUFFIX, found on the
# path itself or anywhere along its chain of symbolic links (Debian:
# /usr/bin/mpicc -> /etc/alternatives/mpi -> /usr/bin/mpicc.openmpi ->
# opal_wrapper, so neither the first name nor the real path tells).
function(_swat_mpi_suffix out compiler)
  set(sfx "")
  set(path "${compiler}")
  foreach(hop RANGE 8)
    if(NOT path)
      break()
    endif()
    get_filename_component(name "${path}" NAME)
    if(name MATCHES "^mpicc(\\.[A-Za-z0-9_-]+)$")
      set(sfx "${CMAKE_MATCH_1}")
      break()
    endif()
    if(NOT IS_SYMLINK "${path}")
      break()
    endif()
    file(READ_SYMLINK "${path}" next)
    if(NOT IS_ABSOLUTE "${next}")
      get_filename_component(dir "${path}" DIRECTORY)
      set(next "${dir}/${next}")
    endif()
    set(path "${next}")
  endforeach()
  set(${out} "${sfx}" PARENT_SCOPE)
endfunction()

# The MPI libraries (libmpi*.so.N) among the NEEDED entries of a binary.
function(_swat_mpi_needed out binary)
  set(libs "")
  execute_process(COMMAND ${CMAKE_OBJDUMP} -p "${binary}"
    OUTPUT_VARIABLE dump ERROR_QUIET RESULT_VARIABLE rc)
  if(rc EQUAL 0)
    string(REGEX MATCHALL "NEEDED +libmpi[^ \n]*" lines "${dump}")
    foreach(l ${lines})
      string(REGEX REPLACE "NEEDED +" "" l "${l}")
      list(APPEND libs "${l}")
    endforeach()
  endif()
  set(${out} "${libs}" PARENT_SCOPE)
endfunction()

function(_swat_check_hdf5_mpi)
  if(NOT CMAKE_OBJDUMP)
    return()
  endif()
  set(h5lib "")
  foreach(l ${HDF5_C_LIBRARIES})
    get_filename_component(name "${l}" NAME)
    if(name MATCHES "^libhdf5[^/]*\\.so")
      set(h5lib "${l}")
      break()
    endif()
  endforeach()
  if(NOT h5lib) # a static HDF5 carries no record of its MPI: nothing to compare
    return()
  endif()
  _swat_mpi_needed(h5mpi "${h5lib}")
  set(dir ${CMAKE_BINARY_DIR}${CMAKE_FILES_DIRECTORY}/swat-mpi-check)
  file(WRITE ${dir}/mpi_check.c
    "#include <mpi.h>\nint main(int argc, char **argv) { MPI_Init(&argc, &argv); return MPI_Finalize(); }\n")
  try_compile(ok ${dir}/build ${dir}/mpi_check.c
    LINK_LIBRARIES MPI::MPI_C
    COPY_FILE ${dir}/mpi_check)
  if(NOT ok)
    message(FATAL_ERROR "MPI: a two-line MPI program does not build with ${MPI_C_COMPILER}")
  endif()
  _swat_mpi_needed(mpi "${dir}/mpi_check")
  foreach(l ${h5mpi})
    if(mpi AND NOT l IN_LIST mpi)
      message(FATAL_ERROR
        "HDF5 ${h5lib} is built for the MPI library ${l}, but this build's MPI "
        "(${MPI_C_COMPILER}) is ${mpi}: linking both fails at run time. Point "
        "-DHDF5_C_COMPILER_EXECUTABLE at the h5pcc of this MPI (Debian: h5pcc.mpich or "
        "h5pcc.openmpi) or -DHDF5_ROOT at its prefix.")
    endif()
  endforeach()
  if(mpi)
    message(STATUS "HDF5 and the program link the same MPI library: ${mpi}")
  endif()
endfunction()

macro(swat_find_mpi_hdf5)
  # 1. MPI; a compiler named mpicc.SUFFIX selects the launcher with that suffix
  if(NOT DEFINED MPI_EXECUTABLE_SUFFIX)
    _swat_mpi_suffix(MPI_EXECUTABLE_SUFFIX "${CMAKE_C_COMPILER}")
  endif()
  if(MPIEXEC_EXECUTABLE)
    set(_swat_mpiexec_given TRUE)
  else()
    set(_swat_mpiexec_given FALSE)
  endif()
  find_package(MPI REQUIRED COMPONENTS C)

  # the suffix of the wrapper FindMPI settled on (an alternative resolved)
  _swat_mpi_suffix(_swat_sfx "${MPI_C_COMPILER}")
  if(NOT _swat_sfx)
    set(_swat_sfx "${MPI_EXECUTABLE_SUFFIX}")
  endif()
  if(_swat_sfx AND NOT _swat_mpiexec_given)
    get_filename_component(_swat_dir "${MPI_C_COMPILER}" DIRECTORY)
    find_program(SWAT_MPIEXEC_MATCH NAMES mpiexec${_swat_sfx} mpirun${_swat_sfx}
      HINTS ${_swat_dir})
    set(_swat_match "${SWAT_MPIEXEC_MATCH}")
    unset(SWAT_MPIEXEC_MATCH CACHE) # looked up again on every configure
    if(_swat_match)
      get_filename_component(_a "${_swat_match}" REALPATH)
      get_filename_component(_b "${MPIEXEC_EXECUTABLE}" REALPATH)
      if(NOT _a STREQUAL _b)
        message(STATUS "MPI launcher: ${_swat_match} (the one of ${MPI_C_COMPILER})")
        set(MPIEXEC_EXECUTABLE "${_swat_match}" CACHE FILEPATH "Executable for running MPI programs." FORCE)
      endif()
    endif()
  endif()
  if(NOT MPIEXEC_EXECUTABLE)
    message(FATAL_ERROR "MPI: no launcher (mpiexec) found for ${MPI_C_COMPILER}; give -DMPIEXEC_EXECUTABLE=…")
  endif()

  # 2. parallel HDF5 of the same MPI
  if(_swat_sfx AND NOT HDF5_C_COMPILER_EXECUTABLE AND NOT HDF5_ROOT AND NOT DEFINED ENV{HDF5_ROOT})
    get_filename_component(_swat_dir "${MPI_C_COMPILER}" DIRECTORY)
    find_program(SWAT_H5PCC_MATCH NAMES h5pcc${_swat_sfx} HINTS ${_swat_dir})
    if(SWAT_H5PCC_MATCH)
      set(HDF5_C_COMPILER_EXECUTABLE "${SWAT_H5PCC_MATCH}" CACHE FILEPATH "HDF5 C compiler wrapper")
    endif()
    unset(SWAT_H5PCC_MATCH CACHE)
  endif()
  set(HDF5_PREFER_PARALLEL TRUE)
  find_package(HDF5 REQUIRED COMPONENTS C)
  if(NOT HDF5_IS_PARALLEL)
    message(FATAL_ERROR "swat needs parallel HDF5 (Debian: libhdf5-openmpi-dev or "
      "libhdf5-mpich-dev); found a serial build: ${HDF5_C_LIBRARIES}")
  endif()
  _swat_check_hdf5_mpi()
endmacro()
