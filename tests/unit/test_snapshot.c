/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of instance snapshots (cap_snapshot_write / set_meta / open, cap_instance_restore):
 * every piece of state survives a round trip, restored memory is private, a snapshot only fits
 * its own module, and damaged or forged files fail cleanly (run under ASan: no crash, no leak). */
/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capsule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Module binaries made with wat2wasm (wabt 1.0.32) from the text shown above each array. */
/* (module
 *   (type $r (func (result i32)))
 *   (import "env" "host" (func $host (result i32)))
 *   (memory (export "mem") 1 100)
 *   (table $t (export "tab") 4 10 funcref)
 *   (table $x 1 externref)
 *   (global $g32 (export "g32") (mut i32) (i32.const 1))
 *   (global $g64 (export "g64") (mut i64) (i64.const 2))
 *   (global $gf (export "gf64") (mut f64) (f64.const 3.5))
 *   (global $gref (export "gref") (mut funcref) (ref.null func))
 *   (global $gimm (export "gimm") i32 (i32.const 77))
 *   (elem (i32.const 0) func $f10)
 *   (elem $pas func $f20 $f30)
 *   (elem declare func $host)
 *   (data (i32.const 16) "hello")
 *   (data $dp "passive-data")
 *   (func $f10 (type $r) (i32.const 10))
 *   (func $f20 (type $r) (i32.const 20))
 *   (func $f30 (type $r) (i32.const 30))
 *   (func (export "mutate")
 *     (global.set $g32 (i32.const -123456))
 *     (global.set $g64 (i64.const 0x123456789abcdef0))
 *     (global.set $gf (f64.const -2.25))
 *     (global.set $gref (ref.func $f30))
 *     (table.set $t (i32.const 1) (ref.func $f20))
 *     (table.init $t $pas (i32.const 2) (i32.const 0) (i32.const 2))
 *     (elem.drop $pas)
 *     (drop (table.grow $t (ref.func $host) (i32.const 2)))
 *     (memory.init $dp (i32.const 100) (i32.const 0) (i32.const 12))
 *     (data.drop $dp)
 *     (i32.store (i32.const 65532) (i32.const 0xdeadbeef))
 *     (drop (memory.grow (i32.const 2)))
 *     (i64.store (i32.const 131080) (i64.const 0x0102030405060708)))
 *   (func (export "call") (param i32) (result i32)
 *     (call_indirect $t (type $r) (local.get 0)))
 *   (func (export "call_gref") (result i32)
 *     (table.set $t (i32.const 0) (global.get $gref))
 *     (call_indirect $t (type $r) (i32.const 0)))
 *   (func (export "init_dropped") (memory.init $dp (i32.const 0) (i32.const 0) (i32.const 1)))
 *   (func (export "init_dropped0") (memory.init $dp (i32.const 0) (i32.const 0) (i32.const 0)))
 *   (func (export "tinit_dropped") (table.init $t $pas (i32.const 0) (i32.const 0) (i32.const 1)))
 *   (func (export "tsize") (result i32) (table.size $t))
 *   (func (export "msize") (result i32) (memory.size))
 *   (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
 *   (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
 *   (func (export "setx") (param externref) (table.set $x (i32.const 0) (local.get 0)))
 * ) */
static const uint8_t a_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x16, 0x05, 0x60, 0x00, 0x01, 0x7f, 0x60,
    0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x60, 0x01, 0x6f, 0x00,
    0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x00, 0x03, 0x0f,
    0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01, 0x01, 0x01, 0x00, 0x00, 0x02, 0x03, 0x04, 0x04,
    0x08, 0x02, 0x70, 0x01, 0x04, 0x0a, 0x6f, 0x00, 0x01, 0x05, 0x04, 0x01, 0x01, 0x01, 0x64, 0x06,
    0x22, 0x05, 0x7f, 0x01, 0x41, 0x01, 0x0b, 0x7e, 0x01, 0x42, 0x02, 0x0b, 0x7c, 0x01, 0x44, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x40, 0x0b, 0x70, 0x01, 0xd0, 0x70, 0x0b, 0x7f, 0x00, 0x41,
    0xcd, 0x00, 0x0b, 0x07, 0x9f, 0x01, 0x12, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x03, 0x74, 0x61,
    0x62, 0x01, 0x00, 0x03, 0x67, 0x33, 0x32, 0x03, 0x00, 0x03, 0x67, 0x36, 0x34, 0x03, 0x01, 0x04,
    0x67, 0x66, 0x36, 0x34, 0x03, 0x02, 0x04, 0x67, 0x72, 0x65, 0x66, 0x03, 0x03, 0x04, 0x67, 0x69,
    0x6d, 0x6d, 0x03, 0x04, 0x06, 0x6d, 0x75, 0x74, 0x61, 0x74, 0x65, 0x00, 0x04, 0x04, 0x63, 0x61,
    0x6c, 0x6c, 0x00, 0x05, 0x09, 0x63, 0x61, 0x6c, 0x6c, 0x5f, 0x67, 0x72, 0x65, 0x66, 0x00, 0x06,
    0x0c, 0x69, 0x6e, 0x69, 0x74, 0x5f, 0x64, 0x72, 0x6f, 0x70, 0x70, 0x65, 0x64, 0x00, 0x07, 0x0d,
    0x69, 0x6e, 0x69, 0x74, 0x5f, 0x64, 0x72, 0x6f, 0x70, 0x70, 0x65, 0x64, 0x30, 0x00, 0x08, 0x0d,
    0x74, 0x69, 0x6e, 0x69, 0x74, 0x5f, 0x64, 0x72, 0x6f, 0x70, 0x70, 0x65, 0x64, 0x00, 0x09, 0x05,
    0x74, 0x73, 0x69, 0x7a, 0x65, 0x00, 0x0a, 0x05, 0x6d, 0x73, 0x69, 0x7a, 0x65, 0x00, 0x0b, 0x04,
    0x6c, 0x6f, 0x61, 0x64, 0x00, 0x0c, 0x05, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x00, 0x0d, 0x04, 0x73,
    0x65, 0x74, 0x78, 0x00, 0x0e, 0x09, 0x10, 0x03, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x01, 0x01, 0x00,
    0x02, 0x02, 0x03, 0x03, 0x00, 0x01, 0x00, 0x0c, 0x01, 0x02, 0x0a, 0xe3, 0x01, 0x0e, 0x04, 0x00,
    0x41, 0x0a, 0x0b, 0x04, 0x00, 0x41, 0x14, 0x0b, 0x04, 0x00, 0x41, 0x1e, 0x0b, 0x6f, 0x00, 0x41,
    0xc0, 0xbb, 0x78, 0x24, 0x00, 0x42, 0xf0, 0xbd, 0xf3, 0xd5, 0x89, 0xcf, 0x95, 0x9a, 0x12, 0x24,
    0x01, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc0, 0x24, 0x02, 0xd2, 0x03, 0x24, 0x03,
    0x41, 0x01, 0xd2, 0x02, 0x26, 0x00, 0x41, 0x02, 0x41, 0x00, 0x41, 0x02, 0xfc, 0x0c, 0x01, 0x00,
    0xfc, 0x0d, 0x01, 0xd2, 0x00, 0x41, 0x02, 0xfc, 0x0f, 0x00, 0x1a, 0x41, 0xe4, 0x00, 0x41, 0x00,
    0x41, 0x0c, 0xfc, 0x08, 0x01, 0x00, 0xfc, 0x09, 0x01, 0x41, 0xfc, 0xff, 0x03, 0x41, 0xef, 0xfd,
    0xb6, 0xf5, 0x7d, 0x36, 0x02, 0x00, 0x41, 0x02, 0x40, 0x00, 0x1a, 0x41, 0x88, 0x80, 0x08, 0x42,
    0x88, 0x8e, 0x98, 0xa8, 0xc0, 0xe0, 0x80, 0x81, 0x01, 0x37, 0x03, 0x00, 0x0b, 0x07, 0x00, 0x20,
    0x00, 0x11, 0x00, 0x00, 0x0b, 0x0d, 0x00, 0x41, 0x00, 0x23, 0x03, 0x26, 0x00, 0x41, 0x00, 0x11,
    0x00, 0x00, 0x0b, 0x0c, 0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x01, 0xfc, 0x08, 0x01, 0x00, 0x0b,
    0x0c, 0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x08, 0x01, 0x00, 0x0b, 0x0c, 0x00, 0x41,
    0x00, 0x41, 0x00, 0x41, 0x01, 0xfc, 0x0c, 0x01, 0x00, 0x0b, 0x05, 0x00, 0xfc, 0x10, 0x00, 0x0b,
    0x04, 0x00, 0x3f, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b, 0x09, 0x00, 0x20,
    0x00, 0x20, 0x01, 0x36, 0x02, 0x00, 0x0b, 0x08, 0x00, 0x41, 0x00, 0x20, 0x00, 0x26, 0x01, 0x0b,
    0x0b, 0x19, 0x02, 0x00, 0x41, 0x10, 0x0b, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x01, 0x0c, 0x70,
    0x61, 0x73, 0x73, 0x69, 0x76, 0x65, 0x2d, 0x64, 0x61, 0x74, 0x61,
};

