;; poll_oneoff as a way to hold the CPU or the caller: spinning on a zero
;; timeout, sleeping for an hour, or waiting on nothing — the time limit ends
;; each, and a bad subscription array is WASI's `fault` (21), `inval` (28)
;; for none at all.
;; run: --timeout 1s --invoke spin => trap timed out
;; run: --timeout 1s --invoke sleep_an_hour => trap timed out
;; run: --invoke sleep_10ms => returns 0
;; run: --invoke no_subscriptions => returns 28
;; run: --invoke subscriptions_past_end => returns 21
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; Subscription at 0 (48 bytes): userdata 0, tag 0 (clock), id MONOTONIC,
  ;; timeout at 24, precision 0, flags 0 (relative). Event at 64, count at 128.
  (func $clock (param $ns i64)
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (local.get $ns))
    (i64.store (i32.const 32) (i64.const 0))
    (i32.store16 (i32.const 40) (i32.const 0)))
  (func (export "spin")
    (call $clock (i64.const 0))
    (loop $l
      (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
      (br $l)))
  (func (export "sleep_an_hour") (result i32)
    (call $clock (i64.const 3600000000000))
    (loop $l
      (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
      (br $l))
    (i32.const 0))
  (func (export "sleep_10ms") (result i32)
    (call $clock (i64.const 10000000))
    (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
  (func (export "no_subscriptions") (result i32)
    (call $poll (i32.const 0) (i32.const 64) (i32.const 0) (i32.const 128)))
  (func (export "subscriptions_past_end") (result i32)
    (call $poll (i32.const 65500) (i32.const 64) (i32.const 1) (i32.const 128))))
