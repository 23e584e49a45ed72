;; Memory bombs: asking for more than the kernel will give is a clean
;; refusal or a failed grow (-1), never an allocation failure splat.
;; run: --invoke grow_all => returns -1
;; run: --max-memory 1MiB --invoke grow_by_one => returns 15
;; run: --max-memory 64MiB --invoke grow_by_one => returns 1023
;; run: --invoke grow_huge => returns -1
;; run: --invoke grow_1g => returns -1
;; run: --invoke store_after_failed_grow => trap out of bounds memory access
(module
  (memory 1)
  ;; One grow to the whole 4 GiB address space.
  (func (export "grow_all") (result i32)
    (memory.grow (i32.const 65535)))
  ;; 1 GiB: as much as the guest has, so the allocation itself fails.
  (func (export "grow_1g") (result i32)
    (memory.grow (i32.const 16384)))
  (func (export "grow_huge") (result i32)
    (memory.grow (i32.const -1)))
  ;; Many small grows until refused; returns how many succeeded.
  (func (export "grow_by_one") (result i32)
    (local $n i32)
    (block $done
      (loop $l
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $n))
  (func (export "store_after_failed_grow")
    (drop (memory.grow (i32.const 65535)))
    (i32.store (i32.const 65536) (i32.const 1))))