/* (module
 *   (type $r (func (result i32)))
 *   (import "env" "host" (func $host (result i32)))
 *   (memory (export "mem") 1 100)
 *   (table $t (export "tab") 4 10 funcref)
 *   (table $x 1 externref)
 *   (global $g32 (export "g32") (mut i32) (i32.const 1))
 *   (global $g64 (export "g64") (mut i64) (i64.const 2))
 *   (global $gf (export "gf64") (mut f64) (f64.const 3.5))
 *   (global $gref (export "gref") (mut funcref) (ref.null func))
 *   (global $gimm (export "gimm") i32 (i32.const 77))
 *   (elem (i32.const 0) func $f10)
 *   (elem $pas func $f20 $f30)
 *   (data (i32.const 16) "hello")
 *   (data $dp "passive-data")
 *   (func $f10 (type $r) (i32.const 10))
 *   (func $f20 (type $r) (i32.const 20))
 *   (func $f30 (type $r) (i32.const 30))
 *   (func (export "msize") (result i32) (memory.size))
 * ) */
static const uint8_t b_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x02,
    0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x00, 0x03, 0x05, 0x04,
    0x00, 0x00, 0x00, 0x00, 0x04, 0x08, 0x02, 0x70, 0x01, 0x04, 0x0a, 0x6f, 0x00, 0x01, 0x05, 0x04,
    0x01, 0x01, 0x01, 0x64, 0x06, 0x22, 0x05, 0x7f, 0x01, 0x41, 0x01, 0x0b, 0x7e, 0x01, 0x42, 0x02,
    0x0b, 0x7c, 0x01, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x40, 0x0b, 0x70, 0x01, 0xd0,
    0x70, 0x0b, 0x7f, 0x00, 0x41, 0xcd, 0x00, 0x0b, 0x07, 0x36, 0x08, 0x03, 0x6d, 0x65, 0x6d, 0x02,
    0x00, 0x03, 0x74, 0x61, 0x62, 0x01, 0x00, 0x03, 0x67, 0x33, 0x32, 0x03, 0x00, 0x03, 0x67, 0x36,
    0x34, 0x03, 0x01, 0x04, 0x67, 0x66, 0x36, 0x34, 0x03, 0x02, 0x04, 0x67, 0x72, 0x65, 0x66, 0x03,
    0x03, 0x04, 0x67, 0x69, 0x6d, 0x6d, 0x03, 0x04, 0x05, 0x6d, 0x73, 0x69, 0x7a, 0x65, 0x00, 0x04,
    0x09, 0x0c, 0x02, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x01, 0x01, 0x00, 0x02, 0x02, 0x03, 0x0a, 0x15,
    0x04, 0x04, 0x00, 0x41, 0x0a, 0x0b, 0x04, 0x00, 0x41, 0x14, 0x0b, 0x04, 0x00, 0x41, 0x1e, 0x0b,
    0x04, 0x00, 0x3f, 0x00, 0x0b, 0x0b, 0x19, 0x02, 0x00, 0x41, 0x10, 0x0b, 0x05, 0x68, 0x65, 0x6c,
    0x6c, 0x6f, 0x01, 0x0c, 0x70, 0x61, 0x73, 0x73, 0x69, 0x76, 0x65, 0x2d, 0x64, 0x61, 0x74, 0x61,
};

/* (module
 *   (import "env" "base" (global $base i32))
 *   (global $g (export "g") (mut i32) (i32.const 0))
 *   (memory (export "mem") 1)
 *   (func (export "bump") (global.set $g (i32.add (global.get $base) (i32.const 5)))
 *     (i32.store (i32.const 8) (i32.const 99)))
 *   (func (export "get") (result i32) (global.get $g))
 *   (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
 * ) */
static const uint8_t c_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0d, 0x03, 0x60, 0x00, 0x00, 0x60, 0x00,
    0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x02, 0x0d, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x62,
    0x61, 0x73, 0x65, 0x03, 0x7f, 0x00, 0x03, 0x04, 0x03, 0x00, 0x01, 0x02, 0x05, 0x03, 0x01, 0x00,
    0x01, 0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b, 0x07, 0x1f, 0x05, 0x01, 0x67, 0x03, 0x01,
    0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x04, 0x62, 0x75, 0x6d, 0x70, 0x00, 0x00, 0x03, 0x67, 0x65,
    0x74, 0x00, 0x01, 0x04, 0x6c, 0x6f, 0x61, 0x64, 0x00, 0x02, 0x0a, 0x20, 0x03, 0x11, 0x00, 0x23,
    0x00, 0x41, 0x05, 0x6a, 0x24, 0x01, 0x41, 0x08, 0x41, 0xe3, 0x00, 0x36, 0x02, 0x00, 0x0b, 0x04,
    0x00, 0x23, 0x01, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b,
};

/* (module
 *   (memory (export "mem") 16)
 *   (func (export "poke") (i32.store8 (i32.const 600000) (i32.const 42)))
 * ) */
static const uint8_t d_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
    0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x10, 0x07, 0x0e, 0x02, 0x03, 0x6d,
    0x65, 0x6d, 0x02, 0x00, 0x04, 0x70, 0x6f, 0x6b, 0x65, 0x00, 0x00, 0x0a, 0x0d, 0x01,
    0x0b, 0x00, 0x41, 0xc0, 0xcf, 0x24, 0x41, 0x2a, 0x3a, 0x00, 0x00, 0x0b,
};

