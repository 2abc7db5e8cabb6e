;; Imports, exports and linking with register; the spectest host module; start functions;
;; unlinkable modules; and the Wasm 2.0 rule that segments written before a failing one stay.
(module
  (import "spectest" "print_i32" (func $print_i32 (param i32)))
  (import "spectest" "print" (func $print))
  (import "spectest" "print_f64_f64" (func (param f64 f64)))
  (import "spectest" "table" (table 10 20 funcref))
  (import "spectest" "memory" (memory 1 2))
  (func (export "call_host") (result i32)
    (call $print_i32 (i32.const 42)) (call $print) (call 2 (f64.const 1) (f64.const 2))
    (i32.const 1))
  (func (export "mem_size") (result i32) (memory.size))
  (func (export "tab_size") (result i32) (table.size 0))
)
(assert_return (invoke "call_host") (i32.const 1))
(assert_return (invoke "mem_size") (i32.const 1))
(assert_return (invoke "tab_size") (i32.const 10))

(module $Math
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "neg") (param f32) (result f32) (f32.neg (local.get 0)))
  (global (export "seven") i32 (i32.const 7))
)
(register "Math" $Math)
(module $User
  (import "Math" "add" (func $add (param i32 i32) (result i32)))
  (import "Math" "seven" (global $seven i32))
  (func (export "add7") (param i32) (result i32) (call $add (local.get 0) (global.get $seven)))
  ;; Re-exporting an import gives the same function.
  (export "add" (func $add))
)
(assert_return (invoke $User "add7" (i32.const 5)) (i32.const 12))
(assert_return (invoke $User "add" (i32.const 2) (i32.const 3)) (i32.const 5))
(register "User" $User)
(module
  (import "User" "add" (func $add (param i32 i32) (result i32)))
  (func (export "twice") (param i32) (result i32) (call $add (local.get 0) (local.get 0)))
)
(assert_return (invoke "twice" (i32.const 21)) (i32.const 42))

;; A start function runs during instantiation, after the segments.
(module $S
  (memory (export "mem") 1)
  (global $g (export "g") (mut i32) (i32.const 0))
  (data (i32.const 0) "\05")
  (func $start (global.set $g (i32.add (i32.load8_u (i32.const 0)) (i32.const 10))))
  (start $start)
  (func (export "get") (result i32) (global.get $g))
)
(assert_return (invoke $S "get") (i32.const 15))
(assert_return (get $S "g") (i32.const 15))
;; A trapping start function makes the module uninstantiable.
(assert_trap (module (func $s (unreachable)) (start $s)) "unreachable")
(assert_trap
  (module (func $s (drop (i32.div_u (i32.const 1) (i32.const 0)))) (start $s))
  "integer divide by zero")

;; Unlinkable: unknown module or field, wrong kind, wrong signature, incompatible limits.
(assert_unlinkable (module (import "nowhere" "f" (func))) "unknown import")
(assert_unlinkable (module (import "Math" "sub" (func))) "unknown import")
(assert_unlinkable (module (import "Math" "add" (func (param i32) (result i32)))) "incompatible import type")
(assert_unlinkable (module (import "Math" "add" (func (param i32 i32) (result i64)))) "incompatible import type")
(assert_unlinkable (module (import "Math" "seven" (func))) "incompatible import type")
(assert_unlinkable (module (import "Math" "add" (global i32))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "table" (table 10 15 funcref))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "table" (table 11 funcref))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "table" (table 10 externref))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "memory" (memory 2))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "memory" (memory 1 1))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "memory" (table 1 funcref))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "print_i32" (memory 1))) "incompatible import type")
;; Smaller declared minimums and larger declared maximums are fine.
(module (import "spectest" "table" (table 5 funcref)) (import "spectest" "memory" (memory 0 3)))

;; Wasm 2.0 instantiation: segments are applied in order; a later out-of-bounds segment traps,
;; and what was written before it stays written in the shared memory and table.
(module $Shared
  (memory (export "mem") 1)
  (table (export "tab") 3 funcref)
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get 0 (local.get 0))))
)
(register "Shared" $Shared)
(assert_trap
  (module
    (import "Shared" "mem" (memory 1))
    (data (i32.const 10) "\2a")
    (data (i32.const 65536) "\01"))
  "out of bounds memory access")
(assert_return (invoke $Shared "load" (i32.const 10)) (i32.const 42))
(assert_trap
  (module
    (import "Shared" "tab" (table 3 funcref))
    (func $f)
    (elem (i32.const 0) $f)
    (elem (i32.const 3) $f))
  "out of bounds table access")
(assert_return (invoke $Shared "is_null" (i32.const 0)) (i32.const 0))
(assert_return (invoke $Shared "is_null" (i32.const 1)) (i32.const 1))
;; A start function does not run when a segment traps first.
(assert_trap
  (module
    (import "Shared" "mem" (memory 1))
    (data (i32.const 65536) "\01")
    (func $s (i32.store8 (i32.const 11) (i32.const 9)))
    (start $s))
  "out of bounds memory access")
(assert_return (invoke $Shared "load" (i32.const 11)) (i32.const 0))

(assert_invalid (module (func (export "a")) (func (export "a"))) "duplicate export name")
(assert_invalid (module (export "f" (func 0))) "unknown function")
(assert_invalid (module (func $s (param i32)) (start $s)) "start function")
