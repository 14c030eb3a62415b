// A window whose sides are near INT64_MAX sees every key: the same as no
// window (the sides are clamped before they are added to a row index).
func.func @wide(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                %o: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
                     outs(%o : tensor<?x4x?x16xf32>) window = [9223372036854775807, 9223372036854775806]
                     -> tensor<?x4x?x16xf32>
  return %r : tensor<?x4x?x16xf32>
}
