# Checks that every C++ file of the project follows .clang-format: `clang-format --dry-run --Werror` on include/,
# src/, tests/, examples/ and benchmarks/ (not the test fixtures). Fix with `clang-format -i <file>`.
#
#   cmake -DSOURCE_DIR=<source> -DCLANG_FORMAT=<clang-format> -P cmake/check_format.cmake
cmake_minimum_required(VERSION 3.20)
foreach(var SOURCE_DIR CLANG_FORMAT)
  if(NOT ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
set(files "")
foreach(dir include src tests examples benchmarks)
  file(GLOB_RECURSE found "${SOURCE_DIR}/${dir}/*.hpp" "${SOURCE_DIR}/${dir}/*.cpp" "${SOURCE_DIR}/${dir}/*.cu"
       "${SOURCE_DIR}/${dir}/*.cuh")
  list(APPEND files ${found})
endforeach()
list(FILTER files EXCLUDE REGEX "/tests/(fixtures|consumer/poison)/")
execute_process(COMMAND "${CLANG_FORMAT}" --dry-run --Werror ${files} RESULT_VARIABLE rc ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "files that do not follow .clang-format (run clang-format -i on them):\n${out}")
endif()
list(LENGTH files count)
message(STATUS "${count} C++ files follow .clang-format")
