// Test-only malloc counter (linked into the test executable, never into the plugin or the CLI): the
// malloc family is interposed and every call counted, per thread and in total, then forwarded to glibc.
// The allocation tests read the counts around frames processed after warm-up.
#pragma once

/// Allocation calls (malloc, calloc, realloc, memalign family) made so far by the calling thread.
unsigned long gst_mcvd_thread_allocations(void);
/// Allocation calls made so far by every thread of the process.
unsigned long gst_mcvd_total_allocations(void);
