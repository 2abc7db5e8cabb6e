;; memory.size and memory.grow: old size returned, -1 beyond the maximum, zeroed new pages,
;; contents kept across growth, and bounds that follow the new size.
(module
  (memory 1 3)
  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
)
(assert_return (invoke "size") (i32.const 1))
(assert_return (invoke "store" (i32.const 65532) (i32.const 0x12345678)))
(assert_trap (invoke "load" (i32.const 65536)) "out of bounds memory access")
(assert_return (invoke "grow" (i32.const 0)) (i32.const 1))
(assert_return (invoke "grow" (i32.const 1)) (i32.const 1))
(assert_return (invoke "size") (i32.const 2))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 0x12345678))
(assert_return (invoke "load" (i32.const 65536)) (i32.const 0))
(assert_return (invoke "load" (i32.const 131068)) (i32.const 0))
(assert_trap (invoke "load" (i32.const 131069)) "out of bounds memory access")
(assert_return (invoke "grow" (i32.const 2)) (i32.const -1))
(assert_return (invoke "size") (i32.const 2))
(assert_return (invoke "grow" (i32.const 1)) (i32.const 2))
(assert_return (invoke "grow" (i32.const 1)) (i32.const -1))
(assert_return (invoke "grow" (i32.const -1)) (i32.const -1))
(assert_return (invoke "grow" (i32.const 0)) (i32.const 3))
(assert_return (invoke "size") (i32.const 3))

;; No declared maximum: growth up to a few pages works, absurd growth fails cleanly.
(module
  (memory 0)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "fill_last") (result i32)
    (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)) (i32.const 7))
    (i32.load8_u (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))))
)
(assert_return (invoke "size") (i32.const 0))
(assert_return (invoke "grow" (i32.const 1)) (i32.const 0))
(assert_return (invoke "fill_last") (i32.const 7))
(assert_return (invoke "grow" (i32.const 4)) (i32.const 1))
(assert_return (invoke "fill_last") (i32.const 7))
(assert_return (invoke "size") (i32.const 5))
(assert_return (invoke "grow" (i32.const 0x10000)) (i32.const -1))
(assert_return (invoke "grow" (i32.const 0x7fffffff)) (i32.const -1))
(assert_return (invoke "size") (i32.const 5))

;; Growth inside a loop, with the result feeding control flow.
(module
  (memory 1 10)
  (func (export "grow_until_fail") (result i32)
    (local i32)
    (block $done
      (loop $l
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set 0 (i32.add (local.get 0) (i32.const 1)))
        (br $l)))
    (local.get 0))
  (func (export "size") (result i32) (memory.size))
)
(assert_return (invoke "grow_until_fail") (i32.const 9))
(assert_return (invoke "size") (i32.const 10))

;; An exported memory grown by one instance is seen grown by another that imports it.
(module $Mem
  (memory (export "mem") 1 4)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
)
(register "Mem" $Mem)
(module
  (import "Mem" "mem" (memory 1))
  (func (export "size") (result i32) (memory.size))
  (func (export "store_hi") (i32.store (i32.const 70000) (i32.const 5)))
)
(assert_return (invoke "size") (i32.const 1))
(assert_trap (invoke "store_hi") "out of bounds memory access")
(assert_return (invoke $Mem "grow" (i32.const 1)) (i32.const 1))
(assert_return (invoke "size") (i32.const 2))
(assert_return (invoke "store_hi"))
