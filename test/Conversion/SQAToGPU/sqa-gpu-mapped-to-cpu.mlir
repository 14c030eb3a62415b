// RUN: sqa-opt %s --split-input-file --sqa-gpu-mapped-to-cpu --verify-diagnostics | FileCheck %s

// Workgroup buffers become ordinary buffers, freed at the end of their block;
// every type that carried the address space follows; barriers are dropped;
// the mapped loops stay for scf-forall-to-for.
// CHECK-LABEL: func.func @mapped
// CHECK: scf.forall (%{{.+}}) in (%{{.+}}) {
// CHECK: %[[TILE:.+]] = memref.alloc() : memref<2x16x8xf16>
// CHECK: scf.forall (%{{.+}}) in (2) {
// CHECK: %[[SLICE:.+]] = memref.subview %[[TILE]][%{{.+}}, 0, 0] [1, 16, 8] [1, 1, 1] : memref<2x16x8xf16> to memref<16x8xf16, strided<[8, 1], offset: ?>>
// CHECK-NOT: gpu.barrier
// CHECK: vector.transfer_read %[[SLICE]]
// CHECK: } {mapping = [#gpu.warp<x>]}
// CHECK: memref.dealloc %[[TILE]] : memref<2x16x8xf16>
// CHECK-NEXT: } {mapping = [#gpu.block<x>]}
// CHECK-NOT: #gpu.address_space
func.func @mapped(%n: index, %src: memref<?x16x8xf16>) {
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : f16
  scf.forall (%b) in (%n) {
    %tile = memref.alloc() : memref<2x16x8xf16, #gpu.address_space<workgroup>>
    scf.forall (%w) in (2) {
      %data = vector.transfer_read %src[%b, %c0, %c0], %pad : memref<?x16x8xf16>, vector<16x8xf16>
      %slice = memref.subview %tile[%w, 0, 0] [1, 16, 8] [1, 1, 1]
          : memref<2x16x8xf16, #gpu.address_space<workgroup>>
            to memref<16x8xf16, strided<[8, 1], offset: ?>, #gpu.address_space<workgroup>>
      vector.transfer_write %data, %slice[%c0, %c0]
          : vector<16x8xf16>, memref<16x8xf16, strided<[8, 1], offset: ?>, #gpu.address_space<workgroup>>
      gpu.barrier
      %back = vector.transfer_read %slice[%c0, %c0], %pad
          : memref<16x8xf16, strided<[8, 1], offset: ?>, #gpu.address_space<workgroup>>, vector<16x8xf16>
      vector.transfer_write %back, %src[%b, %c0, %c0] : vector<16x8xf16>, memref<?x16x8xf16>
    } {mapping = [#gpu.warp<x>]}
  } {mapping = [#gpu.block<x>]}
  return
}

// -----

// Kernels are GPU code: the pass is for mapped loops on the host.
func.func @kernel() {
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{is GPU code; sqa-gpu-mapped-to-cpu runs mapped loops on the host}}
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%a = %c1, %b = %c1, %c = %c1) {
    gpu.barrier
    gpu.terminator
  }
  return
}
