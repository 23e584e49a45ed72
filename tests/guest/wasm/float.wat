;; Float and SIMD results with known answers: the kernel must preserve FPU
;; state across preemption and host calls, and compile every operation
;; inline (no libcalls: the kernel has none).
(module
  ;; sum of sqrt(i) for 0 <= i < n, in f64 and in f32.
  (func (export "f64_sqrt_sum") (param $n i32) (result f64)
    (local $i i32) (local $acc f64)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (f64.add (local.get $acc) (f64.sqrt (f64.convert_i32_u (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "f32_sqrt_sum") (param $n i32) (result f32)
    (local $i i32) (local $acc f32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (f32.add (local.get $acc) (f32.sqrt (f32.convert_i32_u (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))

  ;; [1 2 3 4] . [5 6 7 8] = 70
  (func (export "f32x4_dot") (result f32)
    (local $p v128)
    (local.set $p (f32x4.mul (v128.const f32x4 1 2 3 4) (v128.const f32x4 5 6 7 8)))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $p)) (f32x4.extract_lane 1 (local.get $p)))
      (f32.add (f32x4.extract_lane 2 (local.get $p)) (f32x4.extract_lane 3 (local.get $p)))))

  ;; [1.5 2.5] * [4 8] + [0.25 0.75] = [6.25 20.75]; their sum is 27
  (func (export "f64x2_mul_add") (result f64)
    (local $v v128)
    (local.set $v (f64x2.add (f64x2.mul (v128.const f64x2 1.5 2.5) (v128.const f64x2 4 8))
                             (v128.const f64x2 0.25 0.75)))
    (f64.add (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v))))

  ;; splat(x) * [1 2 3 4], lanes summed: 10 * x
  (func (export "i32x4_sum") (param $x i32) (result i32)
    (local $v v128)
    (local.set $v (i32x4.mul (i32x4.splat (local.get $x)) (v128.const i32x4 1 2 3 4)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))

  ;; nearest(2.5) + floor(-1.5) + ceil(1.2) + trunc(-3.7) = 2 - 2 + 2 - 3 = -1
  ;; (the operations that need SSE4.1 to avoid libcalls)
  (func (export "f64_rounding") (result f64)
    (f64.add
      (f64.add (f64.nearest (f64.const 2.5)) (f64.floor (f64.const -1.5)))
      (f64.add (f64.ceil (f64.const 1.2)) (f64.trunc (f64.const -3.7)))))
  (func (export "f32_rounding") (result f32)
    (f32.add
      (f32.add (f32.nearest (f32.const 3.5)) (f32.floor (f32.const -1.5)))
      (f32.add (f32.ceil (f32.const 1.2)) (f32.trunc (f32.const -3.7)))))

  ;; Long-running loops with exact results, to run while being preempted:
  ;; f32x4 lanes each add 1.0 per iteration (4 * n, exact below 2^24 per
  ;; lane), and an f64 adds 0.5 per iteration (n / 2).
  (func (export "simd_loop") (param $n i32) (result f32)
    (local $v v128)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $v (f32x4.add (local.get $v) (v128.const f32x4 1 1 1 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
  (func (export "f64_loop") (param $n i32) (result f64)
    (local $acc f64)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (f64.add (local.get $acc) (f64.const 0.5)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc))
)
