;; A module whose memory starts at 4 GiB: refused at instantiation, with
;; the reason, whatever the guest's RAM.
;; run: --invoke f => refused memory
;; run: --max-memory 16MiB --invoke f => refused memory
(module
  (memory 65536)
  (func (export "f")))
