// REQUIRES: libomp
// RUN: sqa-opt %s --pass-pipeline="builtin.module(sqa-gpu-launch-to-openmp, \
// RUN:   func.func(convert-vector-to-scf{full-unroll},lower-affine), \
// RUN:   convert-scf-to-cf,convert-vector-to-llvm,finalize-memref-to-llvm, \
// RUN:   convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm, \
// RUN:   convert-cf-to-llvm,convert-func-to-llvm,convert-ub-to-llvm, \
// RUN:   convert-openmp-to-llvm, \
// RUN:   reconcile-unrealized-casts)" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%libomp,%mlir_c_runner_utils \
// RUN: | FileCheck %s

// The pass's output is lowered with the "loops" and "to LLVM" stages of
// sqa-cpu-pipeline spelled out: that pipeline also bufferizes and inserts
// deallocations, which must come before the emulation (they reject
// omp.barrier, whose memory effects are unknown).

// The emulated warp ops, checked against plain loops: one warp loads A
// (16 x 16, row-major) with ldmatrix x4 and B (16 x 8, row-major, as the V
// tiles) with ldmatrix x2 .trans, multiplies them with mma.sync m16n8k16 and
// stores its accumulators; the host places them with the PTX ISA's layout of
// C (lane l = 4 g + t holds rows g and g + 8, columns 2 t and 2 t + 1) and
// compares with A B computed by loops. Then a butterfly of xor shuffles sums
// each warp's lanes.

// CHECK: mma mismatches: 0
// CHECK-NEXT: mma checksum: 3642
// CHECK-NEXT: shuffle mismatches: 0

func.func @warp_mma(%a: memref<16x16xf16>, %b: memref<16x8xf16>,
                    %out: memref<32x2x2xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %zero = arith.constant dense<0.0> : vector<2x2xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c32, %ny = %c1, %nz = %c1)
             workgroup(%sa : memref<16x16xf16, #gpu.address_space<workgroup>>,
                       %sb : memref<16x8xf16, #gpu.address_space<workgroup>>) {
    %row = arith.remui %x, %c16 : index
    %half = arith.divui %x, %c16 : index
    %col = arith.muli %half, %c8 : index
    %t0 = nvgpu.device_async_copy %a[%row, %col], %sa[%row, %col], 8
        : memref<16x16xf16> to memref<16x16xf16, #gpu.address_space<workgroup>>
    %t1 = nvgpu.device_async_copy %b[%row, %c0], %sb[%row, %c0], 8
        : memref<16x8xf16> to memref<16x8xf16, #gpu.address_space<workgroup>>
    %g = nvgpu.device_async_create_group %t0, %t1
    nvgpu.device_async_wait %g {numGroups = 0 : i32}
    gpu.barrier
    %fa = nvgpu.ldmatrix %sa[%row, %col] {numTiles = 4 : i32, transpose = false}
        : memref<16x16xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
    %fb = nvgpu.ldmatrix %sb[%row, %c0] {numTiles = 2 : i32, transpose = true}
        : memref<16x8xf16, #gpu.address_space<workgroup>> -> vector<2x2xf16>
    %d = nvgpu.mma.sync(%fa, %fb, %zero) {mmaShape = [16, 8, 16]}
        : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    %d0 = vector.extract %d[0] : vector<2xf32> from vector<2x2xf32>
    %d1 = vector.extract %d[1] : vector<2xf32> from vector<2x2xf32>
    vector.store %d0, %out[%x, %c0, %c0] : memref<32x2x2xf32>, vector<2xf32>
    vector.store %d1, %out[%x, %c1, %c0] : memref<32x2x2xf32>, vector<2xf32>
    gpu.terminator
  }
  return
}

// Two warps; each lane sums its warp's lane ids by xor shuffles (1 .. 16).
func.func @warp_sum(%out: memref<64xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %width = arith.constant 32 : i32
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c64, %ny = %c1, %nz = %c1) {
    %xi = arith.index_cast %x : index to i32
    %v0 = arith.sitofp %xi : i32 to f32
    %v = scf.for %i = %c1 to %c64 step %c1 iter_args(%acc = %v0) -> f32 {
      // Offsets 1, 2, 4, 8, 16 (i a power of two below 32); others skip.
      %ii = arith.index_cast %i : index to i32
      %c1_i32 = arith.constant 1 : i32
      %c0_i32 = arith.constant 0 : i32
      %m = arith.subi %ii, %c1_i32 : i32
      %pow = arith.andi %ii, %m : i32
      %isPow = arith.cmpi eq, %pow, %c0_i32 : i32
      %small = arith.cmpi slt, %ii, %width : i32
      %use = arith.andi %isPow, %small : i1
      %other, %valid = gpu.shuffle xor %acc, %ii, %width : f32
      %sum = arith.addf %acc, %other : f32
      %next = arith.select %use, %sum, %acc : f32
      scf.yield %next : f32
    }
    memref.store %v, %out[%x] : memref<64xf32>
    gpu.terminator
  }
  return
}

