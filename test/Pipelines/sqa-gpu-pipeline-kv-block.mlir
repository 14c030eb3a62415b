// RUN: sqa-opt %s --sqa-gpu-pipeline="kv-block=32" | FileCheck %s --check-prefix=KV32
// RUN: sqa-opt %s --sqa-gpu-pipeline | FileCheck %s --check-prefix=DEFAULT
// RUN: not sqa-opt %s --sqa-gpu-pipeline="kv-block=24" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not sqa-compile %s --kv-block=40 -o %t.ptx 2>&1 | FileCheck %s --check-prefix=BAD-COMPILE
// RUN: sqa-compile %s --kv-block=16 -o %t.ptx && FileCheck %s --check-prefix=KV16 < %t.ptx

// The GPU pipeline's kv-block reaches the tensor-core kernel (and the
// row-wise lowering's choice of which ops to leave to it): the K and V tiles
// (two stages of kv-block x 64 f16) are 2 x 32 x 64 x 2 = 8192 bytes with
// kv-block=32, 16384 by default (64), 4096 with 16; the Q tile stays 8192.
// KV32-COUNT-3: .shared .align 2 .b8 __wg_sqa_kernel_{{[0-9]}}[8192];
// DEFAULT: .shared .align 2 .b8 __wg_sqa_kernel_0[8192];{{.*}}.shared .align 2 .b8 __wg_sqa_kernel_1[16384];{{.*}}.shared .align 2 .b8 __wg_sqa_kernel_2[16384];
// KV16: .shared .align 2 .b8 __wg_sqa_kernel_1[4096];
// BAD: error: sqa-gpu-pipeline: kv-block 24 must be 0 (the kernels' default) or a multiple of 16 in [16, 256]
// BAD-COMPILE: error: kv-block 40 must be 0 (the kernels' default) or a multiple of 16 in [16, 256]
func.func @sqa(%q: tensor<?x8x?x64xf16>, %k: tensor<?x4x?x64xf16>, %v: tensor<?x4x?x64xf16>,
               %o: tensor<?x8x?x64xf16>) -> tensor<?x8x?x64xf16> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>)
                     outs(%o : tensor<?x8x?x64xf16>) -> tensor<?x8x?x64xf16>
  return %r : tensor<?x8x?x64xf16>
}
