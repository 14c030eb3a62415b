//===- Version.h - sqa's version for the tools ------------------*- C++ -*-===//
//
// One version for the tools, the libraries and the Python package: the CMake
// project's. The package checks it against the tools it runs (python/sqa/
// tools.py), so a package and tools of different releases are refused
// rather than mixed.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_TOOLS_VERSION_H
#define SQA_TOOLS_VERSION_H

#include "llvm/ADT/StringRef.h"

namespace mlir {
namespace sqa {

/// sqa's version, e.g. "0.1.0".
llvm::StringRef getVersion();

/// Makes a tool's --version print "sqa version <getVersion()>" after LLVM's
/// own version text. Call before parsing the command line.
void registerVersionPrinter();

} // namespace sqa
} // namespace mlir

#endif // SQA_TOOLS_VERSION_H
