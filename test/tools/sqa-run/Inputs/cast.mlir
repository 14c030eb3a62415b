// The operands reach the op through tensor.cast (static to dynamic sizes):
// sqa-run's size checks look through it.
func.func @attention(%q: tensor<2x4x?x16xf32>, %k: tensor<2x2x?x16xf32>, %v: tensor<2x2x?x16xf32>,
                     %o: tensor<2x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %qc = tensor.cast %q : tensor<2x4x?x16xf32> to tensor<?x4x?x16xf32>
  %kc = tensor.cast %k : tensor<2x2x?x16xf32> to tensor<?x2x?x16xf32>
  %vc = tensor.cast %v : tensor<2x2x?x16xf32> to tensor<?x2x?x16xf32>
  %oc = tensor.cast %o : tensor<2x4x?x16xf32> to tensor<?x4x?x16xf32>
  %r = sqa.attention ins(%qc, %kc, %vc : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
                     outs(%oc : tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32>
  return %r : tensor<?x4x?x16xf32>
}
