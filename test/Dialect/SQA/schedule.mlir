// RUN: sqa-opt %s | sqa-opt | FileCheck %s
// RUN: sqa-opt %s --mlir-print-op-generic | sqa-opt | FileCheck %s

// #sqa.schedule round-trips on both ops; the backward's fields are elided
// when absent.
// CHECK-LABEL: func.func @forward
// CHECK: sqa.attention {{.*}} {sqa.schedule = #sqa.schedule<warps = 2, kv_block = 32>}
func.func @forward(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warps = 2, kv_block = 32>}
  return
}

// warp_rows is printed when it is not its default (16).
// CHECK-LABEL: func.func @forward_warp_rows
// CHECK: sqa.attention {{.*}} {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 128, warp_rows = 32>}
func.func @forward_warp_rows(%q: memref<?x4x?x16xf16>, %o: memref<?x4x?x16xf16>) {
  sqa.attention ins(%q, %q, %q : memref<?x4x?x16xf16>, memref<?x4x?x16xf16>, memref<?x4x?x16xf16>) outs(%o : memref<?x4x?x16xf16>) {sqa.schedule = #sqa.schedule<warp_rows = 32, warps = 4, kv_block = 128>}
  return
}

// CHECK-LABEL: func.func @backward
// CHECK: sqa.attention_grad {{.*}} {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 16, kv_warps = 2, q_block = 16>}
func.func @backward(%q: tensor<?x4x?x16xf16>, %l: tensor<?x4x?xf32>, %g: tensor<?x4x?x16xf32>) -> (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>) {
  %r:3 = sqa.attention_grad ins(%q, %q, %q, %q, %q, %l : tensor<?x4x?x16xf16>, tensor<?x4x?x16xf16>, tensor<?x4x?x16xf16>, tensor<?x4x?x16xf16>, tensor<?x4x?x16xf16>, tensor<?x4x?xf32>) outs(%g, %g, %g : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>) {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 16, kv_warps = 2, q_block = 16>} -> tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
  return %r#0, %r#1, %r#2 : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
}
