;; A small compute kernel: nested loops over memory (exercises fuel metering per block).
(module
  (memory 1)
  (func (export "run") (result i32)
    (local $i i32) (local $j i32) (local $acc i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (i32.store (i32.shl (local.get $j) (i32.const 2))
          (i32.add (i32.load (i32.shl (local.get $j) (i32.const 2))) (local.get $i)))
        (local.set $acc (i32.xor (local.get $acc) (i32.load (i32.shl (local.get $j) (i32.const 2)))))
        (br_if $inner (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 64))))
      (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100))))
    (local.get $acc))
)
