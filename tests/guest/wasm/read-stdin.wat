;; Reads stdin until end of file and returns how many bytes it got: with a
;; pipe nobody writes to, it blocks in the kernel's pipe read (the kill
;; test's "blocking I/O" victim).
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "drain") (result i32)
    (local $total i32)
    ;; iovec at 0: buffer 64..4160
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 4096))
    (block $eof
      (loop $l
        (br_if $eof (i32.ne (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 0)))
        (br_if $eof (i32.eqz (i32.load (i32.const 8))))
        (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
        (br $l)))
    (local.get $total)))
