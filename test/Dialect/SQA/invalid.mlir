// RUN: sqa-opt %s -split-input-file -verify-diagnostics

// Each function is named after the constraint of sqa.attention (C1...C16 in
// its description) that it breaks.

func.func @attention_c1_query_rank(%q: tensor<4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects query to have rank 4, but got 'tensor<4x8x16xf32>'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c1_lse_rank(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>, %o1: tensor<2x4xf32>) {
  // expected-error @+1 {{expects lse to have rank 3, but got 'tensor<2x4xf32>'}}
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0, %o1 : tensor<2x4x8x16xf32>, tensor<2x4xf32>) -> tensor<2x4x8x16xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @attention_c2_element_type(%q: tensor<2x4x8x16xi32>, %k: tensor<2x4x8x16xi32>, %v: tensor<2x4x8x16xi32>, %o0: tensor<2x4x8x16xi32>) {
  // expected-error @+1 {{expects query element type to be f16, bf16 or f32, but got 'i32'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xi32>, tensor<2x4x8x16xi32>, tensor<2x4x8x16xi32>) outs(%o0 : tensor<2x4x8x16xi32>) -> tensor<2x4x8x16xi32>
  return
}

// -----

func.func @attention_c2_mixed_types(%q: tensor<2x4x8x16xf16>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf16>) {
  // expected-error @+1 {{expects query, key and value to have the same element type, but got 'f16', 'f32' and 'f32'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf16>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf16>) -> tensor<2x4x8x16xf16>
  return
}

// -----

func.func @attention_c3_out_type(%q: tensor<2x4x8x16xbf16>, %k: tensor<2x4x8x16xbf16>, %v: tensor<2x4x8x16xbf16>, %o0: tensor<2x4x8x16xf16>) {
  // expected-error @+1 {{expects out element type to be 'bf16' or f32, but got 'f16'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xbf16>, tensor<2x4x8x16xbf16>, tensor<2x4x8x16xbf16>) outs(%o0 : tensor<2x4x8x16xf16>) -> tensor<2x4x8x16xf16>
  return
}

// -----

func.func @attention_c3_out_type_of_f32(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xbf16>) {
  // expected-error @+1 {{expects out element type to be f32, but got 'bf16'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xbf16>) -> tensor<2x4x8x16xbf16>
  return
}

// -----

func.func @attention_c3_lse_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>, %o1: tensor<2x4x8xf16>) {
  // expected-error @+1 {{expects lse element type to be f32, but got 'f16'}}
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0, %o1 : tensor<2x4x8x16xf32>, tensor<2x4x8xf16>) -> tensor<2x4x8x16xf32>, tensor<2x4x8xf16>
  return
}

// -----

func.func @attention_c4_dynamic_heads(%q: tensor<2x?x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects the query head count to be static and positive, but got ?}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x?x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c4_dynamic_head_dim(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x?xf32>, %o0: tensor<2x4x8x?xf32>) {
  // expected-error @+1 {{expects the value head dim to be static and positive, but got ?}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x?xf32>) outs(%o0 : tensor<2x4x8x?xf32>) -> tensor<2x4x8x?xf32>
  return
}

// -----

func.func @attention_c4_zero_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x0x8x16xf32>, %v: tensor<2x0x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects the key head count to be static and positive, but got 0}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x0x8x16xf32>, tensor<2x0x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c5_heads_divide(%q: tensor<2x3x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o0: tensor<2x3x8x16xf32>) {
  // expected-error @+1 {{expects one of the query head count (3) and the key/value head count (2) to divide the other}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x3x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) outs(%o0 : tensor<2x3x8x16xf32>) -> tensor<2x3x8x16xf32>
  return
}

// -----

func.func @attention_c6_kv_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x2x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects key and value to have the same head count, but got 4 and 2}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c6_kv_seq(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x9x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects key and value to have the same sequence length, but got 8 and 9}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x9x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c7_head_dim(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x32xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects query and key to have the same head dim, but got 16 and 32}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c8_batch(%q: tensor<2x4x8x16xf32>, %k: tensor<3x4x8x16xf32>, %v: tensor<3x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects query, key, value and outputs to have the same batch size}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<3x4x8x16xf32>, tensor<3x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c9_out_heads(%q: tensor<2x4x8x16xf32>, %k: tensor<2x8x8x16xf32>, %v: tensor<2x8x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects out shape ?x8x8x16 (batch x max(Hq, Hkv) x Sq x Dv), but got 'tensor<2x4x8x16xf32>'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c9_out_value_dim(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x32xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects out shape ?x4x8x32 (batch x max(Hq, Hkv) x Sq x Dv), but got 'tensor<2x4x8x16xf32>'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x32xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c9_out_seq(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x7x16xf32>) {
  // expected-error @+1 {{expects out shape ?x4x8x16 (batch x max(Hq, Hkv) x Sq x Dv), but got 'tensor<2x4x7x16xf32>'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x7x16xf32>) -> tensor<2x4x7x16xf32>
  return
}

// -----

func.func @attention_c10_lse_shape(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>, %o1: tensor<2x4x9xf32>) {
  // expected-error @+1 {{expects lse shape ?x4x8 (batch x max(Hq, Hkv) x Sq), but got 'tensor<2x4x9xf32>'}}
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0, %o1 : tensor<2x4x8x16xf32>, tensor<2x4x9xf32>) -> tensor<2x4x8x16xf32>, tensor<2x4x9xf32>
  return
}

// -----

func.func @attention_c11_result_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{result #0 type 'tensor<?x4x8x16xf32>' does not match its output type 'tensor<2x4x8x16xf32>'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) -> tensor<?x4x8x16xf32>
  return
}

// -----

func.func @attention_c12_scale_zero(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects scale to be positive and finite, but got 0}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) scale = 0.0 -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c12_scale_negative(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects scale to be positive and finite, but got -5.000000e-01}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) scale = -0.5 -> tensor<2x4x8x16xf32>
  return
}

