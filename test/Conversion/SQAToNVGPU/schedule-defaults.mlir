// The schedule's knobs are declared on three surfaces (sqa-choose-schedule,
// the GPU pipeline, sqa-compile) and described once (kWarpsKnobDescription
// and its neighbours in sqa/GPU/KernelSchedule.h; the pass's ODS options
// repeat the text). Each surface's description is checked here beside the
// defaults the code chooses, so that a changed default fails this test until
// its description says so: 128 keys up to head dim 64, else 64, halved
// where the tiles need it (32 at D 256); 32 rows per warp, or 16 where the
// tiles would exceed 72 KiB (D 256).

// RUN: sqa-opt %s --sqa-choose-schedule | FileCheck %s
// RUN: sqa-opt --help | FileCheck %s --check-prefix=PASS
// RUN: sqa-opt --help | FileCheck %s --check-prefix=PIPELINE
// RUN: sqa-compile --help | FileCheck %s --check-prefix=TOOL

// PASS: --sqa-choose-schedule
// PASS-NEXT: --kv-block=<long> - Keys per step of the tensor-core kernels (0: 128 up to head dim 64, else 64, halved where the tiles need it)
// PASS-NEXT: --warp-rows=<long> - Query rows per warp of the forward tensor-core kernel (0: 32, or 16 where the tiles would exceed 72 KiB of shared memory or two row tiles the registers)
// PASS-NEXT: --warps=<long> - Warps per block of the tensor-core kernels (1 to 16)
// PIPELINE: --sqa-gpu-pipeline
// PIPELINE: --kv-block=<uint> - Keys per step of the tensor-core kernels (0: 128 up to head dim 64, else 64, halved where the tiles need it)
// PIPELINE: --warp-rows=<uint> - Query rows per warp of the forward tensor-core kernel (0: 32, or 16 where the tiles would exceed 72 KiB of shared memory or two row tiles the registers)
// PIPELINE: --warps=<uint> - Warps per block of the tensor-core kernels (1 to 16)
// TOOL: --kv-block=<long> - Keys per step of the tensor-core kernels (0: 128 up to head dim 64, else 64, halved where the tiles need it)
// TOOL: --warp-rows=<long> - Query rows per warp of the forward tensor-core kernel (0: 32, or 16 where the tiles would exceed 72 KiB of shared memory or two row tiles the registers)
// TOOL: --warps=<long> - Warps per block of the tensor-core kernels (1 to 16)

// CHECK-LABEL: func.func @d64
// CHECK: #sqa.schedule<warps = 4, kv_block = 128, warp_rows = 32>
// CHECK-LABEL: func.func @d128
// CHECK: #sqa.schedule<warps = 4, kv_block = 64, warp_rows = 32>
// CHECK-LABEL: func.func @d256
// CHECK: #sqa.schedule<warps = 4, kv_block = 32>
func.func @d64(%q: memref<?x8x?x64xf16>, %k: memref<?x4x?x64xf16>, %o: memref<?x8x?x64xf16>) {
  sqa.attention ins(%q, %k, %k : memref<?x8x?x64xf16>, memref<?x4x?x64xf16>, memref<?x4x?x64xf16>) outs(%o : memref<?x8x?x64xf16>)
  return
}
func.func @d128(%q: memref<?x8x?x128xf16>, %k: memref<?x4x?x128xf16>, %o: memref<?x8x?x128xf16>) {
  sqa.attention ins(%q, %k, %k : memref<?x8x?x128xf16>, memref<?x4x?x128xf16>, memref<?x4x?x128xf16>) outs(%o : memref<?x8x?x128xf16>)
  return
}
func.func @d256(%q: memref<?x8x?x256xf16>, %k: memref<?x4x?x256xf16>, %o: memref<?x8x?x256xf16>) {
  sqa.attention ins(%q, %k, %k : memref<?x8x?x256xf16>, memref<?x4x?x256xf16>, memref<?x4x?x256xf16>) outs(%o : memref<?x8x?x256xf16>)
  return
}
