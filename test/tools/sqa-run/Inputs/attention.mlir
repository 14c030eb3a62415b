func.func @attention(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                     %o: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
                     outs(%o : tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32>
  return %r : tensor<?x4x?x16xf32>
}

func.func @bf16(%q: tensor<1x1x2x16xbf16>, %o: tensor<1x1x2x16xbf16>) -> tensor<1x1x2x16xbf16> {
  %r = sqa.attention ins(%q, %q, %q : tensor<1x1x2x16xbf16>, tensor<1x1x2x16xbf16>, tensor<1x1x2x16xbf16>)
                     outs(%o : tensor<1x1x2x16xbf16>) -> tensor<1x1x2x16xbf16>
  return %r : tensor<1x1x2x16xbf16>
}

func.func @scalar(%x: f32) -> f32 {
  return %x : f32
}
