// RUN: sqa-opt %s --split-input-file --sqa-choose-schedule | FileCheck %s
// RUN: sqa-opt %s --split-input-file --sqa-choose-schedule="warps=2 kv-block=32" | FileCheck %s --check-prefix=OPTS
// RUN: sqa-opt %s --split-input-file --sqa-choose-schedule="warps=2 kv-block=32" --convert-sqa-to-nvgpu | FileCheck %s --check-prefix=KERNEL
// RUN: not sqa-opt %s --split-input-file --sqa-choose-schedule="warps=0" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not sqa-opt %s --split-input-file --sqa-choose-schedule="kv-block=65552" 2>&1 | FileCheck %s --check-prefix=BAD-KV
// RUN: not sqa-opt %s --split-input-file --sqa-choose-schedule="warp-rows=24" 2>&1 | FileCheck %s --check-prefix=BAD-ROWS
// RUN: sqa-opt %s --split-input-file --sqa-choose-schedule="warps=8 warp-rows=16" | FileCheck %s --check-prefix=ROWS16
// RUN: sqa-opt %s --split-input-file --sqa-choose-schedule="warps=8" | FileCheck %s --check-prefix=WARPS8

// Each op gets its schedule once, with the defaults resolved: kv-block 128
// at head dim 64 (FlashAttention-2's), 32 rows per warp. The kernels then read it, not their own
// options (warps=4, kv-block=0 here): 2 warps (64 threads, 64 rows) and 32
// keys per step.
// CHECK-LABEL: func.func @forward
// CHECK: sqa.attention {{.*}} {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 128, warp_rows = 32>}
// OPTS-LABEL: func.func @forward
// OPTS: {sqa.schedule = #sqa.schedule<warps = 2, kv_block = 32, warp_rows = 32>}
// ROWS16-LABEL: func.func @forward
// ROWS16: {sqa.schedule = #sqa.schedule<warps = 8, kv_block = 128>}
// WARPS8-LABEL: func.func @forward
// WARPS8: {sqa.schedule = #sqa.schedule<warps = 8, kv_block = 128, warp_rows = 32>}
// KERNEL-LABEL: func.func @forward
// KERNEL: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c64{{.*}}) workgroup({{.*}} : memref<64x72xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<32x72xf16, #gpu.address_space<workgroup>>
// BAD: error: sqa-choose-schedule: warps must be in [1, 16], got 0
// BAD-KV: error: sqa-choose-schedule: kv-block must be 0 (the default) or a multiple of 16 in [16, 256], got 65552
// BAD-ROWS: error: sqa-choose-schedule: warp-rows must be 0 (the default), 16 or 32, got 24
func.func @forward(%q: memref<?x8x?x64xf16>, %k: memref<?x4x?x64xf16>, %v: memref<?x4x?x64xf16>, %o: memref<?x8x?x64xf16>) {
  sqa.attention ins(%q, %k, %v : memref<?x8x?x64xf16>, memref<?x4x?x64xf16>, memref<?x4x?x64xf16>) outs(%o : memref<?x8x?x64xf16>)
  return
}

// -----

// Head dim 128: kv-block 64 by default, FlashAttention-2's (the Q tile of
// 128 rows and one K and V block, their rows padded, in 68 KiB, under the
// 72 KiB the default schedules keep to); with 8 warps, 256 rows would not
// fit with any kv-block, so 16 rows per warp.
// CHECK-LABEL: func.func @d128
// CHECK: {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 64, warp_rows = 32>}
// WARPS8-LABEL: func.func @d128
// WARPS8: {sqa.schedule = #sqa.schedule<warps = 8, kv_block = 64>}
func.func @d128(%q: memref<?x4x?x128xbf16>, %o: memref<?x4x?x128xbf16>) {
  sqa.attention ins(%q, %q, %q : memref<?x4x?x128xbf16>, memref<?x4x?x128xbf16>, memref<?x4x?x128xbf16>) outs(%o : memref<?x4x?x128xbf16>)
  return
}

// -----

// The backward: the dQ kernel's warps and kv-block (16 at head dim 128),
// the dK/dV kernel's warps and q-block (halved to fit 72 KiB: by default 4
// warps and a q-block of 32 rows, 68 KiB; with kv-block=32 and 2 warps, a
// q-block of 32 rows and 32 keys per block, 51 KiB), in dynamic shared
// memory.
// CHECK-LABEL: func.func @backward
// CHECK: {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 16, kv_warps = 4, q_block = 32>}
// KERNEL-LABEL: func.func @backward
// KERNEL: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c64{{.*}}) dynamic_shared_memory_size %c52480_i32
// KERNEL: memref.view {{.*}} to memref<32x136xf16
// KERNEL: memref.view {{.*}} to memref<32x136xf16
// KERNEL: memref.view {{.*}} to memref<2x32x136xf16
func.func @backward(%q: memref<?x4x?x128xf16>, %l: memref<?x4x?xf32>, %g: memref<?x4x?x128xf32>) {
  sqa.attention_grad ins(%q, %q, %q, %q, %q, %l : memref<?x4x?x128xf16>, memref<?x4x?x128xf16>, memref<?x4x?x128xf16>, memref<?x4x?x128xf16>, memref<?x4x?x128xf16>, memref<?x4x?xf32>) outs(%g, %g, %g : memref<?x4x?x128xf32>, memref<?x4x?x128xf32>, memref<?x4x?x128xf32>)
  return
}

// -----

// A schedule the producer of the IR chose is kept.
// CHECK-LABEL: func.func @kept
// CHECK: {sqa.schedule = #sqa.schedule<warps = 1, kv_block = 16>}
// OPTS-LABEL: func.func @kept
// OPTS: {sqa.schedule = #sqa.schedule<warps = 1, kv_block = 16>}
func.func @kept(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 1, kv_block = 16>}
  return
}
