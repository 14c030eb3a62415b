//===- Npy.h - Minimal NumPy .npy reader and writer -------------*- C++ -*-===//
//
// sqa-run exchanges tensors with NumPy through .npy files (format versions
// 1.0 to 3.0, little-endian, C order). LLVM and MLIR have no reader for the
// format, hence this small one.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_TOOLS_SQA_RUN_NPY_H
#define SQA_TOOLS_SQA_RUN_NPY_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace npy {

/// A dense C-order array as stored in a .npy file.
struct NpyArray {
  /// The NumPy type string, e.g. "<f4", "<f2", "<u2".
  std::string descr;
  llvm::SmallVector<int64_t> shape;
  std::vector<char> data;

  int64_t getNumElements() const;
};

/// Reads `path`; fails with a message for missing files, bad headers,
/// Fortran order, big-endian data and truncated payloads.
llvm::Expected<NpyArray> readNpy(llvm::StringRef path);

/// Writes `array` to `path` in format 1.0.
llvm::Error writeNpy(llvm::StringRef path, const NpyArray &array);

} // namespace npy

#endif // SQA_TOOLS_SQA_RUN_NPY_H
