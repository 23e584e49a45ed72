;; A WASI command that copies stdin to stdout until end of file; a failed
;; read or write exits with its errno. With a pipe on stdin it blocks in the
;; kernel's pipe read (the suspend tests stop it there).
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $e i32)
    (local $n i32)
    ;; Read iovec at 0 (buffer 64..4160), count at 8; write iovec at 16.
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 4096))
    (loop $copy
      (local.set $e (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (local.get $e) (then (call $exit (local.get $e))))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.eqz (local.get $n)) (then (return)))
      (i32.store (i32.const 16) (i32.const 64))
      (i32.store (i32.const 20) (local.get $n))
      (local.set $e (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (if (local.get $e) (then (call $exit (local.get $e))))
      (br $copy))))
