;; Validation: modules that decode but must be rejected before anything runs, each with the
;; spec interpreter's error text (our message must start with it).

;; Operand types and stack heights.
(assert_invalid (module (func (result i32) (i64.const 0))) "type mismatch")
(assert_invalid (module (func (i32.add (i32.const 0) (i64.const 0)) (drop))) "type mismatch")
(assert_invalid (module (func (result i32) (i32.add (i32.const 0)))) "type mismatch")
(assert_invalid (module (func (i32.const 0))) "type mismatch")
(assert_invalid (module (func (result i32 i32) (i32.const 0))) "type mismatch")
(assert_invalid (module (func (drop))) "type mismatch")
(assert_invalid (module (func (f32.sqrt (f64.const 0)) (drop))) "type mismatch")
(assert_invalid (module (func (select (i32.const 0) (i64.const 0) (i32.const 0)) (drop))) "type mismatch")
(assert_invalid (module (func (select (i32.const 0) (i32.const 0) (i64.const 0)) (drop))) "type mismatch")
(assert_invalid (module (func (result i32) (return (i64.const 1)))) "type mismatch")
(assert_invalid (module (func (param i32) (result i64) (local.get 0))) "type mismatch")
(assert_invalid (module (func (local.set 0 (i32.const 1)))) "unknown local")
(assert_invalid (module (func (param i32) (local.tee 1 (i32.const 1)) (drop))) "unknown local")
(assert_invalid (module (func (result i32) (unreachable) (i64.const 0))) "type mismatch")
(assert_invalid (module (func (block (result i32) (br 0)) (drop))) "type mismatch")
(assert_invalid (module (func (loop (br_if 0 (i32.const 0) (i32.const 1))))) "type mismatch")
(assert_invalid (module (func (if (f32.const 0) (then)))) "type mismatch")

;; Memory instructions.
(assert_invalid (module (func (drop (i32.load (i32.const 0))))) "unknown memory")
(assert_invalid (module (func (drop (memory.size)))) "unknown memory")
(assert_invalid (module (func (drop (memory.grow (i32.const 0))))) "unknown memory")
(assert_invalid (module (func (memory.fill (i32.const 0) (i32.const 0) (i32.const 0)))) "unknown memory")
(assert_invalid (module (memory 1) (func (drop (i32.load align=8 (i32.const 0))))) "alignment must not be larger than natural")
(assert_invalid (module (memory 1) (func (drop (i64.load16_s align=4 (i32.const 0))))) "alignment must not be larger than natural")
(assert_invalid (module (memory 1) (func (i32.store8 align=2 (i32.const 0) (i32.const 0)))) "alignment must not be larger than natural")
(assert_invalid (module (memory 1) (func (drop (i32.load (i64.const 0))))) "type mismatch")
(assert_invalid (module (memory 1) (func (i64.store (i32.const 0) (i32.const 0)))) "type mismatch")
;; Binary form, so that the data count section (0) is present: wast2json omits it when a module
;; has no data segments, which would make the module malformed rather than invalid.
(assert_invalid
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00" "\03\02\01\00" "\05\03\01\00\01"
    "\0c\01\00"                                              ;; data count 0
    "\0a\0e\01\0c\00\41\00\41\00\41\00\fc\08\00\00\0b")  ;; memory.init 0
  "unknown data segment")
(assert_invalid
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00" "\03\02\01\00" "\05\03\01\00\01"
    "\0c\01\00"                                              ;; data count 0
    "\0a\07\01\05\00\fc\09\00\0b")                          ;; data.drop 0
  "unknown data segment")
(assert_invalid (module (memory 2 1)) "size minimum must not be greater than maximum")
(assert_invalid (module (memory 65537)) "memory size must be at most 65536 pages (4GiB)")
(assert_invalid (module (memory 1 65537)) "memory size must be at most 65536 pages (4GiB)")
(assert_invalid (module (memory 1) (memory 1)) "multiple memories")
(assert_invalid (module (import "spectest" "memory" (memory 1)) (memory 1)) "multiple memories")
(assert_invalid (module (data (i32.const 0) "")) "unknown memory")

;; Tables and elements.
(assert_invalid (module (func (drop (table.size 0)))) "unknown table")
(assert_invalid (module (table 1 funcref) (func (drop (table.get 1 (i32.const 0))))) "unknown table")
(assert_invalid (module (table 2 1 funcref)) "size minimum must not be greater than maximum")
(assert_invalid (module (table 1 funcref) (func (table.init 0 (i32.const 0) (i32.const 0) (i32.const 0)))) "unknown elem segment")
(assert_invalid (module (func (elem.drop 0))) "unknown elem segment")
(assert_invalid (module (table 1 funcref) (func (table.set 0 (i32.const 0) (ref.null extern)))) "type mismatch")
(assert_invalid
  (module (table $a 1 funcref) (table $b 1 externref)
    (func (table.copy $a $b (i32.const 0) (i32.const 0) (i32.const 0))))
  "type mismatch")
(assert_invalid (module (elem (i32.const 0) func)) "unknown table")
(assert_invalid (module (table 1 funcref) (elem (i64.const 0) func)) "type mismatch")
(assert_invalid (module (table 1 externref) (func $f) (elem (i32.const 0) func $f)) "type mismatch")

;; Functions, types, globals, exports and the start function.
(assert_invalid (module (func (call 5))) "unknown function")
(assert_invalid (module (start 0)) "unknown function")
(assert_invalid (module (func $f (result i32) (i32.const 0)) (start $f)) "start function")
(assert_invalid (module (global i32 (i32.add (i32.const 1) (i32.const 2)))) "constant expression required")
(assert_invalid (module (global i32 (global.get 0))) "unknown global")
(assert_invalid (module (global i32 (i32.const 0)) (global i32 (global.get 0))) "unknown global")
(assert_invalid (module (global (mut i32) (i32.const 0)) (func (global.set 0 (i64.const 0)))) "type mismatch")
(assert_invalid (module (global i64 (i32.const 0))) "type mismatch")
(assert_invalid (module (global funcref (ref.null extern))) "type mismatch")
(assert_invalid (module (export "m" (memory 0))) "unknown memory")
(assert_invalid (module (export "t" (table 0))) "unknown table")
(assert_invalid (module (export "g" (global 0))) "unknown global")
(assert_invalid (module (memory 1) (export "x" (memory 0)) (func (export "x"))) "duplicate export name")
(assert_invalid (module (func (ref.func 1) (drop))) "unknown function")

;; The same check in binary form: (func (result i32) (i64.const 0)) typed wrongly.
(assert_invalid
  (module binary
    "\00asm" "\01\00\00\00"
    "\01\05\01\60\00\01\7f"          ;; type 0: [] -> [i32]
    "\03\02\01\00"                   ;; func 0: type 0
    "\0a\06\01\04\00\42\00\0b")      ;; body: i64.const 0, end
  "type mismatch")
;; A function body referring to type index 1 of a one-type module.
(assert_invalid
  (module binary
    "\00asm" "\01\00\00\00"
    "\01\04\01\60\00\00"             ;; type 0: [] -> []
    "\03\02\01\01"                   ;; func 0: type 1 (unknown)
    "\0a\04\01\02\00\0b")              ;; body: end
  "unknown type")
