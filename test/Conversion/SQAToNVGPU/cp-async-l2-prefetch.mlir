// RUN: sqa-opt %s --split-input-file --sqa-cp-async-l2-prefetch | FileCheck %s

// 16-byte copies that bypass L1 become cp.async with a 128-byte L2
// prefetch, the zero-filling form keeping its source size; a copy through
// L1 (cache = ca) is left alone.
// CHECK-LABEL: gpu.module @kernels
// CHECK-LABEL: llvm.func @copies
// CHECK-SAME: (%[[DST:.+]]: !llvm.ptr<3>, %[[SRC:.+]]: !llvm.ptr<1>, %[[SIZE:.+]]: i32)
// CHECK: llvm.inline_asm has_side_effects "cp.async.cg.shared.global.L2::128B [$0], [$1], 16;", "l,l" %[[DST]], %[[SRC]] : (!llvm.ptr<3>, !llvm.ptr<1>) -> ()
// CHECK: llvm.inline_asm has_side_effects "cp.async.cg.shared.global.L2::128B [$0], [$1], 16, $2;", "l,l,r" %[[DST]], %[[SRC]], %[[SIZE]] : (!llvm.ptr<3>, !llvm.ptr<1>, i32) -> ()
// CHECK: nvvm.cp.async.shared.global %[[DST]], %[[SRC]], 4, cache = {{ *}}ca
// CHECK-NOT: nvvm.cp.async.shared.global {{.*}} cache = cg
gpu.module @kernels {
  llvm.func @copies(%dst: !llvm.ptr<3>, %src: !llvm.ptr<1>, %size: i32) {
    nvvm.cp.async.shared.global %dst, %src, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
    nvvm.cp.async.shared.global %dst, %src, 16, cache = cg, %size : !llvm.ptr<3>, !llvm.ptr<1>, i32
    nvvm.cp.async.shared.global %dst, %src, 4, cache = ca : !llvm.ptr<3>, !llvm.ptr<1>
    llvm.return
  }
}

// -----

