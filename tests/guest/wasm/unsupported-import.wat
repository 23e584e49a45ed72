;; Imports a function preview1 does not have: instantiation must fail with
;; a message that names it, before anything runs.
(module
  (import "wasi_snapshot_preview1" "fd_teleport" (func $teleport (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $teleport (i32.const 0)))))
