// RUN: sqa-opt %s --sqa-raise-attention --split-input-file | FileCheck %s

#q  = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#k  = affine_map<(b, h, i, j, d) -> (b, h floordiv 4, j, d)>
#s  = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#p  = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#v  = affine_map<(b, h, i, e, j) -> (b, h floordiv 4, j, e)>
#o  = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
#id = affine_map<(b, h, i, j) -> (b, h, i, j)>

// GQA 16/4 with the head broadcast in the indexing maps, f16 inputs extended
// to f32, and a scale.
// CHECK-LABEL: func.func @gqa_in_maps
// CHECK-SAME: (%[[Q:.+]]: tensor<2x16x64x32xf16>, %[[K:.+]]: tensor<2x4x80x32xf16>, %[[V:.+]]: tensor<2x4x80x32xf16>)
// CHECK: %[[INIT:.+]] = tensor.empty() : tensor<2x16x64x32xf32>
// CHECK: %[[R:.+]] = sqa.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x16x64x32xf16>, tensor<2x4x80x32xf16>, tensor<2x4x80x32xf16>) outs(%[[INIT]] : tensor<2x16x64x32xf32>) scale = 1.250000e-01 -> tensor<2x16x64x32xf32>
// CHECK-NOT: linalg.softmax
// CHECK: return %[[R]]
func.func @gqa_in_maps(%q: tensor<2x16x64x32xf16>, %k: tensor<2x4x80x32xf16>, %v: tensor<2x4x80x32xf16>)
    -> tensor<2x16x64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.125 : f32
  %se = tensor.empty() : tensor<2x16x64x80xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<2x16x64x80xf32>) -> tensor<2x16x64x80xf32>
  %s = linalg.generic {indexing_maps = [#q, #k, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x16x64x32xf16>, tensor<2x4x80x32xf16>) outs(%sz : tensor<2x16x64x80xf32>) {
  ^bb0(%a: f16, %b: f16, %acc: f32):
    %a32 = arith.extf %a : f16 to f32
    %b32 = arith.extf %b : f16 to f32
    %m = arith.mulf %a32, %b32 : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x16x64x80xf32>
  %te = tensor.empty() : tensor<2x16x64x80xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<2x16x64x80xf32>) outs(%te : tensor<2x16x64x80xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<2x16x64x80xf32>
  %pe = tensor.empty() : tensor<2x16x64x80xf32>
  %p = linalg.softmax dimension(3) ins(%t : tensor<2x16x64x80xf32>) outs(%pe : tensor<2x16x64x80xf32>) -> tensor<2x16x64x80xf32>
  %oe = tensor.empty() : tensor<2x16x64x32xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<2x16x64x32xf32>) -> tensor<2x16x64x32xf32>
  %o = linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x16x64x80xf32>, tensor<2x4x80x32xf16>) outs(%oz : tensor<2x16x64x32xf32>) {
  ^bb0(%a: f32, %b: f16, %acc: f32):
    %b32 = arith.extf %b : f16 to f32
    %m = arith.mulf %a, %b32 : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x16x64x32xf32>
  return %o : tensor<2x16x64x32xf32>
}

// -----

#q  = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#s  = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#p  = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#v  = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#o  = affine_map<(b, h, i, e, j) -> (b, h, i, e)>

