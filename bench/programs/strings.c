/* SPDX-License-Identifier: Apache-2.0 */
/* String work: format numbers and words into a text buffer (our own itoa and fixed-point
 * formatting), then tokenize it, parse the numbers back and count distinct words in an
 * open-addressing hash table: byte-at-a-time loops, compares and copies. */
#include "../bench.h"

#define TEXT_CAP   (256 * 1024)
#define TABLE_SIZE 4096

static char text[TEXT_CAP];
static const char *syllables[] = {"ka", "ro", "mi", "tes", "lun", "da", "ve", "spo", "qu", "ith"};

static struct entry {
    char word[24];
    uint32_t len;
    uint32_t count;
} table[TABLE_SIZE];

static size_t
put_uint(char *p, uint32_t v)
{
    char tmp[12];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) {
        p[i] = tmp[n - 1 - i];
    }
    return n;
}

/* Writes v/1000 with three decimals, e.g. -12.345. */
static size_t
put_fixed(char *p, int32_t v)
{
    size_t n = 0;
    uint32_t u = (uint32_t)v;
    if (v < 0) {
        p[n++] = '-';
        u = 0u - u;
    }
    n += put_uint(p + n, u / 1000);
    p[n++] = '.';
    uint32_t frac = u % 1000;
    p[n++] = (char)('0' + frac / 100);
    p[n++] = (char)('0' + frac / 10 % 10);
    p[n++] = (char)('0' + frac % 10);
    return n;
}

static size_t
generate(uint32_t seed)
{
    size_t n = 0;
    while (n + 64 < TEXT_CAP) {
        uint32_t r = bench_rand(&seed);
        switch (r % 4) {
        case 0:
            n += put_uint(text + n, r >> 8);
            break;
        case 1:
            n += put_fixed(text + n, (int32_t)(r >> 12) - 300000);
            break;
        default: {
            int parts = 1 + (int)((r >> 4) % 3);
            for (int i = 0; i < parts; i++) {
                const char *s = syllables[(r >> (8 + 4 * i)) % 10];
                size_t len = strlen(s);
                memcpy(text + n, s, len);
                n += len;
            }
            break;
        }
        }
        text[n++] = (r & 0x300) ? ' ' : '\n';
    }
    text[n] = '\0';
    return n;
}

static uint32_t
hash_word(const char *s, uint32_t len)
{
    uint32_t h = 5381;
    for (uint32_t i = 0; i < len; i++) {
        h = h * 33 + (unsigned char)s[i];
    }
    return h;
}

static void
count_word(const char *s, uint32_t len)
{
    if (len >= sizeof table[0].word) {
        len = sizeof table[0].word - 1;
    }
    uint32_t i = hash_word(s, len) & (TABLE_SIZE - 1);
    for (;;) {
        struct entry *e = &table[i];
        if (e->len == 0) {
            memcpy(e->word, s, len);
            e->word[len] = '\0';
            e->len = len;
            e->count = 1;
            return;
        }
        if (e->len == len && memcmp(e->word, s, len) == 0) {
            e->count++;
            return;
        }
        i = (i + 1) & (TABLE_SIZE - 1);
    }
}

static uint32_t
one_round(uint32_t seed)
{
    memset(table, 0, sizeof table);
    size_t n = generate(seed);
    int64_t num_sum = 0;
    uint32_t words = 0, lines = 0;
    const char *p = text, *end = text + n;
    while (p < end) {
        if (*p == ' ' || *p == '\n') {
            lines += *p == '\n';
            p++;
            continue;
        }
        const char *start = p;
        while (p < end && *p != ' ' && *p != '\n') {
            p++;
        }
        uint32_t len = (uint32_t)(p - start);
        if ((*start >= '0' && *start <= '9') || *start == '-') {
            /* Parse an integer or fixed-point number back into thousandths. */
            const char *q = start;
            int neg = *q == '-';
            q += neg;
            int64_t v = 0;
            while (q < p && *q != '.') {
                v = v * 10 + (*q++ - '0');
            }
            v *= 1000;
            if (q < p && *q == '.') {
                v += (q[1] - '0') * 100 + (q[2] - '0') * 10 + (q[3] - '0');
            }
            num_sum += neg ? -v : v;
        } else {
            count_word(start, len);
            words++;
        }
    }
    uint32_t distinct = 0, top = 0;
    for (int i = 0; i < TABLE_SIZE; i++) {
        if (table[i].len) {
            distinct++;
            if (table[i].count > top) {
                top = table[i].count;
            }
        }
    }
    return (uint32_t)num_sum ^ (uint32_t)((uint64_t)num_sum >> 32) ^ words * 7 ^ lines * 13 ^
           distinct << 16 ^ top;
}

uint32_t
run(void)
{
    uint32_t acc = 0;
    for (uint32_t round = 0; round < 8; round++) {
        acc = acc * 31 + one_round(0xFEEDu + round * 7919u);
    }
    return acc;
}
