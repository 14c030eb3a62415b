// torch-mlir's decomposition of scaled_dot_product_attention(is_causal=True)
// (DecomposeAtenScaledDotProductAttentionOp: mask = masked_fill(zeros,
// logical_not(tril(ones)), -inf), scores = matmul(Q, Kᵀ) * scale + mask,
// softmax, matmul with V), lowered to linalg as TorchToLinalg writes each op
// (tril from linalg.index comparisons in i64, logical_not as cmpi eq false,
// add.Tensor with its alpha multiplied in), for GQA 16/4 with Sq 64 != Skv
// 80 (PyTorch's causal mask is top-left: key j visible to row i iff j <= i).
// Heads flattened into batch_matmul, K and V repeat_interleaved.
func.func @gqa_in_maps(%q4: tensor<2x16x64x32xf16>, %k4: tensor<2x4x80x32xf16>, %v4: tensor<2x4x80x32xf16>)
    -> tensor<2x16x64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.125 : f32
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<2x16x64x32xf16> into tensor<32x64x32xf16>
  %kbe = tensor.empty() : tensor<2x4x4x80x32xf16>
  %kb = linalg.broadcast ins(%k4 : tensor<2x4x80x32xf16>) outs(%kbe : tensor<2x4x4x80x32xf16>) dimensions = [2]
  %k = tensor.collapse_shape %kb [[0, 1, 2], [3], [4]] : tensor<2x4x4x80x32xf16> into tensor<32x80x32xf16>
  %vbe = tensor.empty() : tensor<2x4x4x80x32xf16>
  %vb = linalg.broadcast ins(%v4 : tensor<2x4x80x32xf16>) outs(%vbe : tensor<2x4x4x80x32xf16>) dimensions = [2]
  %v = tensor.collapse_shape %vb [[0, 1, 2], [3], [4]] : tensor<2x4x4x80x32xf16> into tensor<32x80x32xf16>
  %kte = tensor.empty() : tensor<32x32x80xf16>
  %kt = linalg.transpose ins(%k : tensor<32x80x32xf16>) outs(%kte : tensor<32x32x80xf16>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<32x64x80xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<32x64x80xf32>) -> tensor<32x64x80xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<32x64x32xf16>, tensor<32x32x80xf16>) outs(%sz : tensor<32x64x80xf32>) -> tensor<32x64x80xf32>
  %true = arith.constant true
  %false = arith.constant false
  %neginf = arith.constant 0xFF800000 : f32
  %one = arith.constant 1.0 : f32
  %diagonal = arith.constant 0 : i64
  %onese = tensor.empty() : tensor<64x80xi1>
  %ones = linalg.fill ins(%true : i1) outs(%onese : tensor<64x80xi1>) -> tensor<64x80xi1>
  %trile = tensor.empty() : tensor<64x80xi1>
  %tril = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%ones : tensor<64x80xi1>) outs(%trile : tensor<64x80xi1>) {
  ^bb0(%x: i1, %unused: i1):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %i64 = arith.index_cast %i : index to i64
    %j64 = arith.index_cast %j : index to i64
    %d = arith.subi %j64, %i64 : i64
    %keep = arith.cmpi sle, %d, %diagonal : i64
    %r = arith.select %keep, %x, %false : i1
    linalg.yield %r : i1
  } -> tensor<64x80xi1>
  %note = tensor.empty() : tensor<64x80xi1>
  %not = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%tril : tensor<64x80xi1>) outs(%note : tensor<64x80xi1>) {
  ^bb0(%x: i1, %unused: i1):
    %r = arith.cmpi eq, %x, %false : i1
    linalg.yield %r : i1
  } -> tensor<64x80xi1>
  %zerose = tensor.empty() : tensor<64x80xf32>
  %zeros = linalg.fill ins(%zero : f32) outs(%zerose : tensor<64x80xf32>) -> tensor<64x80xf32>
  %maske = tensor.empty() : tensor<64x80xf32>
  %mask = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%zeros, %not : tensor<64x80xf32>, tensor<64x80xi1>) outs(%maske : tensor<64x80xf32>) {
  ^bb0(%x: f32, %m: i1, %unused: f32):
    %r = arith.select %m, %neginf, %x : f32
    linalg.yield %r : f32
  } -> tensor<64x80xf32>
  %te = tensor.empty() : tensor<32x64x80xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> (a, b, c)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<32x64x80xf32>) outs(%te : tensor<32x64x80xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<32x64x80xf32>
  %ae = tensor.empty() : tensor<32x64x80xf32>
  %a = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> (b, c)>, affine_map<(a, b, c) -> (a, b, c)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%t, %mask : tensor<32x64x80xf32>, tensor<64x80xf32>) outs(%ae : tensor<32x64x80xf32>) {
  ^bb0(%x: f32, %m: f32, %unused: f32):
    %ma = arith.mulf %m, %one : f32
    %y = arith.addf %x, %ma : f32
    linalg.yield %y : f32
  } -> tensor<32x64x80xf32>
  %pe = tensor.empty() : tensor<32x64x80xf32>
  %p = linalg.softmax dimension(2) ins(%a : tensor<32x64x80xf32>) outs(%pe : tensor<32x64x80xf32>) -> tensor<32x64x80xf32>
  %oe = tensor.empty() : tensor<32x64x32xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<32x64x32xf32>) -> tensor<32x64x32xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<32x64x80xf32>, tensor<32x80x32xf16>) outs(%oz : tensor<32x64x32xf32>) -> tensor<32x64x32xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [2, 16, 64, 32] : tensor<32x64x32xf32> into tensor<2x16x64x32xf32>
  return %o4 : tensor<2x16x64x32xf32>
}
