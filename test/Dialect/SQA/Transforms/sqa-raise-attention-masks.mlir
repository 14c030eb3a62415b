// RUN: sqa-opt %s --sqa-raise-attention --split-input-file | FileCheck %s

// The softmax input of an attention is read symbolically (ScoreForm.cpp):
// a positive scale of the scores, and a causal band of -inf (or the lowest
// f32) from linalg.index comparisons, however it is spelled. torch-mlir's
// is_causal decomposition is in test/Integration/CPU/raise-linalg-attention.test.

// IREE-style: -inf selected inline where j > i + (Skv - Sq), Sq 6, Skv 9, the
// scale folded into the same generic: the bottom-right mask.
// CHECK-LABEL: func.func @inline_bottom_right
// CHECK: sqa.attention
// CHECK-SAME: mask = causal_bottom_right scale = 2.500000e-01
// CHECK-NOT: linalg.softmax
func.func @inline_bottom_right(%q: tensor<6x16xf32>, %k: tensor<9x16xf32>, %v: tensor<9x16xf32>) -> tensor<6x16xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.25 : f32
  %neginf = arith.constant 0xFF800000 : f32
  %kte = tensor.empty() : tensor<16x9xf32>
  %kt = linalg.transpose ins(%k : tensor<9x16xf32>) outs(%kte : tensor<16x9xf32>) permutation = [1, 0]
  %se = tensor.empty() : tensor<6x9xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<6x9xf32>) -> tensor<6x9xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<6x16xf32>, tensor<16x9xf32>) outs(%sz : tensor<6x9xf32>) -> tensor<6x9xf32>
  %te = tensor.empty() : tensor<6x9xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<6x9xf32>) outs(%te : tensor<6x9xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c3 = arith.constant 3 : index
    %last = arith.addi %i, %c3 : index
    %masked = arith.cmpi ugt, %j, %last : index
    %y = arith.mulf %x, %scale : f32
    %r = arith.select %masked, %neginf, %y : f32
    linalg.yield %r : f32
  } -> tensor<6x9xf32>
  %pe = tensor.empty() : tensor<6x9xf32>
  %p = linalg.softmax dimension(1) ins(%t : tensor<6x9xf32>) outs(%pe : tensor<6x9xf32>) -> tensor<6x9xf32>
  %oe = tensor.empty() : tensor<6x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<6x16xf32>) -> tensor<6x16xf32>
  %o = linalg.matmul ins(%p, %v : tensor<6x9xf32>, tensor<9x16xf32>) outs(%oz : tensor<6x16xf32>) -> tensor<6x16xf32>
  return %o : tensor<6x16xf32>
}

// -----

// A band j <= i + 2 (visible where the select keeps the score): top-left
// with diagonal_offset 2; the scale multiplies after the mask (-inf stays).
// CHECK-LABEL: func.func @inline_top_left_offset
// CHECK: %[[C2:.+]] = arith.constant 2 : index
// CHECK: sqa.attention
// CHECK-SAME: mask = causal_top_left diagonal_offset(%[[C2]]) scale = 2.500000e-01
func.func @inline_top_left_offset(%q: tensor<6x16xf32>, %k: tensor<9x16xf32>, %v: tensor<9x16xf32>) -> tensor<6x16xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.25 : f32
  %neginf = arith.constant 0xFF800000 : f32
  %kte = tensor.empty() : tensor<16x9xf32>
  %kt = linalg.transpose ins(%k : tensor<9x16xf32>) outs(%kte : tensor<16x9xf32>) permutation = [1, 0]
  %se = tensor.empty() : tensor<6x9xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<6x9xf32>) -> tensor<6x9xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<6x16xf32>, tensor<16x9xf32>) outs(%sz : tensor<6x9xf32>) -> tensor<6x9xf32>
  %te = tensor.empty() : tensor<6x9xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<6x9xf32>) outs(%te : tensor<6x9xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c2 = arith.constant 2 : index
    %d = arith.subi %j, %i : index
    %visible = arith.cmpi sle, %d, %c2 : index
    %m = arith.select %visible, %x, %neginf : f32
    %r = arith.mulf %m, %scale : f32
    linalg.yield %r : f32
  } -> tensor<6x9xf32>
  %pe = tensor.empty() : tensor<6x9xf32>
  %p = linalg.softmax dimension(1) ins(%t : tensor<6x9xf32>) outs(%pe : tensor<6x9xf32>) -> tensor<6x9xf32>
  %oe = tensor.empty() : tensor<6x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<6x16xf32>) -> tensor<6x16xf32>
  %o = linalg.matmul ins(%p, %v : tensor<6x9xf32>, tensor<9x16xf32>) outs(%oz : tensor<6x16xf32>) -> tensor<6x16xf32>
  return %o : tensor<6x16xf32>
}

// -----

