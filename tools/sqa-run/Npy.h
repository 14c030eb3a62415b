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

/// The header of a .npy file: what its payload holds, and where.
struct NpyHeader {
  /// The NumPy type string, e.g. "<f4", "<f2", "<u2".
  std::string descr;
  llvm::SmallVector<int64_t> shape;
  /// The payload's offset in the file and its size in bytes.
  uint64_t payloadOffset = 0;
  int64_t payloadSize = 0;

  int64_t getNumElements() const;
};

/// Reads only the header of `path` and checks that the file's size is the
/// header's plus the payload its shape and dtype need, so that a caller can
/// check shapes before reading (or allocating for) any payload. Fails with a
/// message for missing files, bad or overlong headers, Fortran order,
/// big-endian data and truncated or overlong payloads.
llvm::Expected<NpyHeader> readNpyHeader(llvm::StringRef path);

/// Reads the payload of `path`, described by `header`, into `destination`
/// (header.payloadSize bytes), streamed from the file: no second copy.
llvm::Error readNpyPayload(llvm::StringRef path, const NpyHeader &header,
                           char *destination);

/// A dense C-order array, for writing.
struct NpyArray {
  std::string descr;
  llvm::SmallVector<int64_t> shape;
  std::vector<char> data;

  int64_t getNumElements() const;
};

/// Writes `array` to `path` in format 1.0.
llvm::Error writeNpy(llvm::StringRef path, const NpyArray &array);

} // namespace npy

#endif // SQA_TOOLS_SQA_RUN_NPY_H
