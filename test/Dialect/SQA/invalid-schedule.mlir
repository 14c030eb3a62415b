// RUN: sqa-opt %s -split-input-file -verify-diagnostics

// Each case is named after the rule of #sqa.schedule / sqa.schedule (S1...S3
// in the attribute's description) that it breaks.

func.func @schedule_s1_warps(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{schedule warps must be in [1, 16], got 0}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 0, kv_block = 64>}
  return
}

// -----

func.func @schedule_s1_kv_block(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{schedule kv_block must be in [1, 65536], got 0}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 0>}
  return
}

// -----

func.func @schedule_s1_kv_block_too_large(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{schedule kv_block must be in [1, 65536], got 1099511627776}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 1099511627776>}
  return
}

// -----

func.func @schedule_s1_warp_rows(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{schedule warp_rows must be a multiple of 16 in [16, 64], got 24}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 64, warp_rows = 24>}
  return
}

// -----

func.func @schedule_s1_warp_rows_too_large(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{schedule warp_rows must be a multiple of 16 in [16, 64], got 80}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 64, warp_rows = 80>}
  return
}

// -----

func.func @schedule_s2_together(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{schedule kv_warps and q_block must be given together}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 64, kv_warps = 2>}
  return
}

// -----

func.func @schedule_s2_kv_warps(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{schedule kv_warps must be in [1, 16], got 17}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 64, kv_warps = 17, q_block = 16>}
  return
}

// -----

func.func @schedule_s2_q_block(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{schedule q_block must be in [1, 65536], got -16}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 64, kv_warps = 2, q_block = -16>}
  return
}

// -----

func.func @schedule_s3_forward_with_backward_fields(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{'sqa.schedule' of sqa.attention takes no kv_warps or q_block}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 64, kv_warps = 2, q_block = 16>}
  return
}

// -----

func.func @schedule_s3_backward_without(%q: memref<?x4x?x16xf16>, %l: memref<?x4x?xf32>, %g: memref<?x4x?x16xf32>) {
  // expected-error @+1 {{'sqa.schedule' of sqa.attention_grad needs kv_warps and q_block}}
  sqa.attention_grad ins(%q, %q, %q, %q, %q, %l : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?xf32>) outs(%g, %g, %g : memref<?x4x?x16xf32>, memref<?x4x?x16xf32>, memref<?x4x?x16xf32>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 64>}
  return
}

// -----

func.func @schedule_s3_other_op() {
  // expected-error @+1 {{'sqa.schedule' belongs on sqa.attention or sqa.attention_grad}}
  %c = arith.constant {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 64>} 0 : index
  return
}

// -----

func.func @schedule_s3_not_a_schedule(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{'sqa.schedule' must be a #sqa.schedule}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = 4 : i64}
  return
}

// -----

func.func @unknown_dialect_attribute(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  // expected-error @+1 {{unknown sqa dialect attribute 'sqa.tiles'}}
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.tiles = 4 : i64}
  return
}
