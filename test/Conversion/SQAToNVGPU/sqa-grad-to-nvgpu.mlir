// RUN: sqa-opt %s --split-input-file --convert-sqa-to-nvgpu | FileCheck %s
// RUN: sqa-opt %s --split-input-file --sqa-choose-schedule="warps=2 kv-block=32" --convert-sqa-to-nvgpu | FileCheck %s --check-prefix=W2
// RUN: not sqa-opt %s --split-input-file --convert-sqa-to-nvgpu="strict=true" 2>&1 | FileCheck %s --check-prefix=STRICT

// sqa.attention_grad on the tensor-core kernels: SQA (8 query heads on 4
// key/value heads), f16, D = 64, causal. Two launches: dK/dV over
// (kv-blocks, key/value heads, batch), then dQ over (q-blocks, query heads,
// batch), both with 128 threads.
// CHECK-LABEL: func.func @sqa_grad_f16_d64
// CHECK: %[[SKV:.+]] = memref.dim %{{.+}}, %c2
// CHECK: %[[KROUNDED:.+]] = arith.addi %[[SKV]], %c63
// CHECK: %[[KBLOCKS:.+]] = arith.divsi %[[KROUNDED]], %c64
// The dK/dV kernel: K and V of the block once, Q and dO in two stages of 64
// rows, the q-block's lse shift and Dsum in f32: 54.5 KiB with the rows
// padded (under the 64 KiB the default schedules keep to), in dynamic
// shared memory.
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[KBLOCKS]], {{.*}} = %c4{{.*}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}) dynamic_shared_memory_size %c55808_i32
// CHECK: %[[SK:.+]] = memref.view {{.*}} to memref<64x72xf16, #gpu.address_space<workgroup>>
// CHECK: %[[SV:.+]] = memref.view {{.*}} to memref<64x72xf16, #gpu.address_space<workgroup>>
// CHECK: %[[SQ:.+]] = memref.view {{.*}} to memref<2x64x72xf16, #gpu.address_space<workgroup>>
// CHECK: %[[SDO:.+]] = memref.view {{.*}} to memref<2x64x72xf16, #gpu.address_space<workgroup>>
// CHECK: %[[SHIFT:.+]] = memref.view {{.*}} to memref<64xf32, #gpu.address_space<workgroup>>
// CHECK: %[[DSUM:.+]] = memref.view {{.*}} to memref<64xf32, #gpu.address_space<workgroup>>
// CHECK: nvgpu.device_async_copy {{.*}}, %[[SK]][{{.*}}], 8, %{{.+}} {bypassL1}
// CHECK: nvgpu.device_async_copy {{.*}}, %[[SV]][{{.*}}], 8, %{{.+}} {bypassL1}
// With D + Dv <= 128 the warp's K and V fragments stay in registers.
// CHECK-COUNT-4: nvgpu.ldmatrix %[[SK]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK-COUNT-4: nvgpu.ldmatrix %[[SV]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// The q-blocks that see this kv-block: two binary searches on the schedule.
// CHECK: scf.while
// CHECK: scf.while
// One loop over (output head of the group, q-block), carrying dK and dV
// (8 + 8 accumulator tiles).
// CHECK: scf.for {{.*}} -> (vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>)
// CHECK: nvgpu.device_async_copy {{.*}}, %[[SQ]]
// CHECK: nvgpu.device_async_copy {{.*}}, %[[SDO]]
// CHECK: nvgpu.device_async_wait %{{.+}} {numGroups = 1 : i32}
// Row statistics: lse * log2(e) (+inf past Sq or for an empty row), Dsum.
// CHECK: memref.store %{{.+}}, %[[SHIFT]]
// CHECK: memref.store %{{.+}}, %[[DSUM]]
// CHECK: gpu.barrier
// Sᵀ = K Qᵀ: Q read as B (not transposed).
// CHECK: nvgpu.ldmatrix %[[SQ]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.mma.sync
// Partly visible blocks are masked (rows are keys, columns the q-block's 64
// rows: 8 accumulator tiles).
// CHECK: scf.if %{{.+}} -> (vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>)
// CHECK: math.exp2
// dV += Pᵀ dO: dO read transposed.
// CHECK: nvgpu.ldmatrix %[[SDO]][{{.*}}] {numTiles = 4 : i32, transpose = true}
// dPᵀ = V dOᵀ, then dK += dSᵀ Q with Q read transposed.
// CHECK: nvgpu.ldmatrix %[[SDO]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.ldmatrix %[[SQ]][{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: gpu.barrier
// dK (scaled by 1/sqrt(64) as it is stored) and dV, rows past Skv left out.
// CHECK: vector.store %{{.+}}, %{{.+}}[{{.*}}] : memref<?x4x?x64xf32, strided<[?, ?, ?, 1]>>, vector<2xf32>
// CHECK: gpu.terminator
// The dQ kernel: the row tile (Q, then each head's dO), K and V in two
// stages of 64 keys, dQ in 8 accumulator tiles.
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}, {{.*}} = %c8{{.*}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}) workgroup(%[[ROWS:.+]] : memref<64x72xf16, #gpu.address_space<workgroup>>, %[[QK:.+]] : memref<2x64x72xf16, #gpu.address_space<workgroup>>, %[[QV:.+]] : memref<2x64x72xf16, #gpu.address_space<workgroup>>)
// CHECK: scf.for {{.*}} -> (vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>)
// Dsum over the quad: two xor shuffles per row.
// CHECK: gpu.shuffle  xor
// CHECK: scf.for
// S = Q Kᵀ, dP = dO Vᵀ (V as B, not transposed), dQ += dS K (K transposed).
// CHECK: nvgpu.ldmatrix %[[QK]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.ldmatrix %[[QV]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.ldmatrix %[[QK]][{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: gpu.terminator
// CHECK-NOT: sqa.attention_grad

// W2-LABEL: func.func @sqa_grad_f16_d64
// W2: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c64{{.*}}) workgroup({{.*}} : memref<32x72xf16, {{.*}}>, {{.*}} : memref<32x72xf16, {{.*}}>, {{.*}} : memref<2x32x72xf16, {{.*}}>, {{.*}} : memref<2x32x72xf16, {{.*}}>, {{.*}} : memref<32xf32, {{.*}}>, {{.*}} : memref<32xf32, {{.*}}>)
// W2: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c64{{.*}}) workgroup({{.*}} : memref<32x72xf16, {{.*}}>, {{.*}} : memref<2x32x72xf16, {{.*}}>, {{.*}} : memref<2x32x72xf16, {{.*}}>)
func.func @sqa_grad_f16_d64(%q: memref<?x8x?x64xf16>, %k: memref<?x4x?x64xf16>,
    %v: memref<?x4x?x64xf16>, %o: memref<?x8x?x64xf16>, %do: memref<?x8x?x64xf16>,
    %lse: memref<?x8x?xf32>, %dq: memref<?x8x?x64xf32>, %dk: memref<?x4x?x64xf32>,
    %dv: memref<?x4x?x64xf32>) {
  sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : memref<?x8x?x64xf16>,
      memref<?x4x?x64xf16>, memref<?x4x?x64xf16>, memref<?x8x?x64xf16>,
      memref<?x8x?x64xf16>, memref<?x8x?xf32>)
      outs(%dq, %dk, %dv : memref<?x8x?x64xf32>, memref<?x4x?x64xf32>, memref<?x4x?x64xf32>)
      mask = causal_bottom_right
  return
}

