// RUN: sqa-opt %s --sqa-gpu-pipeline | FileCheck %s
// RUN: sqa-opt %s --sqa-gpu-pipeline="chip=sm_90 features=+ptx80 rows-per-block=64" | FileCheck %s --check-prefix=SM90

// The host function launches one kernel over a (row block, head, batch) grid
// of 128-thread blocks, and the kernel is PTX for sm_80 in a gpu.binary.
// CHECK-LABEL: llvm.func @xsqa
// CHECK: gpu.launch_func @xsqa_kernel::@xsqa_kernel blocks in (%{{.+}}, %{{.+}}, %{{.+}}) threads in (%{{.+}}, %{{.+}}, %{{.+}}) : i64
// CHECK: gpu.binary @xsqa_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// CHECK-SAME: .target sm_80
// CHECK-SAME: .entry xsqa_kernel(
// CHECK-SAME: .maxntid 128, 1, 1
// exp2 and log2 are single NVVM approximations, not libdevice calls.
// CHECK-SAME: ex2.approx.ftz.f32
// CHECK-SAME: lg2.approx.ftz.f32
// CHECK-NOT: __nv_
// CHECK-NOT: unrealized_conversion_cast

// SM90: chip = "sm_90"
// SM90-SAME: .maxntid 64, 1, 1
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
// BADROWS: '-3' value invalid for uint argument
// ZEROROWS: error: tile size cannot be 0
