// Upstream mlir-opt (Debian's, on the same libMLIR.so) with the sqa plugin:
// the dialect parses and prints through --load-dialect-plugin, and the sqa
// passes and pipelines run through --load-pass-plugin. A host loads pass
// plugins after parsing its command line, so their passes are named in
// --pass-pipeline. Without the plugin the op is unknown.

// RUN: mlir-opt %s --load-dialect-plugin=%sqa_plugin | FileCheck %s --check-prefix=ROUNDTRIP
// RUN: mlir-opt %s --load-dialect-plugin=%sqa_plugin --load-pass-plugin=%sqa_plugin --pass-pipeline="builtin.module(func.func(sqa-tile-and-fuse{q-block=16 kv-block=16}))" | FileCheck %s --check-prefix=TILED
// RUN: mlir-opt %s --load-dialect-plugin=%sqa_plugin --load-pass-plugin=%sqa_plugin --pass-pipeline="builtin.module(sqa-cpu-pipeline)" | FileCheck %s --check-prefix=CPU
// RUN: mlir-opt %s --load-dialect-plugin=%sqa_plugin --load-pass-plugin=%sqa_plugin --pass-pipeline="builtin.module(sqa-gpu-pipeline{chip=sm_80})" | FileCheck %s --check-prefix=GPU
// RUN: not mlir-opt %s 2>&1 | FileCheck %s --check-prefix=NONE

// ROUNDTRIP: sqa.attention ins(%{{.*}}) outs(%{{.*}}) mask = causal_bottom_right
// TILED: scf.forall
// TILED: scf.for
// TILED-NOT: sqa.attention
// CPU: llvm.func @f
// CPU-NOT: sqa.attention
// GPU: gpu.binary @f_kernel
// NONE: error: Dialect `sqa' not found for custom op 'sqa.attention'
func.func @f(%q: tensor<1x4x64x16xf16>, %k: tensor<1x2x64x16xf16>, %o: tensor<1x4x64x16xf16>) -> tensor<1x4x64x16xf16> {
  %r = sqa.attention ins(%q, %k, %k : tensor<1x4x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>)
                     outs(%o : tensor<1x4x64x16xf16>) mask = causal_bottom_right -> tensor<1x4x64x16xf16>
  return %r : tensor<1x4x64x16xf16>
}
