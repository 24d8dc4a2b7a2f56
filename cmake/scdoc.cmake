# SPDX-License-Identifier: MIT
# scdoc.cmake: one manual page from its scdoc source, without a shell.
#   cmake -DSCDOC=scdoc -DIN=page.scd -DOUT=page -P scdoc.cmake
execute_process(COMMAND ${SCDOC} INPUT_FILE ${IN} OUTPUT_FILE ${OUT}.tmp
  ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "scdoc ${IN}: ${err}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
