// RUN: sqa-opt %s --pass-pipeline="builtin.module(gpu.module(sqa-extern-dynamic-shared-memory))" | FileCheck %s
// RUN: sqa-opt %s --pass-pipeline="builtin.module(gpu.module(convert-gpu-to-nvvm,sqa-extern-dynamic-shared-memory))" -split-input-file | FileCheck %s --check-prefix=LOWERED

// The zero-sized shared array that convert-gpu-to-nvvm makes for
// gpu.dynamic_shared_memory becomes external (PTX: .extern .shared ... []);
// other globals keep their linkage.
// CHECK-LABEL: gpu.module @kernels
// CHECK: llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
// CHECK: llvm.mlir.global internal @static_tile() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<64 x i8>
// CHECK: llvm.mlir.global internal @global_zero() {addr_space = 1 : i32} : !llvm.array<0 x i8>
gpu.module @kernels {
  llvm.mlir.global internal @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
  llvm.mlir.global internal @static_tile() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<64 x i8>
  llvm.mlir.global internal @global_zero() {addr_space = 1 : i32} : !llvm.array<0 x i8>
}

// -----

// LOWERED-LABEL: gpu.module @lowered
// LOWERED: llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
// LOWERED: llvm.mlir.addressof @__dynamic_shmem__0 : !llvm.ptr<3>
gpu.module @lowered {
  gpu.func @kernel(%out: memref<4xi8>) kernel {
    %c0 = arith.constant 0 : index
    %smem = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
    %v = memref.load %smem[%c0] : memref<?xi8, #gpu.address_space<workgroup>>
    memref.store %v, %out[%c0] : memref<4xi8>
    gpu.return
  }
}