// -----

// scale * log2(e) overflows f32: every score would be infinite.
func.func @attention_c12_scale_log2_overflow(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects scale * log2(e) to be finite in f32 (scale at most 2.358657e+38), but got 3.000000e+38}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) scale = 3.0e+38 -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c12_scale_inf(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects scale to be positive and finite, but got INF}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) scale = 0x7F800000 -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c13_window_size(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects window to have two entries [left, right], but got 3}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) window = [1, 2, 3] -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c13_window_value(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects window sizes to be >= -1 (-1: unbounded), but got [-2, 0]}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) window = [-2, 0] -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c13_window_top_left(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %o0: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects window to be used with no mask or 'causal_bottom_right'}}
  %r:1 = sqa.attention ins(%q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%o0 : tensor<2x4x8x16xf32>) mask = causal_top_left window = [4, 0] -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c11_no_outputs(%q: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects one or two outputs (out and optional lse), but got 0}}
  "sqa.attention"(%q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}> : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> ()
  return
}

// -----

func.func @attention_c11_three_outputs(%q: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects one or two outputs (out and optional lse), but got 3}}
  %r:3 = "sqa.attention"(%q, %q, %q, %q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 3, 0>}> : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
  return
}

// -----

func.func @attention_c11_result_count(%q: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expects as many results as outputs, but got 0 results and 1 outputs}}
  "sqa.attention"(%q, %q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> ()
  return
}

// -----

