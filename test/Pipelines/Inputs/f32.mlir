// An op that only the row-wise GPU kernel supports (f32 operands).
func.func @mha_f32(%q: tensor<?x4x?x64xf32>, %o: tensor<?x4x?x64xf32>) -> tensor<?x4x?x64xf32> {
  %r = sqa.attention ins(%q, %q, %q : tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>)
                     outs(%o : tensor<?x4x?x64xf32>) -> tensor<?x4x?x64xf32>
  return %r : tensor<?x4x?x64xf32>
}
