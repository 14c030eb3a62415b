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

// sqa.attention_grad bufferizes the same way: its three destinations are
// written in place, a tensor.empty one without a copy.
// CHECK-LABEL: func.func @grad
// CHECK-SAME: (%[[Q:[^:]+]]: memref<1x4x8x16xf32>, %[[K:[^:]+]]: memref<1x2x8x16xf32>, %[[O:[^:]+]]: memref<1x4x8x16xf32>, %[[L:[^:]+]]: memref<1x4x8xf32>, %[[DQ:[^:]+]]: memref<1x4x8x16xf32>)
// CHECK-DAG: %[[DK:.+]] = memref.alloc() {{.*}}: memref<1x2x8x16xf32>
// CHECK-DAG: %[[DV:.+]] = memref.alloc() {{.*}}: memref<1x2x8x16xf32>
// CHECK-NOT: memref.copy
// CHECK: sqa.attention_grad ins(%[[Q]], %[[K]], %[[K]], %[[O]], %[[O]], %[[L]] : {{.*}}) outs(%[[DQ]], %[[DK]], %[[DV]] : memref<1x4x8x16xf32>, memref<1x2x8x16xf32>, memref<1x2x8x16xf32>) mask = causal_bottom_right{{$}}
// CHECK-NOT: memref.copy
// CHECK: return %[[DQ]], %[[DK]], %[[DV]]
func.func @grad(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %o: tensor<1x4x8x16xf32>,
                %l: tensor<1x4x8xf32>, %dq: tensor<1x4x8x16xf32>)
    -> (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {
  %dk = tensor.empty() : tensor<1x2x8x16xf32>
  %dv = tensor.empty() : tensor<1x2x8x16xf32>
  %r:3 = sqa.attention_grad ins(%q, %k, %k, %o, %o, %l : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>,
                                tensor<1x2x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8xf32>)
                            outs(%dq, %dk, %dv : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
                            mask = causal_bottom_right
                            -> tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %r#0, %r#1, %r#2 : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
}
