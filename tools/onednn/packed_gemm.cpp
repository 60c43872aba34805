// ViT-B/16's linear-layer products (M tokens × K → N) each way oneDNN 2.6 can run them with fp32 weights held as a
// PyTorch Linear holds them ([N, K]) or as ONNX's MatMul holds them ([K, N]), interleaved, on OMP_NUM_THREADS
// threads: the matmul primitive on the weight in place (what `linear` runs with packing .none), `dnnl_sgemm`, and
// the packed-GEMM routines (`sgemm_pack` once, then `sgemm_compute`; exported by libdnnl but not declared in its
// public headers) that `linear(..., packing: .whereFaster)` runs. Checks the packed product against a double-precision
// one first. Median and minimum ms.
//   g++ -O2 -fopenmp -std=c++17 tools/onednn/packed_gemm.cpp -o /tmp/pg -ldnnl
//   OMP_NUM_THREADS=2 /tmp/pg REPEATS [M ...]      (default M: 197; e.g. 16 50 394)
#include <oneapi/dnnl/dnnl.hpp>
#include <oneapi/dnnl/dnnl.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace dnnl { namespace impl { namespace cpu {
dnnl_status_t sgemm_pack_get_size(const char *identifier, const char *transa, const char *transb, const dnnl_dim_t *M,
        const dnnl_dim_t *N, const dnnl_dim_t *K, const dnnl_dim_t *lda, const dnnl_dim_t *ldb, size_t *size, bool *pack);
dnnl_status_t sgemm_pack(const char *identifier, const char *transa, const char *transb, const dnnl_dim_t *M,
        const dnnl_dim_t *N, const dnnl_dim_t *K, const dnnl_dim_t *lda, const dnnl_dim_t *ldb, const float *src, float *dst);
dnnl_status_t sgemm_compute(const char *transa, const char *transb, const dnnl_dim_t *M, const dnnl_dim_t *N,
        const dnnl_dim_t *K, const float *A, const dnnl_dim_t *lda, const float *B, const dnnl_dim_t *ldb,
        const float *beta, float *C, const dnnl_dim_t *ldc);
}}}
#include "harness.hpp"
struct Variant { std::string name; std::function<void()> run; std::vector<double> ms; };
static std::vector<Variant> variants;
static float *filled(size_t n, int seed) {
    float *p = (float *)aligned_alloc(64, ((n * 4 + 63) / 64) * 64);
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 7 + seed) % 13) * 0.01f - 0.06f;
    return p;
}

// The weight packed as the column-major "A" operand of Yᵀ (N × M) = W (N × K) · Xᵀ (K × M): "T" for a row-major
// [N, K] weight, "N" for a row-major [K, N] one.
static float *packed(const float *w, int n, int k, bool rowsAreOutputs) {
    dnnl_dim_t m_ = n, n_ = 256, k_ = k, lda = rowsAreOutputs ? k : n, ldb = k;
    size_t bytes = 0;
    const char *trans = rowsAreOutputs ? "T" : "N";
    impl::cpu::sgemm_pack_get_size("A", trans, "N", &m_, &n_, &k_, &lda, &ldb, &bytes, nullptr);
    float *p = (float *)aligned_alloc(64, ((bytes + 63) / 64) * 64);
    if (impl::cpu::sgemm_pack("A", trans, "N", &m_, &n_, &k_, &lda, &ldb, w, p) != dnnl_success) { puts("pack failed"); exit(1); }
    return p;
}

static void packedProduct(const float *p, const float *x, float *y, int m, int k, int n, bool rowsAreOutputs) {
    dnnl_dim_t m_ = n, n_ = m, k_ = k, lda = rowsAreOutputs ? k : n, ldb = k, ldc = n;
    float beta = 0;
    impl::cpu::sgemm_compute("P", "N", &m_, &n_, &k_, p, &lda, x, &ldb, &beta, y, &ldc);
}

static void check() {
    int m = 37, k = 53, n = 29;
    float *x = filled(m * k, 1), *wKN = filled(k * n, 2), *y = filled(m * n, 0);
    std::vector<float> wNK(n * k);
    for (int a = 0; a < k; a++) for (int b = 0; b < n; b++) wNK[b * k + a] = wKN[a * n + b];
    for (int rowsAreOutputs = 0; rowsAreOutputs < 2; rowsAreOutputs++) {
        packedProduct(packed(rowsAreOutputs ? wNK.data() : wKN, n, k, rowsAreOutputs), x, y, m, k, n, rowsAreOutputs);
        double err = 0;
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) {
            double r = 0;
            for (int q = 0; q < k; q++) r += (double)x[i * k + q] * wKN[q * n + j];
            err = std::max(err, std::fabs(r - y[i * n + j]));
        }
        printf("packed product, weight %s: max |error| %.2g\n", rowsAreOutputs ? "[N, K]" : "[K, N]", err);
    }
}

static void shape(int m, int k, int n) {
    float *x = filled(m * k, 3), *w = filled(k * n, 4), *y = filled(m * n, 0), *bias = filled(n, 5);
    for (int rowsAreOutputs = 0; rowsAreOutputs < 2; rowsAreOutputs++) {
        const char *layout = rowsAreOutputs ? "W [N,K]" : "W [K,N]";
        // The matmul primitive reads B = Wᵀ: a [N, K] weight is B in layout ba, a [K, N] one B in layout ab.
        memory::desc s({m, k}, dt::f32, tag::ab), wd({k, n}, dt::f32, rowsAreOutputs ? tag::ba : tag::ab),
            d({m, n}, dt::f32, tag::ab), b({1, n}, dt::f32, tag::ab);
        matmul::primitive_desc pd(matmul::desc(s, wd, b, d), eng);
        auto prim = new matmul(pd);
        memory sm(s, eng, x), wm(wd, eng, w), dm(d, eng, y), bm(b, eng, bias);
        char name[120];
        snprintf(name, sizeof name, "%dx%dx%d %s matmul (%s)", m, k, n, layout, pd.impl_info_str());
        variants.push_back({name, [=]() {
            prim->execute(strm, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, dm}});
            strm.wait();
        }});
        snprintf(name, sizeof name, "%dx%dx%d %s sgemm", m, k, n, layout);
        variants.push_back({name, [=]() {
            dnnl_sgemm('N', rowsAreOutputs ? 'T' : 'N', m, n, k, 1.f, x, k, w, rowsAreOutputs ? k : n, 0.f, y, n);
        }});
        float *p = packed(w, n, k, rowsAreOutputs);
        snprintf(name, sizeof name, "%dx%dx%d %s packed sgemm", m, k, n, layout);
        variants.push_back({name, [=]() { packedProduct(p, x, y, m, k, n, rowsAreOutputs); }});
    }
}

int main(int argc, char **argv) {
    int repeats = argc > 1 ? atoi(argv[1]) : 20;
    std::vector<int> rows;
    for (int i = 2; i < argc; i++) rows.push_back(atoi(argv[i]));
    if (rows.empty()) rows.push_back(197);
    check();
    for (int m : rows) { shape(m, 768, 2304); shape(m, 768, 768); shape(m, 768, 3072); shape(m, 3072, 768); }
    for (auto &v : variants) for (int i = 0; i < 3; i++) v.run();
    for (int r = 0; r < repeats; r++) for (auto &v : variants) { double t = now(); v.run(); v.ms.push_back(now() - t); }
    for (auto &v : variants) {
        auto t = v.ms;
        std::sort(t.begin(), t.end());
        printf("%-64s median %7.3f  min %7.3f\n", v.name.c_str(), t[t.size() / 2], t[0]);
    }
}
