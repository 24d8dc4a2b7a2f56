# SPDX-License-Identifier: MIT
# check_exports.cmake: compares the dynamic symbols that libferry.so defines
# with the functions the public headers declare FERRY_API.
#
#   cmake -DNM=nm -DLIBRARY=libferry.so -DHEADER_DIR=include/ferry -P check_exports.cmake
#
# The library is built with -fvisibility=hidden and FERRY_API marks what
# is public (STYLE.md). Three ways that goes wrong, each reported here:
#   - an internal leaks: a ferry__ name, or any name without ferry_;
#   - a .c file marks something FERRY_API that no public header declares;
#   - a header declares a FERRY_API function that the library does not
#     export (a missing FERRY_API in the .c, or a missing definition), which
#     users would only find at link time.

cmake_minimum_required(VERSION 3.20)

foreach(v NM LIBRARY HEADER_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_exports.cmake: -D${v}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY}
  OUTPUT_VARIABLE nm_out ERROR_VARIABLE nm_err RESULT_VARIABLE nm_rc)
if(NOT nm_rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D --defined-only ${LIBRARY} failed: ${nm_err}")
endif()

set(exported)
string(REPLACE "\n" ";" nm_lines "${nm_out}")
foreach(line ${nm_lines})
  # "<address> <type> <name>[@[@]version]"
  if(line MATCHES "^[0-9a-fA-F]* *[A-Za-z] ([^ @]+)")
    list(APPEND exported ${CMAKE_MATCH_1})
  endif()
endforeach()
list(REMOVE_DUPLICATES exported)

set(declared)
file(GLOB headers ${HEADER_DIR}/*.h)
# Headers generated into the build tree (ferry/version.h).
if(DEFINED GENERATED_HEADER_DIR)
  file(GLOB generated ${GENERATED_HEADER_DIR}/*.h)
  list(APPEND headers ${generated})
endif()
foreach(h ${headers})
  file(READ ${h} text)
  # FERRY_API, then the return type, then the name right before "(".
  string(REGEX MATCHALL "FERRY_API[^;(]*\\(" decls "${text}")
  foreach(d ${decls})
    if(d MATCHES "([A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]*\\($")
      set(fn ${CMAKE_MATCH_1})
      # Skips the macro's own #define (FERRY_API __attribute__(...)).
      if(fn MATCHES "^ferry_")
        list(APPEND declared ${fn})
      endif()
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES declared)

set(problems)
foreach(s ${exported})
  if(s MATCHES "^ferry__")
    list(APPEND problems "internal symbol exported: ${s}")
  elseif(NOT s MATCHES "^ferry_")
    list(APPEND problems "symbol without the ferry_ prefix exported: ${s}")
  elseif(NOT s IN_LIST declared)
    list(APPEND problems "exported but declared FERRY_API in no public header: ${s}")
  endif()
endforeach()
foreach(s ${declared})
  if(NOT s IN_LIST exported)
    list(APPEND problems "declared FERRY_API but not exported by the library: ${s}")
  endif()
endforeach()

list(LENGTH exported n_exported)
list(LENGTH declared n_declared)
if(n_exported EQUAL 0 OR n_declared EQUAL 0)
  list(APPEND problems "found ${n_exported} exports and ${n_declared} declarations: parsing failed?")
endif()
if(problems)
  list(JOIN problems "\n  " msg)
  message(FATAL_ERROR "${LIBRARY}:\n  ${msg}")
endif()
message(STATUS "${n_exported} exported symbols, all ferry_ and all declared in ${HEADER_DIR}")