// GQA 8/2 written with repeat_interleave (broadcast + collapse_shape) of K
// and V, dynamic batch and sequences, no scale: the op reads the 2 K/V heads.
// CHECK-LABEL: func.func @gqa_repeat_interleave
// CHECK-SAME: (%[[Q:.+]]: tensor<?x8x?x16xf32>, %[[K:.+]]: tensor<?x2x?x16xf32>, %[[V:.+]]: tensor<?x2x?x16xf32>, %[[INIT:.+]]: tensor<?x8x?x16xf32>
// CHECK: sqa.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) outs(%[[INIT]] : tensor<?x8x?x16xf32>) scale = 1.000000e+00
// CHECK-NOT: linalg.broadcast
// CHECK-NOT: tensor.collapse_shape
func.func @gqa_repeat_interleave(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                                 %init: tensor<?x8x?x16xf32>, %sinit: tensor<?x8x?x?xf32>,
                                 %bk: tensor<?x2x4x?x16xf32>, %bv: tensor<?x2x4x?x16xf32>) -> tensor<?x8x?x16xf32> {
  %zero = arith.constant 0.0 : f32
  %kb = linalg.broadcast ins(%k : tensor<?x2x?x16xf32>) outs(%bk : tensor<?x2x4x?x16xf32>) dimensions = [2]
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<?x2x4x?x16xf32> into tensor<?x8x?x16xf32>
  %vb = linalg.broadcast ins(%v : tensor<?x2x?x16xf32>) outs(%bv : tensor<?x2x4x?x16xf32>) dimensions = [2]
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<?x2x4x?x16xf32> into tensor<?x8x?x16xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%sinit : tensor<?x8x?x?xf32>) -> tensor<?x8x?x?xf32>
  %s = linalg.generic {indexing_maps = [#q, affine_map<(b, h, i, j, d) -> (b, h, j, d)>, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kr : tensor<?x8x?x16xf32>, tensor<?x8x?x16xf32>) outs(%sz : tensor<?x8x?x?xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<?x8x?x?xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<?x8x?x?xf32>) outs(%sinit : tensor<?x8x?x?xf32>) -> tensor<?x8x?x?xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%init : tensor<?x8x?x16xf32>) -> tensor<?x8x?x16xf32>
  %o = linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %vr : tensor<?x8x?x?xf32>, tensor<?x8x?x16xf32>) outs(%oz : tensor<?x8x?x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<?x8x?x16xf32>
  return %o : tensor<?x8x?x16xf32>
}

// -----

#q  = affine_map<(b, h, i, j, d) -> (b, h mod 2, i, d)>
#k  = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#s  = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#p  = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#v  = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#o  = affine_map<(b, h, i, e, j) -> (b, h, i, e)>

// Reverse SQA (Hq = 2, Hkv = 4): query head h mod 2.
// CHECK-LABEL: func.func @rsqa
// CHECK: sqa.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<1x2x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
func.func @rsqa(%q: tensor<1x2x8x16xf32>, %k: tensor<1x4x8x16xf32>, %v: tensor<1x4x8x16xf32>,
                %s0: tensor<1x4x8x8xf32>, %o0: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %s = linalg.generic {indexing_maps = [#q, #k, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<1x2x8x16xf32>, tensor<1x4x8x16xf32>) outs(%sz : tensor<1x4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x4x8x8xf32>) outs(%s0 : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  %o = linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<1x4x8x8xf32>, tensor<1x4x8x16xf32>) outs(%oz : tensor<1x4x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8x16xf32>
  return %o : tensor<1x4x8x16xf32>
}

// -----

#q  = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#k  = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#s  = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#p  = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#v  = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#o  = affine_map<(b, h, i, e, j) -> (b, h, i, e)>

// Not attention, left alone: the scores are used elsewhere; the softmax runs
// over queries; the second product accumulates into a non-zero tensor.
// CHECK-LABEL: func.func @negatives
// CHECK-NOT: sqa.attention
// CHECK: linalg.softmax dimension(3)
// CHECK: linalg.softmax dimension(2)
// CHECK: linalg.softmax dimension(3)
// CHECK-NOT: sqa.attention
func.func @negatives(%q: tensor<1x2x8x16xf32>, %s0: tensor<1x2x8x8xf32>, %o0: tensor<1x2x8x16xf32>)
    -> (tensor<1x2x8x16xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#q, #k, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) outs(%sz : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %p1 = linalg.softmax dimension(3) ins(%s : tensor<1x2x8x8xf32>) outs(%s0 : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %o1 = linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p1, %q : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  %p2 = linalg.softmax dimension(2) ins(%s : tensor<1x2x8x8xf32>) outs(%s0 : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %o2 = linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p2, %q : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%oz : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  %p3 = linalg.softmax dimension(3) ins(%s : tensor<1x2x8x8xf32>) outs(%s0 : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %o3 = linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p3, %q : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%o0 : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  return %o1, %s, %o2, %o3 : tensor<1x2x8x16xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
}

// -----

// Zero heads: nothing to raise, and no division by a zero head count.
// CHECK-LABEL: func.func @zero_heads
// CHECK-NOT: sqa.attention
// CHECK: linalg.softmax
#q  = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#s  = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#p  = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#o  = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
func.func @zero_heads(%q: tensor<1x0x8x16xf32>, %s0: tensor<1x0x8x8xf32>, %o0: tensor<1x0x8x16xf32>) -> tensor<1x0x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<1x0x8x8xf32>) -> tensor<1x0x8x8xf32>
  %s = linalg.generic {indexing_maps = [#q, affine_map<(b, h, i, j, d) -> (b, h, j, d)>, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %q : tensor<1x0x8x16xf32>, tensor<1x0x8x16xf32>) outs(%sz : tensor<1x0x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x0x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x0x8x8xf32>) outs(%s0 : tensor<1x0x8x8xf32>) -> tensor<1x0x8x8xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<1x0x8x16xf32>) -> tensor<1x0x8x16xf32>
  %o = linalg.generic {indexing_maps = [#p, affine_map<(b, h, i, e, j) -> (b, h, j, e)>, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %q : tensor<1x0x8x8xf32>, tensor<1x0x8x16xf32>) outs(%oz : tensor<1x0x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x0x8x16xf32>
  return %o : tensor<1x0x8x16xf32>
}

// -----

// Heads flattened into batch_matmul with nothing to unflatten them: each
// matrix of the batch is one head of its own ([N, 1, S, D]); K transposed by
// the matmul's B map; dynamic N.
// CHECK-LABEL: func.func @bmm_one_head_per_batch
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x8x16xf32>, %[[K:[^:]+]]: tensor<?x10x16xf32>, %[[V:[^:]+]]: tensor<?x10x16xf32>
// CHECK-DAG: %[[Q4:.+]] = tensor.expand_shape %[[Q]] {{\[\[}}0, 1], [2], [3]] output_shape [%{{.+}}, 1, 8, 16] : tensor<?x8x16xf32> into tensor<?x1x8x16xf32>
// CHECK-DAG: %[[K4:.+]] = tensor.expand_shape %[[K]] {{\[\[}}0, 1], [2], [3]]
// CHECK-DAG: %[[V4:.+]] = tensor.expand_shape %[[V]] {{\[\[}}0, 1], [2], [3]]
// CHECK: %[[A:.+]] = sqa.attention ins(%[[Q4]], %[[K4]], %[[V4]] : tensor<?x1x8x16xf32>, tensor<?x1x10x16xf32>, tensor<?x1x10x16xf32>) outs(%{{.+}} : tensor<?x1x8x16xf32>) scale = 1.000000e+00
// CHECK: %[[O:.+]] = tensor.collapse_shape %[[A]] {{\[\[}}0, 1], [2], [3]] : tensor<?x1x8x16xf32> into tensor<?x8x16xf32>
// CHECK: return %[[O]]
func.func @bmm_one_head_per_batch(%q: tensor<?x8x16xf32>, %k: tensor<?x10x16xf32>, %v: tensor<?x10x16xf32>, %dn: index) -> tensor<?x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty(%dn) : tensor<?x8x10xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<?x8x10xf32>) -> tensor<?x8x10xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (b, n, k)>, affine_map<(b, m, n, k) -> (b, m, n)>] ins(%q, %k : tensor<?x8x16xf32>, tensor<?x10x16xf32>) outs(%sz : tensor<?x8x10xf32>) -> tensor<?x8x10xf32>
  %pe = tensor.empty(%dn) : tensor<?x8x10xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<?x8x10xf32>) outs(%pe : tensor<?x8x10xf32>) -> tensor<?x8x10xf32>
  %oe = tensor.empty(%dn) : tensor<?x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<?x8x16xf32>) -> tensor<?x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<?x8x10xf32>, tensor<?x10x16xf32>) outs(%oz : tensor<?x8x16xf32>) -> tensor<?x8x16xf32>
  return %o : tensor<?x8x16xf32>
}

