
#q  = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#k  = affine_map<(b, h, i, j, d) -> (b, h floordiv 4, j, d)>
#s  = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#p  = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#v  = affine_map<(b, h, i, e, j) -> (b, h floordiv 4, j, e)>
#o  = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
#id = affine_map<(b, h, i, j) -> (b, h, i, j)>

func.func @gqa_in_maps(%q: tensor<2x16x64x32xf16>, %k: tensor<2x4x80x32xf16>, %v: tensor<2x4x80x32xf16>)
    -> tensor<2x16x64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.125 : f32
  %se = tensor.empty() : tensor<2x16x64x80xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<2x16x64x80xf32>) -> tensor<2x16x64x80xf32>
  %s = linalg.generic {indexing_maps = [#q, #k, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x16x64x32xf16>, tensor<2x4x80x32xf16>) outs(%sz : tensor<2x16x64x80xf32>) {
  ^bb0(%a: f16, %b: f16, %acc: f32):
    %a32 = arith.extf %a : f16 to f32
    %b32 = arith.extf %b : f16 to f32
    %m = arith.mulf %a32, %b32 : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x16x64x80xf32>
  %te = tensor.empty() : tensor<2x16x64x80xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<2x16x64x80xf32>) outs(%te : tensor<2x16x64x80xf32>) {
  ^bb0(%x: f32, %unused: f32):
    %y = arith.mulf %x, %scale : f32
    linalg.yield %y : f32
  } -> tensor<2x16x64x80xf32>
  %pe = tensor.empty() : tensor<2x16x64x80xf32>
  %p = linalg.softmax dimension(3) ins(%t : tensor<2x16x64x80xf32>) outs(%pe : tensor<2x16x64x80xf32>) -> tensor<2x16x64x80xf32>
  %oe = tensor.empty() : tensor<2x16x64x32xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<2x16x64x32xf32>) -> tensor<2x16x64x32xf32>
  %o = linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x16x64x80xf32>, tensor<2x4x80x32xf16>) outs(%oz : tensor<2x16x64x32xf32>) {
  ^bb0(%a: f32, %b: f16, %acc: f32):
    %b32 = arith.extf %b : f16 to f32
    %m = arith.mulf %a, %b32 : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x16x64x32xf32>
  return %o : tensor<2x16x64x32xf32>
}

