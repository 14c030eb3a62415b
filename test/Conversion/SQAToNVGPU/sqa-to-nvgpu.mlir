// RUN: sqa-opt %s --split-input-file --convert-sqa-to-nvgpu | FileCheck %s
// RUN: sqa-opt %s --split-input-file --convert-sqa-to-nvgpu="warps=8 kv-block=32" | FileCheck %s --check-prefix=W8
// RUN: not sqa-opt %s --split-input-file --convert-sqa-to-nvgpu="strict=true" 2>&1 | FileCheck %s --check-prefix=STRICT
// RUN: not sqa-opt %s --convert-sqa-to-nvgpu="warps=0" 2>&1 | FileCheck %s --check-prefix=BADWARPS

// GQA (4 query heads on 2 key/value heads), f16, D = 64, causal, with lse.
// Grid (ceil(Sq / 64), heads, batch) of 128 threads; Q, K (2 stages) and V
// (2 stages) tiles in workgroup attributions.
// CHECK-LABEL: func.func @gqa_f16_d64
// CHECK: %[[SQ:.+]] = memref.dim %{{.+}}, %c2
// CHECK: %[[ROUNDED:.+]] = arith.addi %[[SQ]], %c63
// CHECK: %[[BLOCKS:.+]] = arith.divsi %[[ROUNDED]], %c64
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[BLOCKS]], {{.*}} = %c4{{.*}}, {{.*}} = %{{.+}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}, {{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}) workgroup(%[[SQT:.+]] : memref<64x64xf16, #gpu.address_space<workgroup>>, %[[SK:.+]] : memref<2x64x64xf16, #gpu.address_space<workgroup>>, %[[SV:.+]] : memref<2x64x64xf16, #gpu.address_space<workgroup>>)
// Key/value head h floordiv 2: index arithmetic, no copy of heads.
// CHECK: affine.apply #{{.+}}(%{{.+}})
// Prologue: the Q tile by cp.async (16-byte chunks, zero-filled past Sq).
// CHECK: nvgpu.device_async_copy %{{.+}}[{{.*}}], %[[SQT]][{{.*}}], 8, %{{.+}} {bypassL1}
// CHECK: nvgpu.device_async_create_group
// CHECK: scf.if
// CHECK: nvgpu.device_async_copy {{.*}}, %[[SK]][{{.*}}], 8, %{{.+}} {bypassL1}
// CHECK: nvgpu.device_async_copy {{.*}}, %[[SV]][{{.*}}], 8, %{{.+}} {bypassL1}
// CHECK: nvgpu.device_async_wait %{{.+}} {numGroups = 0 : i32}
// CHECK: gpu.barrier
// Q fragments stay in registers: one ldmatrix x4 per 16 columns of D.
// CHECK-COUNT-4: nvgpu.ldmatrix %[[SQT]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// The kv loop carries the two rows' max and sum and 8 accumulator tiles.
// CHECK: scf.for {{.*}} -> (f32, f32, f32, f32, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>)
// Prefetch of the next stage, double buffering.
// CHECK: nvgpu.device_async_copy {{.*}}, %[[SK]]
// CHECK: nvgpu.device_async_wait %{{.+}} {numGroups = 1 : i32}
// CHECK: } else {
// CHECK: nvgpu.device_async_wait %{{.+}} {numGroups = 0 : i32}
// CHECK: gpu.barrier
// CHECK: nvgpu.ldmatrix %[[SK]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// Partly visible blocks are masked under an scf.if.
// CHECK: scf.if %{{.+}} -> (vector<2x2xf32>
// CHECK: arith.select %{{.+}}, %{{.+}}, %{{.+}} : vector<2x2xi1>, vector<2x2xf32>
// Row max across the quad with shuffles; exp2 of one fma.
// CHECK: vector.reduction <maxnumf>
// CHECK: gpu.shuffle  xor %{{.+}}, %c1_i32{{.*}}, %c32_i32{{.*}} : f32
// CHECK: gpu.shuffle  xor %{{.+}}, %c2_i32{{.*}}, %c32_i32{{.*}} : f32
// CHECK: math.fma
// CHECK: math.exp2
// P as the A operand, V through the transposed ldmatrix.
// CHECK: arith.truncf %{{.+}} : vector<2x2xf32> to vector<2x2xf16>
// CHECK: vector.insert_strided_slice
// CHECK: nvgpu.ldmatrix %[[SV]][{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvgpu.mma.sync
// CHECK: gpu.barrier
// CHECK: scf.yield
// Epilogue: sums over the quad, out = acc / l, lse by one thread per row.
// CHECK: gpu.shuffle  xor
// CHECK: vector.store %{{.+}}, %{{.+}}[{{.*}}] : memref<?x4x?x64xf16>, vector<2xf16>
// CHECK: math.log2
// CHECK: memref.store %{{.+}}, %{{.+}}[{{.*}}] : memref<?x4x?xf32>
// CHECK: gpu.terminator
// CHECK-NOT: sqa.attention

// W8-LABEL: func.func @gqa_f16_d64
// W8: arith.divsi %{{.+}}, %c128
// W8: threads({{.*}}) in ({{.*}} = %c256{{.*}}) workgroup({{.*}} : memref<128x64xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<2x32x64xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<2x32x64xf16, #gpu.address_space<workgroup>>)
func.func @gqa_f16_d64(%q: memref<?x4x?x64xf16>, %k: memref<?x2x?x64xf16>, %v: memref<?x2x?x64xf16>,
                       %o: memref<?x4x?x64xf16>, %l: memref<?x4x?xf32>) {
  sqa.attention ins(%q, %k, %v : memref<?x4x?x64xf16>, memref<?x2x?x64xf16>, memref<?x2x?x64xf16>)
                outs(%o, %l : memref<?x4x?x64xf16>, memref<?x4x?xf32>) mask = causal_bottom_right
  return
}

// -----

// bf16: nvvm.mma.sync on the fragments' registers (nvgpu.mma.sync's lowering
// does not deduce bf16 PTX types); D = 16, strided buffers; reverse SQA.
// CHECK-LABEL: func.func @rsqa_bf16_d16
// CHECK: workgroup({{.*}} : memref<64x16xbf16, #gpu.address_space<workgroup>>, {{.*}} : memref<2x64x16xbf16, #gpu.address_space<workgroup>>, {{.*}} : memref<2x64x16xbf16, #gpu.address_space<workgroup>>)
// CHECK: llvm.bitcast %{{.+}} : vector<2xbf16> to i32
// CHECK: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// CHECK-NOT: nvgpu.mma.sync
// CHECK: vector.store %{{.+}}, %{{.+}}[{{.*}}] : memref<?x8x?x16xf32, strided<[?, ?, ?, 1], offset: ?>>, vector<2xf32>
func.func @rsqa_bf16_d16(%q: memref<?x4x?x16xbf16, strided<[?, ?, ?, 1], offset: ?>>,
                         %kv: memref<?x8x?x16xbf16, strided<[?, ?, ?, 1], offset: ?>>,
                         %o: memref<?x8x?x16xf32, strided<[?, ?, ?, 1], offset: ?>>) {
  sqa.attention ins(%q, %kv, %kv : memref<?x4x?x16xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x8x?x16xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x8x?x16xbf16, strided<[?, ?, ?, 1], offset: ?>>)
                outs(%o : memref<?x8x?x16xf32, strided<[?, ?, ?, 1], offset: ?>>) window = [64, 0]
  return
}

// -----

// Ops without a tensor-core kernel are left for the row-wise lowering; with
// strict=true they are errors.
// CHECK-LABEL: func.func @f32_stays
// CHECK: sqa.attention
// STRICT: error: 'sqa.attention' op has no tensor-core kernel: the tensor-core kernel needs f16 or bf16 operands
func.func @f32_stays(%q: memref<1x4x8x64xf32>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x64xf32>, memref<1x4x8x64xf32>, memref<1x4x8x64xf32>) outs(%q : memref<1x4x8x64xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @head_dim_48_stays
// CHECK: sqa.attention
// STRICT: error: 'sqa.attention' op has no tensor-core kernel: the tensor-core kernel supports head dims 16, 32, 64 and 128
func.func @head_dim_48_stays(%q: memref<1x4x8x48xf16>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x48xf16>, memref<1x4x8x48xf16>, memref<1x4x8x48xf16>) outs(%q : memref<1x4x8x48xf16>)
  return
}

// -----

// CHECK-LABEL: func.func @tensors_stay
// CHECK: sqa.attention
// STRICT: error: 'sqa.attention' op has no tensor-core kernel: the op must be bufferized first
func.func @tensors_stay(%q: tensor<1x4x8x64xf16>) -> tensor<1x4x8x64xf16> {
  %r = sqa.attention ins(%q, %q, %q : tensor<1x4x8x64xf16>, tensor<1x4x8x64xf16>, tensor<1x4x8x64xf16>) outs(%q : tensor<1x4x8x64xf16>) -> tensor<1x4x8x64xf16>
  return %r : tensor<1x4x8x64xf16>
}

// BADWARPS: error: convert-sqa-to-nvgpu: warps must be in [1, 16] and kv-block in [0, 65536]
