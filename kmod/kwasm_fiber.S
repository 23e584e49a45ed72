/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kwasm_fiber_switch: the one stack switch of kwasm's fibers (see
 * rust/src/platform/fiber.rs). The same save/load as the kernel's
 * __switch_to_asm: push the callee-saved registers, save rsp, load the
 * other side's rsp, pop its registers and return into it.
 *
 *   unsigned long kwasm_fiber_switch(unsigned long *save_sp,
 *                                    const unsigned long *load_sp,
 *                                    unsigned long message);
 *
 * `message` arrives on the other side both as the return value of its own
 * kwasm_fiber_switch call and in %rdi, which is how a fresh fiber's first
 * frame (its entry function, "returned" into) gets its argument.
 */
#include <linux/linkage.h>
#include <asm/nospec-branch.h>

	.text
SYM_FUNC_START(kwasm_fiber_switch)
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	movq	%rdx, %rax
	movq	%rdx, %rdi
	RET
SYM_FUNC_END(kwasm_fiber_switch)
