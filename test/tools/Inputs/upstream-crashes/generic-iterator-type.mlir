#m = affine_map<(i) -> (i)>
func.func @f(%k: tensor<4xf32>, %e: tensor<4xf32>) -> tensor<4xf32> {
  %t = linalg.generic {indexing_maps = [#m, #m], iterator_types = ["parallel", f32]} ins(%k : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  } -> tensor<4xf32>
  return %t : tensor<4xf32>
}
