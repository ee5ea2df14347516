# Builds one target that must NOT compile and checks that the compiler's output says why, in our words.
#
#   cmake -DBUILD_DIR=<build tree> -DTARGET_NAME=<target> [-DCONFIG=<config>]
#         -DEXPECT_0=<regex> [-DEXPECT_1=<regex> ...] -P cmake/expect_compile_failure.cmake
#
# Passes only if the build fails and its output matches every EXPECT_<i> regex. (A target that compiles leaves
# an object file behind, so every later run also fails: nothing is rebuilt and no expected wording appears.)
cmake_minimum_required(VERSION 3.20)

if(NOT BUILD_DIR OR NOT TARGET_NAME OR NOT DEFINED EXPECT_0)
  message(FATAL_ERROR "pass -DBUILD_DIR=... -DTARGET_NAME=... -DEXPECT_0=<regex>")
endif()
set(command "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET_NAME}")
if(CONFIG)
  list(APPEND command --config "${CONFIG}")
endif()
# The compiler's own language: English, plain quotes.
set(ENV{LC_ALL} C)
execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)

if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET_NAME} compiled, but it must not:\n${out}")
endif()
set(i 0)
while(DEFINED EXPECT_${i})
  if(NOT out MATCHES "${EXPECT_${i}}")
    message(FATAL_ERROR "${TARGET_NAME} failed to compile, but the output lacks /${EXPECT_${i}}/:\n${out}")
  endif()
  math(EXPR i "${i} + 1")
endwhile()
message(STATUS "${TARGET_NAME} fails to compile as expected (${i} patterns matched)")
