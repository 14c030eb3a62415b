// RUN: sqa-opt %s --split-input-file --convert-sqa-to-nvgpu | FileCheck %s
// RUN: sqa-opt %s --split-input-file --sqa-choose-schedule="warps=8 kv-block=32" --convert-sqa-to-nvgpu | FileCheck %s --check-prefix=W8
// RUN: sqa-opt %s --split-input-file --sqa-choose-schedule="warp-rows=16" --convert-sqa-to-nvgpu | FileCheck %s --check-prefix=W16
// RUN: not sqa-opt %s --split-input-file --sqa-choose-schedule="warps=16" --convert-sqa-to-nvgpu="strict=true" 2>&1 | FileCheck %s --check-prefix=STRICT16
// RUN: not sqa-opt %s --split-input-file --convert-sqa-to-nvgpu="strict=true" 2>&1 | FileCheck %s --check-prefixes=STRICT,STRICT-ROWS

// GQA (4 query heads on 2 key/value heads), f16, D = 64, causal, with lse.
// FlashAttention-2's tiles: 4 warps of 32 rows (two m16 row tiles each) and
// kv-blocks of 128 keys, so a grid (ceil(Sq / 128), heads, batch) of 128
// threads; the Q tile and one K and one V block, each row padded by one
// 16-byte chunk (64 + 8 columns): 3 x 128 x 72 x 2 = 54 KiB, views of the
// launch's dynamic shared memory.
// The buffers are cast to run-time strides (all but the unit innermost):
// every caller's layout gets the kernel libraries' kernel, the one that the
// spill sweeps assemble (the lse's identity layout already has them).
// CHECK-LABEL: func.func @gqa_f16_d64
// CHECK: memref.cast %{{.+}} : memref<?x4x?x64xf16> to memref<?x4x?x64xf16, strided<[?, ?, ?, 1]>>
// CHECK-NOT: memref.cast %{{.+}} : memref<?x4x?xf32>
// CHECK: %[[SQ:.+]] = memref.dim %{{.+}}, %c2
// CHECK: %[[ROUNDED:.+]] = arith.addi %[[SQ]], %c127
// CHECK: %[[BLOCKS:.+]] = arith.divsi %[[ROUNDED]], %c128
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[BLOCKS]], {{.*}} = %c4{{.*}}, {{.*}} = %{{.+}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}, {{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}) dynamic_shared_memory_size %c55296_i32
// CHECK: %[[SQT:.+]] = memref.view {{.*}} to memref<128x72xf16, #gpu.address_space<workgroup>>
// CHECK: %[[SK:.+]] = memref.view {{.*}} to memref<128x72xf16, #gpu.address_space<workgroup>>
// CHECK: %[[SV:.+]] = memref.view {{.*}} to memref<128x72xf16, #gpu.address_space<workgroup>>
// Key/value head h floordiv 2: index arithmetic, no copy of heads.
// CHECK: affine.apply #{{.+}}(%{{.+}})
// Prologue: the Q tile by cp.async (16-byte chunks, zero-filled past Sq),
// then K and V of the last kv-block (the only one that can end past Skv:
// zero-filled too), each its own group.
// CHECK-COUNT-8: nvgpu.device_async_copy %{{.+}}[{{.*}}], %[[SQT]][{{.*}}], 8, %{{.+}} {bypassL1}
// CHECK: %[[QGROUP:.+]] = nvgpu.device_async_create_group
// CHECK: %[[LAST:.+]] = arith.subi %[[END:.+]], %c1
// CHECK: scf.if
// CHECK-COUNT-8: nvgpu.device_async_copy {{.*}}, %[[SK]][{{.*}}], 8, %{{.+}} {bypassL1}
// CHECK: nvgpu.device_async_create_group
// CHECK-COUNT-8: nvgpu.device_async_copy {{.*}}, %[[SV]][{{.*}}], 8, %{{.+}} {bypassL1}
// CHECK: nvgpu.device_async_create_group
// The f32 accumulators of two row tiles (O and a block of S) take 64 + 128
// registers: Q is not held over the loop but read from its tile at each
// k-step, as FlashAttention-2's 128 x 128 blocks do (getHeldQuerySteps).
// CHECK-NOT: nvgpu.ldmatrix
// The kv loop carries the four rows' max and sum and 2 x 8 accumulator
// tiles.
// The blocks are visited last to first: step i is block LAST - i.
// CHECK: scf.for %[[STEP:.+]] = %c0{{.*}} to %{{.+}} step %c1{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>)
// CHECK: %[[BLOCK:.+]] = arith.subi %[[LAST]], %[[STEP]]
// K has landed: V of this block (but the last, which the prologue copied)
// is copied while S = Q Kᵀ runs, with no bounds code: every row is a key.
// CHECK: nvgpu.device_async_wait %[[QGROUP]] {numGroups = 0 : i32}
// CHECK: gpu.barrier
// CHECK: %[[NOTLAST:.+]] = arith.cmpi ult, %[[BLOCK]], %[[LAST]]
// CHECK: scf.if %[[NOTLAST]]
// CHECK-COUNT-8: nvgpu.device_async_copy {{.*}}, %[[SV]][{{.*}}], 8 {bypassL1}
// CHECK: nvgpu.device_async_create_group
// At each k-step, the two row tiles' Q fragments, then K fragments (two
// n-tiles each) that each feed both: 4 mma.sync per ldmatrix of K.
// CHECK: nvgpu.ldmatrix %[[SQT]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK-NOT: nvgpu.mma.sync
// CHECK: nvgpu.ldmatrix %[[SQT]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK-NOT: nvgpu.mma.sync
// CHECK: nvgpu.ldmatrix %[[SK]][{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK-COUNT-4: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK: nvgpu.ldmatrix %[[SK]]
// Partly visible blocks are masked under an scf.if, per row tile.
// CHECK: scf.if %{{.+}} -> (vector<2x2xf32>
// CHECK: arith.select %{{.+}}, %{{.+}}, %{{.+}} : vector<2x2xi1>, vector<2x2xf32>
// CHECK: scf.if %{{.+}} -> (vector<2x2xf32>
// V has landed and every warp is past Q Kᵀ: K of the next block (the one
// below) is copied, unchecked, while the softmax and P V run.
// CHECK: nvgpu.device_async_wait %[[QGROUP]] {numGroups = 0 : i32}
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK-COUNT-8: nvgpu.device_async_copy {{.*}}, %[[SK]][{{.*}}], 8 {bypassL1}
// Row max across the quad with shuffles. The reference (exp2 units)
// trails it by 8: r' = max(r, rowmax * c - 8), moved where r' > r; the
// shift is r' kept above -FLT_MAX; P = exp2 of one fma.
// CHECK: vector.reduction <maxnumf>
// CHECK: gpu.shuffle  xor %{{.+}}, %c1_i32{{.*}}, %c32_i32{{.*}} : f32
// CHECK: gpu.shuffle  xor %{{.+}}, %c2_i32{{.*}}, %c32_i32{{.*}} : f32
// CHECK: %[[NEG8:.+]] = arith.constant -8.000000e+00 : f32
// CHECK: %[[TRAIL:.+]] = math.fma %{{.+}}, %{{.+}}, %[[NEG8]] : f32
// CHECK: %[[REF:.+]] = arith.maxnumf %[[OLD:.+]], %[[TRAIL]] : f32
// CHECK: arith.cmpf ogt, %[[REF]], %[[OLD]] : f32
// CHECK: %[[LOWEST:.+]] = arith.constant -3.40282347E+38 : f32
// CHECK: arith.maxnumf %[[REF]], %[[LOWEST]] : f32
// CHECK: math.fma
// CHECK: math.exp2
// P is rounded to A fragments before O is rescaled, which halves the
// registers it holds meanwhile.
// CHECK: arith.truncf %{{.+}} : vector<2x2xf32> to vector<2x2xf16>
// CHECK: vector.insert_strided_slice
// Only where a row of this thread moved: the corrections exp2(r - r'),
// l' = l * correction + rowsum(P) and O' = O * correction; else
// l' = l + rowsum(P) and O unchanged.
// CHECK: scf.if %{{.+}} -> (f32, f32, f32, f32, vector<2x2xf32>{{.*}}) {
// CHECK: math.exp2
// CHECK: math.fma
// CHECK: arith.mulf %{{.+}}, %{{.+}} : vector<2x2xf32>
// CHECK: } else {
// CHECK-NOT: arith.mulf
// CHECK: arith.addf %{{.+}}, %{{.+}} : f32
// CHECK-NOT: arith.mulf
// CHECK: scf.yield
// P as the A operand, V through the transposed ldmatrix, each V fragment
// feeding both row tiles.
// CHECK: nvgpu.ldmatrix %[[SV]][{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK-COUNT-4: nvgpu.mma.sync
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// Epilogue: sums over the quad, out = acc / l, lse by one thread per row.
// CHECK: gpu.shuffle  xor
// CHECK: vector.store %{{.+}}, %{{.+}}[{{.*}}] : memref<?x4x?x64xf16, strided<[?, ?, ?, 1]>>, vector<2xf16>
// CHECK: math.log2
// CHECK: memref.store %{{.+}}, %{{.+}}[{{.*}}] : memref<?x4x?xf32>
// CHECK: gpu.terminator
// CHECK-NOT: sqa.attention

