// RUN: sqa-opt %s --split-input-file --sqa-gpu-launch-to-openmp --cse | FileCheck %s

// Grid loops around one omp.parallel per block; a thread per GPU thread;
// workgroup attributions become heap buffers of the block; barriers become
// omp.barrier; ids come from the loops and omp_get_thread_num.
// CHECK: func.func private @omp_get_thread_num() -> i32
// CHECK: func.func private @omp_get_num_threads() -> i32
// CHECK-LABEL: func.func @ids
// CHECK-SAME: (%[[OUT:.+]]: memref<?x?xindex>, %[[GX:.+]]: index, %[[TX:.+]]: index)
// CHECK: %[[XY:.+]] = arith.muli %[[TX]], %c1
// CHECK: %[[THREADS:.+]] = arith.muli %[[XY]], %c1
// CHECK-NOT: cf.assert
// CHECK: scf.for %{{.+}} = %c0 to %c1
// CHECK: scf.for %{{.+}} = %c0 to %c1
// CHECK: scf.for %[[BX:.+]] = %c0 to %[[GX]]
// CHECK: %[[TILE:.+]] = memref.alloc() : memref<64xf32>
// CHECK: %[[N:.+]] = arith.index_cast %[[THREADS]] : index to i32
// CHECK: omp.parallel num_threads(%[[N]] : i32) {
// CHECK: %[[T:.+]] = func.call @omp_get_thread_num() : () -> i32
// CHECK: %[[TID:.+]] = arith.index_cast %[[T]] : i32 to index
// CHECK: func.call @omp_get_num_threads()
// CHECK: cf.assert %{{.+}}, "sqa-gpu-launch-to-openmp: the OpenMP runtime gave fewer threads than the block has"
// CHECK-NOT: memref.alloca
// CHECK: %[[X:.+]] = arith.remui %[[TID]], %[[TX]]
// CHECK: memref.store %{{.+}}, %[[TILE]][%[[X]]] : memref<64xf32>
// CHECK: omp.barrier
// CHECK: memref.store %[[X]], %[[OUT]][%[[BX]], %[[X]]]
// CHECK: omp.terminator
// CHECK: }
// CHECK: memref.dealloc %[[TILE]]
// CHECK-NOT: gpu.
func.func @ids(%out: memref<?x?xindex>, %gx: index, %tx: index) {
  %c1 = arith.constant 1 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %gx, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %tx, %ny = %c1, %nz = %c1)
             workgroup(%tile : memref<64xf32, #gpu.address_space<workgroup>>) {
    memref.store %f, %tile[%x] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    memref.store %x, %out[%bx, %x] : memref<?x?xindex>
    gpu.terminator
  }
  return
}

// -----