// A thread's copies of one tile: each address is the block's first copy's
// plus a constant (an immediate offset in the PTX, in bytes: f16 elements
// are 2) or plus a runtime value times a constant (a row stride: one mad in
// a scoped register). The first copy's addresses are the only operands, so
// LLVM keeps one pointer, not one per copy. Addresses through a generic to
// global cast keep their offsets.
// CHECK-LABEL: llvm.func @one_tile
// CHECK-SAME: (%[[DBASE:.+]]: !llvm.ptr<3>, %[[SBASE:.+]]: !llvm.ptr, %[[ROW:.+]]: i64, %[[STRIDE:.+]]: i64)
// CHECK: %[[D0:.+]] = llvm.getelementptr %[[DBASE]]
// CHECK: %[[S0:.+]] = llvm.addrspacecast
// CHECK: llvm.inline_asm has_side_effects "cp.async.cg.shared.global.L2::128B [$0], [$1], 16;", "l,l" %[[D0]], %[[S0]]
// Chunk 1 of the row: 8 elements (16 bytes) further on both sides.
// CHECK: llvm.inline_asm has_side_effects "cp.async.cg.shared.global.L2::128B [$0+16], [$1+16], 16;", "l,l" %[[D0]], %[[S0]]
// Row + 16: 16 x 72 x 2 bytes further in the shared tile, 16 strides of 2
// bytes in the global tensor.
// CHECK: llvm.inline_asm has_side_effects "{\0A.reg .b64 %sqa_src;\0Amad.lo.s64 %sqa_src, $2, 32, $1;\0Acp.async.cg.shared.global.L2::128B [$0+2304], [%sqa_src], 16;\0A}", "l,l,l" %[[D0]], %[[S0]], %[[STRIDE]]
// Row + 16, chunk 1: both.
// CHECK: llvm.inline_asm has_side_effects "{\0A.reg .b64 %sqa_src;\0Amad.lo.s64 %sqa_src, $2, 32, $1;\0Acp.async.cg.shared.global.L2::128B [$0+2320], [%sqa_src+16], 16;\0A}", "l,l,l" %[[D0]], %[[S0]], %[[STRIDE]]
// An address with another runtime term (two strides) is its own anchor.
// CHECK: llvm.inline_asm has_side_effects "cp.async.cg.shared.global.L2::128B [$0], [$1], 16;", "l,l" %[[D0]], %{{.+}}
// CHECK-NOT: nvvm.cp.async.shared.global
gpu.module @kernels {
  llvm.func @one_tile(%dbase: !llvm.ptr<3>, %sbase: !llvm.ptr, %row: i64, %stride: i64) {
    %c8 = llvm.mlir.constant(8 : index) : i64
    %c16 = llvm.mlir.constant(16 : index) : i64
    %c72 = llvm.mlir.constant(72 : index) : i64
    // Copy 0: shared row * 72, global row * stride.
    %d0i = llvm.mul %row, %c72 : i64
    %d0 = llvm.getelementptr %dbase[%d0i] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f16
    %s0i = llvm.mul %row, %stride : i64
    %s0g = llvm.getelementptr %sbase[%s0i] : (!llvm.ptr, i64) -> !llvm.ptr, f16
    %s0 = llvm.addrspacecast %s0g : !llvm.ptr to !llvm.ptr<1>
    nvvm.cp.async.shared.global %d0, %s0, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
    // Copy 1: 8 columns further.
    %d1i = llvm.add %d0i, %c8 : i64
    %d1 = llvm.getelementptr %dbase[%d1i] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f16
    %s1i = llvm.add %s0i, %c8 : i64
    %s1g = llvm.getelementptr %sbase[%s1i] : (!llvm.ptr, i64) -> !llvm.ptr, f16
    %s1 = llvm.addrspacecast %s1g : !llvm.ptr to !llvm.ptr<1>
    nvvm.cp.async.shared.global %d1, %s1, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
    // Copy 2: 16 rows further.
    %row16 = llvm.add %row, %c16 : i64
    %d2i = llvm.mul %row16, %c72 : i64
    %d2 = llvm.getelementptr %dbase[%d2i] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f16
    %s2i = llvm.mul %row16, %stride : i64
    %s2g = llvm.getelementptr %sbase[%s2i] : (!llvm.ptr, i64) -> !llvm.ptr, f16
    %s2 = llvm.addrspacecast %s2g : !llvm.ptr to !llvm.ptr<1>
    nvvm.cp.async.shared.global %d2, %s2, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
    // Copy 3: 16 rows and 8 columns further.
    %d3i = llvm.add %d2i, %c8 : i64
    %d3 = llvm.getelementptr %dbase[%d3i] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f16
    %s3i = llvm.add %s2i, %c8 : i64
    %s3g = llvm.getelementptr %sbase[%s3i] : (!llvm.ptr, i64) -> !llvm.ptr, f16
    %s3 = llvm.addrspacecast %s3g : !llvm.ptr to !llvm.ptr<1>
    nvvm.cp.async.shared.global %d3, %s3, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
    // Copy 4: row * stride * stride differs by more than one runtime term.
    %s4i = llvm.mul %s0i, %stride : i64
    %s4g = llvm.getelementptr %sbase[%s4i] : (!llvm.ptr, i64) -> !llvm.ptr, f16
    %s4 = llvm.addrspacecast %s4g : !llvm.ptr to !llvm.ptr<1>
    nvvm.cp.async.shared.global %d0, %s4, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
    llvm.return
  }
}

// -----

// Copies in different blocks are not related: an address of one block need
// not dominate the other's copies.
// CHECK-LABEL: llvm.func @two_blocks
// CHECK: llvm.inline_asm has_side_effects "cp.async.cg.shared.global.L2::128B [$0], [$1], 16;"
// CHECK: ^bb1:
// CHECK: llvm.inline_asm has_side_effects "cp.async.cg.shared.global.L2::128B [$0], [$1], 16;"
gpu.module @kernels {
  llvm.func @two_blocks(%dst: !llvm.ptr<3>, %src: !llvm.ptr<1>) {
    %c8 = llvm.mlir.constant(8 : index) : i64
    nvvm.cp.async.shared.global %dst, %src, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
    llvm.br ^bb1
  ^bb1:
    %d = llvm.getelementptr %dst[%c8] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f16
    %s = llvm.getelementptr %src[%c8] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, f16
    nvvm.cp.async.shared.global %d, %s, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
    llvm.return
  }
}