/* (module
 *   (import "env" "mem" (memory 1))
 *   (func (export "f"))
 * ) */
static const uint8_t e_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x02,
    0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01, 0x03, 0x02,
    0x01, 0x00, 0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
};

/* (module
 *   (global (export "g") (mut i64) (i64.const 0))
 *   (func (export "set") (global.set 0 (i64.const -1)))
 * ) */
static const uint8_t f_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00,
    0x00, 0x03, 0x02, 0x01, 0x00, 0x06, 0x06, 0x01, 0x7e, 0x01, 0x42, 0x00, 0x0b,
    0x07, 0x0b, 0x02, 0x01, 0x67, 0x03, 0x00, 0x03, 0x73, 0x65, 0x74, 0x00, 0x00,
    0x0a, 0x08, 0x01, 0x06, 0x00, 0x42, 0x7f, 0x24, 0x00, 0x0b,
};

/* (module
 *   (memory (export "mem") 1)
 *   (global $n (export "n") (mut i32) (i32.const 0))
 *   (data (i32.const 0) "seg!")
 *   (func $start
 *     (global.set $n (i32.add (global.get $n) (i32.const 1)))
 *     (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1))))
 *   (start $start)
 *   (func (export "clobber") (i32.store (i32.const 0) (i32.const 0x21212121)))
 * ) */
static const uint8_t g_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x03,
    0x02, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b,
    0x07, 0x15, 0x03, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01, 0x6e, 0x03, 0x00, 0x07, 0x63, 0x6c,
    0x6f, 0x62, 0x62, 0x65, 0x72, 0x00, 0x01, 0x08, 0x01, 0x00, 0x0a, 0x26, 0x02, 0x16, 0x00, 0x23,
    0x00, 0x41, 0x01, 0x6a, 0x24, 0x00, 0x41, 0x08, 0x41, 0x08, 0x28, 0x02, 0x00, 0x41, 0x01, 0x6a,
    0x36, 0x02, 0x00, 0x0b, 0x0d, 0x00, 0x41, 0x00, 0x41, 0xa1, 0xc2, 0x84, 0x89, 0x02, 0x36, 0x02,
    0x00, 0x0b, 0x0b, 0x0a, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x04, 0x73, 0x65, 0x67, 0x21,
};

#define PAGE   65536u
#define HEADER      96u
/* Header fields of the snapshot format (src/wasm/snapshot.c), by byte offset. */
#define H_VERSION   8u
#define H_HSIZE     12u
#define H_MODLEN    16u
#define H_NFUNCS    24u
#define H_NDATAS    44u
#define H_CHECKSUM  48u
#define H_STATE_OFF 56u
#define H_STATE_LEN 64u
#define H_META_OFF  72u
#define H_META_LEN  80u
#define H_FILE_LEN  88u
/* Module a's defined globals (g32, g64, gf64, gref, gimm) lead its state section. */
#define A_NGLOBALS 5u
#define A_NFUNCS   15u

/* ---- little helpers ---- */

static uint32_t
rd32(const uint8_t *b, size_t off)
{
    return (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 |
           (uint32_t)b[off + 3] << 24;
}

static uint64_t
rd64(const uint8_t *b, size_t off)
{
    return rd32(b, off) | (uint64_t)rd32(b, off + 4) << 32;
}

static void
wr32(uint8_t *b, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        b[off + (size_t)i] = (uint8_t)(v >> (8 * i));
    }
}

static void
wr64(uint8_t *b, size_t off, uint64_t v)
{
    wr32(b, off, (uint32_t)v);
    wr32(b, off + 4, (uint32_t)(v >> 32));
}

/* An anonymous temporary file under /tmp. */
static int
tmp_fd(void)
{
    char path[] = "/tmp/capsule-test-snapshot-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

static uint8_t *
slurp(int fd, size_t *len)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    *len = (size_t)st.st_size;
    uint8_t *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    assert_int_equal(pread(fd, b, *len, 0), (ssize_t)*len);
    return b;
}

static int
fd_of_bytes(const uint8_t *b, size_t len)
{
    int fd = tmp_fd();
    if (len) {
        assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
    }
    return fd;
}

static cap_module_t *
load(const uint8_t *bytes, size_t len)
{
    cap_module_t *m = NULL;
    cap_error_t err;
    assert_int_equal(cap_module_new(bytes, len, &m, &err), CAP_OK);
    return m;
}

static cap_status
host_fn(cap_caller_t *caller, const cap_slot_t *args, cap_slot_t *results, void *env)
{
    (void)caller;
    (void)args;
    (void)env;
    results[0] = 55;
    return CAP_OK;
}

/* A store with a linker providing env.host (returns 55) and env.base (immutable i32 37). */
typedef struct ie {
    cap_store_t *store;
    cap_linker_t *linker;
    cap_instance_t *inst;
} ie;

static void
ie_new(ie *e, uint64_t mem_limit)
{
    cap_error_t err;
    memset(e, 0, sizeof *e);
    assert_int_equal(cap_store_new(&e->store, &err), CAP_OK);
    if (mem_limit) {
        cap_store_set_memory_limit(e->store, mem_limit);
    }
    assert_int_equal(cap_linker_new(&e->linker, &err), CAP_OK);
    static const cap_valtype res[] = {CAP_I32};
    cap_functype_t ft = {.nparams = 0, .nresults = 1, .params = NULL, .results = res};
    assert_int_equal(
        cap_linker_define_host(e->linker, e->store, "env", "host", &ft, host_fn, NULL, &err),
        CAP_OK);
    cap_global_t *g = NULL;
    cap_val_t v = {.type = CAP_I32, .of.i32 = 37};
    assert_int_equal(cap_global_new(e->store, v, false, &g, &err), CAP_OK);
    cap_extern_t ext = {.kind = CAP_EXTERN_GLOBAL, .of.global = g};
    assert_int_equal(cap_linker_define(e->linker, "env", "base", ext, &err), CAP_OK);
}

static void
ie_free(ie *e)
{
    cap_linker_free(e->linker);
    cap_store_free(e->store);
    memset(e, 0, sizeof *e);
}

static void
ie_instantiate(ie *e, const cap_module_t *m)
{
    cap_error_t err;
    assert_int_equal(cap_instance_new(e->store, m, e->linker, &e->inst, &err), CAP_OK);
}

static cap_status
ie_restore(ie *e, const cap_module_t *m, const cap_snapshot_t *s, cap_error_t *err)
{
    return cap_instance_restore(e->store, m, e->linker, s, &e->inst, err);
}

static void
ie_restore_ok(ie *e, const cap_module_t *m, const cap_snapshot_t *s)
{
    cap_error_t err;
    cap_status st = ie_restore(e, m, s, &err);
    if (st != CAP_OK) {
        print_message("restore: %s: %s\n", cap_status_name(st), err.msg);
    }
    assert_int_equal(st, CAP_OK);
    assert_non_null(e->inst);
}

static cap_extern_t
exp_of(const ie *e, const char *name)
{
    cap_extern_t ext;
    cap_error_t err;
    assert_int_equal(cap_instance_export(e->inst, name, &ext, &err), CAP_OK);
    return ext;
}

