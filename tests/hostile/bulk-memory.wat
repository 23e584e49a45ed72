;; Bulk memory and table operations out of range: every one traps before
;; touching a byte (the spec checks the whole range first).
;; run: --invoke fill -- 65535 0 1 => returns 
;; run: --invoke fill -- 65536 0 0 => returns 
;; run: --invoke fill -- 65537 0 0 => trap out of bounds memory access
;; run: --invoke fill -- 65535 0 2 => trap out of bounds memory access
;; run: --invoke fill -- -1 0 2 => trap out of bounds memory access
;; run: --invoke copy -- 0 65535 2 => trap out of bounds memory access
;; run: --invoke copy -- 65535 0 2 => trap out of bounds memory access
;; run: --invoke copy -- 0 0 -1 => trap out of bounds memory access
;; run: --invoke copy -- 4 0 65532 => returns 
;; run: --invoke init -- 65534 0 4 => trap out of bounds memory access
;; run: --invoke init -- 0 2 3 => trap out of bounds memory access
;; run: --invoke init_dropped => trap out of bounds memory access
;; run: --invoke table_copy -- 0 1 2 => trap out of bounds table access
;; run: --invoke table_init -- 1 0 2 => trap out of bounds table access
(module
  (memory 1 1)
  (table 2 funcref)
  (data $d "abcd")
  (elem $e func $f $f)
  (func $f)
  (func (export "fill") (param i32 i32 i32)
    (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32)
    (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32)
    (memory.init $d (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init_dropped")
    (data.drop $d)
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1)))
  (func (export "table_copy") (param i32 i32 i32)
    (table.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "table_init") (param i32 i32 i32)
    (table.init $e (local.get 0) (local.get 1) (local.get 2))))