// Hugging Face's additive mask: 0 where visible, the lowest f32 elsewhere
// (exp underflows to 0 as for -inf), a strict comparison: j < i + 1.
// CHECK-LABEL: func.func @lowest_f32_mask
// CHECK: sqa.attention
// CHECK-SAME: mask = causal_bottom_right scale = 2.500000e-01
func.func @lowest_f32_mask(%q: tensor<6x16xf32>, %k: tensor<6x16xf32>, %v: tensor<6x16xf32>) -> tensor<6x16xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.25 : f32
  %neginf = arith.constant 0xFF800000 : f32
  %kte = tensor.empty() : tensor<16x6xf32>
  %kt = linalg.transpose ins(%k : tensor<6x16xf32>) outs(%kte : tensor<16x6xf32>) permutation = [1, 0]
  %se = tensor.empty() : tensor<6x6xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<6x6xf32>) -> tensor<6x6xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<6x16xf32>, tensor<16x6xf32>) outs(%sz : tensor<6x6xf32>) -> tensor<6x6xf32>
  %te = tensor.empty() : tensor<6x6xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<6x6xf32>) outs(%te : tensor<6x6xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c1 = arith.constant 1 : index
    %bound = arith.addi %i, %c1 : index
    %visible = arith.cmpi slt, %j, %bound : index
    %lowest = arith.constant -3.40282347E+38 : f32
    %zero_m = arith.constant 0.0 : f32
    %m = arith.select %visible, %zero_m, %lowest : f32
    %y = arith.mulf %x, %scale : f32
    %r = arith.addf %y, %m : f32
    linalg.yield %r : f32
  } -> tensor<6x6xf32>
  %pe = tensor.empty() : tensor<6x6xf32>
  %p = linalg.softmax dimension(1) ins(%t : tensor<6x6xf32>) outs(%pe : tensor<6x6xf32>) -> tensor<6x6xf32>
  %oe = tensor.empty() : tensor<6x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<6x16xf32>) -> tensor<6x16xf32>
  %o = linalg.matmul ins(%p, %v : tensor<6x6xf32>, tensor<6x16xf32>) outs(%oz : tensor<6x16xf32>) -> tensor<6x16xf32>
  return %o : tensor<6x16xf32>
}

// -----

// Strictly below the diagonal (j < i): row 0 sees no key, which
// linalg.softmax makes NaN and sqa.attention zeros: left alone.
// CHECK-LABEL: func.func @no_key_rows
// CHECK-NOT: sqa.attention
// CHECK: linalg.softmax
func.func @no_key_rows(%q: tensor<6x16xf32>, %k: tensor<6x16xf32>, %v: tensor<6x16xf32>) -> tensor<6x16xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.25 : f32
  %neginf = arith.constant 0xFF800000 : f32
  %kte = tensor.empty() : tensor<16x6xf32>
  %kt = linalg.transpose ins(%k : tensor<6x16xf32>) outs(%kte : tensor<16x6xf32>) permutation = [1, 0]
  %se = tensor.empty() : tensor<6x6xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<6x6xf32>) -> tensor<6x6xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<6x16xf32>, tensor<16x6xf32>) outs(%sz : tensor<6x6xf32>) -> tensor<6x6xf32>
  %te = tensor.empty() : tensor<6x6xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<6x6xf32>) outs(%te : tensor<6x6xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %visible = arith.cmpi slt, %j, %i : index
    %m = arith.select %visible, %x, %neginf : f32
    %r = arith.mulf %m, %scale : f32
    linalg.yield %r : f32
  } -> tensor<6x6xf32>
  %pe = tensor.empty() : tensor<6x6xf32>
  %p = linalg.softmax dimension(1) ins(%t : tensor<6x6xf32>) outs(%pe : tensor<6x6xf32>) -> tensor<6x6xf32>
  %oe = tensor.empty() : tensor<6x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<6x16xf32>) -> tensor<6x16xf32>
  %o = linalg.matmul ins(%p, %v : tensor<6x6xf32>, tensor<6x16xf32>) outs(%oz : tensor<6x16xf32>) -> tensor<6x16xf32>
  return %o : tensor<6x16xf32>
}

// -----

