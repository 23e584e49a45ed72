#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Prints assembly that annotates Wasmtime's trap unwinder for objtool, the
# way the kernel annotates its own hand-written assembly.
#
# Wasmtime resumes at a trap handler with `mov rsp, ..; mov rbp, ..; jmp *%rdi`
# (wasmtime-internal-unwinder's resume_to_exception_handler, inlined into
# wasmtime::runtime::vm::libcalls::raw::raise, and into the custom
# platform's traphandlers::handle_trap). objtool cannot follow a jump
# that also switches stacks: it flags the jump as a missing retpoline and
# loses the stack state, which on kernels that check the whole module
# (IBT: 6.12) makes it give up on ORC unwind data for all of it. So:
#   STACK_FRAME_NON_STANDARD(each)  -> .discard.func_stack_frame_non_standard
#   ANNOTATE_RETPOLINE_SAFE(the jmp) -> .discard.retpoline_safe, or since
#     6.14 (KWASM_ANNOTATE_INSN=1: the kernel has include/linux/annotate.h)
#     an ANNOTYPE_RETPOLINE_SAFE (2) entry of .discard.annotate_insn
# Both point into the function's own section; the output is assembled and linked
# in FRONT of the Rust object so that its empty section of the same name
# lands at offset 0 of the merged section.
#
# Usage: wasmtime-objtool-annotations.sh OBJECT > annotations.s
set -eu
obj=$1
# Functions that end in that jump: raise (a trap raised by a libcall) and
# the custom platform's handle_trap (a trap from a fault: guard regions).
for pattern in '8libcalls3raw5raise$' '12traphandlers11handle_trap$'; do
	# "<value> l F <section> <size> <name>" for the function.
	set -- $(${OBJDUMP:-objdump} -t "$obj" | awk -v p="$pattern" '$NF ~ p && $3 == "F" { print $1, $4, $NF; exit }')
	[ $# -eq 3 ] || continue
	value=$1 section=$2 name=$3
	jump=$(${OBJDUMP:-objdump} -d --no-show-raw-insn --disassemble="$name" "$obj" |
		awk '/jmp +\*%rdi/ { sub(":", "", $1); print $1; exit }')
	echo "	.section $section,\"ax\",@progbits"
	echo "0:"
	echo "	.pushsection .discard.func_stack_frame_non_standard,\"aw\""
	echo "	.quad 0b + 0x$value"
	echo "	.popsection"
	if [ -n "$jump" ] && [ "${KWASM_ANNOTATE_INSN:-}" = 1 ]; then
		echo "	.pushsection .discard.annotate_insn,\"M\",@progbits,8"
		echo "	.long 0b + 0x$jump - ., 2"
		echo "	.popsection"
	elif [ -n "$jump" ]; then
		echo "	.pushsection .discard.retpoline_safe"
		echo "	.quad 0b + 0x$jump"
		echo "	.popsection"
	fi
done
echo "	.section .note.GNU-stack,\"\",@progbits"
