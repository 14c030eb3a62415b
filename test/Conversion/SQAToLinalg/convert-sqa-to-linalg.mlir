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
