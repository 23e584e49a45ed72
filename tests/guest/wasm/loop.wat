;; Long-running code must not lock up the CPU: epoch yield points let the
;; kernel reschedule, deliver signals and enforce --timeout / --fuel.
(module
  ;; A page of memory, so that a spinning program holds a linear memory
  ;; (run-guard-regions looks at its reservation).
  (memory 1)
  (func $nothing)

  ;; An infinite loop with no calls: only the loop header's epoch check
  ;; can stop it.
  (func (export "spin")
    (loop $l (br $l)))

  ;; An infinite loop that calls a function on every iteration.
  (func (export "spin_calls")
    (loop $l (call $nothing) (br $l)))

  ;; Counts down from $n and returns how many iterations ran: a finite
  ;; loop for fuel and timeout positive controls.
  (func (export "count") (param $n i64) (result i64)
    (local $i i64)
    (block $done
      (loop $l
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $i))
)
