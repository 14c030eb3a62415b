// RUN: sqa-opt %s --split-input-file --sqa-gpu-launch-to-openmp --verify-diagnostics

func.func @shuffle_down(%v: f32) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %o = arith.constant 1 : i32
  %w = arith.constant 32 : i32
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c32, %ny = %c1, %nz = %c1) {
    // expected-error @below {{'gpu.shuffle' op cannot be emulated: only xor and idx shuffles are supported}}
    %r, %valid = gpu.shuffle down %v, %o, %w : f32
    gpu.terminator
  }
  return
}

// -----

func.func @shuffle_width(%v: f32) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %o = arith.constant 1 : i32
  %w = arith.constant 16 : i32
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c32, %ny = %c1, %nz = %c1) {
    // expected-error @below {{'gpu.shuffle' op cannot be emulated: the width must be the constant 32}}
    %r, %valid = gpu.shuffle xor %v, %o, %w : f32
    gpu.terminator
  }
  return
}

// -----

func.func @mma_k8(%a: vector<2x2xf16>, %b: vector<1x2xf16>, %c: vector<2x2xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c32, %ny = %c1, %nz = %c1) {
    // expected-error @below {{'nvgpu.mma.sync' op cannot be emulated: only m16n8k16 with f16 inputs and f32 accumulators}}
    %d = nvgpu.mma.sync(%a, %b, %c) {mmaShape = [16, 8, 8]}
        : (vector<2x2xf16>, vector<1x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @nvvm_sreg() {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c1, %ny = %c1, %nz = %c1) {
    // expected-error @below {{'nvvm.read.ptx.sreg.laneid' op cannot be emulated on the host}}
    %l = nvvm.read.ptx.sreg.laneid : i32
    gpu.terminator
  }
  return
}

// -----

func.func @async_launch() {
  %c1 = arith.constant 1 : index
  %t0 = gpu.wait async
  // expected-error @below {{'gpu.launch' op cannot be emulated: async launches are not supported}}
  %t1 = gpu.launch async [%t0] blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c1, %ny = %c1, %nz = %c1) {
    gpu.terminator
  }
  gpu.wait [%t1]
  return
}

// -----

func.func @dynamic_shared_memory_without_size() {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c1, %ny = %c1, %nz = %c1) {
    // expected-error @below {{'gpu.dynamic_shared_memory' op cannot be emulated: the launch has no dynamic shared memory}}
    %smem = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
    gpu.terminator
  }
  return
}

// -----

func.func @clusters() {
  %c1 = arith.constant 1 : index
  // expected-error @below {{'gpu.launch' op cannot be emulated: clusters are not supported}}
  gpu.launch clusters(%cx, %cy, %cz) in (%ux = %c1, %uy = %c1, %uz = %c1)
             blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c1, %ny = %c1, %nz = %c1) {
    gpu.terminator
  }
  return
}

// -----

// A copy into a view of the dynamic shared memory made inside a loop of
// the kernel would not be visible at a later wait.
func.func @copy_into_nested_view(%src: memref<64xf16>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %bytes = arith.constant 1024 : i32
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c32, %ny = %c1, %nz = %c1)
             dynamic_shared_memory_size %bytes {
    %smem = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
    scf.for %i = %c0 to %n step %c1 {
      %tile = memref.view %smem[%c0][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64xf16, #gpu.address_space<workgroup>>
      // expected-error @below {{'nvgpu.device_async_copy' op cannot be emulated: its buffers must be defined outside the kernel or be workgroup attributions or constant views of the dynamic shared memory at the top of the kernel}}
      %t = nvgpu.device_async_copy %src[%c0], %tile[%c0], 8 : memref<64xf16> to memref<64xf16, #gpu.address_space<workgroup>>
    }
    gpu.terminator
  }
  return
}

// -----

func.func @several_blocks(%p: i1) {
  %c1 = arith.constant 1 : index
  // expected-error @below {{'gpu.launch' op cannot be emulated: the body must be a single block}}
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c1, %ny = %c1, %nz = %c1) {
    cf.cond_br %p, ^a, ^b
  ^a:
    gpu.terminator
  ^b:
    gpu.terminator
  }
  return
}

// -----

// Copies land at a later wait, where a buffer made inside the kernel may not
// be visible.
func.func @copy_to_local_buffer(%src: memref<64xf16>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             threads(%x, %y, %z) in (%nx = %c1, %ny = %c1, %nz = %c1) {
    %dst = memref.alloca() : memref<8xf16, #gpu.address_space<workgroup>>
    // expected-error @below {{'nvgpu.device_async_copy' op cannot be emulated: its buffers must be defined outside the kernel or be workgroup attributions}}
    %t = nvgpu.device_async_copy %src[%c0], %dst[%c0], 8
        : memref<64xf16> to memref<8xf16, #gpu.address_space<workgroup>>
    gpu.terminator
  }
  return
}