// -----

// f32 operands have no tensor-core backward: left alone, or an error with
// strict=true.
// CHECK-LABEL: func.func @f32_grad
// CHECK: sqa.attention_grad
// STRICT: error: 'sqa.attention_grad' op has no tensor-core kernel: the tensor-core backward needs f16 or bf16 operands
func.func @f32_grad(%q: memref<?x4x?x16xf32>, %k: memref<?x4x?x16xf32>,
    %v: memref<?x4x?x16xf32>, %o: memref<?x4x?x16xf32>, %do: memref<?x4x?x16xf32>,
    %lse: memref<?x4x?xf32>, %dq: memref<?x4x?x16xf32>, %dk: memref<?x4x?x16xf32>,
    %dv: memref<?x4x?x16xf32>) {
  sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : memref<?x4x?x16xf32>,
      memref<?x4x?x16xf32>, memref<?x4x?x16xf32>, memref<?x4x?x16xf32>,
      memref<?x4x?x16xf32>, memref<?x4x?xf32>)
      outs(%dq, %dk, %dv : memref<?x4x?x16xf32>, memref<?x4x?x16xf32>, memref<?x4x?x16xf32>)
  return
}

// -----

// out and dout in f32 with f16 inputs: the dO tile could not be copied and
// read by ldmatrix as 16-bit data.
// CHECK-LABEL: func.func @f32_dout
// CHECK: sqa.attention_grad
// STRICT: error: 'sqa.attention_grad' op has no tensor-core kernel: the tensor-core backward needs out and dout in the query's element type
func.func @f32_dout(%q: memref<?x4x?x16xf16>, %k: memref<?x4x?x16xf16>,
    %v: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf32>, %do: memref<?x4x?x16xf32>,
    %lse: memref<?x4x?xf32>, %dq: memref<?x4x?x16xf32>, %dk: memref<?x4x?x16xf32>,
    %dv: memref<?x4x?x16xf32>) {
  sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : memref<?x4x?x16xf16>,
      memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf32>,
      memref<?x4x?x16xf32>, memref<?x4x?xf32>)
      outs(%dq, %dk, %dv : memref<?x4x?x16xf32>, memref<?x4x?x16xf32>, memref<?x4x?x16xf32>)
  return
}