// -----

// One head: linalg.matmul on [S, D] with a linalg.transpose of K.
// CHECK-LABEL: func.func @matmul_single_head
// CHECK: tensor.expand_shape %{{.+}} {{\[\[}}0, 1, 2], [3]] output_shape [1, 1, 6, 8] : tensor<6x8xf32> into tensor<1x1x6x8xf32>
// CHECK: sqa.attention
// CHECK-SAME: -> tensor<1x1x6x8xf32>
// CHECK: tensor.collapse_shape %{{.+}} {{\[\[}}0, 1, 2], [3]] : tensor<1x1x6x8xf32> into tensor<6x8xf32>
// CHECK-NOT: linalg.matmul
func.func @matmul_single_head(%q: tensor<6x8xf32>, %k: tensor<7x8xf32>, %v: tensor<7x8xf32>) -> tensor<6x8xf32> {
  %zero = arith.constant 0.0 : f32
  %kte = tensor.empty() : tensor<8x7xf32>
  %kt = linalg.transpose ins(%k : tensor<7x8xf32>) outs(%kte : tensor<8x7xf32>) permutation = [1, 0]
  %se = tensor.empty() : tensor<6x7xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<6x7xf32>) -> tensor<6x7xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<6x8xf32>, tensor<8x7xf32>) outs(%sz : tensor<6x7xf32>) -> tensor<6x7xf32>
  %pe = tensor.empty() : tensor<6x7xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<6x7xf32>) outs(%pe : tensor<6x7xf32>) -> tensor<6x7xf32>
  %oe = tensor.empty() : tensor<6x8xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<6x8xf32>) -> tensor<6x8xf32>
  %o = linalg.matmul ins(%p, %v : tensor<6x7xf32>, tensor<7x8xf32>) outs(%oz : tensor<6x8xf32>) -> tensor<6x8xf32>
  return %o : tensor<6x8xf32>
}

