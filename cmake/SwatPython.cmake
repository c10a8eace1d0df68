# SPDX-License-Identifier: MIT
# SwatPython.cmake: the Python interpreter of the tests and tools.
#
#   swat_find_python(MODULES m…)  sets SWAT_PYTHON (cached) to an interpreter
#                                 that imports every module listed.
#
# Why not simply find_package(Python3): on shared machines and clusters the
# first python3 on PATH is often a pyenv shim, a conda base or a module's
# Python that does not see the system's numpy, h5py or torch, and the tests
# would then fail one by one, far from the cause. So:
#   - -DPython3_EXECUTABLE=… (or Python3_ROOT_DIR, a virtualenv) is honoured
#     through find_package(Python3); when given explicitly it is the only
#     candidate, and configure fails naming the modules it lacks;
#   - otherwise, when find_package's choice lacks a module, every python3 on
#     PATH and under the system prefixes is tried in order, and the first that
#     has them all is used (with a status line saying so);
#   - when none has them, configure fails with the first candidate's missing
#     modules and how to fix it.
# The modules are really imported (a half-installed torch fails here, not in
# a test); the result is cached, so reconfiguring does not import them again.
function(swat_find_python)
  cmake_parse_arguments(P "" "" "MODULES" ${ARGN})
  string(JOIN " " want ${P_MODULES})

  set(explicit FALSE)
  if(Python3_EXECUTABLE)
    set(explicit TRUE)
  endif()
  find_package(Python3 3.7 COMPONENTS Interpreter QUIET)
  set(first "${Python3_EXECUTABLE}")

  # a previous configure already validated this very choice
  if(SWAT_PYTHON AND "${SWAT_PYTHON_CHECKED}" STREQUAL "${first}|${want}")
    message(STATUS "Python for tests and tools: ${SWAT_PYTHON} (checked before)")
    return()
  endif()

  set(candidates ${first})
  if(NOT explicit)
    set(dirs $ENV{PATH})
    if(NOT CMAKE_HOST_WIN32)
      string(REPLACE ":" ";" dirs "${dirs}")
    endif()
    foreach(prefix ${CMAKE_SYSTEM_PREFIX_PATH})
      list(APPEND dirs ${prefix}/bin)
    endforeach()
    foreach(d ${dirs})
      if(EXISTS "${d}/python3" AND NOT IS_DIRECTORY "${d}/python3")
        list(APPEND candidates "${d}/python3")
      endif()
    endforeach()
    list(REMOVE_DUPLICATES candidates)
  endif()

  set(check [=[
import importlib, sys
missing = []
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
    except Exception:
        missing.append(m)
print(" ".join(missing), end="")
]=])
  set(chosen "")
  set(first_missing "")
  foreach(py ${candidates})
    execute_process(COMMAND "${py}" -c "${check}" ${P_MODULES}
      RESULT_VARIABLE rc OUTPUT_VARIABLE missing ERROR_QUIET
      TIMEOUT 120)
    if(NOT rc EQUAL 0)
      set(missing "(the interpreter does not run)")
    endif()
    if(py STREQUAL first)
      set(first_missing "${missing}")
    endif()
    if(missing STREQUAL "")
      set(chosen "${py}")
      break()
    endif()
  endforeach()

  if(NOT chosen)
    if(NOT first)
      set(first "(no python3 found)")
    endif()
    string(REPLACE " " ", " first_missing "${first_missing}")
    if(explicit)
      set(who "${first} (Python3_EXECUTABLE)")
      set(others "")
    else()
      set(who "${first}")
      set(others " No other python3 on PATH has them all either.")
    endif()
    message(FATAL_ERROR
      "Python: ${who} lacks ${first_missing}, which the tests and tools need "
      "(all of: ${want}).${others} Install them "
      "(Debian: python3-numpy python3-h5py python3-torch python3-sentencepiece), give "
      "-DPython3_EXECUTABLE=/path/to/python3, or build without tests (-DSWAT_BUILD_TESTS=OFF).")
  endif()
  if(NOT chosen STREQUAL first)
    string(REPLACE " " ", " first_missing "${first_missing}")
    message(STATUS "Python: ${first} lacks ${first_missing}; using ${chosen}")
  endif()
  execute_process(COMMAND "${chosen}" -c "import platform; print(platform.python_version(), end='')"
    OUTPUT_VARIABLE version)
  message(STATUS "Python for tests and tools: ${chosen} (${version}; has ${want})")
  set(SWAT_PYTHON "${chosen}" CACHE INTERNAL "Python of the tests and tools")
  set(SWAT_PYTHON_CHECKED "${first}|${want}" CACHE INTERNAL "")
endfunction()
