// RUN: sqa-opt %s --sqa-gpu-pipeline | FileCheck %s
// RUN: sqa-opt %s --sqa-gpu-pipeline="chip=sm_90 features=+ptx80 kernel=rowwise rows-per-block=64" | FileCheck %s --check-prefix=SM90
// RUN: sqa-opt %s --sqa-gpu-pipeline="kernel=tensor-core warps=2" | FileCheck %s --check-prefix=WARPS2
// RUN: sqa-opt %s --sqa-gpu-pipeline="min-blocks-per-sm=0" | FileCheck %s --check-prefix=NOBOUND
// A target the kernels cannot use is an error of the pipeline's options, not
// an abort in LLVM's instruction selection.
// RUN: not sqa-opt %s --sqa-gpu-pipeline="chip=sm_70" 2>&1 | FileCheck %s --check-prefix=OLDCHIP
// OLDCHIP: error: sqa-gpu-pipeline: chip 'sm_70' is too old: the kernels need sm_80 or newer
// RUN: not sqa-opt %s --sqa-gpu-pipeline="chip=sm_90 features=+ptx70" 2>&1 | FileCheck %s --check-prefix=OLDPTX
// OLDPTX: error: sqa-gpu-pipeline: features '+ptx70' select PTX 7.0, but chip 'sm_90' needs PTX 7.8 or newer (+ptx78)

// The host function launches one kernel over a (row block, head, batch) grid
// of 128-thread blocks (4 warps), and the kernel is PTX for sm_80 in a
// gpu.binary: by default the tensor-core kernel (mma.sync, ldmatrix,
// cp.async) for this bf16 op with head dim 16.
// CHECK-LABEL: llvm.func @xsqa
// CHECK: gpu.launch_func @xsqa_kernel::@xsqa_kernel blocks in (%{{.+}}, %{{.+}}, %{{.+}}) threads in (%{{.+}}, %{{.+}}, %{{.+}}) : i64
// CHECK: gpu.binary @xsqa_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// CHECK-SAME: .target sm_80
// CHECK-SAME: .entry xsqa_kernel(
// CHECK-SAME: .maxntid 128, 1, 1
// The register budget of one resident block per SM (sqa-set-nvvm-launch-bounds).
// CHECK-SAME: .minnctapersm 1
// Copies with the L2 prefetch of 128 bytes (sqa-cp-async-l2-prefetch).
// CHECK-DAG: cp.async.cg.shared.global.L2::128B
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// exp2 and log2 are single NVVM approximations, not libdevice calls.
// CHECK-DAG: ex2.approx.ftz.f32
// CHECK-DAG: lg2.approx.ftz.f32
// CHECK-NOT: __nv_
// CHECK-NOT: unrealized_conversion_cast

// SM90: chip = "sm_90"
// SM90-SAME: .maxntid 64, 1, 1
// SM90-NOT: mma.sync

// WARPS2: .maxntid 64, 1, 1
// WARPS2-SAME: mma.sync

// NOBOUND: .maxntid 128, 1, 1
// NOBOUND-NOT: .minnctapersm
func.func @xsqa(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x4x?x16xbf16>, %v: tensor<?x4x?x16xbf16>,
                %o: tensor<?x4x?x16xbf16>, %l: tensor<?x4x?xf32>) -> (tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>) {
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>)
                       outs(%o, %l : tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>) mask = causal_bottom_right
                       -> tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
  return %r#0, %r#1 : tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
}

// RUN: not sqa-opt %s --sqa-gpu-pipeline="format=elf" 2>&1 | FileCheck %s --check-prefix=BADFORMAT
// BADFORMAT: for the --format option: Cannot find option named 'elf'

// RUN: not sqa-opt %s --sqa-gpu-pipeline="rows-per-block=-3" 2>&1 | FileCheck %s --check-prefix=BADROWS
// RUN: not sqa-opt %s --sqa-gpu-pipeline="rows-per-block=0" 2>&1 | FileCheck %s --check-prefix=ZEROROWS
// RUN: not sqa-opt %s --sqa-gpu-pipeline="kernel=rowwise rows-per-block=1025" 2>&1 | FileCheck %s --check-prefix=MANYROWS
// BADROWS: '-3' value invalid for uint argument
// ZEROROWS: error: sqa-gpu-pipeline: rows-per-block 0 must be in [1, 1024] (one thread per row)
// MANYROWS: error: sqa-gpu-pipeline: rows-per-block 1025 must be in [1, 1024] (one thread per row)

// warps=0 had left the op unlowered under kernel=tensor-core.
// RUN: not sqa-opt %s --sqa-gpu-pipeline="kernel=tensor-core warps=0" 2>&1 | FileCheck %s --check-prefix=ZEROWARPS
// RUN: not sqa-opt %s --sqa-gpu-pipeline="warps=17" 2>&1 | FileCheck %s --check-prefix=MANYWARPS
// RUN: sqa-opt %s --sqa-gpu-pipeline="kernel=rowwise warps=0" | FileCheck %s --check-prefix=ROWWISE0
// ZEROWARPS: error: sqa-gpu-pipeline: warps must be in [1, 16], got 0
// MANYWARPS: error: sqa-gpu-pipeline: warps must be in [1, 16], got 17
// ROWWISE0: .maxntid 128, 1, 1
// ROWWISE0-NOT: mma.sync

// RUN: not sqa-opt %s --sqa-gpu-pipeline="opt-level=7" 2>&1 | FileCheck %s --check-prefix=BADOPT
// BADOPT: error: sqa-gpu-pipeline: opt-level 7 must be in [0, 3]

// RUN: not sqa-opt %s --sqa-gpu-pipeline="kernel=simd" 2>&1 | FileCheck %s --check-prefix=BADKERNEL
// BADKERNEL: for the --kernel option: Cannot find option named 'simd'

// f32 has no tensor-core kernel: auto falls back to the row-wise kernel,
// tensor-core is an error at the op.
// RUN: sqa-opt %S/Inputs/f32.mlir --sqa-gpu-pipeline | FileCheck %s --check-prefix=F32
// RUN: not sqa-opt %S/Inputs/f32.mlir --sqa-gpu-pipeline="kernel=tensor-core" 2>&1 | FileCheck %s --check-prefix=F32STRICT
// F32: gpu.binary @mha_f32_kernel
// F32-NOT: mma.sync
// F32STRICT: f32.mlir:{{[0-9]+}}:{{[0-9]+}}: error: 'sqa.attention' op has no tensor-core kernel: the tensor-core kernel needs f16 or bf16 operands
