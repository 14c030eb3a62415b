func.func @f(%k: tensor<4xf32>, %e: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %t = linalg.broadcast ins(%k : tensor<4xf32>) outs(%e : tensor<4x8xf32>) dimensions = [1 2]
  return %t : tensor<4x8xf32>
}
