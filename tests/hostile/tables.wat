;; Tables: growth past the address space is refused (-1), and so is growth
;; past the memory limit (which caps tables too, at 8 bytes an element);
;; indirect calls through null, out-of-range and mistyped entries trap.
;; run: --invoke grow_huge => returns -1
;; run: --max-memory 16MiB --invoke grow_10m => returns -1
;; run: --max-memory 128MiB --invoke grow_10m => returns 3
;; run: --invoke call -- 0 => trap uninitialized element
;; run: --invoke call -- 5 => trap undefined element
;; run: --invoke call -- -1 => trap undefined element
;; run: --invoke call_typed -- 1 => trap indirect call type mismatch
;; run: --invoke call_typed -- 2 => returns 7
(module
  (type $i (func (result i32)))
  (table $t 3 funcref)
  (elem (i32.const 1) func $v $seven)
  (func $v)
  (func $seven (result i32) (i32.const 7))
  (func (export "grow_huge") (result i32)
    (table.grow $t (ref.null func) (i32.const -1)))
  (func (export "grow_10m") (result i32)
    (table.grow $t (ref.null func) (i32.const 10000000)))
  (func (export "call") (param i32)
    (call_indirect $t (local.get 0)))
  (func (export "call_typed") (param i32) (result i32)
    (call_indirect $t (type $i) (local.get 0))))
