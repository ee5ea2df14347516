# Builds and runs tests/consumer against fgclep, the way a downstream project would (ctest tests, label "package").
#
#   cmake -DMODE=package|subdirectory -DSOURCE_DIR=<fgclep source> -DBUILD_DIR=<fgclep build tree>
#         -DWORK_DIR=<scratch dir> -DGENERATOR=<generator> -DCXX_COMPILER=<compiler> [-DMAKE_PROGRAM=...]
#         [-DBUILD_TYPE=Release] [-DOPTIONS=<-D...;-D...>] [-DHAS_LLM=ON|OFF] [-DHAS_CUDA=ON|OFF]
#         [-DCUDA_TOOLKIT_ROOT=<dir>] -P cmake/run_consumer_test.cmake
#
# package:      cmake --install BUILD_DIR --prefix WORK_DIR/prefix, then the consumer finds it with
#               find_package(fgclep CONFIG REQUIRED COMPONENTS ...) and CMAKE_PREFIX_PATH=WORK_DIR/prefix. HAS_LLM and
#               HAS_CUDA say whether that build made fgclep::llm and fgclep::cuda: the consumer then requires the
#               component (and builds a program with it), otherwise asks for it as optional and checks it is absent.
#               CUDA_TOOLKIT_ROOT (CUDAToolkit_ROOT for the consumer) is the toolkit the fgclep build used.
# subdirectory: the consumer calls add_subdirectory(SOURCE_DIR); OPTIONS passes fgclep's options through.
# The consumer is configured with the same generator and compiler as the fgclep build that runs the test.
cmake_minimum_required(VERSION 3.20)

foreach(var MODE SOURCE_DIR BUILD_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer_test.cmake: pass -D${var}=...")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()

# Runs a command, echoing it; stops the test with the command's output on failure.
function(step)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "$ ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test (${MODE}) failed at: ${shown} (exit ${rc})")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(configure
  "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build" -G "${GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" "-DFGCLEP_CONSUMER_MODE=${MODE}"
  # Nothing from the user's package registry or the system may stand in for the fgclep under test.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(MAKE_PROGRAM)
  list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

if(MODE STREQUAL "package")
  set(prefix "${WORK_DIR}/prefix")
  step("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" --config "${BUILD_TYPE}")
  foreach(f include/fgclep/fgclep.hpp include/fgclep/models.hpp include/fgclep/core/model.hpp include/fgclep/version.hpp
          share/pkgconfig/fgclep.pc share/pkgconfig/fgclep-models.pc)
    if(NOT EXISTS "${prefix}/${f}")
      message(FATAL_ERROR "cmake --install did not install ${f}")
    endif()
  endforeach()
  list(APPEND configure "-DCMAKE_PREFIX_PATH=${prefix}" "-DFGCLEP_EXPECTED_PREFIX=${prefix}")
  foreach(component LLM CUDA)
    if(DEFINED HAS_${component})
      list(APPEND configure "-DFGCLEP_CONSUMER_EXPECT_${component}=${HAS_${component}}")
    endif()
  endforeach()
  if(CUDA_TOOLKIT_ROOT)
    list(APPEND configure "-DCUDAToolkit_ROOT=${CUDA_TOOLKIT_ROOT}")
  endif()

  # The pkg-config file: a build without CMake finds the installed headers and compiles against them.
  find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf REQUIRED)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
  file(WRITE "${WORK_DIR}/pkg_config_consumer.cpp" [=[
#include <fgclep/core/shape.hpp>
#include <fgclep/version.hpp>
#include <cstdio>
int main() {
    std::printf("fgclep %s through pkg-config\n", FGCLEP_VERSION_STRING);
    return fgclep::Shape{2, 3}.numel() == 6 ? 0 : 1;
}
]=])
  # fgclep (the application) and fgclep-models (the model library: no nlohmann-json or utf8proc in Requires).
  foreach(package fgclep fgclep-models)
    execute_process(COMMAND "${PKG_CONFIG_EXECUTABLE}" --cflags --libs ${package} RESULT_VARIABLE rc
                    OUTPUT_VARIABLE pc_flags ERROR_VARIABLE pc_error OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "pkg-config --cflags --libs ${package} failed: ${pc_error}")
    endif()
    execute_process(COMMAND "${PKG_CONFIG_EXECUTABLE}" --print-requires ${package} OUTPUT_VARIABLE requires)
    if(package STREQUAL "fgclep-models" AND requires MATCHES "nlohmann|utf8proc")
      message(FATAL_ERROR "fgclep-models.pc requires ${requires}")
    endif()
    separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
    step("${CXX_COMPILER}" "${WORK_DIR}/pkg_config_consumer.cpp" -o "${WORK_DIR}/pkg_config_${package}" ${pc_flags})
    step("${WORK_DIR}/pkg_config_${package}")
  endforeach()
elseif(MODE STREQUAL "subdirectory")
  list(APPEND configure "-DFGCLEP_SOURCE_DIR=${SOURCE_DIR}" ${OPTIONS})
else()
  message(FATAL_ERROR "MODE must be package or subdirectory, got '${MODE}'")
endif()

step(${configure})
if(MODE STREQUAL "package")
  # The config package that configure used must be the one just installed.
  file(STRINGS "${WORK_DIR}/build/CMakeCache.txt" found_dir REGEX "^fgclep_DIR:")
  string(REGEX REPLACE "^fgclep_DIR:[A-Z]+=" "" found_dir "${found_dir}")
  file(REAL_PATH "${found_dir}" found_dir)
  file(REAL_PATH "${prefix}" real_prefix)
  string(FIND "${found_dir}" "${real_prefix}/" at)
  if(NOT at EQUAL 0)
    message(FATAL_ERROR "find_package(fgclep) used ${found_dir}, not the package installed in ${real_prefix}")
  endif()
endif()
step("${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --config "${BUILD_TYPE}" --parallel 1)
# Run through the consumer's own ctest so multi-config generators find the executable too.
step("${CMAKE_CTEST_COMMAND}" --test-dir "${WORK_DIR}/build" -C "${BUILD_TYPE}" --output-on-failure)
message(STATUS "consumer test (${MODE}) passed")
