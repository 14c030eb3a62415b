// RUN: sqa-opt %s --sqa-tile-and-fuse="q-block=32 kv-block=64" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: not sqa-opt %s --sqa-tile-and-fuse="q-block=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=BADBLOCK
// RUN: not sqa-opt %s --sqa-tile-and-fuse="kv-block=1099511627776" --split-input-file 2>&1 | FileCheck %s --check-prefix=BADBLOCK

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
// BADBLOCK: error: sqa-tile-and-fuse: q-block and kv-block must be in [1, 65536]
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

// -----

// The backward of GQA 4/2 (f16 in, f32 dq, f16 dk and dv), causal,
// Sq = Skv = 256: FlashAttention-2's two parallel nests, no 256 x 256 value.
// CHECK-DAG: #[[HEAD_OF_GROUP:.+]] = affine_map<(d0, d1) -> (d0 * 2 + d1)>
// CHECK-DAG: #[[KV_OF_HEAD:.+]] = affine_map<(d0) -> (d0 floordiv 2)>
// CHECK-LABEL: func.func @gqa_grad
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: {{.+}}, %[[K:[a-z0-9]+]]: {{.+}}, %[[V:[a-z0-9]+]]: {{.+}}, %[[O:[a-z0-9]+]]: {{.+}}, %[[DO:[a-z0-9]+]]: {{.+}}, %[[LSE:[a-z0-9]+]]: {{.+}}, %[[DQ:[a-z0-9]+]]: {{.+}}, %[[DK:[a-z0-9]+]]: {{.+}}, %[[DV:[a-z0-9]+]]: {{.+}})
// CHECK-NOT: tensor<{{.*}}256x256
// CHECK-DAG: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// The preprocess: Dsum = rowsum(dO ∘ O), B x Ho x Sq.
// CHECK: %[[DSUM:.+]] = linalg.generic {{.+}} ins(%[[DO]], %[[O]] : {{.+}}) outs(%{{.+}} : tensor<2x4x256xf32>)
// dK and dV: parallel over (batch, key/value head, kv-block of 64).
// CHECK: %[[KV:.+]]:2 = scf.forall (%[[B:.+]], %[[KVH:.+]], %[[KB:.+]]) in (2, 2, 4) shared_outs(%[[DKO:.+]] = %[[DK]], %[[DVO:.+]] = %[[DV]])
// f16 gradients accumulate in f32 tiles of their own.
// CHECK: linalg.fill {{.+}} -> tensor<1x1x?x16xf32>
// Over the 2 output heads of the group, then the 8 q-blocks of 32 rows.
// CHECK: scf.for %[[G:.+]] = %c0 to %c2 step %c1 iter_args
// CHECK: %[[H:.+]] = affine.apply #[[HEAD_OF_GROUP]](%[[KVH]], %[[G]])
// CHECK: scf.for %{{.+}} = %c0 to %c8 step %c1 iter_args
// Only the q-blocks whose rows see a key of the kv-block (the causal
// schedule skips the others).
// CHECK: scf.if %{{.+}} -> (tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>)
// CHECK: tensor.extract_slice %[[Q]][%[[B]], %[[H]],
// CHECK: tensor.extract_slice %[[LSE]][%[[B]], %[[H]],
// CHECK: tensor.extract_slice %[[DSUM]][%[[B]], %[[H]],
// Scores of one q-block x kv-block tile (32 x 64 but for ragged tails).
// CHECK: linalg.generic {{.+}} outs(%{{.+}} : tensor<1x1x?x?xf32>)
// CHECK: math.exp
// CHECK: arith.subf
// CHECK: scf.yield
// dK is scaled (1/sqrt(16)) and both are written in f16 into their tiles.
// CHECK: arith.mulf %{{.+}}, %[[SCALE]] : f32
// CHECK: arith.truncf
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}} into %[[DKO]][%[[B]], %[[KVH]],
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}} into %[[DVO]][%[[B]], %[[KVH]],
// dQ: parallel over (batch, query head, q-block); the f32 tile of dq itself
// is the accumulator.
// CHECK: %[[QR:.+]] = scf.forall (%[[QB:.+]], %[[QHD:.+]], %{{.+}}) in (2, 4, 8) shared_outs(%[[DQO:.+]] = %[[DQ]])
// CHECK: %[[DQT:.+]] = tensor.extract_slice %[[DQO]]
// CHECK: linalg.fill {{.+}} outs(%[[DQT]] :
// The one output head reading the query head (a loop of one iteration, which
// canonicalization removes), its key/value head, and the kv-blocks the
// forward visits.
// CHECK: affine.apply #[[KV_OF_HEAD]](%[[QHD]])
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1 iter_args
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}} into %[[DQO]][%[[QB]], %[[QHD]],
// CHECK: return %[[QR]], %[[KV]]#0, %[[KV]]#1
// CHECK-NOT: sqa.attention_grad
func.func @gqa_grad(%q: tensor<2x4x256x16xf16>, %k: tensor<2x2x256x16xf16>, %v: tensor<2x2x256x16xf16>,
                    %o: tensor<2x4x256x16xf16>, %do: tensor<2x4x256x16xf16>, %lse: tensor<2x4x256xf32>,
                    %dq: tensor<2x4x256x16xf32>, %dk: tensor<2x2x256x16xf16>, %dv: tensor<2x2x256x16xf16>)
    -> (tensor<2x4x256x16xf32>, tensor<2x2x256x16xf16>, tensor<2x2x256x16xf16>) {
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : tensor<2x4x256x16xf16>, tensor<2x2x256x16xf16>,
                                tensor<2x2x256x16xf16>, tensor<2x4x256x16xf16>, tensor<2x4x256x16xf16>, tensor<2x4x256xf32>)
                            outs(%dq, %dk, %dv : tensor<2x4x256x16xf32>, tensor<2x2x256x16xf16>, tensor<2x2x256x16xf16>)
                            mask = causal_bottom_right
                            -> tensor<2x4x256x16xf32>, tensor<2x2x256x16xf16>, tensor<2x2x256x16xf16>
  return %r#0, %r#1, %r#2 : tensor<2x4x256x16xf32>, tensor<2x2x256x16xf16>, tensor<2x2x256x16xf16>
}

