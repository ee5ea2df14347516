# Checks the component protocol of the installed config file (ctest test consumer_package_components, label
# "package"): cmake --install of BUILD_DIR into WORK_DIR/prefix, then tests/consumer/components is configured with
# several find_package(fgclep ...) calls, and each outcome (configure passes or fails, what it prints, which
# fgclep_*_FOUND it sets) is compared with what the build made (HAS_LLM, HAS_CUDA).
#
#   cmake -DSOURCE_DIR=<fgclep source> -DBUILD_DIR=<fgclep build tree> -DWORK_DIR=<scratch dir>
#         -DGENERATOR=<generator> -DCXX_COMPILER=<compiler> [-DMAKE_PROGRAM=...] [-DBUILD_TYPE=Release]
#         -DHAS_LLM=ON|OFF -DHAS_CUDA=ON|OFF [-DHAS_MPI=ON|OFF] [-DCUDA_TOOLKIT_ROOT=<dir>]
#         -P cmake/check_package_components.cmake
cmake_minimum_required(VERSION 3.20)

foreach(var SOURCE_DIR BUILD_DIR WORK_DIR GENERATOR CXX_COMPILER HAS_LLM HAS_CUDA)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_package_components.cmake: pass -D${var}=...")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()
if(NOT DEFINED HAS_MPI)
  set(HAS_MPI OFF)
endif()
foreach(var HAS_LLM HAS_CUDA HAS_MPI)
  if(${var})
    set(${var} TRUE)
  else()
    set(${var} FALSE)
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" --config "${BUILD_TYPE}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} failed:\n${out}")
endif()

