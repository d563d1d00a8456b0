// The malloc family, counted and forwarded to glibc's own entry points (__libc_*), which a process may
// call directly; memory from any of them is released by glibc's free, so free is not wrapped.
#include "CMallocCounter.h"
#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static __thread unsigned long thread_count;
static atomic_ulong total_count;

static inline void count(void) {
  thread_count++;
  atomic_fetch_add_explicit(&total_count, 1, memory_order_relaxed);
}

unsigned long gst_mcvd_thread_allocations(void) { return thread_count; }
unsigned long gst_mcvd_total_allocations(void) { return atomic_load(&total_count); }

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t count_, size_t size) { count(); return __libc_calloc(count_, size); }
void *realloc(void *ptr, size_t size) { count(); return __libc_realloc(ptr, size); }
void *memalign(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
  if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
  count();
  void *p = __libc_memalign(alignment, size);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}
