/* Calls a generated backward launch function (sqa-compile --config
 * '...,grad') with bad and good arguments and prints the status of each
 * call. Built by emit-library-grad.test with gcc, no CUDA toolkit: without a
 * driver every call that passes the argument checks returns the no-driver
 * status, and calls that launch nothing succeed.
 */
#include "bwd.h"

#include <stdio.h>

static bwd_tensor tensor(void *data, int64_t b, int64_t h, int64_t s,
                         int64_t d) {
  /* [B, H, S, D], contiguous. */
  bwd_tensor t = {data, {b, h, s, d}, {h * s * d, s * d, d, 1}};
  return t;
}

static bwd_tensor rows(void *data, int64_t b, int64_t h, int64_t s) {
  bwd_tensor t = {data, {b, h, s, 0}, {h * s, s, 1, 0}};
  return t;
}

static void report(const char *what, bwd_status status) {
  printf("%s: %s", what, bwd_status_string(status));
  if (status == bwd_ERROR_NO_DRIVER)
    printf(" (%s)", bwd_driver_error());
  printf("\n");
}

int main(void) {
  char *device = (char *)0x10000; /* never dereferenced by the launcher */
  /* SQA 8/4, head dim 64, Sq = 100, Skv = 300. */
  bwd_tensor q = tensor(device, 2, 8, 100, 64);
  bwd_tensor k = tensor(device, 2, 4, 300, 64);
  bwd_tensor v = tensor(device, 2, 4, 300, 64);
  bwd_tensor out = tensor(device, 2, 8, 100, 64);
  bwd_tensor dout = tensor(device, 2, 8, 100, 64);
  bwd_tensor lse = rows(device, 2, 8, 100);
  bwd_tensor dq = tensor(device, 2, 8, 100, 64);
  bwd_tensor dk = tensor(device, 2, 4, 300, 64);
  bwd_tensor dv = tensor(device, 2, 4, 300, 64);

  report("no lse",
         bwd_sqa(&q, &k, &v, &out, &dout, NULL, &dq, &dk, &dv, NULL));
  bwd_tensor bad = tensor(device + 8, 2, 8, 100, 64);
  report("dout at 8 bytes",
         bwd_sqa(&q, &k, &v, &out, &bad, &lse, &dq, &dk, &dv, NULL));
  bad = tensor(device, 2, 8, 99, 64);
  report("dout length 99",
         bwd_sqa(&q, &k, &v, &out, &bad, &lse, &dq, &dk, &dv, NULL));
  bad = rows(device, 2, 8, 101);
  report("lse length 101",
         bwd_sqa(&q, &k, &v, &out, &dout, &bad, &dq, &dk, &dv, NULL));
  bad = tensor(device, 2, 4, 299, 64);
  report("dk length 299",
         bwd_sqa(&q, &k, &v, &out, &dout, &lse, &dq, &bad, &dv, NULL));
  bad = tensor(device, 2, 8, 100, 32);
  report("dq head dim 32",
         bwd_sqa(&q, &k, &v, &out, &dout, &lse, &bad, &dk, &dv, NULL));
  report("valid", bwd_sqa(&q, &k, &v, &out, &dout, &lse, &dq, &dk, &dv, NULL));
  /* No batch: nothing to launch. */
  bwd_tensor q0 = tensor(device, 0, 8, 100, 64), k0 = tensor(device, 0, 4, 300, 64);
  bwd_tensor o0 = tensor(device, 0, 8, 100, 64), l0 = rows(device, 0, 8, 100);
  report("no batch",
         bwd_sqa(&q0, &k0, &k0, &o0, &o0, &l0, &q0, &k0, &k0, NULL));
  /* No query rows: the dK/dV kernel still runs (it writes zeros). */
  bwd_tensor qe = tensor(device, 2, 8, 0, 64), le = rows(device, 2, 8, 0);
  report("no query rows",
         bwd_sqa(&qe, &k, &v, &qe, &qe, &le, &qe, &dk, &dv, NULL));
  return 0;
}
