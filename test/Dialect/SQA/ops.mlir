// RUN: sqa-opt %s | sqa-opt | FileCheck %s
// RUN: sqa-opt %s --mlir-print-op-generic | sqa-opt | FileCheck %s

// CHECK-LABEL: func.func @xsqa_causal
// CHECK-SAME: (%[[Q:.+]]: tensor<?x4x?x16xbf16>, %[[K:.+]]: tensor<?x4x?x16xbf16>, %[[V:.+]]: tensor<?x4x?x16xbf16>, %[[O:.+]]: tensor<?x4x?x16xbf16>)
// CHECK: sqa.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>)
// CHECK-SAME: outs(%[[O]] : tensor<?x4x?x16xbf16>) mask = causal_bottom_right -> tensor<?x4x?x16xbf16>
func.func @xsqa_causal(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x4x?x16xbf16>,
                       %v: tensor<?x4x?x16xbf16>, %o: tensor<?x4x?x16xbf16>)
    -> tensor<?x4x?x16xbf16> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>)
                     outs(%o : tensor<?x4x?x16xbf16>) mask = causal_bottom_right -> tensor<?x4x?x16xbf16>
  return %r : tensor<?x4x?x16xbf16>
}

// GQA (Hq = 16, Hkv = 4) with every optional piece: top-left mask, scale and
// the log-sum-exp output; static sizes and an f32 output.
// CHECK-LABEL: func.func @gqa_all_attributes
// CHECK: %{{.+}}:2 = sqa.attention
// CHECK-SAME: outs(%{{.+}}, %{{.+}} : tensor<2x16x8x64xf32>, tensor<2x16x8xf32>)
// CHECK-SAME: mask = causal_top_left scale = 1.250000e-01 -> tensor<2x16x8x64xf32>, tensor<2x16x8xf32>
func.func @gqa_all_attributes(%q: tensor<2x16x8x64xf16>, %k: tensor<2x4x32x64xf16>,
                              %v: tensor<2x4x32x64xf16>, %o: tensor<2x16x8x64xf32>,
                              %lse: tensor<2x16x8xf32>) -> (tensor<2x16x8x64xf32>, tensor<2x16x8xf32>) {
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<2x16x8x64xf16>, tensor<2x4x32x64xf16>, tensor<2x4x32x64xf16>)
                       outs(%o, %lse : tensor<2x16x8x64xf32>, tensor<2x16x8xf32>)
                       mask = causal_top_left scale = 0.125 -> tensor<2x16x8x64xf32>, tensor<2x16x8xf32>
  return %r#0, %r#1 : tensor<2x16x8x64xf32>, tensor<2x16x8xf32>
}

// Reverse SQA (Hq = 4 < Hkv = 8) with a sliding window and Dv != D.
// CHECK-LABEL: func.func @rsqa_window
// CHECK: sqa.attention
// CHECK-SAME: window = [128, 0] -> tensor<?x8x?x32xf32>
func.func @rsqa_window(%q: tensor<?x4x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                       %v: tensor<?x8x?x32xf32>, %o: tensor<?x8x?x32xf32>) -> tensor<?x8x?x32xf32> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x4x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x32xf32>)
                     outs(%o : tensor<?x8x?x32xf32>) window = [128, 0] -> tensor<?x8x?x32xf32>
  return %r : tensor<?x8x?x32xf32>
}

// MQA with an unbounded left side of the window.
// CHECK-LABEL: func.func @mqa_window_right_only
// CHECK: mask = causal_bottom_right window = [-1, 0]
func.func @mqa_window_right_only(%q: tensor<1x16x5x16xf16>, %k: tensor<1x1x7x16xf16>,
                                 %v: tensor<1x1x7x16xf16>, %o: tensor<1x16x5x16xf16>) -> tensor<1x16x5x16xf16> {
  %r = sqa.attention ins(%q, %k, %v : tensor<1x16x5x16xf16>, tensor<1x1x7x16xf16>, tensor<1x1x7x16xf16>)
                     outs(%o : tensor<1x16x5x16xf16>) mask = causal_bottom_right window = [-1, 0] -> tensor<1x16x5x16xf16>
  return %r : tensor<1x16x5x16xf16>
}

// A tile of query rows carries the diagonal of its mask explicitly.
// CHECK-LABEL: func.func @tile_with_diagonal_offset
// CHECK-SAME: %[[D:[a-z0-9]+]]: index
// CHECK: mask = causal_top_left diagonal_offset(%[[D]]) -> tensor<1x1x?x16xf32>
func.func @tile_with_diagonal_offset(%q: tensor<1x1x?x16xf32>, %k: tensor<1x1x?x16xf32>,
                                     %o: tensor<1x1x?x16xf32>, %d: index) -> tensor<1x1x?x16xf32> {
  %r = sqa.attention ins(%q, %k, %k : tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>)
                     outs(%o : tensor<1x1x?x16xf32>) mask = causal_top_left diagonal_offset(%d) -> tensor<1x1x?x16xf32>
  return %r : tensor<1x1x?x16xf32>
}

