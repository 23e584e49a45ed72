;; Opening files until the fd table is full: past 1024 open fds WASI's
;; `mfile` (33), and every file is closed when the program ends (the corpus
;; checks kernel memory stays flat). Paths outside the preopen, or out of
;; memory, are refused: `perm` (63) for an escape, `fault` (21).
;; run: --dir /tmp --invoke open_all => returns 33
;; run: --dir /tmp --invoke open_dotdot => returns 63
;; run: --dir /tmp --invoke open_absolute => returns 63
;; run: --dir /tmp --invoke open_past_end => returns 21
;; run: --invoke open_without_preopen => returns 8
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) ".")
  (data (i32.const 16) "../..")
  (data (i32.const 32) "/etc")
  ;; path_open(fd 3, follow, path, len, oflags 0, every right but FD_WRITE
  ;; (so a directory opens read-only), fdflags 0) -> errno; the new fd
  ;; goes to 100.
  (func $open_at (param $path i32) (param $len i32) (param $fd i32) (result i32)
    (call $open (local.get $fd) (i32.const 1) (local.get $path) (local.get $len)
      (i32.const 0) (i64.const 0x1fffffbf) (i64.const 0x1fffffbf) (i32.const 0) (i32.const 100)))
  (func (export "open_all") (result i32)
    (local $e i32)
    (loop $l
      (local.set $e (call $open_at (i32.const 0) (i32.const 1) (i32.const 3)))
      (br_if $l (i32.eqz (local.get $e))))
    (local.get $e))
  (func (export "open_dotdot") (result i32)
    (call $open_at (i32.const 16) (i32.const 5) (i32.const 3)))
  (func (export "open_absolute") (result i32)
    (call $open_at (i32.const 32) (i32.const 4) (i32.const 3)))
  (func (export "open_past_end") (result i32)
    (call $open_at (i32.const 65530) (i32.const 100) (i32.const 3)))
  (func (export "open_without_preopen") (result i32)
    (call $open_at (i32.const 0) (i32.const 1) (i32.const 3))))
