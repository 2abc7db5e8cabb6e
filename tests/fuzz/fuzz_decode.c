/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: decode, validate and compile arbitrary bytes. Any input must end in CAP_OK or a
 * clean CAP_ERR_MALFORMED / CAP_ERR_INVALID / CAP_ERR_NOMEM; the sanitizers catch the rest. */
#include "fuzz.h"

#include <capsule.h>
#include <stdio.h>
#include <stdlib.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cap_module_t *m = NULL;
    cap_error_t err;
    cap_status st = cap_module_new(data, size, &m, &err);
    switch (st) {
    case CAP_OK:
        if (!m) {
            fprintf(stderr, "fuzz_decode: CAP_OK without a module\n");
            abort();
        }
        break;
    case CAP_ERR_MALFORMED:
    case CAP_ERR_INVALID:
    case CAP_ERR_NOMEM:
        if (m || err.status != st || err.msg[0] == '\0') {
            fprintf(stderr, "fuzz_decode: bad error record (status %d, msg '%s')\n", (int)st,
                    err.msg);
            abort();
        }
        break;
    default:
        /* Anything else (e.g. CAP_ERR_USAGE) means the decoder misreported a guest error. */
        fprintf(stderr, "fuzz_decode: unexpected status %d: %s\n", (int)st, err.msg);
        abort();
    }
    cap_module_free(m);
    return 0;
}