// A shuffle publishes the value in the block's exchange buffer (two slots,
// alternating), passes one barrier and reads lane ^ offset of its warp.
// CHECK-LABEL: func.func @shuffle
// CHECK: cf.assert %{{.+}}, "sqa-gpu-launch-to-openmp: warp-level ops need whole warps"
// CHECK: %[[X:.+]] = memref.alloc(%{{.+}}) : memref<2x?x12xf32>
// CHECK: omp.parallel
// CHECK: %[[LANE:.+]] = arith.remui %[[TID:.+]], %c32
// CHECK: %[[BASE:.+]] = arith.subi %[[TID]], %[[LANE]]
// CHECK: %[[SLOTVAR:.+]] = memref.alloca() : memref<index>
// CHECK: %[[SLOT:.+]] = memref.load %[[SLOTVAR]][]
// CHECK: %[[FLIP:.+]] = arith.subi %c1, %[[SLOT]]
// CHECK: memref.store %[[FLIP]], %[[SLOTVAR]][]
// CHECK: memref.store %{{.+}}, %[[X]][%[[SLOT]], %[[TID]], %c0]
// CHECK: omp.barrier
// CHECK: %[[SRC:.+]] = arith.xori %[[LANE]]
// CHECK: %[[VALID:.+]] = arith.cmpi ult, %[[SRC]], %c32
// CHECK: %[[SEL:.+]] = arith.select %[[VALID]], %[[SRC]], %[[LANE]]
// CHECK: %[[FROM:.+]] = arith.addi %[[BASE]], %[[SEL]]
// CHECK: memref.load %[[X]][%[[SLOT]], %[[FROM]], %c0]
// CHECK: memref.dealloc %[[X]]
func.func @shuffle(%out: memref<64xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %c2_i32 = arith.constant 2 : i32
  %c32_i32 = arith.constant 32 : i32
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c64, %ny = %c1, %nz = %c1) {
    %v = memref.load %out[%x] : memref<64xf32>
    %r, %valid = gpu.shuffle xor %v, %c2_i32, %c32_i32 : f32
    memref.store %r, %out[%x] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// ldmatrix: lanes publish their row addresses; lane l reads elements
// (l / 4, 2 (l % 4) + c) of matrix i from lane 8 i + l / 4's row, or with
// .trans (2 (l % 4) + c, l / 4) from lane 8 i + 2 (l % 4) + c's row.
// mma.sync: A and B registers go through the exchange buffer; every lane
// rebuilds the warp's A and B with upstream's fragment maps and computes its
// four accumulators. cp.async: queued per thread (site, group, source size,
// indices), numbered by commit_group, performed by wait_group; workgroup
// tiles start as NaN.
// CHECK-LABEL: func.func @tensor_core
// CHECK: %[[TILE:.+]] = memref.alloc() : memref<16x16xf16>
// CHECK: %[[NAN:.+]] = arith.constant 0x7E00 : f16
// CHECK: memref.store %[[NAN]], %[[TILE]]
// CHECK-DAG: %[[XF16:.+]] = memref.alloc(%{{.+}}) : memref<2x?x12xf16>
// CHECK-DAG: %[[ADDR:.+]] = memref.alloc(%{{.+}}) : memref<2x?x2xindex>
// CHECK: omp.parallel
// CHECK: %[[QUEUE:.+]] = memref.alloca() : memref<128x7xindex>
// CHECK: %[[LENGTH:.+]] = memref.alloca() : memref<index>
// CHECK: %[[GROUPS:.+]] = memref.alloca() : memref<index>
// CHECK: %[[A:.+]] = memref.alloca() : memref<16x16xf32>
// CHECK: %[[B:.+]] = memref.alloca() : memref<8x16xf32>
// The first copy is queued as site 0, uncommitted (-1), %rows elements.
// CHECK: %[[N:.+]] = memref.load %[[LENGTH]][]
// CHECK: cf.assert %{{.+}}, "sqa-gpu-launch-to-openmp: too many cp.async copies in flight"
// CHECK: memref.store %c0, %[[QUEUE]][%[[N]], %c0]
// CHECK: memref.store %c-1, %[[QUEUE]][%[[N]], %c1]
// CHECK: memref.store %{{.+}}, %[[QUEUE]][%[[N]], %c2]
// CHECK: memref.store %c1, %[[QUEUE]][%{{.+}}, %c0]
// commit_group numbers the uncommitted copies.
// CHECK: %[[G:.+]] = memref.load %[[GROUPS]][]
// CHECK: scf.for
// CHECK: arith.cmpi slt, %{{.+}}, %c0
// CHECK: arith.select %{{.+}}, %[[G]]
// wait_group 0: every committed group lands, by its site's copy.
// CHECK: scf.for {{.*}} iter_args
// CHECK: scf.if
// CHECK: scf.index_switch
// CHECK: case 0 {
// CHECK: memref.load %{{.+}} : memref<64x16xf16>
// CHECK: memref.store %{{.+}}, %[[TILE]]
// CHECK: case 1 {
// CHECK: } else {
// CHECK: memref.store %{{.+}}, %[[LENGTH]][]
// CHECK-NOT: nvgpu.device_async
// CHECK: omp.barrier
// The A tile, not transposed: 8 loads of addresses and 8 of elements.
// CHECK: memref.store %{{.+}}, %[[ADDR]]
// CHECK: omp.barrier
// CHECK-COUNT-8: memref.load %{{.+}} : memref<16x16xf16>
// CHECK: %[[AFRAG:.+]] = vector.from_elements {{.*}} : vector<4x2xf16>
// CHECK: omp.barrier
// CHECK-COUNT-4: memref.load %{{.+}} : memref<16x8xf16>
// CHECK: vector.from_elements {{.*}} : vector<2x2xf16>
// CHECK: vector.store %{{.+}}, %[[XF16]]
// CHECK: omp.barrier
// CHECK: scf.for %[[SRCLANE:.+]] = %c0 to %c32
// CHECK: scf.for %[[VALUE:.+]] = %c0 to %c8
// CHECK: affine.apply #{{.+}}(%[[SRCLANE]], %[[VALUE]])
// CHECK: arith.extf
// CHECK: memref.store %{{.+}}, %[[A]]
// CHECK: scf.for %{{.+}} = %c0 to %c32
// CHECK: scf.for %{{.+}} = %c0 to %c4
// CHECK: memref.store %{{.+}}, %[[B]]
// CHECK-COUNT-4: scf.for %{{.+}} = %c0 to %c16 step %c1 iter_args
// CHECK: vector.from_elements {{.*}} : vector<2x2xf32>
// CHECK-NOT: nvgpu.
// CHECK: omp.terminator
func.func @tensor_core(%a: memref<64x16xf16>, %bt: memref<16x8xf16>, %out: memref<32x2x2xf32>, %rows: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %zero = arith.constant dense<0.0> : vector<2x2xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c32, %ny = %c1, %nz = %c1)
             workgroup(%tile : memref<16x16xf16, #gpu.address_space<workgroup>>,
                       %btile : memref<16x8xf16, #gpu.address_space<workgroup>>) {
    %row = arith.remui %x, %c16 : index
    %chunk = arith.divui %x, %c16 : index
    %col = arith.muli %chunk, %c8 : index
    %t = nvgpu.device_async_copy %a[%row, %col], %tile[%row, %col], 8, %rows
        : memref<64x16xf16> to memref<16x16xf16, #gpu.address_space<workgroup>>
    %tb = nvgpu.device_async_copy %bt[%row, %c0], %btile[%row, %c0], 8
        : memref<16x8xf16> to memref<16x8xf16, #gpu.address_space<workgroup>>
    %g = nvgpu.device_async_create_group %t, %tb
    nvgpu.device_async_wait %g {numGroups = 0 : i32}
    gpu.barrier
    %fa = nvgpu.ldmatrix %tile[%row, %col] {numTiles = 4 : i32, transpose = false}
        : memref<16x16xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
    %fb = nvgpu.ldmatrix %btile[%row, %c0] {numTiles = 2 : i32, transpose = true}
        : memref<16x8xf16, #gpu.address_space<workgroup>> -> vector<2x2xf16>
    %d = nvgpu.mma.sync(%fa, %fb, %zero) {mmaShape = [16, 8, 16]}
        : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    vector.store %d, %out[%x, %c0, %c0] : memref<32x2x2xf32>, vector<2x2xf32>
    gpu.terminator
  }
  return
}

