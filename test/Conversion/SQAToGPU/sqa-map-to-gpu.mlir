// RUN: sqa-opt %s --split-input-file --sqa-map-to-gpu="warp-rows=16" | FileCheck %s
// RUN: sqa-opt %s --split-input-file --sqa-map-to-gpu | FileCheck %s --check-prefix=DEFAULT
// RUN: sqa-opt %s --split-input-file --sqa-map-to-gpu="warps=2 kv-block=16 warp-rows=16" | FileCheck %s --check-prefix=W2
// RUN: not sqa-opt %s --sqa-map-to-gpu="warps=17" 2>&1 | FileCheck %s --check-prefix=BADWARPS

// GQA (4 query heads on 2 key/value heads), f16, D = 64, causal, with lse.
// Grid (ceil(Sq / 64), heads, batch) of blocks; workgroup buffers for the Q
// tile and two stages of K and V (the kernels' default kv-block at head dim
// 64: 128 keys); 4 warps of 16 rows.
// CHECK-LABEL: func.func @gqa_f16_d64
// CHECK: %[[BLOCKS:.+]] = arith.ceildivui %{{.+}}, %c64
// CHECK: scf.forall (%[[QB:.+]], %[[H:.+]], %[[B:.+]]) in (%[[BLOCKS]], 4, %{{.+}}) {
// CHECK: %[[SQT:.+]] = memref.alloc() : memref<64x64xf16, #gpu.address_space<workgroup>>
// CHECK: %[[SK:.+]] = memref.alloc() : memref<2x128x64xf16, #gpu.address_space<workgroup>>
// CHECK: %[[SV:.+]] = memref.alloc() : memref<2x128x64xf16, #gpu.address_space<workgroup>>
// Query head h and key/value head h floordiv 2: index arithmetic, no copy
// of heads.
// CHECK: affine.apply #{{.+}}(%[[H]])
// CHECK: %[[KVH:.+]] = affine.apply #{{.+}}(%[[H]])
// CHECK: scf.forall (%[[W:.+]]) in (4) {
// Cooperative prologue: the Q tile (rows past Sq read as zeros), then the
// first K/V stage when the block sees any key.
// CHECK: %[[QT:.+]] = vector.transfer_read %{{.+}}[%[[B]], %{{.+}}, %{{.+}}, %{{.+}}], %{{.+}} {in_bounds = [false, true]} : memref<?x4x?x64xf16>, vector<64x64xf16>
// CHECK: vector.transfer_write %[[QT]], %[[SQT]]
// CHECK: scf.if
// CHECK: vector.transfer_read %{{.+}}[%[[B]], %[[KVH]], {{.*}} {in_bounds = [false, true]} : memref<?x2x?x64xf16>, vector<128x64xf16>
// CHECK: vector.transfer_write %{{.+}}, %[[SK]]
// CHECK: vector.transfer_write %{{.+}}, %[[SV]]
// CHECK: gpu.barrier
// The warp's 16 rows of Q, in f32.
// CHECK: vector.transfer_read %[[SQT]]{{.*}} : memref<64x64xf16, #gpu.address_space<workgroup>>, vector<16x64xf16>
// CHECK: arith.extf {{.*}} : vector<16x64xf16> to vector<16x64xf32>
// The kv loop carries the running max, sum and accumulator.
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16x64xf32>)
// Block j + 1 is staged in the other buffers before block j is computed.
// CHECK: scf.if
// CHECK: vector.transfer_write %{{.+}}, %[[SK]]
// CHECK: vector.transfer_write %{{.+}}, %[[SV]]
// CHECK: gpu.barrier
// CHECK: vector.contract {{.*}} : vector<16x64xf32>, vector<128x64xf32> into vector<16x128xf32>
// Partly visible blocks are masked.
// CHECK: scf.if %{{.+}} -> (vector<16x128xf32>)
// CHECK: } else {
// CHECK: vector.step : vector<16xindex>
// CHECK: arith.select %{{.+}}, %{{.+}}, %{{.+}} : vector<16x128xi1>, vector<16x128xf32>
// CHECK: vector.multi_reduction <maxnumf>, {{.*}} [1] : vector<16x128xf32> to vector<16xf32>
// CHECK: math.exp2 {{.*}} : vector<16xf32>
// CHECK: math.fma {{.*}} : vector<16x128xf32>
// CHECK: math.exp2 {{.*}} : vector<16x128xf32>
// CHECK: vector.multi_reduction <add>, {{.*}} [1] : vector<16x128xf32> to vector<16xf32>
// P is rounded to f16, the A operand of the tensor-core product.
// CHECK: arith.truncf {{.*}} : vector<16x128xf32> to vector<16x128xf16>
// CHECK: vector.contract {{.*}} : vector<16x128xf32>, vector<128x64xf32> into vector<16x64xf32>
// CHECK: gpu.barrier
// CHECK: scf.yield
// Epilogue: rows past Sq are out of bounds of the writes.
// CHECK: vector.transfer_write %{{.+}}, %{{.+}}[%[[B]], %[[H]], %{{.+}}, %{{.+}}] {in_bounds = [false, true]} : vector<16x64xf16>, memref<?x4x?x64xf16>
// CHECK: math.log2 {{.*}} : vector<16xf32>
// CHECK: vector.transfer_write %{{.+}}, %{{.+}}[%[[B]], %[[H]], %{{.+}}] : vector<16xf32>, memref<?x4x?xf32>
// CHECK: } {mapping = [#gpu.warp<x>]}
// CHECK: } {mapping = [#gpu.block<x>, #gpu.block<y>, #gpu.block<z>]}
// CHECK-NOT: sqa.attention
// By default, the tensor-core kernel's schedule: 4 warps of 32 rows.
// DEFAULT-LABEL: func.func @gqa_f16_d64
// DEFAULT: arith.ceildivui %{{.+}}, %c128
// DEFAULT: memref.alloc() : memref<128x64xf16, #gpu.address_space<workgroup>>
// DEFAULT: scf.forall (%{{.+}}) in (4)
// DEFAULT: vector.contract {{.*}} : vector<32x64xf32>, vector<128x64xf32> into vector<32x128xf32>
// W2-LABEL: func.func @gqa_f16_d64
// W2: arith.ceildivui %{{.+}}, %c32
// W2: memref.alloc() : memref<32x64xf16, #gpu.address_space<workgroup>>
// W2: memref.alloc() : memref<2x16x64xf16, #gpu.address_space<workgroup>>
// W2: scf.forall (%{{.+}}) in (2)
// W2: vector.contract {{.*}} : vector<16x64xf32>, vector<16x64xf32> into vector<16x16xf32>
func.func @gqa_f16_d64(%q: memref<?x4x?x64xf16>, %k: memref<?x2x?x64xf16>, %v: memref<?x2x?x64xf16>,
                       %o: memref<?x4x?x64xf16>, %l: memref<?x4x?xf32>) {
  sqa.attention ins(%q, %k, %v : memref<?x4x?x64xf16>, memref<?x2x?x64xf16>, memref<?x2x?x64xf16>)
                outs(%o, %l : memref<?x4x?x64xf16>, memref<?x4x?xf32>) mask = causal_bottom_right
  return
}

