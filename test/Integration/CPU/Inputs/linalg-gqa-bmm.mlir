// The form front ends emit for GQA 16/4 (D 32, f16 in, f32 out, scale 0.125):
// heads flattened into the batch of batch_matmul, K and V repeat_interleaved
// (broadcast + collapse_shape), K transposed by linalg.transpose.
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
  %te = tensor.empty() : tensor<32x64x80xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> (a, b, c)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<32x64x80xf32>) outs(%te : tensor<32x64x80xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<32x64x80xf32>
  %pe = tensor.empty() : tensor<32x64x80xf32>
  %p = linalg.softmax dimension(2) ins(%t : tensor<32x64x80xf32>) outs(%pe : tensor<32x64x80xf32>) -> tensor<32x64x80xf32>
  %oe = tensor.empty() : tensor<32x64x32xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<32x64x32xf32>) -> tensor<32x64x32xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<32x64x80xf32>, tensor<32x80x32xf16>) outs(%oz : tensor<32x64x32xf32>) -> tensor<32x64x32xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [2, 16, 64, 32] : tensor<32x64x32xf32> into tensor<2x16x64x32xf32>
  return %o4 : tensor<2x16x64x32xf32>
}
