;; Host functions as first-class references: imported spectest functions placed in tables,
;; called indirectly with type checks, re-exported, and referenced with ref.func; the shared
;; spectest table and memory written by one module and seen by another.
(module $H
  (import "spectest" "print_i32" (func $p (param i32)))
  (import "spectest" "print_f64_f64" (func $pff (param f64 f64)))
  (import "spectest" "table" (table $t 10 20 funcref))
  (type $i (func (param i32)))
  (type $ff (func (param f64 f64)))
  (elem declare func $p)
  (elem (table $t) (i32.const 0) func $p $pff)
  (func (export "call_i") (param i32) (call_indirect $t (type $i) (i32.const 5) (local.get 0)))
  (func (export "call_ff") (param i32) (call_indirect $t (type $ff) (f64.const 1) (f64.const 2) (local.get 0)))
  (func (export "ref_p") (result funcref) (ref.func $p))
  (func (export "store_ref") (param i32) (table.set $t (local.get 0) (ref.func $p)))
  (func (export "grow") (param i32) (result i32) (table.grow $t (ref.func $p) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
  (export "print" (func $p))
)
(assert_return (invoke "call_i" (i32.const 0)))
(assert_return (invoke "call_ff" (i32.const 1)))
(assert_trap (invoke "call_i" (i32.const 1)) "indirect call type mismatch")
(assert_trap (invoke "call_ff" (i32.const 0)) "indirect call type mismatch")
(assert_trap (invoke "call_i" (i32.const 2)) "uninitialized element")
(assert_trap (invoke "call_i" (i32.const 10)) "undefined element")
(assert_return (invoke "ref_p") (ref.func))
(assert_return (invoke "store_ref" (i32.const 9)))
(assert_return (invoke "call_i" (i32.const 9)))
(assert_return (invoke "size") (i32.const 10))
(assert_return (invoke "grow" (i32.const 11)) (i32.const -1))
(assert_return (invoke "grow" (i32.const 10)) (i32.const 10))
(assert_return (invoke "size") (i32.const 20))
(assert_return (invoke "grow" (i32.const 1)) (i32.const -1))
(assert_return (invoke "call_i" (i32.const 19)) )
(assert_trap (invoke "call_i" (i32.const 20)) "undefined element")
(register "H" $H)

;; Another module sees the grown shared table, and imports the re-exported host function
;; under the type it really has.
(module
  (import "H" "print" (func $pr (param i32)))
  (import "spectest" "table" (table 20 funcref))
  (type $i (func (param i32)))
  (func (export "size") (result i32) (table.size 0))
  (func (export "call") (param i32) (call_indirect (type $i) (i32.const 1) (local.get 0)))
  (func (export "direct") (call $pr (i32.const 3)))
)
(assert_return (invoke "size") (i32.const 20))
(assert_return (invoke "call" (i32.const 9)))
(assert_return (invoke "direct"))
(assert_unlinkable
  (module (import "H" "print" (func (param i64))))
  "incompatible import type")
(assert_unlinkable
  (module (import "spectest" "table" (table 21 funcref)))
  "incompatible import type")

;; The shared spectest memory: data written by one instance's segment is read by another.
(module
  (import "spectest" "memory" (memory 1))
  (data (i32.const 100) "\de\ad\be\ef")
)
(module
  (import "spectest" "memory" (memory 1 2))
  (func (export "read") (result i32) (i32.load (i32.const 100)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
)
(assert_return (invoke "read") (i32.const 0xefbeadde))
(assert_return (invoke "grow" (i32.const 2)) (i32.const -1))
(assert_return (invoke "grow" (i32.const 1)) (i32.const 1))
(assert_return (invoke "grow" (i32.const 1)) (i32.const -1))