// Buffer semantics: memref operands of any strided layout, no results.
// CHECK-LABEL: func.func @attention_on_buffers
// CHECK: sqa.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x4x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x?x64xf16>, memref<?x2x?x64xf16>) outs(%{{.*}}, %{{.*}} : memref<?x4x?x64xf16>, memref<?x4x?xf32>) mask = causal_bottom_right window = [128, 0]{{$}}
func.func @attention_on_buffers(%q: memref<?x4x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<?x2x?x64xf16>, %v: memref<?x2x?x64xf16>,
                                %o: memref<?x4x?x64xf16>, %l: memref<?x4x?xf32>) {
  sqa.attention ins(%q, %k, %v : memref<?x4x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x2x?x64xf16>, memref<?x2x?x64xf16>)
                outs(%o, %l : memref<?x4x?x64xf16>, memref<?x4x?xf32>) mask = causal_bottom_right window = [128, 0]
  return
}

// The backward: GQA (Hq = 8, Hkv = 4) with f32 gradients of f16 inputs.
// CHECK-LABEL: func.func @gqa_grad
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x8x?x64xf16>, %[[K:[^:]+]]: tensor<?x4x?x64xf16>, %[[V:[^:]+]]: tensor<?x4x?x64xf16>, %[[O:[^:]+]]: tensor<?x8x?x64xf16>, %[[DO:[^:]+]]: tensor<?x8x?x64xf16>, %[[LSE:[^:]+]]: tensor<?x8x?xf32>, %[[DQ:[^:]+]]: tensor<?x8x?x64xf32>, %[[DK:[^:]+]]: tensor<?x4x?x64xf32>, %[[DV:[^:]+]]: tensor<?x4x?x64xf32>)
// CHECK: %{{.+}}:3 = sqa.attention_grad ins(%[[Q]], %[[K]], %[[V]], %[[O]], %[[DO]], %[[LSE]] : tensor<?x8x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?xf32>)
// CHECK-SAME: outs(%[[DQ]], %[[DK]], %[[DV]] : tensor<?x8x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>)
// CHECK-SAME: mask = causal_bottom_right window = [64, 0] scale = 1.250000e-01 -> tensor<?x8x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>
func.func @gqa_grad(%q: tensor<?x8x?x64xf16>, %k: tensor<?x4x?x64xf16>, %v: tensor<?x4x?x64xf16>,
                    %o: tensor<?x8x?x64xf16>, %do: tensor<?x8x?x64xf16>, %lse: tensor<?x8x?xf32>,
                    %dq: tensor<?x8x?x64xf32>, %dk: tensor<?x4x?x64xf32>, %dv: tensor<?x4x?x64xf32>)
    -> (tensor<?x8x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>) {
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : tensor<?x8x?x64xf16>, tensor<?x4x?x64xf16>,
                                tensor<?x4x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?xf32>)
                            outs(%dq, %dk, %dv : tensor<?x8x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>)
                            mask = causal_bottom_right window = [64, 0] scale = 0.125
                            -> tensor<?x8x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>
  return %r#0, %r#1, %r#2 : tensor<?x8x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>
}

// The backward with buffer semantics (reverse SQA, a diagonal offset): no
// results.
// CHECK-LABEL: func.func @rsqa_grad_buffers
// CHECK: sqa.attention_grad ins(
// CHECK-SAME: outs(%{{.+}}, %{{.+}}, %{{.+}} : memref<1x2x4x16xbf16>, memref<1x4x6x16xbf16>, memref<1x4x6x16xbf16>) mask = causal_top_left diagonal_offset(%{{.+}})
// CHECK-NOT: ->
func.func @rsqa_grad_buffers(%q: memref<1x2x4x16xbf16>, %k: memref<1x4x6x16xbf16>, %v: memref<1x4x6x16xbf16>,
                             %o: memref<1x4x4x16xbf16>, %do: memref<1x4x4x16xbf16>, %lse: memref<1x4x4xf32>,
                             %dq: memref<1x2x4x16xbf16>, %dk: memref<1x4x6x16xbf16>, %dv: memref<1x4x6x16xbf16>,
                             %d: index) {
  sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : memref<1x2x4x16xbf16>, memref<1x4x6x16xbf16>,
                         memref<1x4x6x16xbf16>, memref<1x4x4x16xbf16>, memref<1x4x4x16xbf16>, memref<1x4x4xf32>)
                     outs(%dq, %dk, %dv : memref<1x2x4x16xbf16>, memref<1x4x6x16xbf16>, memref<1x4x6x16xbf16>)
                     mask = causal_top_left diagonal_offset(%d)
  return
}
