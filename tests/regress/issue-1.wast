;; Regression for the fuzzer finding "name subsection read past end"
;; (tests/fuzz/crashes/decode_name_subsection_past_end.bin): a name section whose function-names
;; subsection claims 16 bytes when 2 remain was read past its end. The name section is only a
;; custom section, so a module carrying a broken one must still load (its names ignored) and
;; must never be read out of bounds.
(module binary "\00asm\01\00\00\00"
  "\01\05\01\60\00\01\7f"           ;; type 0: [] -> [i32]
  "\03\02\01\00"                    ;; func 0: type 0
  "\07\05\01\01\66\00\00"           ;; export "f" = func 0
  "\0a\06\01\04\00\41\2a\0b"        ;; body: i32.const 42
  "\00\09\04name\01\10\01\00")      ;; name section: subsection 1 of size 16, 2 bytes left
(assert_return (invoke "f") (i32.const 42))