// With 16 rows per warp, one row tile's O and S take 96 registers: the Q
// fragments are loaded once, before the loop, and the loop carries two
// rows' state.
// W16-LABEL: func.func @gqa_f16_d64
// W16: workgroup({{.*}} : memref<64x72xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<128x72xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<128x72xf16, #gpu.address_space<workgroup>>)
// W16: nvgpu.device_async_wait
// W16-NEXT: gpu.barrier
// W16-COUNT-4: nvgpu.ldmatrix %{{.+}}[{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<64x72xf16
// W16: scf.for {{.*}} -> (f32, f32, f32, f32, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>)

// With 8 warps, 256 rows of Q (36 KiB) and kv-block 32 (4.5 KiB each for
// K and V) fit.
// W8-LABEL: func.func @gqa_f16_d64
// W8: arith.divsi %{{.+}}, %c256
// W8: threads({{.*}}) in ({{.*}} = %c256{{.*}}) workgroup({{.*}} : memref<256x72xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<32x72xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<32x72xf16, #gpu.address_space<workgroup>>)
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
// CHECK-NOT: memref.cast
// CHECK: workgroup({{.*}} : memref<128x24xbf16, #gpu.address_space<workgroup>>, {{.*}} : memref<128x24xbf16, #gpu.address_space<workgroup>>, {{.*}} : memref<128x24xbf16, #gpu.address_space<workgroup>>)
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

