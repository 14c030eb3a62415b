/* Exercises the C API from C: compile xSQA to PTX, run a pipeline, and get
 * diagnostics for bad input. Prints lines for FileCheck. */

#include "sqa-c/Compiler.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *kXsqa =
    "func.func @xsqa(%q: tensor<?x4x?x16xbf16>, %o: tensor<?x4x?x16xbf16>)\n"
    "    -> tensor<?x4x?x16xbf16> {\n"
    "  %r = sqa.attention ins(%q, %q, %q : tensor<?x4x?x16xbf16>,\n"
    "      tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>)\n"
    "      outs(%o : tensor<?x4x?x16xbf16>) mask = causal_bottom_right\n"
    "      -> tensor<?x4x?x16xbf16>\n"
    "  return %r : tensor<?x4x?x16xbf16>\n"
    "}\n";

static const char *kBadHeads =
    "func.func @bad(%q: tensor<1x3x2x16xf32>, %k: tensor<1x2x2x16xf32>,\n"
    "               %o: tensor<1x3x2x16xf32>) {\n"
    "  %r = sqa.attention ins(%q, %k, %k : tensor<1x3x2x16xf32>,\n"
    "      tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>)\n"
    "      outs(%o : tensor<1x3x2x16xf32>) -> tensor<1x3x2x16xf32>\n"
    "  return\n"
    "}\n";

/* Crashes MLIR 22's own parser (docs/testing.md, "Inputs that crash upstream MLIR"). */
static const char *kParserCrash =
    "func.func @f() attributes {a = array<index: 1>} {\n"
    "  return\n"
    "}\n";

static void printKernel(const char *name, const char *ptx, size_t length,
                        void *userData) {
  (void)userData;
  const char *target = strstr(ptx, ".target sm_80");
  printf("kernel %s: %zu bytes of PTX, sm_80 target: %s\n", name, length,
         target && target < ptx + length ? "yes" : "no");
}

static void printText(const char *data, size_t length, void *userData) {
  printf("%s: %.*s\n", (const char *)userData, (int)length, data);
}

/* What a pipeline printed: whether the attention op is still there, and
   whether LLVM dialect functions are. */
typedef struct PipelineOutput {
  int hasAttention, hasLLVMFunc;
} PipelineOutput;

static int contains(const char *data, size_t length, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= length; ++i)
    if (memcmp(data + i, needle, n) == 0)
      return 1;
  return 0;
}

static void inspectOutput(const char *data, size_t length, void *userData) {
  PipelineOutput *output = (PipelineOutput *)userData;
  output->hasAttention = contains(data, length, "sqa.attention");
  output->hasLLVMFunc = contains(data, length, "llvm.func @xsqa");
}

static char kDiagnostics[] = "diagnostics";

static void countKernel(const char *name, const char *ptx, size_t length,
                        void *userData) {
  (void)name;
  (void)ptx;
  (void)length;
  ++*(int *)userData;
}

/* One host thread's compilation, for the concurrent calls below: each
   verifies the GPU target (LLVM's NVPTX registration, done once) and runs
   its own pipeline. */
static void *compileInThread(void *result) {
  int kernels = 0;
  int status = sqaCompileToPTX(kXsqa, strlen(kXsqa), "sm_80", "+ptx80", 3,
                               countKernel, NULL, &kernels);
  *(int *)result = status == 1 && kernels == 1;
  return NULL;
}

int main(void) {
  int kernels = sqaCompileToPTX(kXsqa, strlen(kXsqa), "sm_80", "+ptx80", 3,
                                printKernel, printText, kDiagnostics);
  printf("compiled %d kernel(s)\n", kernels);

  /* The documented, anchored form runs on the module itself. */
  PipelineOutput output = {-1, -1};
  int status = sqaRunPipeline(
      kXsqa, strlen(kXsqa), "builtin.module(sqa-cpu-pipeline{lowering=tiled})",
      inspectOutput, NULL, &output);
  printf("cpu pipeline: status %d, sqa.attention left: %d, llvm.func: %d\n",
         status, output.hasAttention, output.hasLLVMFunc);
  output.hasAttention = output.hasLLVMFunc = -1;
  status = sqaRunPipeline(kXsqa, strlen(kXsqa),
                          "builtin.module(func.func(convert-sqa-to-linalg))",
                          inspectOutput, NULL, &output);
  printf("nested pipeline: status %d, sqa.attention left: %d\n", status,
         output.hasAttention);
  status = sqaRunPipeline(kXsqa, strlen(kXsqa), "func.func(convert-sqa-to-linalg)",
                          NULL, printText, kDiagnostics);
  printf("pipeline anchored on func.func: %d\n", status);

  kernels = sqaCompileToPTX(kBadHeads, strlen(kBadHeads), NULL, NULL, 3,
                            printKernel, printText, kDiagnostics);
  printf("bad heads: %d\n", kernels);
  status = sqaRunPipeline(kXsqa, strlen(kXsqa), "builtin.module(no-such-pass)",
                          NULL, printText, kDiagnostics);
  printf("bad pipeline: %d\n", status);
  kernels = sqaCompileToPTX(kXsqa, strlen(kXsqa), NULL, NULL, 9, printKernel,
                            printText, kDiagnostics);
  printf("bad opt level: %d\n", kernels);

  /* Hosts call the API from several threads at once. */
  enum { kThreads = 4 };
  pthread_t threads[kThreads];
  int results[kThreads] = {0};
  for (int i = 0; i < kThreads; ++i)
    pthread_create(&threads[i], NULL, compileInThread, &results[i]);
  int compiled = 0;
  for (int i = 0; i < kThreads; ++i) {
    pthread_join(threads[i], NULL);
    compiled += results[i];
  }
  printf("concurrent: %d of %d threads compiled\n", compiled, kThreads);

  /* With crash recovery asked for, the parser's crash is an error and the
   * process, and the API, go on. */
  printf("recovery: %d\n", sqaEnableParserCrashRecovery());
  kernels = sqaCompileToPTX(kParserCrash, strlen(kParserCrash), NULL, NULL, 3,
                            printKernel, printText, kDiagnostics);
  printf("parser crash: %d\n", kernels);
  status = sqaRunPipeline(kParserCrash, strlen(kParserCrash),
                          "builtin.module()", NULL, printText, kDiagnostics);
  printf("parser crash, pipeline: %d\n", status);
  kernels = sqaCompileToPTX(kXsqa, strlen(kXsqa), NULL, NULL, 3, printKernel,
                            NULL, NULL);
  printf("after the crash: compiled %d kernel(s)\n", kernels);
  return 0;
}
