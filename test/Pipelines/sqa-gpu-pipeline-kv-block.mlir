// RUN: sqa-opt %s --sqa-gpu-pipeline="kv-block=32" | FileCheck %s --check-prefix=KV32
// RUN: sqa-opt %s --sqa-gpu-pipeline | FileCheck %s --check-prefix=DEFAULT
// RUN: not sqa-opt %s --sqa-gpu-pipeline="kv-block=24" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not sqa-compile %s --kv-block=40 -o %t.ptx 2>&1 | FileCheck %s --check-prefix=BAD-COMPILE
// RUN: sqa-compile %s --kv-block=16 -o %t.ptx && FileCheck %s --check-prefix=KV16 < %t.ptx
// RUN: sqa-opt %s --sqa-gpu-pipeline="warp-rows=16" | FileCheck %s --check-prefix=ROWS16
// RUN: sqa-compile %s --warp-rows=16 -o %t16.ptx && FileCheck %s --check-prefix=ROWS16 < %t16.ptx
// RUN: not sqa-opt %s --sqa-gpu-pipeline="warp-rows=24" 2>&1 | FileCheck %s --check-prefix=BAD-ROWS
// RUN: not sqa-compile %s --warp-rows=64 -o %t.ptx 2>&1 | FileCheck %s --check-prefix=BAD-ROWS-COMPILE

// The GPU pipeline's kv-block and warp-rows reach the tensor-core kernel
// (and the row-wise lowering's choice of which ops to leave to it): the K
// and V tiles (one block of kv-block rows of 64 f16, padded to 72) are
// 32 x 72 x 2 = 4608 bytes with kv-block=32, 2304 with 16; the Q tile is 4
// warps x 32 rows x 72 x 2 = 18432 bytes by default, 9216 with 16 rows per
// warp. By default (kv-block 128, FlashAttention-2's) the three tiles take
// 3 x 18432 = 55296 bytes, more than 48 KiB of static shared memory: the
// kernel's is dynamic, sized by the launch.
// KV32: .shared .align 2 .b8 __wg_sqa_kernel_0[18432];{{.*}}.shared .align 2 .b8 __wg_sqa_kernel_1[4608];{{.*}}.shared .align 2 .b8 __wg_sqa_kernel_2[4608];
// DEFAULT: llvm.mlir.constant(55296 : i32) : i32
// DEFAULT: gpu.launch_func {{.*}} dynamic_shared_memory_size
// DEFAULT: .extern .shared .align 16 .b8 __dynamic_shmem__0[];
// KV16: .shared .align 2 .b8 __wg_sqa_kernel_1[2304];
// ROWS16: .shared .align 2 .b8 __wg_sqa_kernel_0[9216];
// BAD-ROWS: error: sqa-gpu-pipeline: warp-rows must be 0 (the default), 16 or 32, got 24
// BAD-ROWS-COMPILE: error: --warp-rows must be 0 (the default), 16 or 32, got 64
// BAD: error: sqa-gpu-pipeline: kv-block must be 0 (the default) or a multiple of 16 in [16, 256], got 24
// BAD-COMPILE: error: --kv-block must be 0 (the default) or a multiple of 16 in [16, 256], got 40
func.func @sqa(%q: tensor<?x8x?x64xf16>, %k: tensor<?x4x?x64xf16>, %v: tensor<?x4x?x64xf16>,
               %o: tensor<?x8x?x64xf16>) -> tensor<?x8x?x64xf16> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>)
                     outs(%o : tensor<?x8x?x64xf16>) -> tensor<?x8x?x64xf16>
  return %r : tensor<?x8x?x64xf16>
}
