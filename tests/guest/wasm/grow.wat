;; A WASI command that holds memory: `grow.wat MIB SECONDS` grows four
;; linear memories 16 MiB at a time, in turn, until they hold MIB MiB
;; together (0: until a grow is refused), prints
;; "grown N MiB reached" or "grown N MiB refused", then sleeps SECONDS
;; (poll_oneoff) holding it all, prints "done" and exits 0. The memory
;; tests use it as the program whose kernel memory must count as its
;; process's own.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  ;; Memory 0: argc at 0, argv size at 4, argv at 64, the argument bytes
  ;; at 256, the iovec at 1600, the line being printed at 2048, the poll
  ;; subscription at 3072, its event at 3200, the event count at 3264.
  (memory $io (export "memory") 1)
  (memory $a 0)
  (memory $b 0)
  (memory $c 0)
  (memory $d 0)
  (data (memory $io) (i32.const 1024) "grown ")
  (data (memory $io) (i32.const 1040) " MiB reached\n")
  (data (memory $io) (i32.const 1056) " MiB refused\n")
  (data (memory $io) (i32.const 1072) "done\n")

  ;; The decimal number argv[$i] spells (0 when it is missing).
  (func $arg (param $i i32) (result i32)
    (local $p i32) (local $c i32) (local $n i32)
    (if (i32.ge_u (local.get $i) (i32.load (i32.const 0))) (then (return (i32.const 0))))
    (local.set $p (i32.load (i32.add (i32.const 64) (i32.shl (local.get $i) (i32.const 2)))))
    (block $end
      (loop $digits
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $end (i32.lt_u (local.get $c) (i32.const 48)))
        (br_if $end (i32.gt_u (local.get $c) (i32.const 57)))
        (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digits)))
    (local.get $n))

  (func $print (param $at i32) (param $len i32)
    (i32.store (i32.const 1600) (local.get $at))
    (i32.store (i32.const 1604) (local.get $len))
    (drop (call $write (i32.const 1) (i32.const 1600) (i32.const 1) (i32.const 1608))))

  ;; Prints "grown N MiB <what>", <what> being the 13-byte text at $tail.
  (func $report (param $mib i32) (param $tail i32)
    (local $p i32) (local $len i32)
    (memory.copy $io $io (i32.const 2048) (i32.const 1024) (i32.const 6))
    ;; The digits, written backwards from 2100 then moved after "grown ".
    (local.set $p (i32.const 2100))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $mib) (i32.const 10))))
      (local.set $mib (i32.div_u (local.get $mib) (i32.const 10)))
      (br_if $digit (local.get $mib)))
    (local.set $len (i32.sub (i32.const 2100) (local.get $p)))
    (memory.copy $io $io (i32.const 2054) (local.get $p) (local.get $len))
    (memory.copy $io $io (i32.add (i32.const 2054) (local.get $len)) (local.get $tail) (i32.const 13))
    (call $print (i32.const 2048) (i32.add (i32.const 19) (local.get $len))))

  ;; Grows memory number $which by 16 MiB: 1 if it grew.
  (func $grow (param $which i32) (result i32)
    (local $old i32)
    (local.set $old
      (if (result i32) (i32.eq (local.get $which) (i32.const 0))
        (then (memory.grow $a (i32.const 256)))
        (else (if (result i32) (i32.eq (local.get $which) (i32.const 1))
          (then (memory.grow $b (i32.const 256)))
          (else (if (result i32) (i32.eq (local.get $which) (i32.const 2))
            (then (memory.grow $c (i32.const 256)))
            (else (memory.grow $d (i32.const 256)))))))))
    (i32.ne (local.get $old) (i32.const -1)))

  (func (export "_start")
    (local $target i32) (local $mib i32) (local $turn i32) (local $tail i32) (local $e i32)
    (drop (call $args_sizes (i32.const 0) (i32.const 4)))
    (if (i32.gt_u (i32.load (i32.const 0)) (i32.const 16)) (then (call $exit (i32.const 2))))
    (if (i32.gt_u (i32.load (i32.const 4)) (i32.const 1024)) (then (call $exit (i32.const 2))))
    (drop (call $args_get (i32.const 64) (i32.const 256)))
    (local.set $target (call $arg (i32.const 1)))
    (local.set $tail (i32.const 1040))
    (block $held
      (loop $more
        (br_if $held (i32.and (i32.ne (local.get $target) (i32.const 0))
                              (i32.ge_u (local.get $mib) (local.get $target))))
        (if (i32.eqz (call $grow (i32.rem_u (local.get $turn) (i32.const 4))))
          (then (local.set $tail (i32.const 1056)) (br $held)))
        (local.set $mib (i32.add (local.get $mib) (i32.const 16)))
        (local.set $turn (i32.add (local.get $turn) (i32.const 1)))
        (br $more)))
    (call $report (local.get $mib) (local.get $tail))
    ;; Sleep: userdata 0, tag 0 (clock), clock id 1 (monotonic), the
    ;; timeout in ns, precision 0, flags 0 (relative).
    (i32.store (i32.const 3088) (i32.const 1))
    (i64.store (i32.const 3096) (i64.mul (i64.extend_i32_u (call $arg (i32.const 2))) (i64.const 1000000000)))
    (local.set $e (call $poll (i32.const 3072) (i32.const 3200) (i32.const 1) (i32.const 3264)))
    (if (local.get $e) (then (call $exit (local.get $e))))
    (call $print (i32.const 1072) (i32.const 5))))
