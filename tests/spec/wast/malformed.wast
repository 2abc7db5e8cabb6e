;; Malformed binaries, written as (module binary ...) so that a binary engine checks them, each
;; with the spec interpreter's error text; and unusual but valid encodings that must load.

;; Header.
(assert_malformed (module binary "") "unexpected end")
(assert_malformed (module binary "\00asm") "unexpected end")
(assert_malformed (module binary "\00asm\01\00\00") "unexpected end")
(assert_malformed (module binary "\01asm\01\00\00\00") "magic header not detected")
(assert_malformed (module binary "\00ASM\01\00\00\00") "magic header not detected")
(assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
(assert_malformed (module binary "\00asm\01\00\00\01") "unknown binary version")
(module binary "\00asm\01\00\00\00")

;; Section framing.
(assert_malformed (module binary "\00asm\01\00\00\00" "\0d\00") "malformed section id")
(assert_malformed (module binary "\00asm\01\00\00\00" "\80\00") "malformed section id")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\05\01\60\00\00"              ;; type section says 5 bytes, its one type takes 4
    "\00")
  "section size mismatch")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"              ;; type
    "\0a\04\01\02\00\0b"              ;; code (before the function section)
    "\03\02\01\00")                   ;; function
  "unexpected content after last section")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\05\03\01\00\01"                 ;; memory
    "\05\03\01\00\01")                ;; memory again
  "unexpected content after last section")

;; LEB128 integers: too long, or with bits beyond the type's width.
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\05\08\01\00\82\80\80\80\80\00")  ;; memory min in 6 bytes
  "integer representation too long")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\05\07\01\00\82\80\80\80\70")     ;; memory min: 5th byte sets bits 32+
  "integer too large")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\05\01\60\00\01\7f"            ;; type: [] -> [i32]
    "\03\02\01\00"
    "\0a\0b\01\09\00\41\80\80\80\80\80\00\0b")  ;; i32.const in 6 bytes
  "integer representation too long")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\05\01\60\00\01\7f"
    "\03\02\01\00"
    "\0a\0a\01\08\00\41\80\80\80\80\70\0b")     ;; i32.const: 5th byte not a sign extension
  "integer too large")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\05\01\60\00\01\7e"            ;; type: [] -> [i64]
    "\03\02\01\00"
    "\0a\10\01\0e\00\42\80\80\80\80\80\80\80\80\80\80\00\0b")  ;; i64.const in 11 bytes
  "integer representation too long")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\05\01\60\00\01\7e"
    "\03\02\01\00"
    "\0a\0f\01\0d\00\42\80\80\80\80\80\80\80\80\80\02\0b")     ;; i64.const: 10th byte too big
  "integer too large")

;; Function and code sections.
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\03\02\01\00")                   ;; one function, no code section
  "function and code section have inconsistent lengths")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\0a\04\01\02\00\0b")             ;; a body, no function section
  "function and code section have inconsistent lengths")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\03\02\01\00"
    "\0a\05\01\03\00\01\01")          ;; body: nop nop, and no end
  "unexpected end of section or function")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\03\02\01\00"
    "\0a\10\01\0e\02\ff\ff\ff\ff\0f\7f\ff\ff\ff\ff\0f\7f\0b")  ;; 2 x (2^32-1) i32 locals
  "too many locals")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\03\02\01\00"
    "\0a\05\01\03\00\d3\0b")          ;; 0xd3 is no opcode
  "illegal opcode")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\03\02\01\00"
    "\0a\06\01\04\00\fc\7f\0b")       ;; 0xfc 127 is no opcode
  "illegal opcode")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\05\01\60\00\01\7f"
    "\03\02\01\00"
    "\05\03\01\00\01"
    "\0a\06\01\04\00\3f\01\0b")       ;; memory.size with reserved byte 1
  "zero byte expected")

;; Bulk memory needs the data count section.
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\03\02\01\00"
    "\05\03\01\00\01"
    "\0a\07\01\05\00\fc\09\00\0b"     ;; data.drop 0
    "\0b\03\01\01\00")                ;; one passive data segment
  "data count section required")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\05\03\01\00\01"
    "\0c\01\02"                       ;; data count 2
    "\0b\03\01\01\00")                ;; one segment
  "data count and data section have inconsistent lengths")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\0c\01\01")                      ;; data count 1, no data section
  "data count and data section have inconsistent lengths")

;; Imports, globals, tables and names.
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\02\07\01\01\6d\01\66\04\00")    ;; import "m" "f" of kind 4
  "malformed import kind")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\06\06\01\7f\02\41\00\0b")       ;; global i32 with mutability byte 2
  "malformed mutability")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\04\04\01\7f\00\01")             ;; table of i32
  "malformed reference type")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\03\02\01\00"
    "\07\05\01\01\ff\00\00"           ;; export named "\ff"
    "\0a\04\01\02\00\0b")
  "malformed UTF-8 encoding")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\02\08\01\02\c0\80\01\66\00\00") ;; import module name: overlong encoding of NUL
  "malformed UTF-8 encoding")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\00\04\03\ed\a0\80")             ;; custom section named with a UTF-16 surrogate
  "malformed UTF-8 encoding")

;; Valid: non-minimal (padded) LEB128 encodings, as linkers emit them.
(module binary "\00asm\01\00\00\00"
  "\01\09\81\80\80\80\00\60\00\01\7f"     ;; 1 type, count padded to 5 bytes
  "\03\06\01\80\80\80\80\00"              ;; type index 0 padded
  "\07\05\01\01\66\00\00"                 ;; export "f"
  "\0a\0a\01\08\00\41\aa\80\80\80\00\0b") ;; i32.const 42 padded
(assert_return (invoke "f") (i32.const 42))
(module binary "\00asm\01\00\00\00"
  "\01\05\01\60\00\01\7e"
  "\03\02\01\00"
  "\07\05\01\01\67\00\00"                 ;; export "g"
  "\0a\0f\01\0d\00\42\ff\ff\ff\ff\ff\ff\ff\ff\ff\7f\0b")  ;; i64.const -1 in 10 bytes
(assert_return (invoke "g") (i64.const -1))

;; Valid: custom sections anywhere, with any contents, and a name that is valid UTF-8.
(module binary "\00asm\01\00\00\00"
  "\00\06\04abcd\ff"
  "\01\04\01\60\00\00"
  "\00\09\06\e2\82\ac\c3\a9x\00\01"
  "\03\02\01\00"
  "\0a\04\01\02\00\0b"
  "\00\01\00")

;; Huge counts and lengths with no bytes behind them: rejected without trying to allocate.
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\05\ff\ff\ff\ff\0f")          ;; 2^32-1 types in a 5-byte section
  "length out of bounds")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\01\04\01\60\00\00"
    "\03\05\ff\ff\ff\ff\0f")          ;; 2^32-1 functions
  "length out of bounds")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\05\03\01\00\01"
    "\0b\0a\01\00\41\00\0b\ff\ff\ff\ff\0f")  ;; data segment of 2^32-1 bytes, none given
  "length out of bounds")
(assert_malformed
  (module binary "\00asm\01\00\00\00"
    "\07\07\01\ff\ff\ff\ff\0f\00")    ;; export name of 2^32-1 bytes
  "length out of bounds")
