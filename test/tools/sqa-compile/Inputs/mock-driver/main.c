/* The launcher against the mock driver (libcuda.c): module handling that
 * follows contexts, failed loads retried, no launch waiting for another
 * thread's load, and overflow-checked sizes. Prints one line per check.
 */
#include "attn.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void (*set_context)(int), (*reset_context)(int), (*fail_next_loads)(int);
static void (*block_load)(int), (*release_load)(void);
static int (*loads)(void), (*launches)(void), (*load_waiting)(void);

static attn_tensor tensor(void *data, int64_t b, int64_t h, int64_t s,
                          int64_t d) {
  attn_tensor t = {data, {b, h, s, d}, {h * s * d, s * d, d, 1}};
  return t;
}

static char *device = (char *)0x10000;

static attn_status launch_xsqa(void) {
  attn_tensor q = tensor(device, 2, 4, 128, 16);
  return attn_xsqa(&q, &q, &q, &q, NULL);
}

static attn_status launch_rsqa(void) {
  attn_tensor q = tensor(device, 1, 4, 100, 64);
  attn_tensor kv = tensor(device, 1, 8, 300, 64);
  attn_tensor out = tensor(device, 1, 8, 100, 64);
  attn_tensor lse = {device, {1, 8, 100, 0}, {800, 100, 1, 0}};
  return attn_rsqa(&q, &kv, &kv, &out, &lse, NULL);
}

static void *resolve(void *library, const char *name) {
  void *symbol = dlsym(library, name);
  if (symbol == NULL) {
    printf("mock driver has no %s\n", name);
    exit(1);
  }
  return symbol;
}

static void *load_rsqa_in_context_2(void *unused) {
  (void)unused;
  set_context(2);
  attn_status status = launch_rsqa();
  printf("rsqa, loaded while xsqa launched: %s\n", attn_status_string(status));
  return NULL;
}

int main(void) {
  void *mock = dlopen("libcuda.so.1", RTLD_NOW);
  if (mock == NULL) {
    printf("no mock driver: %s\n", dlerror());
    return 1;
  }
  *(void **)&set_context = resolve(mock, "mock_set_context");
  *(void **)&reset_context = resolve(mock, "mock_reset_context");
  *(void **)&fail_next_loads = resolve(mock, "mock_fail_next_loads");
  *(void **)&block_load = resolve(mock, "mock_block_load");
  *(void **)&release_load = resolve(mock, "mock_release");
  *(void **)&loads = resolve(mock, "mock_loads");
  *(void **)&launches = resolve(mock, "mock_launches");
  *(void **)&load_waiting = resolve(mock, "mock_load_waiting");

  /* A failed load keeps nothing: the next launch loads again. */
  set_context(0);
  fail_next_loads(1);
  attn_status status = launch_xsqa();
  printf("failed load: %s (CUresult %d)\n", attn_status_string(status),
         attn_last_cuda_result());
  status = launch_xsqa();
  printf("after it: %s, %d loads\n", attn_status_string(status), loads());

  /* Any number of contexts (a table of 16 had refused the 17th). */
  int failures = 0;
  for (int slot = 0; slot < 40; ++slot) {
    set_context(slot);
    failures += launch_xsqa() != attn_SUCCESS;
  }
  printf("40 contexts: %d failures, %d loads, %d launches\n", failures, loads(),
         launches());

  /* A context destroyed and made again under the same handle (a primary
     context reset): a function kept from the old one would fail. */
  reset_context(3);
  set_context(3);
  printf("after a context reset: %s\n", attn_status_string(launch_xsqa()));

  /* Another thread's first load (held in the driver until released) must
     not hold up a launch of a kernel already loaded. */
  block_load(0);
  pthread_t loader;
  pthread_create(&loader, NULL, load_rsqa_in_context_2, NULL);
  for (int i = 0; i < 10000 && !load_waiting(); ++i) {
    struct timespec millisecond = {0, 1000000};
    nanosleep(&millisecond, NULL);
  }
  set_context(1);
  printf("xsqa while rsqa loads: %s\n", attn_status_string(launch_xsqa()));
  release_load();
  pthread_join(loader, NULL);

  /* Sizes whose arithmetic overflows 64 bits: refused, with no undefined
     behaviour (this program runs under -fsanitize=undefined). */
  attn_tensor huge = {device, {2, 4, INT64_C(1) << 62, 16}, {0, 0, 16, 1}};
  printf("length 2^62: %s\n",
         attn_status_string(attn_xsqa(&huge, &huge, &huge, &huge, NULL)));
  /* Extents that fit (zero strides), but a grid computed from the length. */
  attn_tensor longest = {device, {1, 4, INT64_MAX, 16}, {0, 0, 0, 1}};
  printf("length INT64_MAX: %s\n",
         attn_status_string(attn_xsqa(&longest, &longest, &longest, &longest, NULL)));
  attn_tensor wide = {device, {2, 4, 128, 16}, {0, 0, INT64_C(1) << 60, 1}};
  printf("extent past 2^63 bytes: %s\n",
         attn_status_string(attn_xsqa(&wide, &wide, &wide, &wide, NULL)));
  printf("%d launches in all\n", launches());
  return 0;
}
