;; The stack: huge frames, mutual recursion and recursion with many live
;; values all end in "call stack exhausted", never past the guard.
;; run: --invoke huge_frames -- 0 => trap call stack exhausted
;; run: --invoke ping -- -1 => trap call stack exhausted
;; run: --invoke ping -- 1000 => returns 1000
(module
  ;; 2000 i64 + v128 locals per frame.
  (func $huge (export "huge_frames") (param $n i32) (result i32)
    (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (local v128 v128 v128 v128 v128 v128 v128 v128 v128 v128 v128 v128)
    (call $huge (i32.add (local.get $n) (i32.const 1))))
  ;; ping/pong until the count reaches $limit (-1: never); returns the count.
  (func $ping (export "ping") (param $limit i32) (result i32)
    (call $pong (local.get $limit) (i32.const 0)))
  (func $pong (param $limit i32) (param $i i32) (result i32)
    (if (result i32) (i32.eq (local.get $i) (local.get $limit))
      (then (local.get $i))
      (else (call $pang (local.get $limit) (i32.add (local.get $i) (i32.const 1))))))
  (func $pang (param $limit i32) (param $i i32) (result i32)
    (call $pong (local.get $limit) (local.get $i))))
