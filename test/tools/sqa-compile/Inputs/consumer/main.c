/* Calls a generated kernel library's launch functions with bad and good
 * arguments and prints the status of each call. Built against the library
 * by emit-library-cmake.test (CMake package) and emit-library-launcher.test
 * (gcc and g++), with no CUDA toolkit. Without a GPU the driver is either
 * missing (every call that passes the argument checks returns the no-driver
 * status) or the CUDA stub library (such calls fail in the driver).
 */
#include "attn.h"

#include <stdio.h>

static attn_tensor tensor(void *data, int64_t b, int64_t h, int64_t s,
                          int64_t d) {
  /* [B, H, S, D], contiguous. */
  attn_tensor t = {data, {b, h, s, d}, {h * s * d, s * d, d, 1}};
  return t;
}

static void report(const char *what, attn_status status) {
  printf("%s: %s", what, attn_status_string(status));
  if (status == attn_ERROR_CUDA)
    printf(" (CUresult %d)", attn_last_cuda_result());
  if (status == attn_ERROR_NO_DRIVER)
    printf(" (%s)", attn_driver_error());
  printf("\n");
}

int main(void) {
  char *device = (char *)0x10000; /* never dereferenced by the launcher */
  attn_tensor q = tensor(device, 2, 4, 128, 16);
  attn_tensor k = tensor(device, 2, 4, 128, 16);
  attn_tensor v = tensor(device, 2, 4, 128, 16);
  attn_tensor out = tensor(device, 2, 4, 128, 16);

  report("null query", attn_xsqa(NULL, &k, &v, &out, NULL));
  attn_tensor bad = q;
  bad.data = NULL;
  report("null data", attn_xsqa(&bad, &k, &v, &out, NULL));
  bad = tensor(device + 1, 2, 4, 128, 16);
  report("odd address", attn_xsqa(&bad, &k, &v, &out, NULL));
  /* The tensor-core kernel copies rows in 16-byte chunks. */
  bad = tensor(device + 8, 2, 4, 128, 16);
  report("key at 8 bytes", attn_xsqa(&q, &bad, &v, &out, NULL));
  bad = q;
  bad.strides[2] = 20;
  report("row stride 40 bytes", attn_xsqa(&bad, &k, &v, &out, NULL));
  bad = tensor(device, 2, 8, 128, 16);
  report("query heads 8", attn_xsqa(&bad, &k, &v, &out, NULL));
  bad = tensor(device, 2, 4, 128, 32);
  report("head dim 32", attn_xsqa(&bad, &k, &v, &out, NULL));
  bad = tensor(device, 3, 4, 128, 16);
  report("batch 3 vs 2", attn_xsqa(&q, &k, &bad, &out, NULL));
  bad = tensor(device, 2, 4, 64, 16);
  report("value length 64 vs 128", attn_xsqa(&q, &k, &bad, &out, NULL));
  bad = tensor(device, 2, 4, 64, 16);
  report("output length 64 vs 128", attn_xsqa(&q, &k, &v, &bad, NULL));
  bad = q;
  bad.shape[2] = -1;
  report("negative length", attn_xsqa(&bad, &k, &v, &out, NULL));
  bad = q;
  bad.strides[3] = 2;
  report("innermost stride 2", attn_xsqa(&bad, &k, &v, &out, NULL));
  bad = q;
  bad.strides[1] = -16;
  report("negative stride", attn_xsqa(&bad, &k, &v, &out, NULL));
  attn_tensor big = tensor(device, 70000, 4, 128, 16);
  report("batch 70000", attn_xsqa(&big, &big, &big, &big, NULL));

  attn_tensor empty = tensor(NULL, 2, 4, 0, 16);
  report("no query rows", attn_xsqa(&empty, &k, &v, &empty, NULL));

  report("valid [B,H,S,D]", attn_xsqa(&q, &k, &v, &out, NULL));
  /* [B, S, H, D] storage: the same logical tensor, other strides. */
  attn_tensor bshd = {device, {2, 4, 128, 16}, {128 * 4 * 16, 16, 4 * 16, 1}};
  report("valid [B,S,H,D]", attn_xsqa(&bshd, &bshd, &bshd, &bshd, NULL));

  /* rsqa: 4 query heads, 8 key/value and output heads, lse. */
  attn_tensor rq = tensor(device, 1, 4, 100, 64);
  attn_tensor rkv = tensor(device, 1, 8, 300, 64);
  attn_tensor rout = tensor(device, 1, 8, 100, 64);
  attn_tensor lse = {device, {1, 8, 100, 0}, {800, 100, 1, 0}};
  report("rsqa without lse", attn_rsqa(&rq, &rkv, &rkv, &rout, NULL, NULL));
  attn_tensor badLse = lse;
  badLse.shape[2] = 99;
  report("rsqa lse length 99", attn_rsqa(&rq, &rkv, &rkv, &rout, &badLse, NULL));
  report("rsqa valid", attn_rsqa(&rq, &rkv, &rkv, &rout, &lse, NULL));
  return 0;
}