/* Calls an export with up to two i32 arguments and at most one i32 result. */
static cap_status
call(ie *e, const char *name, size_t nargs, uint32_t a0, uint32_t a1, uint32_t *res,
     cap_error_t *err)
{
    cap_extern_t ext = exp_of(e, name);
    assert_int_equal(ext.kind, CAP_EXTERN_FUNC);
    cap_functype_t ft = cap_func_type(ext.of.func);
    cap_val_t args[2] = {{.type = CAP_I32, .of.i32 = a0}, {.type = CAP_I32, .of.i32 = a1}};
    cap_val_t r = {.type = CAP_I32};
    cap_status st = cap_func_call(e->store, ext.of.func, args, nargs, &r, ft.nresults, err);
    if (st == CAP_OK && res) {
        *res = r.of.i32;
    }
    return st;
}

static uint32_t
call_ok(ie *e, const char *name, size_t nargs, uint32_t a0, uint32_t a1)
{
    cap_error_t err;
    uint32_t r = 0;
    cap_status st = call(e, name, nargs, a0, a1, &r, &err);
    if (st != CAP_OK) {
        print_message("%s: %s: %s\n", name, cap_status_name(st), err.msg);
    }
    assert_int_equal(st, CAP_OK);
    return r;
}

static cap_val_t
global_of(const ie *e, const char *name)
{
    cap_extern_t ext = exp_of(e, name);
    assert_int_equal(ext.kind, CAP_EXTERN_GLOBAL);
    return cap_global_get(ext.of.global);
}

static cap_memory_t *
mem_of(const ie *e)
{
    cap_extern_t ext = exp_of(e, "mem");
    assert_int_equal(ext.kind, CAP_EXTERN_MEMORY);
    return ext.of.memory;
}

static int
write_snap(const cap_instance_t *inst, const char *meta)
{
    cap_error_t err;
    int fd = tmp_fd();
    cap_status st = cap_snapshot_write(inst, fd, meta, meta ? strlen(meta) : 0, &err);
    if (st != CAP_OK) {
        print_message("snapshot_write: %s: %s\n", cap_status_name(st), err.msg);
    }
    assert_int_equal(st, CAP_OK);
    return fd;
}

static cap_snapshot_t *
open_snap(int fd)
{
    cap_snapshot_t *s = NULL;
    cap_error_t err;
    cap_status st = cap_snapshot_open(fd, &s, &err);
    if (st != CAP_OK) {
        print_message("snapshot_open: %s: %s\n", cap_status_name(st), err.msg);
    }
    assert_int_equal(st, CAP_OK);
    assert_non_null(s);
    return s;
}

/* Module a after "mutate": its snapshot file and a copy of its memory (3 pages). */
typedef struct asnap {
    cap_module_t *m;
    int fd;
    uint8_t mem[3 * PAGE];
} asnap;

static asnap *
a_snapshot(const char *meta)
{
    asnap *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->m = load(a_wasm, sizeof a_wasm);
    ie e;
    ie_new(&e, 0);
    ie_instantiate(&e, a->m);
    call_ok(&e, "mutate", 0, 0, 0);
    assert_int_equal(cap_memory_size(mem_of(&e)), 3 * PAGE);
    memcpy(a->mem, cap_memory_data(mem_of(&e)), sizeof a->mem);
    a->fd = write_snap(e.inst, meta);
    ie_free(&e); // the snapshot outlives the instance it was taken from
    return a;
}

static void
a_free(asnap *a)
{
    close(a->fd);
    cap_module_free(a->m);
    free(a);
}

