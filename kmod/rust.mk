# SPDX-License-Identifier: GPL-2.0-only
#
# The Rust half of kwasm.ko: cargo builds kmod/rust as a no_std staticlib
# with the code generation the kernel needs. Kbuild includes this file and
# runs cargo itself; `cargo xtask build-module` instead builds the staticlib
# on the host first, then runs Kbuild with KWASM_RUST_PREBUILT=1 (on the host,
# or in a chroot of the kernel's Debian release, which has no cargo):
#
#   make -f kmod/rust.mk KWASM_TARGET_DIR=/abs/dir CONFIG_X86_KERNEL_IBT=y kwasm-rust
#
# The staticlib depends on no kernel header or version: only on whether the
# kernel enforces IBT (the ENDBR landing pads), hence one build per value
# of CONFIG_X86_KERNEL_IBT.

kwasm_rust_dir := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))rust)

# Where cargo puts the Rust build. The driver passes one per set of flags
# (target/kmod/rust, target/kmod/rust-ibt).
KWASM_TARGET_DIR ?= $(kwasm_rust_dir)/target
kwasm_rust_lib := $(abspath $(KWASM_TARGET_DIR))/x86_64-unknown-none/release/libkwasm_kmod.a

# Code generation that must match the kernel the module loads into: kernel
# code model, no red zone, soft-float (the target), calls through the PLT
# rather than the GOT (the module loader has no GOT relocations), retpolines
# and return thunks (the kernel patches those sites at load), no jump
# tables, and ENDBR landing pads where the kernel enforces IBT. -Z flags need RUSTC_BOOTSTRAP=1
# on a stable toolchain, which is how the kernel builds its own Rust.
kwasm_rustflags-y := -Ccode-model=kernel -Crelocation-model=static -Cpanic=abort \
	-Zplt=yes -Zfunction-return=thunk-extern -Zretpoline-external-thunk -Cjump-tables=no
kwasm_rustflags-$(CONFIG_X86_KERNEL_IBT) += -Zcf-protection=branch

# core and alloc are rebuilt with the same flags (-Zbuild-std): the prebuilt
# ones are position-independent and reach memcpy through the GOT, which the
# module loader refuses.
kwasm_cargo = cd $(kwasm_rust_dir) && RUSTC_BOOTSTRAP=1 RUSTFLAGS="$(kwasm_rustflags-y)" \
	cargo build --release --quiet --target x86_64-unknown-none \
	-Zbuild-std=core,alloc --target-dir $(abspath $(KWASM_TARGET_DIR))

# Standalone (not inside Kbuild, where $(obj) is set): `make -f rust.mk kwasm-rust`.
ifeq ($(obj),)
.PHONY: kwasm-rust
kwasm-rust:
	+$(kwasm_cargo)
endif
