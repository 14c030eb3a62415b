// RUN: sqa-opt %s --transform-interpreter --canonicalize --cse --split-input-file --verify-diagnostics | FileCheck %s

// Upstream tiling drives sqa.attention through its TilingInterface:
// transform.structured.tile_using_forall tiles (batch, head, row) by
// (1, 2, 32), and fuse_into_containing_op pulls an elementwise producer of
// the query into the loop, on the query tile only.
// CHECK-DAG: #[[KV:.+]] = affine_map<(d0) -> (d0 * 2)>
// CHECK-LABEL: func.func @tile_and_fuse_producer
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<?x4x?x16xf32>, %[[K:[a-z0-9]+]]: tensor<?x2x?x16xf32>
// CHECK: scf.forall (%[[B:.+]], %[[HT:.+]], %[[IT:.+]]) in (%{{.+}}, 2, %{{.+}}) shared_outs(%[[OUT:.+]] = %{{.+}})
// CHECK: %[[H:.+]] = affine.apply #[[KV]](%[[HT]])
// CHECK: %[[QT:.+]] = tensor.extract_slice %[[Q]][%[[B]], %[[H]], %{{.+}}, 0] [1, 2, %{{.+}}, 16]
// CHECK: %[[NEG:.+]] = linalg.generic {{.+}} ins(%[[QT]] : tensor<1x2x?x16xf32>)
// CHECK: arith.negf
// A head tile of 2 query heads reads one key/value head (GQA group of 2).
// CHECK: %[[KT:.+]] = tensor.extract_slice %[[K]][%[[B]], %[[HT]], 0, 0] [1, 1, %{{.+}}, 16]
// The tile's mask diagonal: Skv - Sq + its first row.
// CHECK: %[[SHIFT:.+]] = arith.subi
// CHECK: %[[DIAG:.+]] = arith.addi %[[SHIFT]]
// CHECK: sqa.attention ins(%[[NEG]], %[[KT]], %{{.+}} : tensor<1x2x?x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>)
// CHECK-SAME: mask = causal_bottom_right diagonal_offset(%[[DIAG]])
// CHECK: tensor.parallel_insert_slice
func.func @tile_and_fuse_producer(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                                  %o: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %q, %c0 : tensor<?x4x?x16xf32>
  %s = tensor.dim %q, %c2 : tensor<?x4x?x16xf32>
  %e = tensor.empty(%b, %s) : tensor<?x4x?x16xf32>
  %neg = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>,
                                          affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>],
                         iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%q : tensor<?x4x?x16xf32>) outs(%e : tensor<?x4x?x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  } -> tensor<?x4x?x16xf32>
  %r = sqa.attention ins(%neg, %k, %v : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
                     outs(%o : tensor<?x4x?x16xf32>) mask = causal_bottom_right -> tensor<?x4x?x16xf32>
  return %r : tensor<?x4x?x16xf32>
}

module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %attn = transform.structured.match ops{["sqa.attention"]} in %root : (!transform.any_op) -> !transform.any_op
    %producer = transform.structured.match ops{["linalg.generic"]} in %root : (!transform.any_op) -> !transform.any_op
    %tiled, %forall = transform.structured.tile_using_forall %attn tile_sizes [1, 2, 32]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    %fused, %loop = transform.structured.fuse_into_containing_op %producer into %forall
        : (!transform.any_op, !transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// Reverse SQA (Hq = 2, Hkv = 4) tiled by one head with scf.for loops: query
// head h mod 2, key/value head h.
// CHECK-DAG: #[[QH:.+]] = affine_map<(d0) -> (d0 mod 2)>
// CHECK-LABEL: func.func @rsqa_tile_using_for
// CHECK: scf.for %[[H:.+]] = %c0 to %c4 step %c1
// CHECK: %[[QHEAD:.+]] = affine.apply #[[QH]](%[[H]])
// CHECK: tensor.extract_slice %{{.+}}[0, %[[QHEAD]], 0, 0] [2, 1, 8, 16]
// CHECK: tensor.extract_slice %{{.+}}[0, %[[H]], 0, 0] [2, 1, 8, 16]
// CHECK: sqa.attention ins({{.+}} : tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>)
func.func @rsqa_tile_using_for(%q: tensor<2x2x8x16xf32>, %k: tensor<2x4x8x16xf32>,
                               %o: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %r = sqa.attention ins(%q, %k, %k : tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
                     outs(%o : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %attn = transform.structured.match ops{["sqa.attention"]} in %root : (!transform.any_op) -> !transform.any_op
    %tiled, %loop = transform.structured.tile_using_for %attn tile_sizes [0, 1, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// A head tile that cuts across a GQA group cannot be expressed as an
// sqa.attention: a diagnostic, not a crash.
func.func @bad_head_tile(%q: tensor<1x6x8x16xf32>, %k: tensor<1x2x8x16xf32>,
                         %o: tensor<1x6x8x16xf32>) -> tensor<1x6x8x16xf32> {
  // expected-error @+3 {{cannot tile 6 output heads (Hq = 6, Hkv = 2): the head tile must be static and follow the head grouping}}
  // expected-error @+2 {{faild to tile operation}}
  // expected-error @+1 {{failed to generate tiling loops}}
  %r = sqa.attention ins(%q, %k, %k : tensor<1x6x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
                     outs(%o : tensor<1x6x8x16xf32>) -> tensor<1x6x8x16xf32>
  return %r : tensor<1x6x8x16xf32>
}

module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %attn = transform.structured.match ops{["sqa.attention"]} in %root : (!transform.any_op) -> !transform.any_op
    %tiled, %loop = transform.structured.tile_using_for %attn tile_sizes [0, 2, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}