// -----

// A statically empty key sequence: no row sees a key, so the op becomes what
// such rows get (zeros, lse = -inf) instead of a loop nest over empty slices.

// CHECK-LABEL: func.func @no_keys
//  CHECK-DAG:   %[[ZERO:.+]] = arith.constant 0.000000e+00 : f16
//  CHECK-DAG:   %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
//      CHECK:   %[[OUT:.+]] = linalg.fill ins(%[[ZERO]] : f16) outs(%{{.+}} : tensor<1x4x8x16xf16>)
//      CHECK:   %[[LSE:.+]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%{{.+}} : tensor<1x4x8xf32>)
//      CHECK:   return %[[OUT]], %[[LSE]]
//  CHECK-NOT:   sqa.attention
func.func @no_keys(%q: tensor<1x4x8x16xf16>, %k: tensor<1x2x0x16xf16>, %v: tensor<1x2x0x16xf16>,
                   %o: tensor<1x4x8x16xf16>, %l: tensor<1x4x8xf32>) -> (tensor<1x4x8x16xf16>, tensor<1x4x8xf32>) {
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<1x4x8x16xf16>, tensor<1x2x0x16xf16>, tensor<1x2x0x16xf16>)
                       outs(%o, %l : tensor<1x4x8x16xf16>, tensor<1x4x8xf32>) mask = causal_bottom_right
                       -> tensor<1x4x8x16xf16>, tensor<1x4x8xf32>
  return %r#0, %r#1 : tensor<1x4x8x16xf16>, tensor<1x4x8xf32>
}
