// RUN: not sqa-opt %s --split-input-file --convert-sqa-to-scf="tensor-core=true" 2>&1 | FileCheck %s
// RUN: not sqa-opt %s --split-input-file --convert-sqa-to-scf 2>&1 | FileCheck %s --check-prefix=OFF

// The row-wise kernel is built on tensors: an op on memrefs is left to the
// tensor-core kernel where that takes it, and refused with both reasons
// where it does not.

// CHECK: error: 'sqa.attention' op on memrefs has no GPU kernel: the row-wise kernel takes tensors (it runs before bufferization); the tensor-core kernel needs f16 or bf16 operands
// OFF: error: 'sqa.attention' op on memrefs has no GPU kernel: the row-wise kernel takes tensors (it runs before bufferization); the tensor-core kernel is off (tensor-core=false)
func.func @f32_on_memrefs(%q: memref<1x4x8x64xf32>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x64xf32>, memref<1x4x8x64xf32>, memref<1x4x8x64xf32>) outs(%q : memref<1x4x8x64xf32>)
  return
}

// -----

// Rows whose elements are not contiguous: the tensor-core kernel copies
// 16-byte chunks of a row.
// CHECK: error: 'sqa.attention' op on memrefs has no GPU kernel: the row-wise kernel takes tensors (it runs before bufferization); the tensor-core kernel needs memrefs with a unit innermost stride
func.func @strided_rows(%q: memref<1x4x8x64xf16, strided<[?, ?, ?, 2]>>) {
  sqa.attention ins(%q, %q, %q : memref<1x4x8x64xf16, strided<[?, ?, ?, 2]>>, memref<1x4x8x64xf16, strided<[?, ?, ?, 2]>>, memref<1x4x8x64xf16, strided<[?, ?, ?, 2]>>) outs(%q : memref<1x4x8x64xf16, strided<[?, ?, ?, 2]>>)
  return
}
