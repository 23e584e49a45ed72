;; Deep recursion must trap with "stack overflow" (call stack exhausted),
;; running on wasm's own stack, never on the 16 KiB kernel task stack.
(module
  ;; Never returns: each call recurses before it adds.
  (func $deep (export "deep") (param $n i32) (result i32)
    (i32.add
      (call $deep (i32.add (local.get $n) (i32.const 1)))
      (i32.const 1)))

  ;; Recurses $n times and returns $n: moderate depths must work.
  (func $bounded (export "bounded") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else
        (i32.add
          (call $bounded (i32.sub (local.get $n) (i32.const 1)))
          (i32.const 1)))))

  ;; Like $deep with big frames (v128 locals spilled around the call).
  (func $deep_wide (export "deep_wide") (param $n i32) (result i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $a (i32x4.splat (local.get $n)))
    (local.set $b (i32x4.add (local.get $a) (local.get $a)))
    (local.set $c (i32x4.mul (local.get $b) (local.get $a)))
    (local.set $d (i32x4.sub (local.get $c) (local.get $b)))
    (i32.add
      (call $deep_wide (i32.add (local.get $n) (i32.const 1)))
      (i32x4.extract_lane 0
        (i32x4.add (i32x4.add (local.get $a) (local.get $b))
                   (i32x4.add (local.get $c) (local.get $d))))))
)
