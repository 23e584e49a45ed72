;; Loops through host calls: the time limit ends a program that only ever
;; yields or reads the clock; random_get fills all of memory again and
;; again, and a buffer past the end, or wrapping around 4 GiB, gets WASI's
;; errno `fault` (21) without a byte written.
;; run: --timeout 1s --invoke yield_forever => trap timed out
;; run: --timeout 1s --invoke clock_forever => trap timed out
;; run: --invoke random_all => returns 0
;; run: --invoke random_past_end => returns 21
;; run: --invoke random_wrapping => returns 21
(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (memory (export "memory") 16)
  (func (export "yield_forever")
    (loop $l (drop (call $yield)) (br $l)))
  (func (export "clock_forever")
    (loop $l (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0))) (br $l)))
  ;; All 1 MiB of memory, 64 times over.
  (func (export "random_all") (result i32)
    (local $i i32) (local $r i32)
    (loop $l
      (local.set $r (i32.or (local.get $r) (call $random (i32.const 0) (i32.const 1048576))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 64))))
    (local.get $r))
  (func (export "random_past_end") (result i32)
    (call $random (i32.const 1048000) (i32.const 1000)))
  (func (export "random_wrapping") (result i32)
    (call $random (i32.const -16) (i32.const 32))))