// Head dim 128: FlashAttention-2's kv-block of 64 with two row tiles, 68
// KiB of tiles (dynamic shared memory); O and S of two row tiles take 192
// registers, so every k-step reads both row tiles' Q fragments from the
// shared tile, then K.
// CHECK-LABEL: func.func @d128
// CHECK: dynamic_shared_memory_size %c69632_i32
// CHECK: %[[Q:.+]] = memref.view {{.*}} to memref<128x136xf16
// CHECK: %[[K:.+]] = memref.view {{.*}} to memref<64x136xf16
// CHECK-NOT: nvgpu.ldmatrix
// CHECK: scf.for
// CHECK-COUNT-2: nvgpu.ldmatrix %[[Q]]
// CHECK-COUNT-4: nvgpu.ldmatrix %[[K]]
// CHECK-COUNT-2: nvgpu.ldmatrix %[[Q]]
// CHECK-COUNT-4: nvgpu.ldmatrix %[[K]]
func.func @d128(%q: memref<?x4x?x128xf16>) {
  sqa.attention ins(%q, %q, %q : memref<?x4x?x128xf16>, memref<?x4x?x128xf16>, memref<?x4x?x128xf16>) outs(%q : memref<?x4x?x128xf16>)
  return
}

// -----

// With a schedule of kv-block 32 (chosen by the IR's producer): 51 KiB of
// tiles, and Q, O and S of two row tiles do not all fit in the registers:
// the first 4 of Q's 8 k-steps are held (getHeldQuerySteps), loaded before
// the loop; the loop's k-steps 0-3 read only K, and k-steps 4-7 read both
// row tiles' Q fragments from the shared tile, then K.
// CHECK-LABEL: func.func @d128_half_of_q_held
// CHECK: dynamic_shared_memory_size %c52224_i32
// CHECK: %[[Q:.+]] = memref.view {{.*}} to memref<128x136xf16
// CHECK: %[[K:.+]] = memref.view {{.*}} to memref<32x136xf16
// CHECK: gpu.barrier
// CHECK-COUNT-8: nvgpu.ldmatrix %[[Q]]
// CHECK: scf.for
// CHECK-NOT: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
// CHECK-NOT: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
// CHECK-NOT: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
// CHECK-NOT: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
// CHECK-NOT: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
// CHECK-NOT: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
// CHECK-NOT: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
// CHECK-NOT: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
// CHECK-NOT: nvgpu.ldmatrix %[[K]]
// CHECK: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
func.func @d128_half_of_q_held(%q: memref<?x4x?x128xf16>) {
  sqa.attention ins(%q, %q, %q : memref<?x4x?x128xf16>, memref<?x4x?x128xf16>, memref<?x4x?x128xf16>) outs(%q : memref<?x4x?x128xf16>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 32, warp_rows = 32>}
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

// Head dims that are not multiples of 16 (the mma.sync k-step), and odd
// multiples of 16 from 112 on (which spill), stay.
// CHECK-LABEL: func.func @head_dim_40_stays
// CHECK: sqa.attention
// STRICT: error: 'sqa.attention' op has no tensor-core kernel: the tensor-core kernel supports head dims 16 to 96 in steps of 16, and 128, 160, 192, 224 and 256
func.func @head_dim_40_stays(%q: memref<1x4x8x40xf16>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x40xf16>, memref<1x4x8x40xf16>, memref<1x4x8x40xf16>) outs(%q : memref<1x4x8x40xf16>)
  return
}

