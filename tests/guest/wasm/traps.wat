;; Each export traps in one way; the kernel must report the trap cleanly.
(module
  (type $ret_i32 (func (result i32)))
  (type $ret_i64 (func (result i64)))
  (table 2 funcref)
  (elem (i32.const 0) $answer)
  (func $answer (type $ret_i32) (i32.const 42))

  ;; "integer divide by zero"
  (func (export "div_zero") (result i32)
    (i32.div_s (i32.const 1) (i32.const 0)))
  (func (export "rem_zero") (result i64)
    (i64.rem_u (i64.const 1) (i64.const 0)))
  ;; "integer overflow"
  (func (export "div_overflow") (result i32)
    (i32.div_s (i32.const 0x80000000) (i32.const -1)))
  (func (export "trunc_overflow") (result i32)
    (i32.trunc_f64_s (f64.const 3e9)))
  ;; "invalid conversion to integer"
  (func (export "trunc_nan") (result i32)
    (i32.trunc_f32_u (f32.const nan)))
  ;; "wasm `unreachable` instruction executed"
  (func (export "unreachable")
    (unreachable))
  ;; "indirect call type mismatch"
  (func (export "call_wrong_type") (result i64)
    (call_indirect (type $ret_i64) (i32.const 0)))
  ;; "uninitialized element"
  (func (export "call_null") (result i32)
    (call_indirect (type $ret_i32) (i32.const 1)))
  ;; "undefined element: out of bounds table access"
  (func (export "call_out_of_table") (result i32)
    (call_indirect (type $ret_i32) (i32.const 2)))

  ;; No trap: a / b, for positive controls (and a trap when b is 0).
  (func (export "div") (param $a i32) (param $b i32) (result i32)
    (i32.div_s (local.get $a) (local.get $b)))
  (func (export "call_ok") (result i32)
    (call_indirect (type $ret_i32) (i32.const 0)))
)
