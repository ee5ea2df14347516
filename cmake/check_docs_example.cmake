# Checks that the "Adding a layer" example of docs/layers.md is the code tests/nn/test_custom_layer.cpp compiles
# and gradient-checks: the first ```cpp block after the heading, without its #include line, must equal the lines
# between "// --- begin docs/layers.md example ---" and "// --- end docs/layers.md example ---" of the test.
#
#   cmake -DSOURCE_DIR=<source> -P cmake/check_docs_example.cmake
cmake_minimum_required(VERSION 3.20)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "pass -DSOURCE_DIR=<fgclep source>")
endif()

file(READ "${SOURCE_DIR}/docs/layers.md" doc)
string(FIND "${doc}" "## Adding a layer" at)
if(at LESS 0)
  message(FATAL_ERROR "docs/layers.md has no '## Adding a layer' section")
endif()
string(SUBSTRING "${doc}" ${at} -1 doc)
string(FIND "${doc}" "```cpp\n" begin)
string(SUBSTRING "${doc}" ${begin} -1 doc)
string(LENGTH "```cpp\n" skip)
string(SUBSTRING "${doc}" ${skip} -1 doc)
string(FIND "${doc}" "```" end)
string(SUBSTRING "${doc}" 0 ${end} doc_code)
# The guide shows the include a user writes; the test has its own includes above the markers.
string(REGEX REPLACE "^#include <fgclep/fgclep.hpp>\n\n" "" doc_code "${doc_code}")

file(READ "${SOURCE_DIR}/tests/nn/test_custom_layer.cpp" test)
set(open_marker "// --- begin docs/layers.md example ---\n")
string(FIND "${test}" "${open_marker}" begin)
string(FIND "${test}" "// --- end docs/layers.md example ---" end)
if(begin LESS 0 OR end LESS 0)
  message(FATAL_ERROR "tests/nn/test_custom_layer.cpp has lost its docs/layers.md example markers")
endif()
string(LENGTH "${open_marker}" marker_length)
math(EXPR begin "${begin} + ${marker_length}")
math(EXPR length "${end} - ${begin}")
string(SUBSTRING "${test}" ${begin} ${length} test_code)

if(NOT doc_code STREQUAL test_code)
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/docs_example.txt" "${doc_code}")
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/test_example.txt" "${test_code}")
  message(FATAL_ERROR "the 'Adding a layer' example of docs/layers.md differs from the code between the markers of "
                      "tests/nn/test_custom_layer.cpp (written to docs_example.txt and test_example.txt in "
                      "${CMAKE_CURRENT_BINARY_DIR}; diff them)")
endif()
string(REGEX MATCHALL "\n" newlines "${test_code}")
list(LENGTH newlines lines)
message(STATUS "docs/layers.md's layer example equals the ${lines} lines the test compiles")