// -----

// Head dim 48 is not one the kernels tile.
// STRICT: error: 'sqa.attention_grad' op has no tensor-core kernel: the tensor-core backward supports head dims 16, 32, 64, 96, 128 and 160
func.func @d48(%q: memref<?x4x?x48xf16>, %k: memref<?x4x?x48xf16>,
    %v: memref<?x4x?x48xf16>, %o: memref<?x4x?x48xf16>, %do: memref<?x4x?x48xf16>,
    %lse: memref<?x4x?xf32>, %dq: memref<?x4x?x48xf32>, %dk: memref<?x4x?x48xf32>,
    %dv: memref<?x4x?x48xf32>) {
  sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : memref<?x4x?x48xf16>,
      memref<?x4x?x48xf16>, memref<?x4x?x48xf16>, memref<?x4x?x48xf16>,
      memref<?x4x?x48xf16>, memref<?x4x?xf32>)
      outs(%dq, %dk, %dv : memref<?x4x?x48xf32>, memref<?x4x?x48xf32>, memref<?x4x?x48xf32>)
  return
}

// -----

// Head dim 192: the dK/dV kernel's f32 dK and dV accumulators (192
// registers per thread) leave too few registers.
// STRICT: error: 'sqa.attention_grad' op has no tensor-core kernel: the tensor-core backward supports head dims 16, 32, 64, 96, 128 and 160
func.func @d192(%q: memref<?x4x?x192xf16>, %lse: memref<?x4x?xf32>, %g: memref<?x4x?x192xf32>) {
  sqa.attention_grad ins(%q, %q, %q, %q, %q, %lse : memref<?x4x?x192xf16>,
      memref<?x4x?x192xf16>, memref<?x4x?x192xf16>, memref<?x4x?x192xf16>,
      memref<?x4x?x192xf16>, memref<?x4x?xf32>)
      outs(%g, %g, %g : memref<?x4x?x192xf32>, memref<?x4x?x192xf32>, memref<?x4x?x192xf32>)
  return
}