// -----

// CHECK-LABEL: func.func @head_dim_112_stays
// CHECK: sqa.attention
// STRICT: error: 'sqa.attention' op has no tensor-core kernel: the tensor-core kernel supports head dims 16 to 96 in steps of 16, and 128, 160, 192, 224 and 256
func.func @head_dim_112_stays(%q: memref<1x4x8x112xf16>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x112xf16>, memref<1x4x8x112xf16>, memref<1x4x8x112xf16>) outs(%q : memref<1x4x8x112xf16>)
  return
}

// -----

// Head dim 80 (Phi-2's; FlashAttention-2 pads it to 96): 10 chunks per row,
// copied in lines of 2, rows padded to 88; two row tiles, kv-block 64
// (above head dim 64); 4 of Q's 5 k-steps held in registers
// (getHeldQuerySteps: 144 registers of accumulators in a budget of 176 for
// an odd multiple of 16), the fifth read from the Q tile in the loop.
// CHECK-LABEL: func.func @head_dim_80
// CHECK: workgroup(%[[Q:.+]] : memref<128x88xf16, #gpu.address_space<workgroup>>, %[[K:.+]] : memref<64x88xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<64x88xf16, #gpu.address_space<workgroup>>)
// CHECK-COUNT-8: nvgpu.ldmatrix %[[Q]]
// CHECK: scf.for
// CHECK-COUNT-16: nvgpu.ldmatrix %[[K]]
// CHECK: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[Q]]
// CHECK: nvgpu.ldmatrix %[[K]]
// CHECK-NOT: sqa.attention
func.func @head_dim_80(%q: memref<?x4x?x80xf16>) {
  sqa.attention ins(%q, %q, %q : memref<?x4x?x80xf16>, memref<?x4x?x80xf16>, memref<?x4x?x80xf16>) outs(%q : memref<?x4x?x80xf16>)
  return
}

// -----

// Head dim 224 (28 chunks per row, copied in lines of 4): 4 warps of 16
// rows and kv-block 32, 58 KiB of tiles (232 columns per row) in dynamic
// shared memory.
// CHECK-LABEL: func.func @head_dim_224
// CHECK: gpu.launch {{.*}} dynamic_shared_memory_size %c59392_i32
// CHECK: memref.view %{{.+}}[%{{.+}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64x232xf16, #gpu.address_space<workgroup>>
// CHECK: memref.view %{{.+}}[%c29696{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<32x232xf16, #gpu.address_space<workgroup>>
// CHECK: memref.view %{{.+}}[%c44544{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<32x232xf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.mma.sync
// CHECK-NOT: sqa.attention
func.func @head_dim_224(%q: memref<1x4x8x224xf16>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x224xf16>, memref<1x4x8x224xf16>, memref<1x4x8x224xf16>) outs(%q : memref<1x4x8x224xf16>)
  return
}

// -----

