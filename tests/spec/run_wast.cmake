# SPDX-License-Identifier: Apache-2.0
# Runs one .wast script: wast2json into OUT_DIR, then the spec runner on the JSON.
# Usage: cmake -DWAST2JSON=... -DRUNNER=... -DWAST=file.wast -DOUT_DIR=dir -P run_wast.cmake
foreach(var WAST2JSON RUNNER WAST OUT_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_wast.cmake: ${var} is not set")
  endif()
endforeach()
get_filename_component(name ${WAST} NAME_WE)
file(REMOVE_RECURSE ${OUT_DIR})
file(MAKE_DIRECTORY ${OUT_DIR})
execute_process(COMMAND ${WAST2JSON} ${WAST} -o ${OUT_DIR}/${name}.json RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "wast2json failed on ${WAST} (${rc})")
endif()
execute_process(COMMAND ${RUNNER} ${OUT_DIR}/${name}.json RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "spec runner reported failures in ${WAST} (${rc})")
endif()
