# -*- Python -*-
"""lit configuration of the sqa tests."""

import os
import subprocess

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "SQA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.sqa_obj_root, "test")

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tools = ["sqa-opt", "sqa-run", "sqa-compile", "sqa-capi-test"]
llvm_config.add_tool_substitutions(tools, [config.sqa_tools_dir])
config.substitutions.append(("%python", config.sqa_python))
config.substitutions.append(("%sqa_src", config.sqa_src_root))
config.substitutions.append(("%sqa_version", config.sqa_version))
config.substitutions.append(("%sqa_obj", config.sqa_obj_root))

# Which slice of the long emulated sweeps runs: "ci" (the default, what CI
# and scripts/test.sh run) or "full" (scripts/test.sh --full, lit --param
# sweep=full), which adds the cases marked full_sweep in
# python/tests/numerics.py. %sqa_sweep is numerics.py's --sweep; tests check
# their case counts under the prefix %sqa_sweep_prefix (CI or FULL).
sweep = lit_config.params.get("sweep", "ci")
if sweep not in ("ci", "full"):
    lit_config.fatal(f"--param sweep={sweep}: expected ci or full")
config.substitutions.append(("%sqa_sweep_prefix", sweep.upper()))
config.substitutions.append(("%sqa_sweep", sweep))
if sweep == "full":
    config.available_features.add("full-sweep")

# ptxas assembles the generated PTX where the CUDA toolkit is installed; the
# tests that need it are UNSUPPORTED elsewhere.
if config.sqa_ptxas and os.path.exists(config.sqa_ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.sqa_ptxas))

# The driver's stub library (the CUDA toolkit's lib64/stubs): generated
# launchers load it as libcuda.so.1 and their calls reach a "driver".
if config.sqa_cuda_stub_library and os.path.exists(config.sqa_cuda_stub_library):
    config.available_features.add("cuda-driver-stub")
    config.substitutions.append(("%cuda_stub", config.sqa_cuda_stub_library))
# A real CUDA driver (libcuda.so.1 loadable): tests that expect launchers to
# find no driver do not apply.
try:
    import ctypes
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
config.substitutions.append(("%cmake", config.cmake_command))
# pkg-config (Debian's pkgconf), for the C API's sqa-c.pc.
import shutil
if shutil.which("pkg-config"):
    config.available_features.add("pkg-config")

# LLVM's OpenMP runtime: sqa-run's tensor-core lowering runs one host thread
# per GPU thread on it.
if config.sqa_libomp and os.path.exists(config.sqa_libomp):
    config.available_features.add("libomp")
    config.substitutions.append(("%libomp", config.sqa_libomp))
# The plugin for upstream MLIR tools (lib/Plugin), and Debian's mlir-opt to
# load it into.
config.substitutions.append(
    ("%sqa_plugin", os.path.join(config.sqa_obj_root, "lib", "SQAPlugin.so")))
llvm_config.add_tool_substitutions(["mlir-opt"], [config.llvm_tools_dir])
# mlir-runner and its C runtime, for tests that print from IR.
llvm_config.add_tool_substitutions(["mlir-runner"], [config.llvm_tools_dir])
config.substitutions.append(
    ("%mlir_c_runner_utils",
     os.path.join(os.path.dirname(config.llvm_tools_dir), "lib",
                  "libmlir_c_runner_utils.so")))

# NumPy for the numerical tests, pytest for the Python package's tests (which
# skip what needs torch or a GPU where those are missing), torch for the
# scripts that derive kernel configurations as the PyTorch front end does,
# pip (with setuptools) to install the package.
for module in ("numpy", "pytest", "torch", "pip"):
    try:
        subprocess.run([config.sqa_python, "-c", f"import {module}"],
                       check=True, capture_output=True)
        config.available_features.add(module)
    except (OSError, subprocess.CalledProcessError):
        pass

# A current torch beside Debian 12's 1.13 (scripts/torch-root.sh: Debian 13's
# torch in a debootstrapped root, which scripts/test.sh makes): the tests of
# the torch >= 2.4 front end (custom ops, torch.compile, torch.export) run in it.
if os.path.exists(os.path.join(config.sqa_obj_root, "torch-root", ".sqa-ready")):
    config.available_features.add("torch-root")