func.func @attention_unknown_mask(%q: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'mask' [none, causal_bottom_right, causal_top_left]}}
  %r = sqa.attention ins(%q, %q, %q : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%q : tensor<2x4x8x16xf32>) mask = causal -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c14_diagonal_offset_without_mask(%q: tensor<2x4x8x16xf32>, %d: index) {
  // expected-error @+1 {{expects diagonal_offset only with a causal mask or a window}}
  %r = sqa.attention ins(%q, %q, %q : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%q : tensor<2x4x8x16xf32>) diagonal_offset(%d) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @attention_c15_mixed_tensor_and_memref(%q: tensor<2x4x8x16xf16>, %m: memref<2x4x8x16xf16>) {
  // expected-error @+1 {{expects all operands to be tensors or all to be memrefs, but got a mix}}
  sqa.attention ins(%q, %m, %m : tensor<2x4x8x16xf16>, memref<2x4x8x16xf16>, memref<2x4x8x16xf16>) outs(%m : memref<2x4x8x16xf16>)
  return
}

// -----

func.func @attention_c11_results_with_memrefs(%m: memref<2x4x8x16xf16>) {
  // expected-error @+1 {{expects no results with memref operands, but got 1}}
  %r = "sqa.attention"(%m, %m, %m, %m) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (memref<2x4x8x16xf16>, memref<2x4x8x16xf16>, memref<2x4x8x16xf16>, memref<2x4x8x16xf16>) -> tensor<2x4x8x16xf16>
  return
}

// -----

func.func @attention_c9_memref_out_shape(%q: memref<2x4x8x16xf16>, %o: memref<2x4x8x32xf16>) {
  // expected-error @+1 {{expects out shape ?x4x8x16}}
  sqa.attention ins(%q, %q, %q : memref<2x4x8x16xf16>, memref<2x4x8x16xf16>, memref<2x4x8x16xf16>) outs(%o : memref<2x4x8x32xf16>)
  return
}

// -----

// Each sqa.attention_grad function is named after the constraint of that op
// (C1...C15 in its description) that it breaks.

func.func @attention_grad_c1_dout_rank(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects dout to have rank 4, but got 'tensor<2x8x8xf32>'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c1_lse_rank(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects lse to have rank 3, but got 'tensor<2x8xf32>'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c2_mixed_types(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf16>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects query, key and value to have the same element type, but got 'f32', 'f16' and 'f32'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf16>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c3_dout_type(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf16>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects dout to have the element type of out ('f32'), but got 'f16'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf16>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c3_lse_type(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf16>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects lse element type to be f32, but got 'f16'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf16>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c4_grad_type(%q: tensor<2x8x8x16xbf16>, %k: tensor<2x4x10x16xbf16>, %v: tensor<2x4x10x16xbf16>, %out: tensor<2x8x8x16xbf16>, %dout: tensor<2x8x8x16xbf16>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf16>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects dk element type to be 'bf16' or f32, but got 'f16'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xbf16>, tensor<2x4x10x16xbf16>, tensor<2x4x10x16xbf16>, tensor<2x8x8x16xbf16>, tensor<2x8x8x16xbf16>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf16>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf16>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c5_dynamic_heads(%q: tensor<2x?x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects the query head count to be static and positive, but got ?}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x?x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c6_heads_divide(%q: tensor<2x6x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x6x8x16xf32>, %dout: tensor<2x6x8x16xf32>, %lse: tensor<2x6x8xf32>, %dq: tensor<2x6x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects one of the query head count (6) and the key/value head count (4) to divide the other}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x6x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x6x8x16xf32>, tensor<2x6x8x16xf32>, tensor<2x6x8xf32>) outs(%dq, %dk, %dv : tensor<2x6x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x6x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c7_head_dim(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x32xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x32xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects query and key to have the same head dim, but got 16 and 32}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x32xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x32xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x32xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c8_batch(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<3x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects every operand to have the same batch size}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<3x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c9_dout_shape(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x8xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects dout shape ?x8x8x16 (batch x max(Hq, Hkv) x Sq x Dv), but got 'tensor<2x8x8x8xf32>'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x8xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c9_lse_shape(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x4x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects lse shape ?x8x8 (batch x max(Hq, Hkv) x Sq), but got 'tensor<2x4x8xf32>'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x4x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c10_dk_shape(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x9x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects dk to have the shape of key ('tensor<2x4x10x16xf32>'), but got 'tensor<2x4x9x16xf32>'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x9x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x9x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c11_two_outputs(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects three outputs (dq, dk, dv), but got 2}}
  %r:2 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c11_result_type(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{result #2 type 'tensor<2x4x10x16xf16>' does not match its output type 'tensor<2x4x10x16xf32>'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf16>
  return
}

// -----

func.func @attention_grad_c12_scale(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects scale to be positive and finite, but got -1}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) scale = -1.0 -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c12_scale_log2_overflow(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects scale * log2(e) to be finite in f32 (scale at most 2.358657e+38), but got 3.000000e+38}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) scale = 3.0e+38 -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c13_window_entries(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects window sizes to be >= -1 (-1: unbounded), but got [-2, 0]}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) window = [-2, 0] -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c13_window_top_left(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>) {
  // expected-error @+1 {{expects window to be used with no mask or 'causal_bottom_right'}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) mask = causal_top_left window = [4, 0] -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c14_offset_without_mask(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: tensor<2x8x8x16xf32>, %dk: tensor<2x4x10x16xf32>, %dv: tensor<2x4x10x16xf32>, %d: index) {
  // expected-error @+1 {{expects diagonal_offset only with a causal mask or a window}}
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>) diagonal_offset(%d) -> tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @attention_grad_c15_mixed_semantics(%q: tensor<2x8x8x16xf32>, %k: tensor<2x4x10x16xf32>, %v: tensor<2x4x10x16xf32>, %out: tensor<2x8x8x16xf32>, %dout: tensor<2x8x8x16xf32>, %lse: tensor<2x8x8xf32>, %dq: memref<2x8x8x16xf32>, %dk: memref<2x4x10x16xf32>, %dv: memref<2x4x10x16xf32>) {
  // expected-error @+1 {{expects all operands to be tensors or all to be memrefs, but got a mix}}
  sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : tensor<2x8x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8x16xf32>, tensor<2x8x8xf32>) outs(%dq, %dk, %dv : memref<2x8x8x16xf32>, memref<2x4x10x16xf32>, memref<2x4x10x16xf32>)
  return
}

// -----

// Generic form whose segment sizes add up but give the output to the
// diagonal offset.
func.func @attention_segments_misassigned(%q: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{operand #3 must be index, but got 'tensor<2x4x8x16xf32>'}}
  %r = "sqa.attention"(%q, %q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>}> : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

// -----

// Generic form whose segment sizes add up but give the key's operand to the
// value (the query read from the key's segment, and so on).
func.func @attention_c16_key_segment_empty(%q: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expects one 'key' operand, but operandSegmentSizes gives it 0}}
  %r = "sqa.attention"(%q, %q, %q, %q) <{operandSegmentSizes = array<i32: 1, 0, 2, 1, 0>}> : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

// -----

func.func @attention_c16_query_segment_double(%q: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{expects one 'query' operand, but operandSegmentSizes gives it 2}}
  %r = "sqa.attention"(%q, %q, %q, %q) <{operandSegmentSizes = array<i32: 2, 1, 0, 1, 0>}> : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

// -----

func.func @attention_grad_c16_dout_segment_double(%q: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expects one 'dout' operand, but operandSegmentSizes gives it 2}}
  %r:3 = "sqa.attention_grad"(%q, %q, %q, %q, %q, %q, %q, %q, %lse) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 2, 0, 3, 0>}> : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
  return
}
