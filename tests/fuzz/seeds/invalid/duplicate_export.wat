(module (func $f) (export "a" (func $f)) (export "a" (func $f)))
