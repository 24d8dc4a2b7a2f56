# SPDX-License-Identifier: MIT
# check_abi.cmake: the soname changes when the ABI does (docs/design/abi.md).
#
#   cmake -DNM=nm -DLIBRARY=libferry.so -DSIZES=abi_sizes -DSOVERSION=N
#         -DRECORD=tests/abi/abi.txt -P check_abi.cmake
#
# abi.txt records, for one soname, every exported function and the size of
# every public struct. With the same SOVERSION, nothing recorded may go: a
# removed export or a struct of another size is an incompatible change and
# fails, until FERRY_SOVERSION is raised. What is new (an export, a struct)
# fails too until it is recorded, so that its removal is caught later.
# With the environment variable FERRY_UPDATE_ABI=1 the record is rewritten
# instead (after raising the soname, or after an addition).
cmake_minimum_required(VERSION 3.20)
foreach(v NM LIBRARY SIZES SOVERSION RECORD)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_abi.cmake: -D${v}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY} OUTPUT_VARIABLE nm_out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIBRARY}")
endif()
execute_process(COMMAND ${SIZES} OUTPUT_VARIABLE sizes_out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SIZES} failed")
endif()

set(now "soversion ${SOVERSION}")
string(REPLACE "\n" ";" lines "${nm_out}")
set(funcs)
foreach(line ${lines})
  if(line MATCHES "^[0-9a-fA-F]* *[TW] (ferry_[^ @]+)")
    list(APPEND funcs "function ${CMAKE_MATCH_1}")
  endif()
endforeach()
list(SORT funcs)
string(REPLACE "\n" ";" structs "${sizes_out}")
list(FILTER structs INCLUDE REGEX "^struct ")
list(SORT structs)
list(APPEND now ${funcs} ${structs})

if("$ENV{FERRY_UPDATE_ABI}" STREQUAL "1")
  list(JOIN now "\n" text)
  file(WRITE ${RECORD} "${text}\n")
  message(STATUS "rewrote ${RECORD}")
  return()
endif()

file(STRINGS ${RECORD} was)
list(GET was 0 was_so)
if(NOT was_so STREQUAL "soversion ${SOVERSION}")
  message(FATAL_ERROR "${RECORD} is for ${was_so}, the library is soversion ${SOVERSION}: "
                      "rewrite it (FERRY_UPDATE_ABI=1) for the new soname")
endif()
set(problems)
foreach(entry ${was})
  if(entry MATCHES "^function (.*)$")
    if(NOT entry IN_LIST now)
      list(APPEND problems "removed, an incompatible change: ${entry}")
    endif()
  elseif(entry MATCHES "^struct ([^ ]+) ([0-9]+)$")
    set(name ${CMAKE_MATCH_1})
    if(NOT entry IN_LIST now)
      list(APPEND problems "changed size, an incompatible change: ${entry} (now: see ${SIZES})")
    endif()
  endif()
endforeach()
foreach(entry ${now})
  if(NOT entry IN_LIST was AND NOT entry MATCHES "^soversion")
    list(APPEND problems "new, not recorded yet: ${entry}")
  endif()
endforeach()
if(problems)
  list(JOIN problems "\n  " msg)
  message(FATAL_ERROR "the ABI of soversion ${SOVERSION} differs from ${RECORD}:\n  ${msg}\n"
    "An incompatible change needs a new soname: raise FERRY_SOVERSION in CMakeLists.txt. "
    "Then, or after a compatible addition, rewrite the record with FERRY_UPDATE_ABI=1.")
endif()
list(LENGTH now n)
message(STATUS "soversion ${SOVERSION}: ${n} entries, as recorded")
