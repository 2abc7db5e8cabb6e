/* SPDX-License-Identifier: Apache-2.0 */
/* UTF-8 validation as the Wasm spec defines names (5.2.4): shortest form only, no surrogates,
 * nothing above U+10FFFF. */
#ifndef CAP_UTIL_UTF8_H
#define CAP_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when the n bytes at s are well-formed UTF-8 (n = 0 is valid; s may then be NULL). */
bool cap_utf8_valid(const uint8_t *s, size_t n);

#endif