// -----

// Forms that are not attention in this sense are left alone: a softmax over
// the wrong dimension, an accumulator that does not start at zero, a
// transpose that is not of the last two dimensions.
// CHECK-LABEL: func.func @bmm_softmax_over_rows
// CHECK-NOT: sqa.attention
// CHECK: linalg.softmax
func.func @bmm_softmax_over_rows(%q: tensor<4x8x16xf32>, %k: tensor<4x8x16xf32>, %v: tensor<4x8x16xf32>) -> tensor<4x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %pe = tensor.empty() : tensor<4x8x8xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<4x8x8xf32>) outs(%pe : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %o : tensor<4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @bmm_nonzero_init
// CHECK-NOT: sqa.attention
func.func @bmm_nonzero_init(%q: tensor<4x8x16xf32>, %k: tensor<4x8x16xf32>, %v: tensor<4x8x16xf32>) -> tensor<4x8x16xf32> {
  %zero = arith.constant 1.0 : f32
  %kte = tensor.empty() : tensor<4x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<4x8x16xf32>) outs(%kte : tensor<4x16x8xf32>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<4x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%sz : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %pe = tensor.empty() : tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<4x8x8xf32>) outs(%pe : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %oe = tensor.empty() : tensor<4x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x16xf32>) outs(%oz : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %o : tensor<4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @bmm_wrong_transpose
// CHECK-NOT: sqa.attention
func.func @bmm_wrong_transpose(%q: tensor<16x8x16xf32>, %k: tensor<16x16x16xf32>, %v: tensor<16x16x16xf32>) -> tensor<16x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %kte = tensor.empty() : tensor<16x16x16xf32>
  %kt = linalg.transpose ins(%k : tensor<16x16x16xf32>) outs(%kte : tensor<16x16x16xf32>) permutation = [2, 1, 0]
  %se = tensor.empty() : tensor<16x8x16xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<16x8x16xf32>) -> tensor<16x8x16xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<16x8x16xf32>, tensor<16x16x16xf32>) outs(%sz : tensor<16x8x16xf32>) -> tensor<16x8x16xf32>
  %pe = tensor.empty() : tensor<16x8x16xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<16x8x16xf32>) outs(%pe : tensor<16x8x16xf32>) -> tensor<16x8x16xf32>
  %oe = tensor.empty() : tensor<16x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<16x8x16xf32>) -> tensor<16x8x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<16x8x16xf32>, tensor<16x16x16xf32>) outs(%oz : tensor<16x8x16xf32>) -> tensor<16x8x16xf32>
  return %o : tensor<16x8x16xf32>
}
