# Checks the two umbrella headers and the line between the model library and the application:
#   include/fgclep/models.hpp  includes every header of the model library (core, backend, nn, models, loss, optim,
#                              io) and nothing of the application;
#   include/fgclep/fgclep.hpp  includes models.hpp and every header of the application (data, synth, text,
#                              features, eval, train, pipeline);
#   no library header includes an application header (the library builds without nlohmann-json and utf8proc).
#
#   cmake -DFGCLEP_INCLUDE_DIR=<source>/include -P cmake/check_umbrella.cmake
#
# Globbed when the test runs (not at configure time), so a header added after configuring is still seen.
# In neither umbrella (keep in sync with the comments at the top of both):
#   testing/       test-only tools (gradcheck); part of the library
#   interop/       needs xtensor, which fgclep::fgclep does not depend on
#   llm/           needs cpp-httplib (target fgclep::llm)
#   backend/cuda*  needs nvcc
#   distributed/mpi_communicator.hpp, distributed/nccl_communicator.hpp  need MPI / NCCL (fgclep::mpi, fgclep::nccl)
#   backend/cpu/onednn.hpp  needs oneDNN (FGCLEP_ONEDNN; backend/cpu/gemm.hpp includes it when enabled)
#   backend/cpu/gemm_instances.hpp  included once per program built with FGCLEP_EXTERN_GEMM
cmake_minimum_required(VERSION 3.20)

if(NOT FGCLEP_INCLUDE_DIR)
  message(FATAL_ERROR "pass -DFGCLEP_INCLUDE_DIR=<source>/include")
endif()
set(library_dirs core backend nn models loss optim io distributed testing)
set(application_dirs data synth text features eval train pipeline)
string(REPLACE ";" "|" library_regex "${library_dirs}")
string(REPLACE ";" "|" application_regex "${application_dirs}")

# The fgclep/... headers a file includes with #include "..." (comments and <...> includes are ignored).
function(included_headers file out)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"fgclep/[^\"]+\"")
  set(result "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"(fgclep/[^\"]+)\".*$" "\\1" path "${line}")
    list(APPEND result "${path}")
  endforeach()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

file(GLOB_RECURSE headers RELATIVE "${FGCLEP_INCLUDE_DIR}" "${FGCLEP_INCLUDE_DIR}/fgclep/*.hpp")
list(FILTER headers EXCLUDE REGEX "^fgclep/(fgclep\\.hpp|models\\.hpp|interop/|llm/|distributed/(mpi|nccl)_communicator\\.hpp|backend/cuda|backend/cpu/onednn\\.hpp|backend/cpu/gemm_instances\\.hpp)")
list(SORT headers)
set(library_headers "${headers}")
list(FILTER library_headers INCLUDE REGEX "^fgclep/(${library_regex})/")
set(application_headers "${headers}")
list(FILTER application_headers INCLUDE REGEX "^fgclep/(${application_regex})/")
set(unplaced "${headers}")
list(FILTER unplaced EXCLUDE REGEX "^fgclep/(${library_regex}|${application_regex})/")

set(text "")
foreach(h IN LISTS unplaced)
  string(APPEND text "\n  ${h}: in neither the library nor the application; add its directory to this script")
endforeach()
# Generated into the build tree by CMake (cmake/version.hpp.in), so not under the source include/.
set(generated_headers fgclep/version.hpp)
foreach(umbrella models fgclep)
  included_headers("${FGCLEP_INCLUDE_DIR}/fgclep/${umbrella}.hpp" included)
  if(umbrella STREQUAL "models")
    set(expected "${library_headers}")
    list(FILTER expected EXCLUDE REGEX "^fgclep/testing/")
  else()
    set(expected "${application_headers}")
    list(APPEND expected fgclep/models.hpp)
  endif()
  foreach(h IN LISTS expected)
    if(NOT h IN_LIST included)
      string(APPEND text "\n  fgclep/${umbrella}.hpp: missing #include \"${h}\"")
    endif()
  endforeach()
  foreach(h IN LISTS included)
    if(NOT EXISTS "${FGCLEP_INCLUDE_DIR}/${h}" AND NOT h IN_LIST generated_headers)
      string(APPEND text "\n  fgclep/${umbrella}.hpp: stale #include \"${h}\" (no such header)")
    elseif(umbrella STREQUAL "models" AND h MATCHES "^fgclep/(${application_regex})/")
      string(APPEND text "\n  fgclep/models.hpp: includes the application header \"${h}\"")
    endif()
  endforeach()
endforeach()
# The line itself: a library header that includes an application header pulls nlohmann-json or utf8proc into
# every program that wanted only the library.
foreach(h IN LISTS library_headers)
  included_headers("${FGCLEP_INCLUDE_DIR}/${h}" included)
  foreach(dep IN LISTS included)
    if(dep MATCHES "^fgclep/(${application_regex}|llm|interop)/")
      string(APPEND text "\n  ${h} (model library) includes the application header ${dep}")
    endif()
  endforeach()
  file(STRINGS "${FGCLEP_INCLUDE_DIR}/${h}" external REGEX "^[ \t]*#[ \t]*include[ \t]*<(nlohmann|utf8proc)")
  if(external)
    string(APPEND text "\n  ${h} (model library) includes ${external}")
  endif()
endforeach()

# No header's meaning may depend on a build-system macro: layers follow their backend type (not FGCLEP_WITH_CUDA),
# and no header reads a path into the source tree (FGCLEP_DEFAULT_VOCAB is the example programs' own). Checked on
# preprocessor conditionals, so comments may name them.
file(GLOB_RECURSE all_headers "${FGCLEP_INCLUDE_DIR}/fgclep/*.hpp" "${FGCLEP_INCLUDE_DIR}/fgclep/*.cuh")
foreach(h IN LISTS all_headers)
  # A preprocessor test of an FGCLEP_ macro other than the header's own guards (none has any) or the version.
  file(STRINGS "${h}" uses REGEX "^[ \t]*#[ \t]*(if|ifdef|ifndef|elif).*FGCLEP_(WITH_|DEFAULT_|[A-Z_]*VOCAB)")
  if(uses)
    file(RELATIVE_PATH rel "${FGCLEP_INCLUDE_DIR}" "${h}")
    string(APPEND text "\n  ${rel} reads a build macro: ${uses}")
  endif()
endforeach()

if(text)
  message(FATAL_ERROR "the umbrella headers or the library/application line are out of date:${text}\n"
                      "See cmake/check_umbrella.cmake for which directory belongs where.")
endif()
list(LENGTH library_headers nlib)
list(LENGTH application_headers napp)
message(STATUS "models.hpp covers the ${nlib} library headers, fgclep.hpp the ${napp} application headers; "
               "no library header includes the application")
