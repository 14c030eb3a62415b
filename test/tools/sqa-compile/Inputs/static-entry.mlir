// A library entry with static sizes and a tensor.empty destination: the
// launcher checks every size and launches a constant grid.
func.func @withempty(%q: tensor<2x4x64x16xf16>, %k: tensor<2x4x80x16xf16>, %v: tensor<2x4x80x16xf16>) -> tensor<2x4x64x16xf16> {
  %e = tensor.empty() : tensor<2x4x64x16xf16>
  %r = sqa.attention ins(%q, %k, %v : tensor<2x4x64x16xf16>, tensor<2x4x80x16xf16>, tensor<2x4x80x16xf16>) outs(%e : tensor<2x4x64x16xf16>) -> tensor<2x4x64x16xf16>
  return %r : tensor<2x4x64x16xf16>
}
