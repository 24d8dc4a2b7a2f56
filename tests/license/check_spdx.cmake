# SPDX-License-Identifier: MIT
# check_spdx.cmake: every source file of the tree names its license in an
# SPDX line within its first three lines, so that a file added later
# without one fails the suite.
#
#   cmake -DSOURCE_DIR=<tree> -P check_spdx.cmake
#
# Source files: C, C++, Python, shell, CMake, templates (*.in) and
# configuration (*.toml) under the tree's source directories, and the top
# level's CMakeLists.txt and Makefile. Data (test corpora, golden output)
# and prose (Markdown) are not source.
cmake_minimum_required(VERSION 3.20)

if(NOT DEFINED SOURCE_DIR)
  message(FATAL_ERROR "check_spdx.cmake: -DSOURCE_DIR=... is required")
endif()
set(want "SPDX-License-Identifier: MIT")

set(files)
foreach(dir src include tools demo bench tests examples cmake scripts docs .ci python)
  if(NOT IS_DIRECTORY ${SOURCE_DIR}/${dir})
    continue()
  endif()
  file(GLOB_RECURSE found LIST_DIRECTORIES false
    ${SOURCE_DIR}/${dir}/*.c ${SOURCE_DIR}/${dir}/*.h ${SOURCE_DIR}/${dir}/*.cpp
    ${SOURCE_DIR}/${dir}/*.py ${SOURCE_DIR}/${dir}/*.sh ${SOURCE_DIR}/${dir}/*.cmake
    ${SOURCE_DIR}/${dir}/*.in ${SOURCE_DIR}/${dir}/*.toml ${SOURCE_DIR}/${dir}/*.scd
    ${SOURCE_DIR}/${dir}/CMakeLists.txt)
  list(APPEND files ${found})
endforeach()
# Scripts without an extension.
if(EXISTS ${SOURCE_DIR}/.ci/run)
  list(APPEND files ${SOURCE_DIR}/.ci/run)
endif()
foreach(top CMakeLists.txt Makefile)
  if(EXISTS ${SOURCE_DIR}/${top})
    list(APPEND files ${SOURCE_DIR}/${top})
  endif()
endforeach()
list(FILTER files EXCLUDE REGEX "/tests/fuzz/corpus/")

set(missing)
foreach(f ${files})
  file(STRINGS ${f} head LIMIT_COUNT 3)
  string(FIND "${head}" "${want}" at)
  if(at EQUAL -1)
    file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
    list(APPEND missing ${rel})
  endif()
endforeach()

list(LENGTH files n)
if(n EQUAL 0)
  message(FATAL_ERROR "no source file found under ${SOURCE_DIR}")
endif()
if(missing)
  list(JOIN missing "\n  " msg)
  message(FATAL_ERROR "no '${want}' line in the first three lines of:\n  ${msg}")
endif()
message(STATUS "${n} source files, each with '${want}'")
