# Checks that fgclep has one module shape: every class under include/fgclep that derives from fgclep::Module is the
# nested `impl` of a spec (`template <Backend B> struct impl : Module` inside the spec, or `struct Spec::impl :
# Module` out of line), never a free-standing `template <Backend B> struct X : Module`, which could not be composed.
#
#   cmake -DFGCLEP_INCLUDE_DIR=<source>/include -P cmake/check_module_shape.cmake
cmake_minimum_required(VERSION 3.20)
if(NOT FGCLEP_INCLUDE_DIR)
  message(FATAL_ERROR "pass -DFGCLEP_INCLUDE_DIR=<source>/include")
endif()
file(GLOB_RECURSE headers "${FGCLEP_INCLUDE_DIR}/fgclep/*.hpp")
set(bad "")
set(impls 0)
foreach(h IN LISTS headers)
  file(STRINGS "${h}" lines REGEX "(struct|class)[ \t]+[A-Za-z_:<>, ]+[ \t]*:[ \t]*(public[ \t]+)?(fgclep::)?Module([ \t{]|$)")
  foreach(line IN LISTS lines)
    if(line MATCHES "^[ \t]*//")
      continue()  # an example in a comment
    endif()
    string(REGEX REPLACE "^[ \t]*(struct|class)[ \t]+([A-Za-z_:<>, ]+[A-Za-z_>])[ \t]*:.*$" "\\2" name "${line}")
    if(name MATCHES "(^|::)impl$")
      math(EXPR impls "${impls} + 1")
    else()
      file(RELATIVE_PATH rel "${FGCLEP_INCLUDE_DIR}" "${h}")
      string(APPEND bad "\n  ${rel}: ${name} derives from Module but is not a spec's impl")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "more than one module shape:${bad}\nMake it a spec (Options, name, template <Backend B> "
                      "struct impl : Module), as docs/layers.md describes.")
endif()
message(STATUS "one module shape: ${impls} spec impls derive from Module, nothing else does")
