/* SPDX-License-Identifier: Apache-2.0 */
/* Sorting: a quicksort (median of three, insertion sort for short ranges) and a heapsort of the
 * same pseudo-random array: memory traffic, compares and unpredictable branches. */
#include "../bench.h"

#define N 60000

static uint32_t data[N], copy[N];

static void
insertion(uint32_t *a, int lo, int hi)
{
    for (int i = lo + 1; i <= hi; i++) {
        uint32_t v = a[i];
        int j = i - 1;
        while (j >= lo && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static void
quicksort(uint32_t *a, int lo, int hi)
{
    while (hi - lo > 16) {
        int mid = lo + (hi - lo) / 2;
        uint32_t x = a[lo], y = a[mid], z = a[hi];
        uint32_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) {
                i++;
            }
            while (a[j] > pivot) {
                j--;
            }
            if (i <= j) {
                uint32_t t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        /* Recurse into the smaller side to bound the stack depth. */
        if (j - lo < hi - i) {
            quicksort(a, lo, j);
            lo = i;
        } else {
            quicksort(a, i, hi);
            hi = j;
        }
    }
    insertion(a, lo, hi);
}

static void
sift_down(uint32_t *a, int start, int end)
{
    int root = start;
    while (2 * root + 1 <= end) {
        int child = 2 * root + 1;
        if (child + 1 <= end && a[child] < a[child + 1]) {
            child++;
        }
        if (a[root] >= a[child]) {
            return;
        }
        uint32_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void
heapsort(uint32_t *a, int n)
{
    for (int start = (n - 2) / 2; start >= 0; start--) {
        sift_down(a, start, n - 1);
    }
    for (int end = n - 1; end > 0; end--) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end - 1);
    }
}

uint32_t
run(void)
{
    uint32_t seed = 2463534242u;
    for (int i = 0; i < N; i++) {
        data[i] = bench_rand(&seed) % 1000000u;
    }
    memcpy(copy, data, sizeof data);
    quicksort(data, 0, N - 1);
    heapsort(copy, N);
    uint32_t check = 0;
    for (int i = 0; i < N; i++) {
        if (data[i] != copy[i] || (i && data[i - 1] > data[i])) {
            return 0xBAD;
        }
        check = check * 31 + data[i];
    }
    return check;
}
