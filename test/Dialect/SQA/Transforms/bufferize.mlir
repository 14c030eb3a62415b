// RUN: sqa-opt %s --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s

// sqa.attention bufferizes to its buffer form and writes in place into its
// destinations; a tensor.empty destination is not copied (the op never
// reads its outputs), and the inputs are read where they are.
// CHECK-LABEL: func.func @gqa
// CHECK-SAME: (%[[Q:.+]]: memref<2x4x?x64xf16>, %[[K:.+]]: memref<2x2x?x64xf16>, %[[V:.+]]: memref<2x2x?x64xf16>)
// CHECK: %[[O:.+]] = memref.alloc(%{{.+}}) {{.*}}: memref<2x4x?x64xf16>
// CHECK-NOT: memref.copy
// CHECK: sqa.attention ins(%[[Q]], %[[K]], %[[V]] : memref<2x4x?x64xf16>, memref<2x2x?x64xf16>, memref<2x2x?x64xf16>) outs(%[[O]] : memref<2x4x?x64xf16>) mask = causal_bottom_right{{$}}
// CHECK-NOT: memref.copy
// CHECK: return %[[O]]
func.func @gqa(%q: tensor<2x4x?x64xf16>, %k: tensor<2x2x?x64xf16>, %v: tensor<2x2x?x64xf16>) -> tensor<2x4x?x64xf16> {
  %c2 = arith.constant 2 : index
  %s = tensor.dim %q, %c2 : tensor<2x4x?x64xf16>
  %e = tensor.empty(%s) : tensor<2x4x?x64xf16>
  %o = sqa.attention ins(%q, %k, %v : tensor<2x4x?x64xf16>, tensor<2x2x?x64xf16>, tensor<2x2x?x64xf16>) outs(%e : tensor<2x4x?x64xf16>) mask = causal_bottom_right -> tensor<2x4x?x64xf16>
  return %o : tensor<2x4x?x64xf16>
}

// Both destinations (out and lse), the diagonal offset and the attributes
// carry over; writing into function arguments needs no copy either.
// CHECK-LABEL: func.func @with_lse
// CHECK-SAME: (%[[Q:.+]]: memref<1x4x8x16xbf16>, %[[O:.+]]: memref<1x4x8x16xbf16>, %[[L:.+]]: memref<1x4x8xf32>, %[[D:.+]]: index)
// CHECK-NOT: memref.copy
// CHECK: sqa.attention ins(%[[Q]], %[[Q]], %[[Q]] : {{.*}}) outs(%[[O]], %[[L]] : memref<1x4x8x16xbf16>, memref<1x4x8xf32>) mask = causal_bottom_right diagonal_offset(%[[D]]) window = [3, 0] scale = 2.500000e-01
func.func @with_lse(%q: tensor<1x4x8x16xbf16>, %o: tensor<1x4x8x16xbf16>, %l: tensor<1x4x8xf32>, %d: index) -> (tensor<1x4x8x16xbf16>, tensor<1x4x8xf32>) {
  %r:2 = sqa.attention ins(%q, %q, %q : tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>)
                       outs(%o, %l : tensor<1x4x8x16xbf16>, tensor<1x4x8xf32>) mask = causal_bottom_right diagonal_offset(%d) window = [3, 0] scale = 0.25
                       -> tensor<1x4x8x16xbf16>, tensor<1x4x8xf32>
  return %r#0, %r#1 : tensor<1x4x8x16xbf16>, tensor<1x4x8xf32>
}
