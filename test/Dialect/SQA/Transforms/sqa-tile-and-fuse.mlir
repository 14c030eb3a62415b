// RUN: sqa-opt %s --sqa-tile-and-fuse="q-block=32 kv-block=64" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: not sqa-opt %s --sqa-tile-and-fuse="q-block=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=BADBLOCK

// GQA 4/2, Sq = Skv = 256, causal: the FlashAttention loop nest.
// CHECK-DAG: #[[KVHEAD:.+]] = affine_map<(d0) -> (d0 floordiv 2)>
// CHECK-LABEL: func.func @gqa_causal
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: {{.+}}, %[[K:[a-z0-9]+]]: {{.+}}, %[[V:[a-z0-9]+]]: {{.+}}, %[[O:[a-z0-9]+]]: {{.+}})
// Parallel over (batch, output head, q-block of 32 rows), in place on out.
// CHECK: %[[R:.+]] = scf.forall (%[[B:.+]], %[[H:.+]], %[[I:.+]]) = (0, 0, 0) to (2, 4, 256) step (1, 1, 32) shared_outs(%[[OUT:.+]] = %[[O]])
// The key/value head is index arithmetic on the slice offsets.
// CHECK: %[[KVH:.+]] = affine.apply #[[KVHEAD]](%[[H]])
// CHECK: %[[QT:.+]] = tensor.extract_slice %[[Q]][%[[B]], %[[H]], %[[I]], 0] [1, 1, 32, 16]
// CHECK: %[[KT:.+]] = tensor.extract_slice %[[K]][%[[B]], %[[KVH]], 0, 0] [1, 1, 256, 16]
// CHECK: %[[VT:.+]] = tensor.extract_slice %[[V]][%[[B]], %[[KVH]], 0, 0] [1, 1, 256, 16]
// CHECK: %[[OT:.+]] = tensor.extract_slice %[[OUT]][%[[B]], %[[H]], %[[I]], 0] [1, 1, 32, 16]
// Causal: the key loop ends at the last key of the tile's last row, so
// blocks above the diagonal are never visited.
// CHECK: %[[END:.+]] = arith.minsi
// Sequential over key blocks of 64, carrying max, sum and the f32 accumulator.
// CHECK: %[[LOOP:.+]]:3 = scf.for %[[J:.+]] = %c0 to %[[END]] step %c64 iter_args(%[[M:.+]] = %{{.+}}, %[[L:.+]] = %{{.+}}, %[[ACC:.+]] = %{{.+}}) -> (tensor<1x1x?xf32>, tensor<1x1x32xf32>, tensor<1x1x32x16xf32>)
// CHECK: %[[KB:.+]] = tensor.extract_slice %[[KT]][0, 0, %[[J]], 0] [1, 1, %{{.+}}, 16]
// CHECK: %[[VB:.+]] = tensor.extract_slice %[[VT]][0, 0, %[[J]], 0] [1, 1, %{{.+}}, 16]
// Scores of one q-block x kv-block tile only.
// CHECK: %[[S:.+]] = linalg.generic {{.+}} ins(%[[QT]], %[[KB]] : tensor<1x1x32x16xf16>, tensor<1x1x?x16xf16>) outs(%{{.+}} : tensor<1x1x32x?xf32>)
// Scale and elementwise mask of the block.
// CHECK: %[[SM:.+]] = linalg.generic {{.+}} outs(%[[S]] : tensor<1x1x32x?xf32>)
// CHECK: linalg.index 3
// CHECK: arith.select
// CHECK: %[[BMAX:.+]] = linalg.generic {{.+}} ins(%[[SM]] : tensor<1x1x32x?xf32>)
// CHECK: arith.maximumf
// New max and the correction exp2(m - m') in one op.
// CHECK: %[[MC:.+]]:2 = linalg.generic {{.+}} ins(%[[BMAX]] : tensor<1x1x32xf32>)
// CHECK: math.exp2
// CHECK: %[[P:.+]] = linalg.generic {{.+}} ins(%[[MC]]#0 : tensor<1x1x32xf32>) outs(%[[SM]] : tensor<1x1x32x?xf32>)
// CHECK: math.exp2
// CHECK: linalg.generic {{.+}} ins(%[[MC]]#1 : tensor<1x1x32xf32>) outs(%[[L]] : tensor<1x1x32xf32>)
// CHECK: %[[NEWL:.+]] = linalg.generic {{.+}} ins(%[[P]] : tensor<1x1x32x?xf32>)
// CHECK: %[[ACCS:.+]] = linalg.generic {{.+}} ins(%[[MC]]#1 : tensor<1x1x32xf32>) outs(%[[ACC]] : tensor<1x1x32x16xf32>)
// CHECK: %[[NEWACC:.+]] = linalg.generic {{.+}} ins(%[[P]], %[[VB]] : tensor<1x1x32x?xf32>, tensor<1x1x?x16xf16>) outs(%[[ACCS]] : tensor<1x1x32x16xf32>)
// CHECK: scf.yield %{{.+}}, %[[NEWL]], %[[NEWACC]]
// Normalisation after the loop, into the out tile.
// CHECK: %[[FINAL:.+]] = linalg.generic {{.+}} ins(%[[LOOP]]#2, %[[LOOP]]#1 : {{.+}}) outs(%[[OT]] : tensor<1x1x32x16xf16>)
// CHECK: arith.divf
// CHECK: arith.truncf
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %[[FINAL]] into %[[OUT]][%[[B]], %[[H]], %[[I]], 0] [1, 1, 32, 16]
// CHECK: return %[[R]]
// No value of Sq x Skv = 256 x 256 elements exists anywhere.
// CHECK-NOT: 256x256
// BADBLOCK: error: sqa-tile-and-fuse: q-block and kv-block must be positive
func.func @gqa_causal(%q: tensor<2x4x256x16xf16>, %k: tensor<2x2x256x16xf16>, %v: tensor<2x2x256x16xf16>,
                      %o: tensor<2x4x256x16xf16>) -> tensor<2x4x256x16xf16> {
  %r = sqa.attention ins(%q, %k, %v : tensor<2x4x256x16xf16>, tensor<2x2x256x16xf16>, tensor<2x2x256x16xf16>)
                     outs(%o : tensor<2x4x256x16xf16>) mask = causal_bottom_right -> tensor<2x4x256x16xf16>
  return %r : tensor<2x4x256x16xf16>
}

