//===- SQABase.td - SQA dialect definition -----------------*- tablegen -*-===//
//
// The sqa dialect and the base class of its ops.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_DIALECT_SQA_IR_SQABASE_TD
#define SQA_DIALECT_SQA_IR_SQABASE_TD

include "mlir/IR/OpBase.td"

def SQA_Dialect : Dialect {
  let name = "sqa";
  let cppNamespace = "::mlir::sqa";
  let summary = "Attention with independent query and key/value head counts";
  let description = [{
    The `sqa` dialect models scaled dot-product attention whose number of
    query heads and number of key/value heads are independent: multi-head
    (MHA), grouped-query (GQA), multi-query (MQA) and Sparse Query Attention
    (SQA, arXiv 2510.01817) with all its variants, including reverse SQA where
    there are fewer query heads than key/value heads.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
  let useDefaultAttributePrinterParser = 1;
  // `sqa.schedule` (a ScheduleAttr) is checked where it is attached.
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    /// The name of the discardable attribute that carries an op's kernel
    /// schedule.
    static constexpr ::llvm::StringLiteral getScheduleAttrName() {
      return ::llvm::StringLiteral("sqa.schedule");
    }
  }];
}

class SQA_Op<string mnemonic, list<Trait> traits = []>
    : Op<SQA_Dialect, mnemonic, traits>;

#endif // SQA_DIALECT_SQA_IR_SQABASE_TD