/* Every piece of module a's state after "mutate", in a restored instance. */
static void
check_a_state(ie *e, const uint8_t *mem)
{
    cap_error_t err;
    assert_int_equal(call_ok(e, "msize", 0, 0, 0), 3);
    cap_memory_t *m = mem_of(e);
    assert_int_equal(cap_memory_size(m), 3 * PAGE);
    const uint8_t *d = cap_memory_data(m);
    assert_memory_equal(d, mem, 3 * PAGE);
    assert_memory_equal(d + 16, "hello", 5);
    assert_memory_equal(d + 100, "passive-data", 12);
    assert_int_equal(call_ok(e, "load", 1, 65532, 0), 0xdeadbeefu);
    assert_int_equal(call_ok(e, "load", 1, 131080, 0), 0x05060708u); // page 2: after the grow
    assert_int_equal(call_ok(e, "load", 1, 131084, 0), 0x01020304u);
    assert_int_equal(call_ok(e, "load", 1, 196604, 0), 0);

    cap_val_t v = global_of(e, "g32");
    assert_int_equal(v.type, CAP_I32);
    assert_int_equal(v.of.i32, (uint32_t)-123456);
    v = global_of(e, "g64");
    assert_int_equal(v.type, CAP_I64);
    assert_true(v.of.i64 == 0x123456789abcdef0ull);
    v = global_of(e, "gf64");
    assert_int_equal(v.type, CAP_F64);
    double f;
    memcpy(&f, &v.of.f64_bits, sizeof f);
    assert_true(f == -2.25);
    v = global_of(e, "gimm");
    assert_int_equal(v.of.i32, 77);
    v = global_of(e, "gref");
    assert_int_equal(v.type, CAP_FUNCREF);
    assert_non_null(v.of.funcref);

    /* The table: elem (0), table.set (1), table.init of the passive segment (2, 3), table.grow
     * with the imported function (4, 5), resolved against this store's import. */
    assert_int_equal(call_ok(e, "tsize", 0, 0, 0), 6);
    static const uint32_t want[6] = {10, 20, 20, 30, 55, 55};
    for (uint32_t i = 0; i < 6; i++) {
        assert_int_equal(call_ok(e, "call", 1, i, 0), want[i]);
    }
    uint32_t r;
    assert_int_equal(call(e, "call", 1, 6, 0, &r, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_INDIRECT_OOB);
    cap_extern_t tab = exp_of(e, "tab");
    assert_int_equal(cap_table_size(tab.of.table), 6);

    /* Dropped segments stay dropped: a non-empty init traps, an empty one does not. */
    assert_int_equal(call(e, "init_dropped", 0, 0, 0, NULL, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_MEMORY_OOB);
    assert_int_equal(call(e, "init_dropped0", 0, 0, 0, NULL, &err), CAP_OK);
    assert_int_equal(call(e, "tinit_dropped", 0, 0, 0, NULL, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_TABLE_OOB);

    /* The funcref global names $f30 of this instance (call_gref overwrites table slot 0). */
    assert_int_equal(call_ok(e, "call_gref", 0, 0, 0), 30);
}

/* ---- round trips ---- */

static void
test_snapshot_restores_every_piece(void **state)
{
    (void)state;
    asnap *a = a_snapshot("meta-1");
    cap_snapshot_t *s = open_snap(a->fd);
    assert_true(cap_snapshot_memory_bytes(s) == 3 * PAGE);
    size_t mlen = 0;
    const void *meta = cap_snapshot_meta(s, &mlen);
    assert_int_equal(mlen, 6);
    assert_memory_equal(meta, "meta-1", 6);

    ie e;
    ie_new(&e, 0);
    ie_restore_ok(&e, a->m, s);
    check_a_state(&e, a->mem);
    /* The restored memory grows like any other, with zero pages. */
    uint32_t old = 0;
    assert_int_equal(cap_memory_grow(mem_of(&e), 1, &old), CAP_OK);
    assert_int_equal(old, 3);
    assert_int_equal(call_ok(&e, "load", 1, 3 * PAGE + 8, 0), 0);
    assert_int_equal(call_ok(&e, "load", 1, 65532, 0), 0xdeadbeefu);
    ie_free(&e);
    cap_snapshot_free(s);
    a_free(a);
}

static void
test_snapshot_restore_is_private(void **state)
{
    (void)state;
    asnap *a = a_snapshot(NULL);
    cap_snapshot_t *s = open_snap(a->fd);
    size_t mlen = 99;
    assert_null(cap_snapshot_meta(s, &mlen));
    assert_int_equal(mlen, 0);

    /* The first restored instance scribbles over everything it can. */
    ie e1;
    ie_new(&e1, 0);
    ie_restore_ok(&e1, a->m, s);
    memset(cap_memory_data(mem_of(&e1)), 0xa5, 3 * PAGE);
    call_ok(&e1, "store", 2, 16, 0x01010101);
    cap_val_t v = {.type = CAP_I32, .of.i32 = 9};
    assert_int_equal(cap_global_set(exp_of(&e1, "g32").of.global, v), CAP_OK);
    assert_int_equal(call_ok(&e1, "call_gref", 0, 0, 0), 30); // table slot 0 now $f30

    /* A second instance in the same store and one in another store see the original. */
    ie e2;
    ie_new(&e2, 0);
    ie_restore_ok(&e2, a->m, s);
    check_a_state(&e2, a->mem);
    cap_instance_t *first = e1.inst;
    ie_restore_ok(&e1, a->m, s);
    assert_ptr_not_equal(first, e1.inst);
    check_a_state(&e1, a->mem);

    /* Changing or emptying the file after it was opened changes nothing. */
    static const uint8_t junk[4096] = {0xee};
    for (off_t off = 0; off < 4 * (off_t)PAGE; off += (off_t)sizeof junk) {
        assert_int_equal(pwrite(a->fd, junk, sizeof junk, off), (ssize_t)sizeof junk);
    }
    assert_int_equal(ftruncate(a->fd, 0), 0);
    ie e3;
    ie_new(&e3, 0);
    ie_restore_ok(&e3, a->m, s);
    check_a_state(&e3, a->mem);
    ie_free(&e3);
    ie_free(&e2);
    ie_free(&e1);
    cap_snapshot_free(s);
    a_free(a);
}

/* A snapshot of a restored instance holds what happened after the restore. */
static void
test_snapshot_of_restored_instance(void **state)
{
    (void)state;
    asnap *a = a_snapshot(NULL);
    cap_snapshot_t *s = open_snap(a->fd);
    ie e;
    ie_new(&e, 0);
    ie_restore_ok(&e, a->m, s);
    call_ok(&e, "store", 2, 196600, 0xcafef00d);
    assert_int_equal(call_ok(&e, "call_gref", 0, 0, 0), 30);
    int fd2 = write_snap(e.inst, "second");
    ie_free(&e);
    cap_snapshot_t *s2 = open_snap(fd2);
    ie e2;
    ie_new(&e2, 0);
    ie_restore_ok(&e2, a->m, s2);
    assert_int_equal(call_ok(&e2, "load", 1, 196600, 0), 0xcafef00du);
    assert_int_equal(call_ok(&e2, "call", 1, 0, 0), 30);
    assert_int_equal(call_ok(&e2, "call", 1, 4, 0), 55);
    assert_int_equal(call_ok(&e2, "load", 1, 65532, 0), 0xdeadbeefu);
    ie_free(&e2);
    cap_snapshot_free(s2);
    close(fd2);
    cap_snapshot_free(s);
    a_free(a);
}

/* Restoring runs neither the start function nor the active segments, and charges no fuel. */
static void
test_snapshot_restore_runs_no_code(void **state)
{
    (void)state;
    cap_module_t *m = load(g_wasm, sizeof g_wasm);
    ie e;
    ie_new(&e, 0);
    ie_instantiate(&e, m);
    assert_int_equal(global_of(&e, "n").of.i32, 1);
    call_ok(&e, "clobber", 0, 0, 0);
    int fd = write_snap(e.inst, NULL);
    ie_free(&e);
    cap_snapshot_t *s = open_snap(fd);
    ie_new(&e, 0);
    cap_store_set_fuel(e.store, 1000);
    ie_restore_ok(&e, m, s);
    assert_true(cap_store_fuel_consumed(e.store) == 0);
    assert_int_equal(global_of(&e, "n").of.i32, 1);
    const uint8_t *d = cap_memory_data(mem_of(&e));
    assert_memory_equal(d, "!!!!", 4); // not the data segment's "seg!"
    assert_int_equal(d[8], 1);         // the start function ran once, before the snapshot
    assert_true(cap_store_memory_used(e.store) == PAGE);
    ie_free(&e);
    cap_snapshot_free(s);
    close(fd);
    cap_module_free(m);
}

/* A module that imports an immutable global (its value comes from the linker) and has no
 * table: the saved state holds only the defined global. */
static void
test_snapshot_imported_immutable_global(void **state)
{
    (void)state;
    cap_module_t *m = load(c_wasm, sizeof c_wasm);
    ie e;
    ie_new(&e, 0);
    ie_instantiate(&e, m);
    call_ok(&e, "bump", 0, 0, 0);
    assert_int_equal(call_ok(&e, "get", 0, 0, 0), 42);
    int fd = write_snap(e.inst, "c");
    ie_free(&e);
    cap_snapshot_t *s = NULL;
    cap_error_t err;
    cap_status st = cap_snapshot_open(fd, &s, &err);
    if (st != CAP_OK) {
        print_message("open of a snapshot of a module importing a global: %s: %s\n",
                      cap_status_name(st), err.msg);
    }
    assert_int_equal(st, CAP_OK);
    ie_new(&e, 0);
    ie_restore_ok(&e, m, s);
    assert_int_equal(call_ok(&e, "get", 0, 0, 0), 42);
    assert_int_equal(call_ok(&e, "load", 1, 8, 0), 99);
    ie_free(&e);
    cap_snapshot_free(s);
    close(fd);
    cap_module_free(m);
}

/* A module without memory (no memory image at all) and a 64-bit global. */
static void
test_snapshot_no_memory(void **state)
{
    (void)state;
    cap_module_t *m = load(f_wasm, sizeof f_wasm);
    ie e;
    ie_new(&e, 0);
    ie_instantiate(&e, m);
    call_ok(&e, "set", 0, 0, 0);
    int fd = write_snap(e.inst, NULL);
    ie_free(&e);
    cap_snapshot_t *s = open_snap(fd);
    assert_true(cap_snapshot_memory_bytes(s) == 0);
    ie_new(&e, 0);
    ie_restore_ok(&e, m, s);
    assert_true(global_of(&e, "g").of.i64 == UINT64_MAX);
    ie_free(&e);
    cap_snapshot_free(s);
    close(fd);
    cap_module_free(m);
}

/* ---- what does not fit ---- */

static void
test_snapshot_other_module_link(void **state)
{
    (void)state;
    asnap *a = a_snapshot(NULL);
    cap_module_t *b = load(b_wasm, sizeof b_wasm);
    cap_snapshot_t *s = open_snap(a->fd);
    ie e;
    ie_new(&e, 0);
    cap_error_t err;
    assert_int_equal(ie_restore(&e, b, s, &err), CAP_ERR_LINK);
    assert_non_null(strstr(err.msg, "does not match"));
    ie_free(&e);

    /* And the other way round: b's snapshot into a. */
    ie_new(&e, 0);
    ie_instantiate(&e, b);
    int fd = write_snap(e.inst, NULL);
    ie_free(&e);
    cap_snapshot_t *sb = open_snap(fd);
    ie_new(&e, 0);
    assert_int_equal(ie_restore(&e, a->m, sb, &err), CAP_ERR_LINK);
    ie_free(&e);
    /* Each module still restores its own snapshot. */
    ie_new(&e, 0);
    ie_restore_ok(&e, b, sb);
    assert_int_equal(call_ok(&e, "msize", 0, 0, 0), 1);
    ie_free(&e);
    cap_snapshot_free(sb);
    close(fd);
    cap_snapshot_free(s);
    cap_module_free(b);
    a_free(a);
}

static void
test_snapshot_memory_cap(void **state)
{
    (void)state;
    asnap *a = a_snapshot(NULL);
    cap_snapshot_t *s = open_snap(a->fd);
    ie e;
    ie_new(&e, 2 * PAGE); // the module's 1 page fits, the snapshot's 3 do not
    cap_error_t err;
    assert_int_equal(ie_restore(&e, a->m, s, &err), CAP_ERR_TRAP);
    assert_int_equal(err.trap, CAP_TRAP_MEMORY_LIMIT);
    assert_true(cap_store_memory_used(e.store) <= 2 * PAGE);
    ie_free(&e);
    ie_new(&e, 3 * PAGE); // exactly enough
    ie_restore_ok(&e, a->m, s);
    assert_true(cap_store_memory_used(e.store) == 3 * PAGE);
    check_a_state(&e, a->mem);
    uint32_t old;
    assert_int_not_equal(cap_memory_grow(mem_of(&e), 1, &old), CAP_OK);
    ie_free(&e);
    cap_snapshot_free(s);
    a_free(a);
}

static void
test_snapshot_unsupported_instances(void **state)
{
    (void)state;
    cap_error_t err;
    /* An imported memory lives outside the instance. */
    cap_module_t *m = load(e_wasm, sizeof e_wasm);
    ie e;
    ie_new(&e, 0);
    cap_memory_t *mem = NULL;
    assert_int_equal(cap_memory_new(e.store, 1, 1, true, &mem, &err), CAP_OK);
    cap_extern_t ext = {.kind = CAP_EXTERN_MEMORY, .of.memory = mem};
    assert_int_equal(cap_linker_define(e.linker, "env", "mem", ext, &err), CAP_OK);
    ie_instantiate(&e, m);
    int fd = tmp_fd();
    assert_int_equal(cap_snapshot_write(e.inst, fd, NULL, 0, &err), CAP_ERR_USAGE);
    ie_free(&e);
    cap_module_free(m);

    /* A host value (externref) in a table cannot outlive this process. */
    m = load(a_wasm, sizeof a_wasm);
    ie_new(&e, 0);
    ie_instantiate(&e, m);
    int fd_null = write_snap(e.inst, NULL); // a null externref is fine
    close(fd_null);
    cap_val_t x = {.type = CAP_EXTERNREF, .of.externref = 0x1234};
    assert_int_equal(cap_func_call(e.store, exp_of(&e, "setx").of.func, &x, 1, NULL, 0, &err),
                     CAP_OK);
    assert_int_equal(cap_snapshot_write(e.inst, fd, NULL, 0, &err), CAP_ERR_USAGE);
    ie_free(&e);
    cap_module_free(m);

    /* Bad arguments. */
    cap_snapshot_t *s = (cap_snapshot_t *)&err;
    assert_int_equal(cap_snapshot_open(-1, &s, &err), CAP_ERR_USAGE);
    assert_int_equal(cap_snapshot_open(fd, NULL, &err), CAP_ERR_USAGE);
    assert_int_equal(cap_snapshot_write(NULL, fd, NULL, 0, &err), CAP_ERR_USAGE);
    ie_new(&e, 0);
    m = load(f_wasm, sizeof f_wasm);
    cap_instance_t *inst = NULL;
    assert_int_equal(cap_instance_restore(e.store, m, NULL, NULL, &inst, &err), CAP_ERR_USAGE);
    assert_null(inst);
    ie_free(&e);
    cap_module_free(m);
    close(fd);
}

/* ---- the file ---- */

static void
test_snapshot_set_meta_replaces(void **state)
{
    (void)state;
    asnap *a = a_snapshot("short");
    cap_error_t err;
    static const char longer[] = "{\"format\":1,\"tasks\":{\"main\":{\"compute\":\"LOW\"}},"
                                 "\"padding\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}";
    assert_int_equal(cap_snapshot_set_meta(a->fd, longer, strlen(longer), &err), CAP_OK);
    cap_snapshot_t *s = open_snap(a->fd);
    size_t mlen = 0;
    const void *meta = cap_snapshot_meta(s, &mlen);
    assert_int_equal(mlen, strlen(longer));
    assert_memory_equal(meta, longer, mlen);
    ie e;
    ie_new(&e, 0);
    ie_restore_ok(&e, a->m, s);
    check_a_state(&e, a->mem);
    ie_free(&e);
    cap_snapshot_free(s);

    /* Shorter again: the file shrinks with it, and no trace of the longer blob is read. */
    struct stat st1, st2;
    assert_int_equal(fstat(a->fd, &st1), 0);
    assert_int_equal(cap_snapshot_set_meta(a->fd, "ab", 2, &err), CAP_OK);
    assert_int_equal(fstat(a->fd, &st2), 0);
    assert_int_equal(st1.st_size - st2.st_size, (off_t)(strlen(longer) - 2));
    s = open_snap(a->fd);
    meta = cap_snapshot_meta(s, &mlen);
    assert_int_equal(mlen, 2);
    assert_memory_equal(meta, "ab", 2);
    cap_snapshot_free(s);

    /* Empty. */
    assert_int_equal(cap_snapshot_set_meta(a->fd, NULL, 0, &err), CAP_OK);
    s = open_snap(a->fd);
    assert_null(cap_snapshot_meta(s, &mlen));
    assert_int_equal(mlen, 0);
    ie_new(&e, 0);
    ie_restore_ok(&e, a->m, s);
    check_a_state(&e, a->mem);
    ie_free(&e);
    cap_snapshot_free(s);

    /* Not a snapshot. */
    int fd = tmp_fd();
    assert_int_equal(pwrite(fd, "not a snapshot at all, just some text....", 41, 0), 41);
    assert_int_not_equal(cap_snapshot_set_meta(fd, "x", 1, &err), CAP_OK);
    close(fd);
    a_free(a);
}

static void
test_snapshot_sparse_zero_pages(void **state)
{
    (void)state;
    cap_module_t *m = load(d_wasm, sizeof d_wasm);
    ie e;
    ie_new(&e, 0);
    ie_instantiate(&e, m);
    call_ok(&e, "poke", 0, 0, 0);
    int fd = write_snap(e.inst, "sparse");
    ie_free(&e);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    uint64_t on_disk = (uint64_t)st.st_blocks * 512;
    print_message("sparse: size %lld, on disk %llu\n", (long long)st.st_size,
                  (unsigned long long)on_disk);
    assert_true((uint64_t)st.st_size >= 16 * PAGE);
    assert_true(on_disk <= 4 * PAGE); // 1 MiB of memory, 1 non-zero page
    cap_snapshot_t *s = open_snap(fd);
    assert_true(cap_snapshot_memory_bytes(s) == 16 * PAGE);
    ie_new(&e, 0);
    ie_restore_ok(&e, m, s);
    const uint8_t *d = cap_memory_data(mem_of(&e));
    size_t nonzero = 0;
    for (size_t i = 0; i < 16 * PAGE; i++) {
        nonzero += d[i] != 0;
    }
    assert_int_equal(nonzero, 1);
    assert_int_equal(d[600000], 42);
    ie_free(&e);
    cap_snapshot_free(s);
    close(fd);
    cap_module_free(m);
}

/* ---- damaged and forged files ---- */

/* The format's damage checksum (src/wasm/snapshot.c), recomputed after a deliberate forgery so
 * that the forged field itself, not the checksum, is what the reader must refuse. */
static uint64_t
t_mix(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i < 8 ? n - i : 8);
        h ^= w;
        h *= 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    h ^= n;
    return h * 0xBF58476D1CE4E5B9ull;
}

static bool
t_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

static void
fix_checksum(uint8_t *b, size_t len)
{
    uint64_t st = rd64(b, H_STATE_OFF), st_len = rd64(b, H_STATE_LEN), meta = rd64(b, H_META_OFF);
    if (st > len || st_len > len - st || meta > len) {
        return;
    }
    uint64_t sum = t_mix(0x6361707375ull, b + st, (size_t)st_len);
    uint64_t first = (st + st_len + PAGE - 1) / PAGE * PAGE; // the images follow the state
    for (uint64_t at = first; at + PAGE <= meta; at += PAGE) {
        if (!t_zero(b + at, PAGE)) {
            uint8_t o[8];
            memcpy(o, &at, 8);
            sum = t_mix(t_mix(sum, o, 8), b + at, PAGE);
        }
    }
    wr64(b, H_CHECKSUM, sum);
}

static cap_status
open_bytes(const uint8_t *b, size_t len, cap_snapshot_t **s, cap_error_t *err)
{
    int fd = fd_of_bytes(b, len);
    *s = NULL;
    cap_status st = cap_snapshot_open(fd, s, err);
    close(fd);
    return st;
}

static void
expect_malformed(const uint8_t *b, size_t len, const char *what)
{
    cap_snapshot_t *s = NULL;
    cap_error_t err;
    cap_status st = open_bytes(b, len, &s, &err);
    if (st != CAP_ERR_MALFORMED) {
        print_message("%s: open gave %s (%s)\n", what, cap_status_name(st), err.msg);
    }
    assert_int_equal(st, CAP_ERR_MALFORMED);
    assert_null(s);
}

/* Open, and when that works restore into a fresh store: either fails cleanly (MALFORMED when
 * opened, LINK when restored). */
static void
expect_rejected(const uint8_t *b, size_t len, const cap_module_t *m, const char *what)
{
    cap_snapshot_t *s = NULL;
    cap_error_t err;
    cap_status st = open_bytes(b, len, &s, &err);
    if (st == CAP_OK) {
        ie e;
        ie_new(&e, 0);
        st = ie_restore(&e, m, s, &err);
        ie_free(&e);
        cap_snapshot_free(s);
        if (st != CAP_ERR_LINK) {
            print_message("%s: restore gave %s (%s)\n", what, cap_status_name(st), err.msg);
        }
        assert_int_equal(st, CAP_ERR_LINK);
    } else {
        if (st != CAP_ERR_MALFORMED) {
            print_message("%s: open gave %s (%s)\n", what, cap_status_name(st), err.msg);
        }
        assert_int_equal(st, CAP_ERR_MALFORMED);
        assert_null(s);
    }
}

static void
test_snapshot_truncated_or_bad_magic(void **state)
{
    (void)state;
    asnap *a = a_snapshot("meta");
    size_t len;
    uint8_t *b = slurp(a->fd, &len);
    uint64_t state_end = rd64(b, H_STATE_OFF) + rd64(b, H_STATE_LEN);
    uint64_t meta_off = rd64(b, H_META_OFF);
    assert_true(rd64(b, H_FILE_LEN) == len);
    assert_true(meta_off + 4 == len);
    const size_t cuts[] = {
        0,         1,    7,          8,        12,       HEADER - 1, HEADER, state_end - 1,
        state_end, PAGE, PAGE + 100, 2 * PAGE, meta_off, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "cut at %zu", cuts[i]);
        expect_malformed(b, cuts[i], what);
    }
    /* Longer than it says. */
    uint8_t *big = calloc(1, len + 10);
    assert_non_null(big);
    memcpy(big, b, len);
    expect_malformed(big, len + 10, "10 bytes appended");
    free(big);

    uint8_t *c = malloc(len);
    assert_non_null(c);
    memcpy(c, b, len);
    c[0] ^= 0x20;
    expect_malformed(c, len, "bad magic");
    memcpy(c, b, len);
    memcpy(c, "\0asm\1\0\0\0", 8);
    expect_malformed(c, len, "a wasm module");
    memcpy(c, b, len);
    wr32(c, H_VERSION, 1);
    expect_malformed(c, len, "version 1 (before the checksum)");
    memcpy(c, b, len);
    wr32(c, H_VERSION, 3);
    expect_malformed(c, len, "version 3");
    memcpy(c, b, len);
    wr32(c, H_HSIZE, HEADER + 8);
    expect_malformed(c, len, "header size");
    free(c);

    /* A file of zeros and a text file. */
    uint8_t *z = calloc(1, 3 * PAGE);
    assert_non_null(z);
    expect_malformed(z, 3 * PAGE, "zeros");
    free(z);
    static const char txt[] = "CAPSNAP1 but not really a snapshot";
    expect_malformed((const uint8_t *)txt, sizeof txt, "text");

    /* The good file still opens after all that. */
    cap_snapshot_t *s = NULL;
    cap_error_t err;
    assert_int_equal(open_bytes(b, len, &s, &err), CAP_OK);
    cap_snapshot_free(s);
    free(b);
    a_free(a);
}

static void
test_snapshot_forged_header(void **state)
{
    (void)state;
    asnap *a = a_snapshot("meta");
    size_t len;
    uint8_t *b = slurp(a->fd, &len);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    assert_int_equal(rd32(b, H_NFUNCS), A_NFUNCS);

    /* Every count: huge, one more, one less. */
    for (size_t off = H_NFUNCS; off <= H_NDATAS; off += 4) {
        const uint32_t was = rd32(b, off);
        const uint32_t vals[] = {UINT32_MAX, 0x7fffffffu, 0x10000000u, was + 1, was - 1};
        for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
            if (k == 4 && was == 0) {
                continue;
            }
            memcpy(c, b, len);
            wr32(c, off, vals[k]);
            char what[64];
            snprintf(what, sizeof what, "count at %zu = %u", off, vals[k]);
            expect_rejected(c, len, a->m, what);
        }
    }
    /* The module length. */
    memcpy(c, b, len);
    wr64(c, H_MODLEN, rd64(b, H_MODLEN) + 1);
    expect_rejected(c, len, a->m, "module length");

    /* Offsets and lengths pointing outside the file or overflowing. */
    const struct {
        size_t off;
        uint64_t val;
    } fields[] = {
        {H_STATE_OFF, 0},
        {H_STATE_OFF, 1},
        {H_STATE_OFF, len},
        {H_STATE_OFF, UINT64_MAX},
        {H_STATE_OFF, UINT64_MAX - 7},
        {H_STATE_LEN, 0},
        {H_STATE_LEN, len},
        {H_STATE_LEN, UINT64_MAX},
        {H_STATE_LEN, (uint64_t)1 << 40},
        {H_META_OFF, len + 1},
        {H_META_OFF, UINT64_MAX},
        {H_META_LEN, len},
        {H_META_LEN, UINT64_MAX},
        {H_META_LEN, UINT64_MAX - 2},
        {H_FILE_LEN, len + 1},
        {H_FILE_LEN, len - 1},
        {H_FILE_LEN, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        memcpy(c, b, len);
        wr64(c, fields[i].off, fields[i].val);
        char what[64];
        snprintf(what, sizeof what, "field at %zu = %llu", fields[i].off,
                 (unsigned long long)fields[i].val);
        expect_rejected(c, len, a->m, what);
    }
    /* state_len one short or one long (the state then overlaps the padding). */
    memcpy(c, b, len);
    wr64(c, H_STATE_LEN, rd64(b, H_STATE_LEN) - 1);
    expect_rejected(c, len, a->m, "state one short");
    memcpy(c, b, len);
    wr64(c, H_STATE_LEN, rd64(b, H_STATE_LEN) + 1);
    expect_rejected(c, len, a->m, "state one long");
    free(c);
    free(b);
    a_free(a);
}

static void
test_snapshot_forged_state(void **state)
{
    (void)state;
    asnap *a = a_snapshot("meta");
    size_t len;
    uint8_t *b = slurp(a->fd, &len);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    const size_t st = (size_t)rd64(b, H_STATE_OFF);
    const size_t st_len = (size_t)rd64(b, H_STATE_LEN);
    /* Layout of a's state: 5 globals, table $t (size 6 + 6 entries), table $x (size 1 + 1
     * entry), 3 element and 2 data segment flags, one memory entry (u32 pages, u64 offset). */
    const size_t gref = st + 3 * 8, g32 = st;
    const size_t tab_t = st + A_NGLOBALS * 8, tab_x = tab_t + 4 + 6 * 4;
    const size_t memory = st + st_len - 12;
    assert_int_equal(rd32(b, tab_t), 6);
    assert_int_equal(rd32(b, tab_x), 1);
    assert_int_equal(memory, tab_x + 8 + 3 + 2);
    assert_int_equal(rd32(b, memory), 3);
    const uint64_t image = rd64(b, memory + 4);
    assert_true(image % PAGE == 0 && image >= st + st_len);

    const struct {
        size_t off;
        int width;
        uint64_t val;
        const char *what;
    } forged[] = {
        {tab_t + 4, 4, A_NFUNCS + 1, "table entry: function index = nfuncs"},
        {tab_t + 4 + 4, 4, UINT32_MAX, "table entry: function index huge"},
        {tab_t + 4 + 5 * 4, 4, 1000, "table entry 5: index 999"},
        {tab_t, 4, 3, "table size below its minimum"},
        {tab_t, 4, 11, "table size above its maximum"},
        {tab_t, 4, UINT32_MAX, "table size huge"},
        {tab_t, 4, 0x40000000u, "table size * 4 overflows 32 bits"},
        {tab_x + 4, 4, 1, "externref table holding a function index"},
        {tab_x, 4, 0, "externref table size 0 (below its minimum)"},
        {gref, 8, A_NFUNCS + 1, "funcref global: index = nfuncs"},
        {gref, 8, (uint64_t)1 << 40, "funcref global: index beyond 32 bits"},
        {gref, 8, UINT64_MAX, "funcref global: all ones"},
        {memory, 4, UINT32_MAX, "memory pages huge"},
        {memory, 4, 65537, "memory pages above the Wasm maximum"},
        {memory, 4, 101, "memory pages above the module's maximum"},
        {memory, 4, 0, "memory pages below the module's minimum"},
        {memory, 4, 4, "memory image running past the meta"},
        {memory + 4, 8, len, "memory image offset at the end of the file"},
        {memory + 4, 8, image + PAGE * 16, "memory image offset beyond the file"},
        {memory + 4, 8, image + 1, "memory image offset unaligned"},
        {memory + 4, 8, UINT64_MAX - PAGE + 1, "memory image offset near 2^64"},
        {memory + 4, 8, (uint64_t)1 << 63, "memory image offset 2^63"},
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        memcpy(c, b, len);
        if (forged[i].width == 4) {
            wr32(c, forged[i].off, (uint32_t)forged[i].val);
        } else {
            wr64(c, forged[i].off, forged[i].val);
        }
        fix_checksum(c, len);
        expect_rejected(c, len, a->m, forged[i].what);
    }
    /* Without the fixed-up checksum any change is refused as damage, even a harmless one. */
    memcpy(c, b, len);
    wr64(c, g32, 0xffffffff00000005ull);
    expect_rejected(c, len, a->m, "a changed byte with the old checksum");
    memcpy(c, b, len);
    c[image + 100] ^= 1;
    expect_rejected(c, len, a->m, "a changed memory byte with the old checksum");

    /* Harmless forgeries restore a state the guest could have had: an i32 global's upper half
     * is ignored, a passive segment marked dropped is dropped. */
    memcpy(c, b, len);
    wr64(c, g32, 0xffffffff00000005ull);
    fix_checksum(c, len);
    cap_snapshot_t *s = NULL;
    cap_error_t err;
    assert_int_equal(open_bytes(c, len, &s, &err), CAP_OK);
    ie e;
    ie_new(&e, 0);
    ie_restore_ok(&e, a->m, s);
    assert_int_equal(global_of(&e, "g32").of.i32, 5);
    cap_val_t v = {.type = CAP_I32, .of.i32 = 6};
    assert_int_equal(cap_global_set(exp_of(&e, "g32").of.global, v), CAP_OK);
    assert_int_equal(global_of(&e, "g32").of.i32, 6);
    ie_free(&e);
    cap_snapshot_free(s);
    free(c);
    free(b);
    a_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_restores_every_piece),
        cmocka_unit_test(test_snapshot_restore_is_private),
        cmocka_unit_test(test_snapshot_of_restored_instance),
        cmocka_unit_test(test_snapshot_restore_runs_no_code),
        cmocka_unit_test(test_snapshot_imported_immutable_global),
        cmocka_unit_test(test_snapshot_no_memory),
        cmocka_unit_test(test_snapshot_other_module_link),
        cmocka_unit_test(test_snapshot_memory_cap),
        cmocka_unit_test(test_snapshot_unsupported_instances),
        cmocka_unit_test(test_snapshot_set_meta_replaces),
        cmocka_unit_test(test_snapshot_sparse_zero_pages),
        cmocka_unit_test(test_snapshot_truncated_or_bad_magic),
        cmocka_unit_test(test_snapshot_forged_header),
        cmocka_unit_test(test_snapshot_forged_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