// Head dim 256: 4 warps of 16 rows, the Q tile (33 KiB) and K and V blocks
// of 32 keys (16.5 KiB each) take 66 KiB, more than 48 KiB of static shared
// memory: the tiles are views of the launch's dynamic shared memory, at
// 16-byte aligned offsets. With 8 warps (W8) exactly the 99 KiB that every
// chip from sm_80 on allows.
// CHECK-LABEL: func.func @head_dim_256_dynamic_shared_memory
// CHECK: %[[BYTES:.+]] = arith.constant 67584 : i32
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c128{{.*}}) dynamic_shared_memory_size %[[BYTES]]
// CHECK: %[[SMEM:.+]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[SMEM]][%{{.+}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64x264xbf16, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[SMEM]][%c33792{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<32x264xbf16, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[SMEM]][%c50688{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<32x264xbf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.mma.sync
// W8-LABEL: func.func @head_dim_256_dynamic_shared_memory
// W8: arith.constant 101376 : i32
func.func @head_dim_256_dynamic_shared_memory(%q: memref<1x4x8x256xbf16>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x256xbf16>, memref<1x4x8x256xbf16>, memref<1x4x8x256xbf16>) outs(%q : memref<1x4x8x256xbf16>)
  return
}

// -----

// Tiles above 99 KiB have no kernel: D = Dv = 256 with 16 warps.
// STRICT16: error: 'sqa.attention' op has no tensor-core kernel: the tiles of the tensor-core kernel exceed 99 KiB of shared memory; use fewer warps or rows per warp, or a smaller kv-block
func.func @head_dim_256_too_many_warps(%q: memref<1x4x8x256xbf16>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x256xbf16>, memref<1x4x8x256xbf16>, memref<1x4x8x256xbf16>) outs(%q : memref<1x4x8x256xbf16>)
  return
}

// -----

// Head dim 96 (12 chunks of 16 bytes per row, copied in lines of 4) and
// Dv 160: two row tiles' O (160 columns) and S may take 176 registers where
// D is not a multiple of 64, which only a 16-key block would leave; so 4
// warps of 16 rows, with 32 keys (at FlashAttention-2's 64 a thread would
// copy 10 chunks of each V block; the default keeps it at 8).
// CHECK-LABEL: func.func @d96_dv160
// CHECK: threads({{.*}}) in ({{.*}} = %c128{{.*}}) workgroup({{.*}} : memref<64x104xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<32x104xf16, #gpu.address_space<workgroup>>, {{.*}} : memref<32x168xf16, #gpu.address_space<workgroup>>)
// CHECK: nvgpu.ldmatrix
// CHECK: nvgpu.mma.sync
// CHECK: vector.store %{{.+}}, %{{.+}}[{{.*}}] : memref<?x4x?x160xf16, strided<[?, ?, ?, 1]>>, vector<2xf16>
func.func @d96_dv160(%q: memref<?x4x?x96xf16>, %k: memref<?x4x?x96xf16>, %v: memref<?x4x?x160xf16>, %o: memref<?x4x?x160xf16>) {
  sqa.attention ins(%q, %k, %v : memref<?x4x?x96xf16>, memref<?x4x?x96xf16>, memref<?x4x?x160xf16>) outs(%o : memref<?x4x?x160xf16>)
  return
}

// -----

// Rows whose elements are not contiguous (a non-unit or unknown innermost
// stride) stay: the kernel copies 16-byte chunks of a row.
// CHECK-LABEL: func.func @strided_rows_stay
// CHECK: sqa.attention
// STRICT: error: 'sqa.attention' op has no tensor-core kernel: the tensor-core kernel needs memrefs with a unit innermost stride
func.func @strided_rows_stay(%q: memref<1x4x8x64xf16, strided<[?, ?, ?, ?]>>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x64xf16, strided<[?, ?, ?, ?]>>, memref<1x4x8x64xf16, strided<[?, ?, ?, ?]>>, memref<1x4x8x64xf16, strided<[?, ?, ?, ?]>>) outs(%q : memref<1x4x8x64xf16, strided<[?, ?, ?, ?]>>)
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

// -----

// A schedule written by a producer may hold rows per warp that the
// attribute allows (multiples of 16 up to 64) but the kernel does not take.
// STRICT-ROWS: error: 'sqa.attention' op has no tensor-core kernel: the tensor-core kernel takes 16 or 32 query rows per warp
func.func @rows_48(%q: memref<?x4x?x64xf16>, %k: memref<?x2x?x64xf16>, %o: memref<?x4x?x64xf16>) {
  sqa.attention ins(%q, %k, %k : memref<?x4x?x64xf16>, memref<?x2x?x64xf16>, memref<?x2x?x64xf16>)
                outs(%o : memref<?x4x?x64xf16>) {sqa.schedule = #sqa.schedule<warps = 2, kv_block = 32, warp_rows = 48>}
  return
}
