// RUN: sqa-opt %s --convert-sqa-to-linalg --split-input-file | FileCheck %s

// GQA-style grouping (Hq = 4, Hkv = 2): key/value head h floordiv 2, read
// through the indexing maps, never copied.
// CHECK-DAG: #[[QMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[KMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d3, d4)>
// CHECK-DAG: #[[VMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d4, d3)>
// CHECK-LABEL: func.func @gqa_causal_lse
// CHECK-SAME: (%[[Q:.+]]: tensor<?x4x?x16xf16>, %[[K:.+]]: tensor<?x2x?x16xf16>, %[[V:.+]]: tensor<?x2x?x8xf16>, %[[O:.+]]: tensor<?x4x?x8xf16>, %[[L:.+]]: tensor<?x4x?xf32>)
// CHECK-NOT: sqa.attention
// The reference materialises the B x Ho x Sq x Skv scores.
// CHECK: %[[EMPTY:.+]] = tensor.empty(%{{.+}}, %{{.+}}, %{{.+}}) : tensor<?x4x?x?xf32>
// CHECK: %[[S:.+]] = linalg.generic {indexing_maps = [#[[QMAP]], #[[KMAP]], {{.+}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[Q]], %[[K]] :
// CHECK: arith.extf
// CHECK: arith.mulf
// CHECK: arith.addf
// Scale (1/sqrt(16)) and the causal mask.
// CHECK: %[[MASKED:.+]] = linalg.generic {{.+}} outs(%[[S]] :
// CHECK: arith.mulf %{{.+}}, %{{.+}} : f32
// CHECK: linalg.index 2
// CHECK: linalg.index 3
// CHECK: arith.select
// CHECK: %[[MAX:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[MASKED]] :
// CHECK: arith.maximumf
// CHECK: %[[P:.+]] = linalg.generic {{.+}} ins(%[[MAX]] : tensor<?x4x?xf32>) outs(%[[MASKED]] :
// CHECK: math.exp
// CHECK: %[[SUM:.+]] = linalg.generic {{.+}} ins(%[[P]] :
// CHECK: %[[PV:.+]] = linalg.generic {indexing_maps = [{{.+}}, #[[VMAP]], {{.+}}], {{.+}} ins(%[[P]], %[[V]] :
// CHECK: %[[OUT:.+]] = linalg.generic {{.+}} ins(%[[PV]], %[[SUM]] : {{.+}}) outs(%[[O]] : tensor<?x4x?x8xf16>)
// CHECK: arith.divf
// CHECK: arith.truncf %{{.+}} : f32 to f16
// CHECK: %[[LSE:.+]] = linalg.generic {{.+}} ins(%[[MAX]], %[[SUM]] : {{.+}}) outs(%[[L]] : tensor<?x4x?xf32>)
// CHECK: math.log
// CHECK: return %[[OUT]], %[[LSE]]
func.func @gqa_causal_lse(%q: tensor<?x4x?x16xf16>, %k: tensor<?x2x?x16xf16>, %v: tensor<?x2x?x8xf16>,
                          %o: tensor<?x4x?x8xf16>, %l: tensor<?x4x?xf32>) -> (tensor<?x4x?x8xf16>, tensor<?x4x?xf32>) {
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x8xf16>)
                       outs(%o, %l : tensor<?x4x?x8xf16>, tensor<?x4x?xf32>) mask = causal_bottom_right
                       -> tensor<?x4x?x8xf16>, tensor<?x4x?xf32>
  return %r#0, %r#1 : tensor<?x4x?x8xf16>, tensor<?x4x?xf32>
}

// -----

