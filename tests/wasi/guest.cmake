# SPDX-License-Identifier: Apache-2.0
# Compiling C guest programs to wasm32-wasi at build time with Debian's clang and wasi-libc,
# through a private sysroot (see docs: --sysroot=/usr would let clang pick glibc headers).
# Defines CAP_WASM_GUESTS_OK and capsule_wasm_guest(NAME SOURCE [HEADERS...]), which builds
# ${CMAKE_CURRENT_BINARY_DIR}/NAME.wasm as part of `all`.

find_program(CAP_WASM_CC NAMES clang-19 clang-18 clang-17 clang-16 clang-15 clang-14)
find_package(Python3 COMPONENTS Interpreter REQUIRED)
set(CAP_WASI_INCLUDE /usr/include/wasm32-wasi CACHE PATH "wasi-libc headers")
set(CAP_WASI_LIB /usr/lib/wasm32-wasi CACHE PATH "wasi-libc libraries")
set(CAP_WASM_SYSROOT ${CMAKE_BINARY_DIR}/wasi-sysroot)

if(CAP_WASM_CC AND EXISTS ${CAP_WASI_INCLUDE}/stdio.h AND EXISTS ${CAP_WASI_LIB}/libc.a)
  set(CAP_WASM_GUESTS_OK TRUE)
  file(MAKE_DIRECTORY ${CAP_WASM_SYSROOT}/include ${CAP_WASM_SYSROOT}/lib)
  file(CREATE_LINK ${CAP_WASI_INCLUDE} ${CAP_WASM_SYSROOT}/include/wasm32-wasi SYMBOLIC)
  file(CREATE_LINK ${CAP_WASI_LIB} ${CAP_WASM_SYSROOT}/lib/wasm32-wasi SYMBOLIC)
else()
  set(CAP_WASM_GUESTS_OK FALSE)
  message(WARNING "No clang for wasm32-wasi or no wasi-libc: the WASI, sandbox and CLI tests "
                  "will FAIL (install clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc).")
endif()

if(NOT TARGET capsule_wasm_guests)
  add_custom_target(capsule_wasm_guests ALL)
endif()

function(capsule_wasm_guest name src)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${name}.wasm)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CAP_WASM_CC} --target=wasm32-wasi --sysroot=${CAP_WASM_SYSROOT} -O2 -mcpu=mvp
            -Wall -Werror -o ${out} ${src}
    DEPENDS ${src} ${ARGN}
    COMMENT "Compiling guest ${name}.wasm"
    VERBATIM)
  add_custom_target(guest_${name} DEPENDS ${out})
  add_dependencies(capsule_wasm_guests guest_${name})
endfunction()

# A test that fails, saying why, when guests cannot be built: never a silent skip.
function(capsule_missing_toolchain_test name)
  add_test(NAME ${name} COMMAND sh -c
           "echo 'clang for wasm32-wasi or wasi-libc not found: guests cannot be built'; exit 1")
endfunction()