// j <= 2 i is not a causal band: left alone.
// CHECK-LABEL: func.func @not_a_band
// CHECK-NOT: sqa.attention
// CHECK: linalg.softmax
func.func @not_a_band(%q: tensor<6x16xf32>, %k: tensor<9x16xf32>, %v: tensor<9x16xf32>) -> tensor<6x16xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.25 : f32
  %neginf = arith.constant 0xFF800000 : f32
  %kte = tensor.empty() : tensor<16x9xf32>
  %kt = linalg.transpose ins(%k : tensor<9x16xf32>) outs(%kte : tensor<16x9xf32>) permutation = [1, 0]
  %se = tensor.empty() : tensor<6x9xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<6x9xf32>) -> tensor<6x9xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<6x16xf32>, tensor<16x9xf32>) outs(%sz : tensor<6x9xf32>) -> tensor<6x9xf32>
  %te = tensor.empty() : tensor<6x9xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<6x9xf32>) outs(%te : tensor<6x9xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c2 = arith.constant 2 : index
    %twice = arith.muli %i, %c2 : index
    %visible = arith.cmpi sle, %j, %twice : index
    %m = arith.select %visible, %x, %neginf : f32
    %r = arith.mulf %m, %scale : f32
    linalg.yield %r : f32
  } -> tensor<6x9xf32>
  %pe = tensor.empty() : tensor<6x9xf32>
  %p = linalg.softmax dimension(1) ins(%t : tensor<6x9xf32>) outs(%pe : tensor<6x9xf32>) -> tensor<6x9xf32>
  %oe = tensor.empty() : tensor<6x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<6x16xf32>) -> tensor<6x16xf32>
  %o = linalg.matmul ins(%p, %v : tensor<6x9xf32>, tensor<9x16xf32>) outs(%oz : tensor<6x16xf32>) -> tensor<6x16xf32>
  return %o : tensor<6x16xf32>
}

// -----

// A masked value that does not underflow (-100) is not a mask: left alone.
// CHECK-LABEL: func.func @finite_mask_value
// CHECK-NOT: sqa.attention
// CHECK: linalg.softmax
func.func @finite_mask_value(%q: tensor<6x16xf32>, %k: tensor<6x16xf32>, %v: tensor<6x16xf32>) -> tensor<6x16xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.25 : f32
  %neginf = arith.constant 0xFF800000 : f32
  %kte = tensor.empty() : tensor<16x6xf32>
  %kt = linalg.transpose ins(%k : tensor<6x16xf32>) outs(%kte : tensor<16x6xf32>) permutation = [1, 0]
  %se = tensor.empty() : tensor<6x6xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<6x6xf32>) -> tensor<6x6xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<6x16xf32>, tensor<16x6xf32>) outs(%sz : tensor<6x6xf32>) -> tensor<6x6xf32>
  %te = tensor.empty() : tensor<6x6xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<6x6xf32>) outs(%te : tensor<6x6xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %visible = arith.cmpi sle, %j, %i : index
    %small = arith.constant -100.0 : f32
    %m = arith.select %visible, %x, %small : f32
    %r = arith.mulf %m, %scale : f32
    linalg.yield %r : f32
  } -> tensor<6x6xf32>
  %pe = tensor.empty() : tensor<6x6xf32>
  %p = linalg.softmax dimension(1) ins(%t : tensor<6x6xf32>) outs(%pe : tensor<6x6xf32>) -> tensor<6x6xf32>
  %oe = tensor.empty() : tensor<6x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<6x16xf32>) -> tensor<6x16xf32>
  %o = linalg.matmul ins(%p, %v : tensor<6x6xf32>, tensor<6x16xf32>) outs(%oz : tensor<6x16xf32>) -> tensor<6x16xf32>
  return %o : tensor<6x16xf32>
}

// -----

// A function of the scores other than a positive scale (here S * S): left
// alone.
// CHECK-LABEL: func.func @nonlinear_scores
// CHECK-NOT: sqa.attention
// CHECK: linalg.softmax
func.func @nonlinear_scores(%q: tensor<6x16xf32>, %k: tensor<6x16xf32>, %v: tensor<6x16xf32>) -> tensor<6x16xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.25 : f32
  %neginf = arith.constant 0xFF800000 : f32
  %kte = tensor.empty() : tensor<16x6xf32>
  %kt = linalg.transpose ins(%k : tensor<6x16xf32>) outs(%kte : tensor<16x6xf32>) permutation = [1, 0]
  %se = tensor.empty() : tensor<6x6xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<6x6xf32>) -> tensor<6x6xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<6x16xf32>, tensor<16x6xf32>) outs(%sz : tensor<6x6xf32>) -> tensor<6x6xf32>
  %te = tensor.empty() : tensor<6x6xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<6x6xf32>) outs(%te : tensor<6x6xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %y = arith.mulf %x, %x : f32
    %r = arith.mulf %y, %scale : f32
    linalg.yield %r : f32
  } -> tensor<6x6xf32>
  %pe = tensor.empty() : tensor<6x6xf32>
  %p = linalg.softmax dimension(1) ins(%t : tensor<6x6xf32>) outs(%pe : tensor<6x6xf32>) -> tensor<6x6xf32>
  %oe = tensor.empty() : tensor<6x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<6x16xf32>) -> tensor<6x16xf32>
  %o = linalg.matmul ins(%p, %v : tensor<6x6xf32>, tensor<6x16xf32>) outs(%oz : tensor<6x16xf32>) -> tensor<6x16xf32>
  return %o : tensor<6x16xf32>
}
