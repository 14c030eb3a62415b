//===- SQA.td - SQA dialect umbrella -----------------------*- tablegen -*-===//

#ifndef SQA_DIALECT_SQA_IR_SQA_TD
#define SQA_DIALECT_SQA_IR_SQA_TD

include "sqa/Dialect/SQA/IR/SQABase.td"
include "sqa/Dialect/SQA/IR/SQAAttrs.td"
include "sqa/Dialect/SQA/IR/SQAInterfaces.td"
include "sqa/Dialect/SQA/IR/SQAOps.td"

#endif // SQA_DIALECT_SQA_IR_SQA_TD
