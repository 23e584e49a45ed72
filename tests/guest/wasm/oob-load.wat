;; Out-of-bounds memory access must trap cleanly (never an oops).
;; Memory: 1 page (64 KiB) now, at most 2.
(module
  (memory (export "memory") 1 2)

  ;; 4-byte load/store at any address: 65532 is the last in bounds,
  ;; 65533..65535 straddle the end, 65536 and above are outside.
  (func (export "load") (param $addr i32) (result i32)
    (i32.load (local.get $addr)))
  (func (export "store") (param $addr i32) (param $v i32)
    (i32.store (local.get $addr) (local.get $v)))

  ;; Constant offsets at and beyond 2^31: the effective address is
  ;; addr + offset computed in 33+ bits, always outside.
  (func (export "load_offset_2g") (result i32)
    (i32.load offset=0x80000000 (i32.const 0)))
  (func (export "load_offset_4g") (result i32)
    (i32.load offset=0xfffffffc (i32.const 0xffffffff)))
  (func (export "store_offset_2g") (param $v i32)
    (i32.store offset=0x80000000 (i32.const 0x7fffffff) (local.get $v)))

  ;; memory.grow by $pages: the old size in pages, or -1 past the maximum
  ;; (2 pages, or less under --max-memory).
  (func (export "grow") (param $pages i32) (result i32)
    (memory.grow (local.get $pages)))
  (func (export "size") (result i32)
    (memory.size))

  ;; Grows by one page, stores 42 at $addr and returns what was there
  ;; before and what is there now.
  (func (export "grow_store_load") (param $addr i32) (result i32 i32)
    (drop (memory.grow (i32.const 1)))
    (i32.load (local.get $addr))
    (i32.store (local.get $addr) (i32.const 42))
    (i32.load (local.get $addr)))
)
