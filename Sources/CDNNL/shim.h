// Debian's libdnnl-dev ships no pkg-config file; the header is on the default include path.
#include <dnnl.h>
// oneDNN 2.x runs on libgomp; the C API has no per-call thread control, so the thread count is set here.
void omp_set_num_threads(int);
int omp_get_max_threads(void);
