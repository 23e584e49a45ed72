;; Imports a WASI function kwasm does not provide yet: instantiation must
;; fail with a message that names it, before anything runs.
(module
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $fd_close (i32.const 0)))))