// Reverse SQA (Hq = 2 < Hkv = 6): output head h reads query head h mod 2 and
// key/value head h.
// CHECK-DAG: #[[QMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 mod 2, d2, d4)>
// CHECK-DAG: #[[KMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
// CHECK-LABEL: func.func @rsqa
// CHECK: tensor.empty() : tensor<1x6x5x7xf32>
// CHECK: linalg.generic {indexing_maps = [#[[QMAP]], #[[KMAP]], {{.+}}]
// A custom scale.
// CHECK: arith.constant 5.000000e-01 : f32
func.func @rsqa(%q: tensor<1x2x5x8xf32>, %k: tensor<1x6x7x8xf32>, %v: tensor<1x6x7x8xf32>,
                %o: tensor<1x6x5x8xf32>) -> tensor<1x6x5x8xf32> {
  %r = sqa.attention ins(%q, %k, %v : tensor<1x2x5x8xf32>, tensor<1x6x7x8xf32>, tensor<1x6x7x8xf32>)
                     outs(%o : tensor<1x6x5x8xf32>) scale = 0.5 -> tensor<1x6x5x8xf32>
  return %r : tensor<1x6x5x8xf32>
}

// -----

// The backward of GQA (Hq = 8, Hkv = 4), bf16 in, dq in bf16 and dk, dv in
// f32: P from the given lse, dS, and the
// head sums as reductions over the output head h (d3) whose results are
// indexed by h floordiv 2, the key/value head h reads.
// CHECK-DAG: #[[KV_OUT:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3 floordiv 2, d1, d2)>
// CHECK-DAG: #[[P_BY_KEY:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d4, d1)>
// CHECK-DAG: #[[BY_ROW:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d4, d2)>
// CHECK-DAG: #[[K_OF_HEAD:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3 floordiv 2, d4, d2)>
// CHECK-DAG: #[[Q_OUT:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1, d2)>
// CHECK-LABEL: func.func @gqa_grad
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x8x?x16xbf16>, %[[K:[^:]+]]: tensor<?x4x?x16xbf16>, %[[V:[^:]+]]: tensor<?x4x?x16xbf16>, %[[O:[^:]+]]: tensor<?x8x?x16xbf16>, %[[DO:[^:]+]]: tensor<?x8x?x16xbf16>, %[[LSE:[^:]+]]: tensor<?x8x?xf32>, %[[DQ:[^:]+]]: tensor<?x8x?x16xbf16>, %[[DK:[^:]+]]: tensor<?x4x?x16xf32>, %[[DV:[^:]+]]: tensor<?x4x?x16xf32>)
// CHECK-NOT: sqa.attention_grad
// CHECK: %[[S:.+]] = linalg.generic {{.+}} ins(%[[Q]], %[[K]] :
// CHECK: %[[MASKED:.+]] = linalg.generic {{.+}} outs(%[[S]] :
// CHECK: %[[P:.+]] = linalg.generic {{.+}} ins(%[[LSE]] : tensor<?x8x?xf32>) outs(%[[MASKED]] :
// CHECK: arith.ori
// CHECK: math.exp
// CHECK: %[[DSUM:.+]] = linalg.generic {{.+}} ins(%[[DO]], %[[O]] :
// CHECK: %[[DP:.+]] = linalg.generic {{.+}} ins(%[[DO]], %[[V]] :
// CHECK: %[[DS:.+]] = linalg.generic {{.+}} ins(%[[P]], %[[DSUM]] : {{.+}}) outs(%[[DP]] :
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: %[[DV_ACC:.+]] = linalg.generic {indexing_maps = [#[[P_BY_KEY]], #[[BY_ROW]], #[[KV_OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[P]], %[[DO]] :
// CHECK: %[[DK_ACC:.+]] = linalg.generic {indexing_maps = [#[[P_BY_KEY]], #[[BY_ROW]], #[[KV_OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[DS]], %[[Q]] :
// CHECK: %[[DQ_ACC:.+]] = linalg.generic {indexing_maps = [{{.+}}, #[[K_OF_HEAD]], #[[Q_OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[DS]], %[[K]] :
// dQ and dK are scaled by 1/sqrt(16) and written in their types.
// CHECK: %[[RQ:.+]] = linalg.generic {{.+}} ins(%[[DQ_ACC]] : {{.+}}) outs(%[[DQ]] : tensor<?x8x?x16xbf16>)
// CHECK: arith.constant 2.500000e-01 : f32
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: %[[RK:.+]] = linalg.generic {{.+}} ins(%[[DK_ACC]] : {{.+}}) outs(%[[DK]] :
// CHECK: arith.mulf
// CHECK: %[[RV:.+]] = linalg.generic {{.+}} ins(%[[DV_ACC]] : {{.+}}) outs(%[[DV]] :
// CHECK-NOT: arith.mulf
// CHECK: return %[[RQ]], %[[RK]], %[[RV]]
func.func @gqa_grad(%q: tensor<?x8x?x16xbf16>, %k: tensor<?x4x?x16xbf16>, %v: tensor<?x4x?x16xbf16>,
                    %o: tensor<?x8x?x16xbf16>, %do: tensor<?x8x?x16xbf16>, %lse: tensor<?x8x?xf32>,
                    %dq: tensor<?x8x?x16xbf16>, %dk: tensor<?x4x?x16xf32>, %dv: tensor<?x4x?x16xf32>)
    -> (tensor<?x8x?x16xbf16>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>) {
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : tensor<?x8x?x16xbf16>, tensor<?x4x?x16xbf16>,
                                tensor<?x4x?x16xbf16>, tensor<?x8x?x16xbf16>, tensor<?x8x?x16xbf16>, tensor<?x8x?xf32>)
                            outs(%dq, %dk, %dv : tensor<?x8x?x16xbf16>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>)
                            mask = causal_bottom_right
                            -> tensor<?x8x?x16xbf16>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
  return %r#0, %r#1, %r#2 : tensor<?x8x?x16xbf16>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
}

// -----

// Reverse SQA (Hq = 2 < Hkv = 4): dK and dV need no head sum (h is its own
// key/value head); dQ sums the output heads h with h mod 2 = its query head.
// CHECK-DAG: #[[RQ_OUT:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3 mod 2, d1, d2)>
// CHECK-DAG: #[[RKV_OUT:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1, d2)>
// CHECK-LABEL: func.func @rsqa_grad
// CHECK: linalg.generic {indexing_maps = [{{.+}}, {{.+}}, #[[RKV_OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]}
// CHECK: linalg.generic {indexing_maps = [{{.+}}, {{.+}}, #[[RKV_OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]}
// CHECK: linalg.generic {indexing_maps = [{{.+}}, {{.+}}, #[[RQ_OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]}
func.func @rsqa_grad(%q: tensor<1x2x5x8xf32>, %k: tensor<1x4x6x8xf32>, %v: tensor<1x4x6x8xf32>,
                     %o: tensor<1x4x5x8xf32>, %do: tensor<1x4x5x8xf32>, %lse: tensor<1x4x5xf32>,
                     %dq: tensor<1x2x5x8xf32>, %dk: tensor<1x4x6x8xf32>, %dv: tensor<1x4x6x8xf32>)
    -> (tensor<1x2x5x8xf32>, tensor<1x4x6x8xf32>, tensor<1x4x6x8xf32>) {
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : tensor<1x2x5x8xf32>, tensor<1x4x6x8xf32>,
                                tensor<1x4x6x8xf32>, tensor<1x4x5x8xf32>, tensor<1x4x5x8xf32>, tensor<1x4x5xf32>)
                            outs(%dq, %dk, %dv : tensor<1x2x5x8xf32>, tensor<1x4x6x8xf32>, tensor<1x4x6x8xf32>)
                            -> tensor<1x2x5x8xf32>, tensor<1x4x6x8xf32>, tensor<1x4x6x8xf32>
  return %r#0, %r#1, %r#2 : tensor<1x2x5x8xf32>, tensor<1x4x6x8xf32>, tensor<1x4x6x8xf32>
}
