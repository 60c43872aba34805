// Debian's libdnnl-dev ships no pkg-config file; the header is on the default include path.
#include <dnnl.h>
// oneDNN 2.x runs on libgomp; the C API has no per-call thread control, so the thread count is set here.
void omp_set_num_threads(int);
int omp_get_max_threads(void);
// The Swift element-wise kernels run on the same OpenMP team as oneDNN (libgomp's entry point, which
// `#pragma omp parallel` compiles to): a second thread pool would compete with the team's spinning workers.
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
