;; kwasm_net (docs/kwasm_net.md), used well and badly. `loopback` is the
;; whole path in one program: listen on 127.0.0.1, connect to itself
;; without blocking, accept when the poller says so, pass bytes, and check
;; level/edge/oneshot reporting and end of stream; it returns the number of
;; the first step that went wrong (0: none). The others hand the module
;; bad fds, bad pointers, bad flags and too many pollers or sockets: each
;; is its errno (negated), never a crash; a wait with nothing registered
;; and a zero-timeout wait spun forever are both ended by --timeout.
;; run: --invoke loopback => returns 0
;; run: --invoke bad_calls => returns 0
;; run: --invoke too_many_pollers => returns 64
;; run: --invoke sockets_until_full => returns 33
;; run: --timeout 1s --invoke wait_forever => trap timed out
;; run: --timeout 1s --invoke spin_on_wait => trap timed out
(module
  (import "kwasm_net" "socket" (func $socket (param i32 i32 i32) (result i32)))
  (import "kwasm_net" "bind" (func $bind (param i32 i32) (result i32)))
  (import "kwasm_net" "listen" (func $listen (param i32 i32) (result i32)))
  (import "kwasm_net" "connect" (func $connect (param i32 i32) (result i32)))
  (import "kwasm_net" "accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "kwasm_net" "recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (import "kwasm_net" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "kwasm_net" "shutdown" (func $shutdown (param i32 i32) (result i32)))
  (import "kwasm_net" "close" (func $close (param i32) (result i32)))
  (import "kwasm_net" "set_option" (func $set_option (param i32 i32 i32) (result i32)))
  (import "kwasm_net" "get_option" (func $get_option (param i32 i32) (result i32)))
  (import "kwasm_net" "local_addr" (func $local_addr (param i32 i32) (result i32)))
  (import "kwasm_net" "peer_addr" (func $peer_addr (param i32 i32) (result i32)))
  (import "kwasm_net" "poller_create" (func $poller_create (result i32)))
  (import "kwasm_net" "poller_ctl" (func $poller_ctl (param i32 i32 i32 i32 i64) (result i32)))
  (import "kwasm_net" "poller_wait" (func $poller_wait (param i32 i32 i32 i64) (result i32)))
  (import "kwasm_net" "poller_close" (func $poller_close (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: Address 127.0.0.1 port 0 (any). 32: the listener's address.
  ;; 64: the accepted peer's address. 128: 8 events. 512: "hello".
  ;; 600: receive buffer.
  (data (i32.const 0) "\04\00\00\00\00\00\00\00\7f\00\00\01")
  (data (i32.const 512) "hello")

  ;; The first event's user data and ready bits.
  (func $ev_data (result i64) (i64.load (i32.const 128)))
  (func $ev_bits (result i32) (i32.load (i32.const 136)))

  (func (export "loopback") (result i32)
    (local $l i32) (local $c i32) (local $a i32) (local $p i32)
    ;; 1-4: a listener on 127.0.0.1, its port chosen by the kernel.
    (local.set $l (call $socket (i32.const 4) (i32.const 1) (i32.const 0)))
    (if (i32.lt_s (local.get $l) (i32.const 3)) (then (return (i32.const 1))))
    (if (call $set_option (local.get $l) (i32.const 1) (i32.const 1)) (then (return (i32.const 2))))
    (if (call $bind (local.get $l) (i32.const 0)) (then (return (i32.const 3))))
    (if (call $listen (local.get $l) (i32.const 16)) (then (return (i32.const 4))))
    ;; 5: its address is IPv4 127.0.0.1 with a real port.
    (if (call $local_addr (local.get $l) (i32.const 32)) (then (return (i32.const 5))))
    (if (i32.or (i32.ne (i32.load16_u (i32.const 32)) (i32.const 4))
          (i32.or (i32.eqz (i32.load16_u (i32.const 34)))
                  (i32.ne (i32.load (i32.const 40)) (i32.const 0x0100007f))))
      (then (return (i32.const 5))))
    ;; 6-7: a poller watching the listener; nothing ready yet.
    (local.set $p (call $poller_create))
    (if (i32.lt_s (local.get $p) (i32.const 0)) (then (return (i32.const 6))))
    (if (call $poller_ctl (local.get $p) (i32.const 1) (local.get $l) (i32.const 1) (i64.const 100))
      (then (return (i32.const 7))))
    (if (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 0))
      (then (return (i32.const 7))))
    ;; 8: a non-blocking connect to it is in progress (-26) or done.
    (local.set $c (call $socket (i32.const 4) (i32.const 1) (i32.const 1)))
    (if (i32.lt_s (local.get $c) (i32.const 3)) (then (return (i32.const 8))))
    (if (i32.eqz (call $get_option (local.get $c) (i32.const 8))) (then (return (i32.const 8))))
    (local.set $a (call $connect (local.get $c) (i32.const 32)))
    (if (i32.and (i32.ne (local.get $a) (i32.const -26)) (i32.ne (local.get $a) (i32.const 0)))
      (then (return (i32.const 8))))
    ;; 9: the listener becomes readable (user data 100).
    (if (i32.ne (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 5000000000)) (i32.const 1))
      (then (return (i32.const 9))))
    (if (i32.or (i64.ne (call $ev_data) (i64.const 100)) (i32.eqz (i32.and (call $ev_bits) (i32.const 1))))
      (then (return (i32.const 9))))
    ;; 10: accept, with the peer's address: IPv4 127.0.0.1.
    (local.set $a (call $accept (local.get $l) (i32.const 1) (i32.const 64)))
    (if (i32.lt_s (local.get $a) (i32.const 3)) (then (return (i32.const 10))))
    (if (i32.ne (i32.load (i32.const 72)) (i32.const 0x0100007f)) (then (return (i32.const 10))))
    (if (call $peer_addr (local.get $c) (i32.const 64)) (then (return (i32.const 10))))
    (if (i32.ne (i32.load16_u (i32.const 66)) (i32.load16_u (i32.const 34))) (then (return (i32.const 10))))
    ;; 11: the connect completed without error; the listener is no longer
    ;; ready (its queue is empty).
    (if (call $get_option (local.get $c) (i32.const 7)) (then (return (i32.const 11))))
    (if (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 0))
      (then (return (i32.const 11))))
    ;; 12-13: the accepted socket, edge triggered: "hello" sent makes it
    ;; ready once; not read, a second look reports nothing.
    (if (call $poller_ctl (local.get $p) (i32.const 1) (local.get $a) (i32.const 0x80000001) (i64.const 200))
      (then (return (i32.const 12))))
    (if (i32.ne (call $send (local.get $c) (i32.const 512) (i32.const 5) (i32.const 0)) (i32.const 5))
      (then (return (i32.const 12))))
    (if (i32.ne (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 5000000000)) (i32.const 1))
      (then (return (i32.const 13))))
    (if (i64.ne (call $ev_data) (i64.const 200)) (then (return (i32.const 13))))
    (if (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 0))
      (then (return (i32.const 13))))
    ;; 14: level triggered (MOD), the unread bytes are reported at every look.
    (if (call $poller_ctl (local.get $p) (i32.const 2) (local.get $a) (i32.const 1) (i64.const 300))
      (then (return (i32.const 14))))
    (if (i32.ne (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 0)) (i32.const 1))
      (then (return (i32.const 14))))
    (if (i32.ne (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 0)) (i32.const 1))
      (then (return (i32.const 14))))
    (if (i64.ne (call $ev_data) (i64.const 300)) (then (return (i32.const 14))))
    ;; 15: oneshot: one report, then none until MOD re-arms it.
    (if (call $poller_ctl (local.get $p) (i32.const 2) (local.get $a) (i32.const 0x40000001) (i64.const 400))
      (then (return (i32.const 15))))
    (if (i32.ne (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 0)) (i32.const 1))
      (then (return (i32.const 15))))
    (if (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 1000000))
      (then (return (i32.const 15))))
    ;; 16: the bytes are "hello" (peeked, then read).
    (if (i32.ne (call $recv (local.get $a) (i32.const 600) (i32.const 64) (i32.const 1)) (i32.const 5))
      (then (return (i32.const 16))))
    (i64.store (i32.const 600) (i64.const 0))
    (if (i32.ne (call $recv (local.get $a) (i32.const 600) (i32.const 64) (i32.const 0)) (i32.const 5))
      (then (return (i32.const 16))))
    (if (i32.ne (i32.load (i32.const 600)) (i32.load (i32.const 512))) (then (return (i32.const 16))))
    ;; 17: nothing left: a non-blocking read is AGAIN (-6).
    (if (i32.ne (call $recv (local.get $a) (i32.const 600) (i32.const 64) (i32.const 2)) (i32.const -6))
      (then (return (i32.const 17))))
    ;; 18: the client closes: the accepted socket reports IN (and RDHUP,
    ;; asked for) and reads end of stream.
    (if (call $poller_ctl (local.get $p) (i32.const 2) (local.get $a) (i32.const 0x2001) (i64.const 500))
      (then (return (i32.const 18))))
    (if (call $close (local.get $c)) (then (return (i32.const 18))))
    (if (i32.ne (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 5000000000)) (i32.const 1))
      (then (return (i32.const 18))))
    (if (i32.ne (i32.and (call $ev_bits) (i32.const 0x2001)) (i32.const 0x2001)) (then (return (i32.const 18))))
    (if (call $recv (local.get $a) (i32.const 600) (i32.const 64) (i32.const 0)) (then (return (i32.const 18))))
    ;; 19: closing an fd removes it from the poller (DEL then finds none),
    ;; and a closed fd is gone.
    (if (call $close (local.get $a)) (then (return (i32.const 19))))
    (if (i32.ne (call $poller_ctl (local.get $p) (i32.const 3) (local.get $a) (i32.const 0) (i64.const 0)) (i32.const -44))
      (then (return (i32.const 19))))
    (if (i32.ne (call $send (local.get $a) (i32.const 512) (i32.const 5) (i32.const 0)) (i32.const -8))
      (then (return (i32.const 19))))
    ;; 20: shut down and close the rest.
    (if (call $shutdown (local.get $l) (i32.const 2)) (then (return (i32.const 20))))
    (if (call $poller_close (local.get $p)) (then (return (i32.const 20))))
    (if (call $close (local.get $l)) (then (return (i32.const 20))))
    (i32.const 0))

  (func (export "bad_calls") (result i32)
    (local $s i32) (local $p i32)
    ;; 1: bad family, kind, flags.
    (if (i32.ne (call $socket (i32.const 5) (i32.const 1) (i32.const 0)) (i32.const -5)) (then (return (i32.const 1))))
    (if (i32.ne (call $socket (i32.const 4) (i32.const 2) (i32.const 0)) (i32.const -58)) (then (return (i32.const 1))))
    (if (i32.ne (call $socket (i32.const 4) (i32.const 1) (i32.const 6)) (i32.const -28)) (then (return (i32.const 1))))
    ;; 2: fds that are not open, and not sockets (stdout).
    (if (i32.ne (call $recv (i32.const 99) (i32.const 600) (i32.const 4) (i32.const 0)) (i32.const -8)) (then (return (i32.const 2))))
    (if (i32.ne (call $listen (i32.const -1) (i32.const 1)) (i32.const -8)) (then (return (i32.const 2))))
    (if (i32.ne (call $listen (i32.const 1) (i32.const 1)) (i32.const -57)) (then (return (i32.const 2))))
    (if (i32.ne (call $accept (i32.const 1) (i32.const 0) (i32.const 0)) (i32.const -57)) (then (return (i32.const 2))))
    ;; 3: pointers past memory: an address, a buffer, an address out.
    (local.set $s (call $socket (i32.const 4) (i32.const 1) (i32.const 1)))
    (if (i32.lt_s (local.get $s) (i32.const 3)) (then (return (i32.const 3))))
    (if (i32.ne (call $bind (local.get $s) (i32.const 65530)) (i32.const -21)) (then (return (i32.const 3))))
    (if (i32.ne (call $bind (local.get $s) (i32.const -1)) (i32.const -21)) (then (return (i32.const 3))))
    (if (i32.ne (call $recv (local.get $s) (i32.const 65000) (i32.const 1000) (i32.const 0)) (i32.const -21)) (then (return (i32.const 3))))
    (if (i32.ne (call $send (local.get $s) (i32.const -16) (i32.const 32) (i32.const 0)) (i32.const -21)) (then (return (i32.const 3))))
    (if (i32.ne (call $local_addr (local.get $s) (i32.const 65530)) (i32.const -21)) (then (return (i32.const 3))))
    ;; 4: bad flags and options; an unconnected socket has no peer (-53)
    ;; and sends nothing (-64 EPIPE or -53).
    (if (i32.ne (call $recv (local.get $s) (i32.const 600) (i32.const 4) (i32.const 8)) (i32.const -28)) (then (return (i32.const 4))))
    (if (i32.ne (call $set_option (local.get $s) (i32.const 99) (i32.const 1)) (i32.const -28)) (then (return (i32.const 4))))
    (if (i32.ne (call $set_option (local.get $s) (i32.const 7) (i32.const 1)) (i32.const -28)) (then (return (i32.const 4))))
    (if (i32.ne (call $shutdown (local.get $s) (i32.const 3)) (i32.const -28)) (then (return (i32.const 4))))
    (if (i32.ne (call $peer_addr (local.get $s) (i32.const 64)) (i32.const -53)) (then (return (i32.const 4))))
    (if (i32.ge_s (call $send (local.get $s) (i32.const 512) (i32.const 5) (i32.const 0)) (i32.const 0)) (then (return (i32.const 4))))
    ;; 5: options read back what was set.
    (if (call $set_option (local.get $s) (i32.const 2) (i32.const 1)) (then (return (i32.const 5))))
    (if (i32.ne (call $get_option (local.get $s) (i32.const 2)) (i32.const 1)) (then (return (i32.const 5))))
    (if (call $set_option (local.get $s) (i32.const 8) (i32.const 0)) (then (return (i32.const 5))))
    (if (call $get_option (local.get $s) (i32.const 8)) (then (return (i32.const 5))))
    ;; 6: pollers: unknown handles, bad ops, bits, fds and buffers.
    (if (i32.ne (call $poller_wait (i32.const 7) (i32.const 128) (i32.const 8) (i64.const 0)) (i32.const -8)) (then (return (i32.const 6))))
    (if (i32.ne (call $poller_close (i32.const -1)) (i32.const -8)) (then (return (i32.const 6))))
    (local.set $p (call $poller_create))
    (if (i32.ne (call $poller_ctl (local.get $p) (i32.const 9) (local.get $s) (i32.const 1) (i64.const 0)) (i32.const -28)) (then (return (i32.const 6))))
    (if (i32.ne (call $poller_ctl (local.get $p) (i32.const 1) (local.get $s) (i32.const 0x100) (i64.const 0)) (i32.const -28)) (then (return (i32.const 6))))
    (if (i32.ne (call $poller_ctl (local.get $p) (i32.const 1) (i32.const 1) (i32.const 1) (i64.const 0)) (i32.const -57)) (then (return (i32.const 6))))
    (if (i32.ne (call $poller_ctl (local.get $p) (i32.const 2) (local.get $s) (i32.const 1) (i64.const 0)) (i32.const -44)) (then (return (i32.const 6))))
    (if (call $poller_ctl (local.get $p) (i32.const 1) (local.get $s) (i32.const 1) (i64.const 0)) (then (return (i32.const 6))))
    (if (i32.ne (call $poller_ctl (local.get $p) (i32.const 1) (local.get $s) (i32.const 1) (i64.const 0)) (i32.const -20)) (then (return (i32.const 6))))
    (if (i32.ne (call $poller_wait (local.get $p) (i32.const 128) (i32.const 0) (i64.const 0)) (i32.const -28)) (then (return (i32.const 6))))
    (if (i32.ne (call $poller_wait (local.get $p) (i32.const 65530) (i32.const 1) (i64.const 0)) (i32.const -21)) (then (return (i32.const 6))))
    (if (i32.ne (call $poller_wait (local.get $p) (i32.const 60000) (i32.const -1) (i64.const 0)) (i32.const -21)) (then (return (i32.const 6))))
    ;; 7: the socket stays registered when the run ends: released anyway.
    (i32.const 0))

  (func (export "too_many_pollers") (result i32)
    (local $n i32)
    (loop $l
      (if (i32.ge_s (call $poller_create) (i32.const 0))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $l))))
    (local.get $n))

  ;; Opens sockets, each registered with a poller, until the fd table is
  ;; full: returns the errno then (MFILE). The run's end closes them all.
  (func (export "sockets_until_full") (result i32)
    (local $s i32) (local $p i32)
    (local.set $p (call $poller_create))
    (loop $l
      (local.set $s (call $socket (i32.const 4) (i32.const 1) (i32.const 1)))
      (if (i32.ge_s (local.get $s) (i32.const 0))
        (then
          (drop (call $poller_ctl (local.get $p) (i32.const 1) (local.get $s) (i32.const 5) (i64.const 0)))
          (br $l))))
    (i32.sub (i32.const 0) (local.get $s)))

  (func (export "wait_forever") (result i32)
    (local $p i32)
    (local.set $p (call $poller_create))
    (loop $l
      (drop (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const -1)))
      (br $l))
    (i32.const 0))

  (func (export "spin_on_wait") (result i32)
    (local $p i32)
    (local.set $p (call $poller_create))
    (loop $l
      (drop (call $poller_wait (local.get $p) (i32.const 128) (i32.const 8) (i64.const 0)))
      (br $l))
    (i32.const 0)))
