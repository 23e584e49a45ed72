;; A WASI command that sleeps 3 s in poll_oneoff (one relative clock
;; subscription), then prints "slept"; if poll_oneoff fails it exits with
;; the errno instead. The suspend tests stop and freeze it mid-sleep: the
;; sleep must neither end early nor fail.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "slept\n")
  (func (export "_start")
    (local $e i32)
    ;; The subscription at 0: userdata 0, tag 0 (clock) at 8, clock id 1
    ;; (monotonic) at 16, timeout at 24, precision 0, flags 0 (relative).
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3000000000))
    ;; The event at 64, the count at 128.
    (local.set $e (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (if (local.get $e) (then (call $exit (local.get $e))))
    (i32.store (i32.const 160) (i32.const 200))
    (i32.store (i32.const 164) (i32.const 6))
    (drop (call $write (i32.const 1) (i32.const 160) (i32.const 1) (i32.const 168)))))
