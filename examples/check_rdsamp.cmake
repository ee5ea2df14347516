# Runs the rdsamp example and compares its output, without the sample-number column (`cut -f 2-`), byte for
# byte with an output of the WFDB Software Package's rdsamp (tests/fixtures/wfdb/target-output).
#
#   cmake -DRDSAMP=<exe> -DARGS="-r;<record>;-P" -DEXPECTED=<target file> [-DIGNORE_PADDING=ON] \
#         -P examples/check_rdsamp.cmake
cmake_minimum_required(VERSION 3.20)
execute_process(COMMAND ${RDSAMP} ${ARGS} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "rdsamp ${ARGS} failed (${rc}): ${err}")
endif()
# (`^` would match again after every replacement in CMake's regex engine: anchor on a newline instead.)
string(REGEX REPLACE "\n[^\t\n]*\t" "\n" out "\n${out}")
string(SUBSTRING "${out}" 1 -1 out)
file(READ ${EXPECTED} expected)
# IGNORE_PADDING: compare without the padding spaces. record-multi-fixed-d was post-processed with
# `sed s/-32768/-2048/`, which left one field a column narrower than rdsamp printed it.
if(IGNORE_PADDING)
  string(REPLACE " " "" out "${out}")
  string(REPLACE " " "" expected "${expected}")
endif()
if(NOT out STREQUAL expected)
  string(LENGTH "${out}" got_len)
  string(LENGTH "${expected}" want_len)
  string(SUBSTRING "${out}" 0 300 got_head)
  message(FATAL_ERROR "rdsamp ${ARGS} differs from ${EXPECTED} (${got_len} vs ${want_len} characters); got:\n${got_head}")
endif()
message(STATUS "rdsamp ${ARGS}: identical to ${EXPECTED}")
