;; A data segment that does not fit: instantiation traps and nothing runs.
;; run: --invoke f => trap out of bounds memory access
(module
  (memory 1)
  (data (i32.const 65534) "abcdefgh")
  (func (export "f")))