func.func @main() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %c64 = arith.constant 64 : index
  %a = memref.alloc() : memref<16x16xf16>
  %b = memref.alloc() : memref<16x8xf16>
  %out = memref.alloc() : memref<32x2x2xf32>
  // A[i][k] = (5 i + 2 k) mod 13 - 6, B[k][n] = (3 k + 5 n) mod 7 - 3: no
  // transposition or swap of 8 x 8 blocks leaves A or B unchanged.
  scf.for %i = %c0 to %c16 step %c1 {
    scf.for %k = %c0 to %c16 step %c1 {
      %lin = affine.apply affine_map<(i, k) -> ((i * 5 + k * 2) mod 13 - 6)>(%i, %k)
      %li = arith.index_cast %lin : index to i32
      %v = arith.sitofp %li : i32 to f16
      memref.store %v, %a[%i, %k] : memref<16x16xf16>
    }
  }
  scf.for %k = %c0 to %c16 step %c1 {
    scf.for %n = %c0 to %c8 step %c1 {
      %lin = affine.apply affine_map<(k, n) -> ((k * 3 + n * 5) mod 7 - 3)>(%k, %n)
      %li = arith.index_cast %lin : index to i32
      %v = arith.sitofp %li : i32 to f16
      memref.store %v, %b[%k, %n] : memref<16x8xf16>
    }
  }
  call @warp_mma(%a, %b, %out) : (memref<16x16xf16>, memref<16x8xf16>, memref<32x2x2xf32>) -> ()

  %zero = arith.constant 0 : i64
  %one = arith.constant 1 : i64
  %fzero = arith.constant 0.0 : f32
  %mismatches, %checksum = scf.for %lane = %c0 to %c32 step %c1
      iter_args(%bad = %zero, %sum = %fzero) -> (i64, f32) {
    %g = arith.divui %lane, %c4 : index
    %t = arith.remui %lane, %c4 : index
    %r:2 = scf.for %i = %c0 to %c2 step %c1 iter_args(%bad1 = %bad, %sum1 = %sum) -> (i64, f32) {
      %r2:2 = scf.for %c = %c0 to %c2 step %c1 iter_args(%bad2 = %bad1, %sum2 = %sum1) -> (i64, f32) {
        %row = affine.apply affine_map<(g, i) -> (g + 8 * i)>(%g, %i)
        %colN = affine.apply affine_map<(t, c) -> (2 * t + c)>(%t, %c)
        %ref = scf.for %k = %c0 to %c16 step %c1 iter_args(%acc = %fzero) -> f32 {
          %x = memref.load %a[%row, %k] : memref<16x16xf16>
          %y = memref.load %b[%k, %colN] : memref<16x8xf16>
          %xf = arith.extf %x : f16 to f32
          %yf = arith.extf %y : f16 to f32
          %p = arith.mulf %xf, %yf : f32
          %s = arith.addf %acc, %p : f32
          scf.yield %s : f32
        }
        %got = memref.load %out[%lane, %i, %c] : memref<32x2x2xf32>
        %ne = arith.cmpf une, %got, %ref : f32
        %inc = arith.select %ne, %one, %zero : i64
        %bad3 = arith.addi %bad2, %inc : i64
        %absref = math.absf %ref : f32
        %sum3 = arith.addf %sum2, %absref : f32
        scf.yield %bad3, %sum3 : i64, f32
      }
      scf.yield %r2#0, %r2#1 : i64, f32
    }
    scf.yield %r#0, %r#1 : i64, f32
  }
  vector.print str "mma mismatches: "
  vector.print %mismatches : i64
  vector.print str "mma checksum: "
  %checksumInt = arith.fptosi %checksum : f32 to i64
  vector.print %checksumInt : i64

  // Each lane of warp w ends with the sum of its warp's lane ids:
  // 32 * 32 w + 496.
  %sums = memref.alloc() : memref<64xf32>
  call @warp_sum(%sums) : (memref<64xf32>) -> ()
  %shuffleBad = scf.for %x = %c0 to %c64 step %c1 iter_args(%bad = %zero) -> i64 {
    %w = arith.divui %x, %c32 : index
    %expect = affine.apply affine_map<(w) -> (w * 1024 + 496)>(%w)
    %ei = arith.index_cast %expect : index to i32
    %ef = arith.sitofp %ei : i32 to f32
    %got = memref.load %sums[%x] : memref<64xf32>
    %ne = arith.cmpf une, %got, %ef : f32
    %inc = arith.select %ne, %one, %zero : i64
    %bad1 = arith.addi %bad, %inc : i64
    scf.yield %bad1 : i64
  }
  vector.print str "shuffle mismatches: "
  vector.print %shuffleBad : i64
  memref.dealloc %a : memref<16x16xf16>
  memref.dealloc %b : memref<16x8xf16>
  memref.dealloc %out : memref<32x2x2xf32>
  memref.dealloc %sums : memref<64xf32>
  return
}
