// RUN: sqa-opt %s --convert-sqa-to-scf --canonicalize --split-input-file | FileCheck %s

// CHECK-DAG: #[[KVHEAD:.+]] = affine_map<(d0) -> (d0 floordiv 2)>
// CHECK-LABEL: func.func @gqa_causal_lse
// CHECK-SAME: (%[[Q:.+]]: tensor<?x4x?x16xf16>, %[[K:.+]]: tensor<?x2x?x16xf16>, %[[V:.+]]: tensor<?x2x?x8xf16>, %[[O:.+]]: tensor<?x4x?x8xf16>, %[[L:.+]]: tensor<?x4x?xf32>)
// CHECK-DAG: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[C:.+]] = arith.constant 0.360673{{[0-9]*}} : f32
// CHECK-DAG: %[[LOWEST:.+]] = arith.constant -3.40282347E+38 : f32
// CHECK-DAG: %[[ZEROS:.+]] = arith.constant dense<0.000000e+00> : vector<8xf32>
// CHECK-DAG: %[[B:.+]] = tensor.dim %[[Q]], %c0
// CHECK-DAG: %[[SQ:.+]] = tensor.dim %[[Q]], %c2
// CHECK-DAG: %[[SKV:.+]] = tensor.dim %[[K]], %c2
// One parallel iteration per (row, output head, batch), writing in place.
// CHECK: %[[R:.+]]:2 = scf.forall (%[[I:.+]], %[[H:.+]], %[[BI:.+]]) in (%[[SQ]], 4, %[[B]]) shared_outs(%[[OA:.+]] = %[[O]], %[[LA:.+]] = %[[L]])
// CHECK: %[[KVH:.+]] = affine.apply #[[KVHEAD]](%[[H]])
// CHECK: %[[QROW:.+]] = vector.transfer_read %[[Q]][%[[BI]], %[[H]], %[[I]], %c0]
// Causal: the loop stops at the diagonal, masked keys are never visited.
// CHECK: %[[END:.+]] = arith.minsi %{{.+}}, %[[SKV]]
// CHECK: %[[LOOP:.+]]:3 = scf.for %[[J:.+]] = %c0 to %[[END]] step %c1 iter_args(%[[M:.+]] = %[[NEGINF]], %[[SUM:.+]] = %[[ZERO]], %[[ACC:.+]] = %[[ZEROS]]) -> (f32, f32, vector<8xf32>)
// CHECK: vector.transfer_read %[[K]][%[[BI]], %[[KVH]], %[[J]], %c0]
// CHECK: %[[S:.+]] = vector.reduction <add>
// CHECK: %[[NEWM:.+]] = arith.maxnumf %[[M]], %[[S]]
// The shift is the new max kept above -FLT_MAX (OnlineSoftmax's one NaN
// guard). Scores stay unscaled; the exponents are (x - shift) * scale *
// log2(e), with the scale 1/sqrt(16) * log2(e): the subtraction is exact for
// nearly tied scores, and the product rounds relatively.
// CHECK: %[[SHIFT:.+]] = arith.maxnumf %[[NEWM]], %[[LOWEST]] : f32
// CHECK: %[[DM:.+]] = arith.subf %[[M]], %[[SHIFT]] : f32
// CHECK: %[[CM:.+]] = arith.mulf %[[DM]], %[[C]] : f32
// CHECK: %[[CORR:.+]] = math.exp2 %[[CM]]
// CHECK: %[[DS:.+]] = arith.subf %[[S]], %[[SHIFT]] : f32
// CHECK: %[[CS:.+]] = arith.mulf %[[DS]], %[[C]] : f32
// CHECK: %[[P:.+]] = math.exp2 %[[CS]]
// CHECK: math.fma %[[SUM]], %[[CORR]], %[[P]]
// CHECK: vector.transfer_read %[[V]][%[[BI]], %[[KVH]], %[[J]], %c0]
// CHECK: vector.fma
// CHECK: scf.yield %[[NEWM]]
// CHECK: arith.truncf %{{.+}} : vector<8xf32> to vector<8xf16>
// CHECK: arith.mulf %[[LOOP]]#0, %[[C]] : f32
// CHECK: math.log2 %[[LOOP]]#1
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[OA]][%[[BI]], %[[H]], %[[I]], 0] [1, 1, 1, 8] [1, 1, 1, 1]
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[LA]][%[[BI]], %[[H]], %[[I]]] [1, 1, 1] [1, 1, 1]
// CHECK: return %[[R]]#0, %[[R]]#1
// No B x Ho x Sq x Skv value, no linalg.
// CHECK-NOT: tensor.empty
// CHECK-NOT: linalg.
func.func @gqa_causal_lse(%q: tensor<?x4x?x16xf16>, %k: tensor<?x2x?x16xf16>, %v: tensor<?x2x?x8xf16>,
                          %o: tensor<?x4x?x8xf16>, %l: tensor<?x4x?xf32>) -> (tensor<?x4x?x8xf16>, tensor<?x4x?xf32>) {
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x8xf16>)
                       outs(%o, %l : tensor<?x4x?x8xf16>, tensor<?x4x?xf32>) mask = causal_bottom_right
                       -> tensor<?x4x?x8xf16>, tensor<?x4x?xf32>
  return %r#0, %r#1 : tensor<?x4x?x8xf16>, tensor<?x4x?xf32>
}

// -----

// Reverse SQA with a window: query head h mod 2, and a loop that starts at
// the window's left edge.
// CHECK-DAG: #[[QHEAD:.+]] = affine_map<(d0) -> (d0 mod 2)>
// CHECK-LABEL: func.func @rsqa_window
// The unit batch dimension folds away.
// CHECK: scf.forall (%[[I:.+]], %[[H:.+]]) in (5, 6)
// CHECK: %[[QH:.+]] = affine.apply #[[QHEAD]](%[[H]])
// CHECK: vector.transfer_read %{{.+}}[%c0, %[[QH]], %[[I]], %c0]
// CHECK: %[[END:.+]] = arith.minsi %{{.+}}, %c7
// CHECK: %[[BEGIN:.+]] = arith.maxsi %{{.+}}, %c0
// CHECK: scf.for %{{.+}} = %[[BEGIN]] to %[[END]]
// CHECK-NOT: tensor.empty
func.func @rsqa_window(%q: tensor<1x2x5x8xf32>, %k: tensor<1x6x7x8xf32>, %v: tensor<1x6x7x8xf32>,
                       %o: tensor<1x6x5x8xf32>) -> tensor<1x6x5x8xf32> {
  %r = sqa.attention ins(%q, %k, %v : tensor<1x2x5x8xf32>, tensor<1x6x7x8xf32>, tensor<1x6x7x8xf32>)
                     outs(%o : tensor<1x6x5x8xf32>) window = [2, 1] -> tensor<1x6x5x8xf32>
  return %r : tensor<1x6x5x8xf32>
}