// -----

// f32, which the tensor-core kernel does not take: L2 runs every op;
// nothing is rounded. Above head dim 64 the kv-block is 64.
// CHECK-LABEL: func.func @rsqa_f32_d80
// CHECK: memref.alloc() : memref<2x64x80xf32, #gpu.address_space<workgroup>>
// CHECK: memref.alloc() : memref<2x64x32xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: arith.truncf
// CHECK: vector.transfer_write {{.*}} : vector<16x32xf32>, memref<2x4x?x32xf32, strided<[?, ?, ?, 1], offset: ?>>
func.func @rsqa_f32_d80(%q: memref<2x2x?x80xf32>, %k: memref<2x4x?x80xf32>, %v: memref<2x4x?x32xf32>,
                        %o: memref<2x4x?x32xf32, strided<[?, ?, ?, 1], offset: ?>>) {
  sqa.attention ins(%q, %k, %v : memref<2x2x?x80xf32>, memref<2x4x?x80xf32>, memref<2x4x?x32xf32>)
                outs(%o : memref<2x4x?x32xf32, strided<[?, ?, ?, 1], offset: ?>>)
  return
}

// -----

// D = 128 takes convert-sqa-to-nvgpu's default kv-block of 64.
// CHECK-LABEL: func.func @mha_bf16_d128
// CHECK: memref.alloc() : memref<2x64x128xbf16, #gpu.address_space<workgroup>>
func.func @mha_bf16_d128(%q: memref<1x2x?x128xbf16>, %k: memref<1x2x?x128xbf16>, %v: memref<1x2x?x128xbf16>,
                         %o: memref<1x2x?x128xbf16>) {
  sqa.attention ins(%q, %k, %v : memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>)
                outs(%o : memref<1x2x?x128xbf16>) window = [64, 0]
  return
}

// BADWARPS: sqa-map-to-gpu: warps must be in [1, 16] and kv-block in [0, 65536]
