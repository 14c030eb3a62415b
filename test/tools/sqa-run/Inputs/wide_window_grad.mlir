// The backward of a causal mask with a left side near INT64_MAX: the same as
// the causal mask alone.
func.func @wide_grad(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>,
                     %o: tensor<?x4x?x16xf32>, %do: tensor<?x4x?x16xf32>, %lse: tensor<?x4x?xf32>,
                     %dq: tensor<?x4x?x16xf32>, %dk: tensor<?x2x?x16xf32>, %dv: tensor<?x2x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>,
                                tensor<?x2x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?xf32>)
                            outs(%dq, %dk, %dv : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
                            mask = causal_bottom_right window = [9223372036854775807, 0]
                            -> tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
  return %r#0, %r#1, %r#2 : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>
}