set(case_number 0)
set(failures 0)
# check(<find_package arguments> EXPECT PASS|FAIL [OUTPUT <regex>...] [RESULTS <var>=<TRUE|FALSE|UNSET>...]
#       [DEFINES <-Dvar=value>...]) configures the project with find_package(fgclep CONFIG <arguments>) in a fresh
# build directory.
function(check)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "EXPECT" "OUTPUT;RESULTS;DEFINES")
  math(EXPR n "${case_number} + 1")
  set(case_number ${n} PARENT_SCOPE)
  string(REPLACE ";" " " shown "${arg_UNPARSED_ARGUMENTS}")
  set(defines "")
  if(arg_DEFINES)
    string(REPLACE ";" " " defines " ${arg_DEFINES}")
  endif()
  set(configure "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/tests/consumer/components" -B "${WORK_DIR}/case${n}"
      -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
      "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
      -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF "-DFGCLEP_FIND_ARGS=${shown}")
  if(MAKE_PROGRAM)
    list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  if(CUDA_TOOLKIT_ROOT)
    list(APPEND configure "-DCUDAToolkit_ROOT=${CUDA_TOOLKIT_ROOT}")
  endif()
  list(APPEND configure ${arg_DEFINES})
  execute_process(COMMAND ${configure} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  set(problems "")
  if(arg_EXPECT STREQUAL "PASS" AND NOT rc EQUAL 0)
    string(APPEND problems "\n  configure failed (exit ${rc}), expected it to pass")
  elseif(arg_EXPECT STREQUAL "FAIL" AND rc EQUAL 0)
    string(APPEND problems "\n  configure passed, expected it to fail")
  endif()
  foreach(regex IN LISTS arg_OUTPUT)
    if(NOT out MATCHES "${regex}")
      string(APPEND problems "\n  the output does not match '${regex}'")
    endif()
  endforeach()
  foreach(result IN LISTS arg_RESULTS)
    if(NOT out MATCHES "result: ${result}\n")
      string(APPEND problems "\n  expected ${result}")
    endif()
  endforeach()
  if(problems)
    message("FAILED case ${n}: find_package(fgclep CONFIG ${shown})${defines}${problems}\n--- output ---\n${out}")
    math(EXPR f "${failures} + 1")
    set(failures ${f} PARENT_SCOPE)
  else()
    message(STATUS "ok: find_package(fgclep CONFIG ${shown})${defines}: ${arg_EXPECT}")
  endif()
endfunction()

# An unknown component: REQUIRED fails naming it; without REQUIRED fgclep_FOUND is FALSE; OPTIONAL does not fail.
check(REQUIRED COMPONENTS bogus EXPECT FAIL OUTPUT "fgclep has no component 'bogus'")
check(COMPONENTS bogus EXPECT PASS RESULTS fgclep_FOUND=FALSE fgclep_bogus_FOUND=FALSE)
check(REQUIRED OPTIONAL_COMPONENTS bogus llm cuda EXPECT PASS
      RESULTS fgclep_FOUND=TRUE fgclep_bogus_FOUND=FALSE fgclep_llm_FOUND=${HAS_LLM} fgclep_cuda_FOUND=${HAS_CUDA})
# No components: found, and each component's variable says whether the package has it.
check(REQUIRED EXPECT PASS RESULTS fgclep_FOUND=TRUE fgclep_llm_FOUND=${HAS_LLM} fgclep_cuda_FOUND=${HAS_CUDA})
# cuda and llm, REQUIRED: found exactly when the build made them; otherwise the message says how to get them.
if(HAS_CUDA)
  check(REQUIRED COMPONENTS cuda EXPECT PASS RESULTS fgclep_FOUND=TRUE fgclep_cuda_FOUND=TRUE)
  # Where the CUDA toolkit is not found: an optional cuda is FALSE and says why, a plain find_package still finds
  # fgclep, and a required cuda fails naming the toolkit.
  set(no_toolkit -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON)
  check(REQUIRED OPTIONAL_COMPONENTS cuda EXPECT PASS DEFINES ${no_toolkit}
        OUTPUT "fgclep::cuda needs the CUDA toolkit" RESULTS fgclep_FOUND=TRUE fgclep_cuda_FOUND=FALSE)
  check(REQUIRED EXPECT PASS DEFINES ${no_toolkit} RESULTS fgclep_FOUND=TRUE fgclep_cuda_FOUND=FALSE)
  check(COMPONENTS cuda EXPECT PASS DEFINES ${no_toolkit} OUTPUT "dependency CUDAToolkit could not be[ \n]+found"
        RESULTS fgclep_FOUND=FALSE)
else()
  check(REQUIRED COMPONENTS cuda EXPECT FAIL
        OUTPUT "fgclep was installed without the CUDA backend: configure it with -DFGCLEP_CUDA=ON")
  check(REQUIRED COMPONENTS llm cuda EXPECT FAIL OUTPUT "-DFGCLEP_CUDA=ON")
endif()
# mpi, REQUIRED: found exactly when the build made it (MPI was installed); without MPI here, optional is FALSE.
if(HAS_MPI)
  check(REQUIRED COMPONENTS mpi EXPECT PASS RESULTS fgclep_FOUND=TRUE fgclep_mpi_FOUND=TRUE)
  check(REQUIRED OPTIONAL_COMPONENTS mpi EXPECT PASS DEFINES -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON
        OUTPUT "fgclep::mpi needs MPI" RESULTS fgclep_FOUND=TRUE fgclep_mpi_FOUND=FALSE)
else()
  check(REQUIRED COMPONENTS mpi EXPECT FAIL OUTPUT "fgclep was installed without fgclep::mpi")
endif()
if(HAS_LLM)
  check(REQUIRED COMPONENTS llm EXPECT PASS RESULTS fgclep_FOUND=TRUE fgclep_llm_FOUND=TRUE)
else()
  check(REQUIRED COMPONENTS llm EXPECT FAIL OUTPUT "fgclep was installed without fgclep::llm")
endif()

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} of ${case_number} find_package(fgclep) component checks failed")
endif()
message(STATUS "all ${case_number} find_package(fgclep) component checks passed")
