# Checks that include/fgclep/fgclep.hpp includes every public CPU header, so a new header cannot be forgotten.
#
#   cmake -DFGCLEP_INCLUDE_DIR=<source>/include -P cmake/check_umbrella.cmake
#
# Globbed when the test runs (not at configure time), so a header added after configuring is still seen.
# Not part of the umbrella (keep in sync with the comment at the top of fgclep.hpp):
#   testing/       test-only tools (gradcheck)
#   interop/       needs xtensor, which fgclep::fgclep does not depend on
#   llm/           needs cpp-httplib (target fgclep::llm)
#   backend/cuda*  needs nvcc
cmake_minimum_required(VERSION 3.20)

if(NOT FGCLEP_INCLUDE_DIR)
  message(FATAL_ERROR "pass -DFGCLEP_INCLUDE_DIR=<source>/include")
endif()
set(umbrella "${FGCLEP_INCLUDE_DIR}/fgclep/fgclep.hpp")
if(NOT EXISTS "${umbrella}")
  message(FATAL_ERROR "the umbrella header ${umbrella} does not exist")
endif()

file(GLOB_RECURSE headers RELATIVE "${FGCLEP_INCLUDE_DIR}" "${FGCLEP_INCLUDE_DIR}/fgclep/*.hpp")
list(FILTER headers EXCLUDE REGEX "^fgclep/(fgclep\\.hpp|testing/|interop/|llm/|backend/cuda)")
list(SORT headers)

# What the umbrella includes: lines of the form #include "fgclep/..." (comments and <...> includes are ignored).
file(STRINGS "${umbrella}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"fgclep/[^\"]+\"")
set(included "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"(fgclep/[^\"]+)\".*$" "\\1" path "${line}")
  list(APPEND included "${path}")
endforeach()

set(missing "")
foreach(h IN LISTS headers)
  if(NOT h IN_LIST included)
    list(APPEND missing "${h}")
  endif()
endforeach()
set(stale "")
# Generated into the build tree by CMake (cmake/version.hpp.in), so not under the source include/.
set(generated_headers fgclep/version.hpp)
foreach(h IN LISTS included)
  if(NOT EXISTS "${FGCLEP_INCLUDE_DIR}/${h}" AND NOT h IN_LIST generated_headers)
    list(APPEND stale "${h}")
  endif()
endforeach()

if(missing OR stale)
  set(text "")
  foreach(h IN LISTS missing)
    string(APPEND text "\n  missing: #include \"${h}\"")
  endforeach()
  foreach(h IN LISTS stale)
    string(APPEND text "\n  stale:   #include \"${h}\" (no such header)")
  endforeach()
  message(FATAL_ERROR "include/fgclep/fgclep.hpp is out of date:${text}\n"
                      "Add public CPU headers to the umbrella (or, for a header that needs more than "
                      "fgclep::fgclep, extend the exclusions in cmake/check_umbrella.cmake and fgclep.hpp).")
endif()
list(LENGTH headers count)
message(STATUS "fgclep.hpp includes all ${count} public CPU headers")
