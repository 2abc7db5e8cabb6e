/* SPDX-License-Identifier: Apache-2.0 */
/* JSON text for people and programs that compare numbers by their text: reals in the shortest
 * form that reads back as the same double (json_text.c). */
#ifndef CAP_RUNTIME_JSON_TEXT_H
#define CAP_RUNTIME_JSON_TEXT_H

#include <jansson.h>
#include <stdbool.h>

/* The JSON text of v (any type), compact, or with Python's ", " and ": " separators when
 * `spaced`; object keys in insertion order. Free with cap_free; NULL when out of memory. */
char *cap_json_text(const json_t *v, bool spaced);

#endif