// -----

// Reverse SQA with a window, dynamic sizes and lse: the query head is
// h mod 2, the key loop starts at the block holding the window's left edge
// of the tile's first row, and lse is produced in log2 units times ln 2.
// CHECK-DAG: #[[QHEAD:.+]] = affine_map<(d0) -> (d0 mod 2)>
// CHECK-LABEL: func.func @rsqa_window_lse
// CHECK-DAG: %[[LN2:.+]] = arith.constant 0.693147182 : f32
// CHECK: scf.forall (%[[B:.+]], %[[H:.+]], %[[I:.+]]) = (0, 0, 0) to (%{{.+}}, 6, %{{.+}}) step (1, 1, 32)
// CHECK: %[[QH:.+]] = affine.apply #[[QHEAD]](%[[H]])
// CHECK: tensor.extract_slice %{{.+}}[%[[B]], %[[QH]], %[[I]], 0] [1, 1, %{{.+}}, 8]
// CHECK: tensor.extract_slice %{{.+}}[%[[B]], %[[H]], 0, 0] [1, 1, %{{.+}}, 8]
// The first key visible to the tile, rounded down to a multiple of 64.
// CHECK: %[[LEFT:.+]] = arith.subi %{{.+}}, %c100
// CHECK: %[[FIRST:.+]] = arith.maxsi %[[LEFT]], %c0
// CHECK: %[[BLOCK:.+]] = arith.divui %[[FIRST]], %c64
// CHECK: %[[START:.+]] = arith.muli %[[BLOCK]], %c64
// CHECK: scf.for %{{.+}} = %[[START]] to %{{.+}} step %c64
// CHECK: math.log2
// CHECK: arith.addf
// CHECK: arith.mulf %{{.+}}, %[[LN2]]
// CHECK-NOT: sqa.attention
func.func @rsqa_window_lse(%q: tensor<?x2x?x8xf32>, %k: tensor<?x6x?x8xf32>, %v: tensor<?x6x?x8xf32>,
                           %o: tensor<?x6x?x8xf32>, %l: tensor<?x6x?xf32>) -> (tensor<?x6x?x8xf32>, tensor<?x6x?xf32>) {
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<?x2x?x8xf32>, tensor<?x6x?x8xf32>, tensor<?x6x?x8xf32>)
                       outs(%o, %l : tensor<?x6x?x8xf32>, tensor<?x6x?xf32>) window = [100, 3]
                       -> tensor<?x6x?x8xf32>, tensor<?x6x?xf32>
  return %r#0, %r#1 : tensor<?x6x?x8xf32>, tensor<?x6x?xf32>
}
