/* A mock CUDA driver (libcuda.so.1) for the launcher's tests: the entry
 * points the launcher resolves, with contexts that can be created,
 * destroyed and recreated under the same handle, library loads that can be
 * made to fail or to wait, and launches that fail on a function of a context
 * that no longer exists (as the real driver does after a reset). mock_*
 * functions steer it and count what happened. Not thread-safe beyond what
 * the test needs: counters are atomic.
 */
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

typedef int CUresult;
enum {
  OK = 0,
  INVALID_VALUE = 1,
  INVALID_CONTEXT = 201,
  NOT_FOUND = 500,
  INVALID_HANDLE = 400,
  LAUNCH_TIMEOUT = 702,
};

/* A context is a (slot, generation): destroying and recreating slot s gives
   the same handle value, a new generation. */
#define SLOTS 64
static int generation[SLOTS];
static __thread intptr_t current; /* slot + 1, 0: none */

static int loads, failing_loads, launches, blocking_load = -1, waiting;
static sem_t release;

void mock_set_context(int slot) { current = slot + 1; }
void mock_reset_context(int slot) { __atomic_add_fetch(&generation[slot], 1, __ATOMIC_SEQ_CST); }
void mock_fail_next_loads(int n) { failing_loads = n; }
/* The load of the `n`th library from now waits until mock_release(). */
void mock_block_load(int n) {
  sem_init(&release, 0, 0);
  blocking_load = __atomic_load_n(&loads, __ATOMIC_SEQ_CST) + n;
}
void mock_release(void) { sem_post(&release); }
/* Whether the blocked load has begun and waits. */
int mock_load_waiting(void) { return __atomic_load_n(&waiting, __ATOMIC_SEQ_CST); }
int mock_loads(void) { return __atomic_load_n(&loads, __ATOMIC_SEQ_CST); }
int mock_launches(void) { return __atomic_load_n(&launches, __ATOMIC_SEQ_CST); }

CUresult cuCtxGetCurrent(void **context) {
  *context = (void *)current;
  return OK;
}
CUresult cuCtxGetDevice(int *device) {
  *device = 0;
  return current ? OK : INVALID_CONTEXT;
}
CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  (void)device;
  *value = attribute == 75 ? 9 : 0; /* compute capability 9.0 */
  return OK;
}

struct library { int id; };
struct kernel { int id; };
/* A function: its kernel and the context generation it was made in. */
struct function { int kernel, slot, generation; };

CUresult cuLibraryLoadData(struct library **library, const void *code,
                           void *o1, void **o2, unsigned n1, void *o3,
                           void **o4, unsigned n2) {
  (void)o1; (void)o2; (void)n1; (void)o3; (void)o4; (void)n2;
  if (code == NULL)
    return INVALID_VALUE;
  int id = __atomic_fetch_add(&loads, 1, __ATOMIC_SEQ_CST);
  if (id == blocking_load) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    __atomic_store_n(&waiting, 1, __ATOMIC_SEQ_CST);
    if (sem_timedwait(&release, &deadline) != 0)
      return LAUNCH_TIMEOUT; /* nobody released it: the test fails */
  }
  if (failing_loads > 0) {
    --failing_loads;
    return INVALID_VALUE;
  }
  *library = malloc(sizeof(struct library));
  (*library)->id = id;
  return OK;
}
CUresult cuLibraryGetKernel(struct kernel **kernel, struct library *library,
                            const char *name) {
  if (name == NULL || library == NULL)
    return NOT_FOUND;
  *kernel = malloc(sizeof(struct kernel));
  (*kernel)->id = library->id;
  return OK;
}
CUresult cuLibraryUnload(struct library *library) {
  free(library);
  return OK;
}
CUresult cuKernelGetFunction(struct function **function, struct kernel *kernel) {
  if (!current)
    return INVALID_CONTEXT;
  *function = malloc(sizeof(struct function));
  (*function)->kernel = kernel->id;
  (*function)->slot = (int)current - 1;
  (*function)->generation = __atomic_load_n(&generation[current - 1], __ATOMIC_SEQ_CST);
  return OK;
}
CUresult cuFuncSetAttribute(struct function *function, int attribute, int value) {
  (void)function; (void)attribute; (void)value;
  return OK;
}
CUresult cuLaunchKernel(struct function *f, unsigned gx, unsigned gy,
                        unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void *stream, void **params,
                        void **extra) {
  (void)gx; (void)gy; (void)gz; (void)bx; (void)by; (void)bz; (void)shared;
  (void)stream; (void)params; (void)extra;
  if (f->generation != __atomic_load_n(&generation[f->slot], __ATOMIC_SEQ_CST))
    return INVALID_HANDLE; /* a function of a context that was destroyed */
  __atomic_add_fetch(&launches, 1, __ATOMIC_SEQ_CST);
  return OK;
}
