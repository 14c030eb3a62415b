// RUN: not sqa-opt %s --split-input-file --convert-sqa-to-scf="max-head-dim=256 tensor-core=true" 2>&1 | FileCheck %s
// RUN: sqa-opt %s --split-input-file --convert-sqa-to-scf | FileCheck %s --check-prefix=UNBOUNDED

// max-head-dim bounds the head dims of the ops the row-wise lowering takes
// (sqa-gpu-pipeline sets 256); ops the tensor-core kernel takes, and every
// op without the option, are not refused.

// CHECK: error: 'sqa.attention' op has no GPU kernel: the row-wise kernel supports head dims up to 256, but D is 512 and Dv 512 (the tensor-core kernel needs f16 or bf16 operands)
// UNBOUNDED-LABEL: func.func @wide_f32
// UNBOUNDED: scf.forall
func.func @wide_f32(%q: tensor<1x2x8x512xf32>) -> tensor<1x2x8x512xf32> {
  %r = sqa.attention ins(%q, %q, %q : tensor<1x2x8x512xf32>, tensor<1x2x8x512xf32>, tensor<1x2x8x512xf32>) outs(%q : tensor<1x2x8x512xf32>) -> tensor<1x2x8x512xf32>
  return %r : tensor<1x2x8x512xf32>
}

// -----

// CHECK-LABEL: func.func @within
// CHECK: scf.forall
// UNBOUNDED-LABEL: func.func @within
func.func @within(%q: tensor<1x2x8x256xf32>) -> tensor<1x2x8x256xf32> {
  %r = sqa.attention ins(%q, %q, %q : tensor<1x2x8x256xf32>, tensor<1x2x8x256xf32>, tensor<1x2x8x256xf32>) outs(%q : tensor<1x2x8x256xf32>) -> tensor<1x2x8x256xf32>
  return %r : tensor<1x2x8x256xf32>
}
