;; The host-call microbenchmark (`kwasm-guest-tests --bench`, and
;; `kwasm run --invoke NAME hostcall.wasm N` by hand): each export makes
;; $n calls of one kind and returns the monotonic nanoseconds they took,
;; measured by the program itself so that compiling and loading stay out
;; of the figure.
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  ;; A call that checks its argument and returns at once (EBADF): the
  ;; price of crossing into a kwasm_net function that could sleep.
  (import "kwasm_net" "poller_close" (func $poller_close (param i32) (result i32)))
  (memory (export "memory") 1)

  (func $now (result i64)
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)))
    (i64.load (i32.const 0)))

  (func $nothing (param i32) (result i32) (local.get 0))

  ;; The loop alone, calling a wasm function: the baseline to subtract.
  (func (export "wasm_calls") (param $n i32) (result i64)
    (local $start i64)
    (local.set $start (call $now))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $n (call $nothing (i32.sub (local.get $n) (i32.const 1))))
        (br $l)))
    (i64.sub (call $now) (local.get $start)))

  ;; WASI clock_time_get(MONOTONIC): a host call that never sleeps.
  (func (export "clock_calls") (param $n i32) (result i64)
    (local $start i64)
    (local.set $start (call $now))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 8)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (i64.sub (call $now) (local.get $start)))

  ;; kwasm_net poller_close on a poller that does not exist.
  (func (export "net_calls") (param $n i32) (result i64)
    (local $start i64)
    (local.set $start (call $now))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (drop (call $poller_close (i32.const 1000)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (i64.sub (call $now) (local.get $start)))
)
