;; Tables: growth past the address space is refused (-1), and so is growth
;; past 2^20 elements (kwasm's cap: filling a table has no yield point) or
;; past the memory limit (which caps tables too, at 8 bytes an element);
;; a table at the cap can be filled whole; indirect calls through null,
;; out-of-range and mistyped entries trap.
;; run: --invoke grow_huge => returns -1
;; run: --invoke grow -- 1048574 => returns -1
;; run: --invoke grow -- 1048573 => returns 3
;; run: --invoke fill_to_cap => returns 7
;; run: --max-memory 4MiB --invoke grow -- 524286 => returns -1
;; run: --max-memory 4MiB --invoke grow -- 524285 => returns 3
;; run: --invoke call -- 0 => trap uninitialized element
;; run: --invoke call -- 5 => trap undefined element
;; run: --invoke call -- -1 => trap undefined element
;; run: --invoke call_typed -- 1 => trap indirect call type mismatch
;; run: --invoke call_typed -- 2 => returns 7
(module
  (type $i (func (result i32)))
  (table $t 3 funcref)
  (elem (i32.const 1) func $v $seven)
  (elem declare func $seven)
  (func $v)
  (func $seven (result i32) (i32.const 7))
  (func (export "grow_huge") (result i32)
    (table.grow $t (ref.null func) (i32.const -1)))
  (func (export "grow") (param i32) (result i32)
    (table.grow $t (ref.null func) (local.get 0)))
  ;; Grows the table to 2^20 elements, fills all of it with $seven and
  ;; calls the last one.
  (func (export "fill_to_cap") (result i32)
    (drop (table.grow $t (ref.null func) (i32.const 1048573)))
    (table.fill $t (i32.const 0) (ref.func $seven) (table.size $t))
    (call_indirect $t (type $i) (i32.const 1048575)))
  (func (export "call") (param i32)
    (call_indirect $t (local.get 0)))
  (func (export "call_typed") (param i32) (result i32)
    (call_indirect $t (type $i) (local.get 0))))