// -----

// Dynamic shared memory: one byte buffer per block of the launch's size,
// filled with 0xFF (NaN in every float type viewed on it), which
// gpu.dynamic_shared_memory becomes; the kernel's views stay.
// CHECK-LABEL: func.func @dynamic_shared_memory
// CHECK-SAME: (%[[OUT:.+]]: memref<4xf32>, %[[BYTES:.+]]: i32)
// CHECK: %[[SIZE:.+]] = arith.index_castui %[[BYTES]] : i32 to index
// CHECK: %[[SMEM:.+]] = memref.alloc(%[[SIZE]]) : memref<?xi8>
// CHECK: scf.for %[[I:.+]] = %c0 to %[[SIZE]]
// CHECK: memref.store %c-1_i8, %[[SMEM]][%[[I]]] : memref<?xi8>
// CHECK: omp.parallel
// CHECK: %[[VIEW:.+]] = memref.view %[[SMEM]][%c16][] : memref<?xi8> to memref<4xf32>
// CHECK: memref.store %{{.+}}, %[[VIEW]]
// CHECK: omp.terminator
// CHECK: memref.dealloc %[[SMEM]]
// CHECK-NOT: gpu.dynamic_shared_memory
func.func @dynamic_shared_memory(%out: memref<4xf32>, %bytes: i32) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %f = arith.constant 2.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c4, %ny = %c1, %nz = %c1)
             dynamic_shared_memory_size %bytes {
    %smem = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
    %tile = memref.view %smem[%c16][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<4xf32, #gpu.address_space<workgroup>>
    memref.store %f, %tile[%x] : memref<4xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %v = memref.load %tile[%x] : memref<4xf32, #gpu.address_space<workgroup>>
    memref.store %v, %out[%x] : memref<4xf32>
    gpu.terminator
  }
  return
}
