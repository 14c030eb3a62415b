//===- Version.cpp - sqa's version for the tools --------------------------===//

#include "sqa/Tools/Version.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#ifndef SQA_VERSION
#error "SQA_VERSION (the CMake project's version) must be defined"
#endif

llvm::StringRef mlir::sqa::getVersion() { return SQA_VERSION; }

void mlir::sqa::registerVersionPrinter() {
  llvm::cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "sqa version " << getVersion() << "\n";
  });
}
