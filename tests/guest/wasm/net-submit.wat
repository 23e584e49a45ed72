;; kwasm_net's `submit` (docs/kwasm_net.md): ops run in order in one call,
;; each result written into its record, the chain ending after a failed or
;; short send; bad arrays and bad ops are errors. Run by the guest tests in
;; kwasm.ko (both engines) and by kwasm-reference's tests: one program for
;; both hosts. Prints `submit: ok` and exits 0, or exits with the number of
;; the first check that failed.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "kwasm_net" "socket" (func $socket (param i32 i32 i32) (result i32)))
  (import "kwasm_net" "bind" (func $bind (param i32 i32) (result i32)))
  (import "kwasm_net" "listen" (func $listen (param i32 i32) (result i32)))
  (import "kwasm_net" "connect" (func $connect (param i32 i32) (result i32)))
  (import "kwasm_net" "accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "kwasm_net" "set_option" (func $set_option (param i32 i32 i32) (result i32)))
  (import "kwasm_net" "local_addr" (func $local_addr (param i32 i32) (result i32)))
  (import "kwasm_net" "poller_create" (func $poller_create (result i32)))
  (import "kwasm_net" "poller_ctl" (func $poller_ctl (param i32 i32 i32 i32 i64) (result i32)))
  (import "kwasm_net" "submit" (func $submit (param i32 i32) (result i32)))
  ;; 65 pages: the last 4 MiB are what the short send tries to send.
  (memory (export "memory") 65)
  ;; Address 127.0.0.1:0 at 64; "ping" at 512; the message at 2048.
  (data (i32.const 64) "\04\00\00\00\00\00\00\00\7f\00\00\01")
  (data (i32.const 512) "ping")
  (data (i32.const 2048) "submit: ok\n")
  (global $check (mut i32) (i32.const 0))

  ;; Check number N (counted from 1): `got` must be `want`, else exit N.
  (func $is (param $got i32) (param $want i32)
    (global.set $check (i32.add (global.get $check) (i32.const 1)))
    (if (i32.ne (local.get $got) (local.get $want))
      (then (call $proc_exit (global.get $check)))))

  ;; Writes an Op at `at`, its result field 0xdead.
  (func $op (param $at i32) (param $code i32) (param $fd i32) (param $buf i32) (param $len i32)
            (param $flags i32) (param $timeout i64)
    (i32.store (local.get $at) (local.get $code))
    (i32.store offset=4 (local.get $at) (local.get $fd))
    (i32.store offset=8 (local.get $at) (local.get $buf))
    (i32.store offset=12 (local.get $at) (local.get $len))
    (i32.store offset=16 (local.get $at) (local.get $flags))
    (i32.store offset=20 (local.get $at) (i32.const 0xdead))
    (i64.store offset=24 (local.get $at) (local.get $timeout)))

  (func $result (param $at i32) (result i32)
    (i32.load offset=20 (local.get $at)))

  (func (export "_start") (local $l i32) (local $c i32) (local $a i32) (local $p i32)
    ;; A connection over loopback: client $c, accepted $a; a poller on $c.
    (local.set $l (call $socket (i32.const 4) (i32.const 1) (i32.const 0)))
    (call $is (call $bind (local.get $l) (i32.const 64)) (i32.const 0))
    (call $is (call $listen (local.get $l) (i32.const 4)) (i32.const 0))
    (call $is (call $local_addr (local.get $l) (i32.const 128)) (i32.const 0))
    (local.set $c (call $socket (i32.const 4) (i32.const 1) (i32.const 0)))
    (call $is (call $connect (local.get $c) (i32.const 128)) (i32.const 0))
    (local.set $a (call $accept (local.get $l) (i32.const 0) (i32.const 0)))
    (local.set $p (call $poller_create))
    (call $is (call $poller_ctl (local.get $p) (i32.const 1) (local.get $c) (i32.const 1) (i64.const 7)) (i32.const 0))

    ;; Send "ping" on $a, then a wait that sees it arrive at $c: both run.
    (call $op (i32.const 1024) (i32.const 1) (local.get $a) (i32.const 512) (i32.const 4) (i32.const 0) (i64.const 0))
    (call $op (i32.const 1056) (i32.const 3) (local.get $p) (i32.const 256) (i32.const 8) (i32.const 0) (i64.const 5000000000))
    (call $is (call $submit (i32.const 1024) (i32.const 2)) (i32.const 2))
    (call $is (call $result (i32.const 1024)) (i32.const 4))
    (call $is (call $result (i32.const 1056)) (i32.const 1))
    (call $is (i32.load (i32.const 256)) (i32.const 7))

    ;; Receive it; send again; a receive with nothing to read fails
    ;; (-AGAIN) and the send after it never runs.
    (call $op (i32.const 1088) (i32.const 2) (local.get $c) (i32.const 600) (i32.const 64) (i32.const 0) (i64.const 0))
    (call $op (i32.const 1120) (i32.const 1) (local.get $a) (i32.const 512) (i32.const 4) (i32.const 2) (i64.const 0))
    (call $op (i32.const 1152) (i32.const 2) (local.get $a) (i32.const 700) (i32.const 64) (i32.const 2) (i64.const 0))
    (call $op (i32.const 1184) (i32.const 1) (local.get $a) (i32.const 512) (i32.const 4) (i32.const 0) (i64.const 0))
    (call $is (call $submit (i32.const 1088) (i32.const 4)) (i32.const 3))
    (call $is (call $result (i32.const 1088)) (i32.const 4))
    (call $is (i32.load (i32.const 600)) (i32.load (i32.const 512)))
    (call $is (call $result (i32.const 1120)) (i32.const 4))
    (call $is (call $result (i32.const 1152)) (i32.const -6))
    (call $is (call $result (i32.const 1184)) (i32.const 0xdead))

    ;; Bad ops: an unknown one, a wait with flags, a send with a timeout.
    ;; Each is -INVAL and ends the chain.
    (call $op (i32.const 1216) (i32.const 9) (local.get $a) (i32.const 512) (i32.const 4) (i32.const 0) (i64.const 0))
    (call $op (i32.const 1248) (i32.const 3) (local.get $p) (i32.const 256) (i32.const 8) (i32.const 1) (i64.const 0))
    (call $op (i32.const 1280) (i32.const 1) (local.get $a) (i32.const 512) (i32.const 4) (i32.const 0) (i64.const 1))
    (call $is (call $submit (i32.const 1216) (i32.const 2)) (i32.const 1))
    (call $is (call $result (i32.const 1216)) (i32.const -28))
    (call $is (call $result (i32.const 1248)) (i32.const 0xdead))
    (call $is (call $submit (i32.const 1248) (i32.const 1)) (i32.const 1))
    (call $is (call $result (i32.const 1248)) (i32.const -28))
    (call $is (call $submit (i32.const 1280) (i32.const 1)) (i32.const 1))
    (call $is (call $result (i32.const 1280)) (i32.const -28))

    ;; Bad arrays: nothing runs. Too few or too many ops, past memory.
    (call $is (call $submit (i32.const 1024) (i32.const 0)) (i32.const -28))
    (call $is (call $submit (i32.const 1024) (i32.const 65)) (i32.const -28))
    (call $is (call $submit (i32.const 4259830) (i32.const 1)) (i32.const -21))
    (call $is (call $submit (i32.const -32) (i32.const 2)) (i32.const -21))

    ;; A short send ends the chain: 4 MiB at once on a non-blocking socket
    ;; whose peer reads nothing; the send after it does not run.
    (call $is (call $set_option (local.get $a) (i32.const 8) (i32.const 1)) (i32.const 0))
    (call $op (i32.const 1312) (i32.const 1) (local.get $a) (i32.const 65536) (i32.const 4194304) (i32.const 0) (i64.const 0))
    (call $op (i32.const 1344) (i32.const 1) (local.get $a) (i32.const 512) (i32.const 4) (i32.const 0) (i64.const 0))
    (call $is (call $submit (i32.const 1312) (i32.const 2)) (i32.const 1))
    (call $is (i32.gt_s (call $result (i32.const 1312)) (i32.const 0)) (i32.const 1))
    (call $is (i32.lt_s (call $result (i32.const 1312)) (i32.const 4194304)) (i32.const 1))
    (call $is (call $result (i32.const 1344)) (i32.const 0xdead))

    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.const 11))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
