// RUN: sqa-opt %s --split-input-file --verify-diagnostics --pass-pipeline="builtin.module(gpu.module(sqa-check-ptx-symbols))" | FileCheck %s

// Names PTX can spell pass unchanged, the gpu.module's own name included
// (it is not a PTX symbol).
// CHECK-LABEL: gpu.module @"kernels-v1"
// CHECK: gpu.func @attn_kernel()
// CHECK: gpu.func @_x$1()
// CHECK: gpu.func @"$helper"()
gpu.module @"kernels-v1" {
  gpu.func @attn_kernel() kernel {
    gpu.return
  }
  gpu.func @_x$1() {
    gpu.return
  }
  gpu.func @"$helper"() {
    gpu.return
  }
}

// -----

gpu.module @kernels {
  // expected-error @+1 {{symbol 'my-kernel_kernel' is not a PTX identifier ([a-zA-Z][a-zA-Z0-9_$]* or [_$%][a-zA-Z0-9_$]+)}}
  gpu.func @"my-kernel_kernel"() kernel {
    gpu.return
  }
}

// -----

gpu.module @kernels {
  // expected-error @+1 {{symbol 'attn.v2' is not a PTX identifier}}
  gpu.func @attn.v2() {
    gpu.return
  }
}

// -----

gpu.module @kernels {
  // expected-error @+1 {{symbol '_' is not a PTX identifier}}
  gpu.func @_() {
    gpu.return
  }
}

// -----

gpu.module @kernels {
  // expected-error @+1 {{symbol '1st' is not a PTX identifier}}
  gpu.func @"1st"() {
    gpu.return
  }
}
