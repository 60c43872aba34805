// ResNet-50's 1×1 shortcut products (the last convolution of each bottleneck, with its residual and ReLU)
// and strided 1×1 downsampling convolutions, each way oneDNN 2.6 can run them, interleaved, on
// OMP_NUM_THREADS threads: binary-add post-op vs sum post-op (in place, or onto a copy of the residual), and
// the strided 1×1 convolution primitive vs a gather of every second pixel and a matmul. Median and minimum.
//   g++ -O2 -fopenmp -std=c++17 tools/onednn/pointwise_variants.cpp -o /tmp/pv -ldnnl
//   OMP_NUM_THREADS=2 /tmp/pv REPEATS
#include <oneapi/dnnl/dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <functional>
#include <algorithm>
#include "harness.hpp"
struct V { const char* name; std::function<void()> f; std::vector<double> ts; };
std::vector<V> vs;
std::vector<std::vector<float>*> keep;
float* buf(size_t n, float v) { auto p = new std::vector<float>(n, v); keep.push_back(p); return p->data(); }
void residualVariants(int M, int K, int N) {
    memory::desc s({M, K}, dt::f32, tag::ab), w({K, N}, dt::f32, tag::any), d({M, N}, dt::f32, tag::ab), b({1, N}, dt::f32, tag::ab);
    float *src = buf(M * K, 0.1f), *res = buf(M * N, 0.2f), *dst = buf(M * N, 0), *bias = buf(N, 0.01f);
    for (int variant = 0; variant < 4; variant++) {
        post_ops po;
        if (variant == 1) po.append_binary(algorithm::binary_add, d);
        if (variant >= 2) po.append_sum(1.f);
        po.append_eltwise(1.f, algorithm::eltwise_relu, 0, 0);
        primitive_attr a; a.set_post_ops(po);
        matmul::primitive_desc pd(matmul::desc(s, w, b, d), a, eng);
        memory wm(pd.weights_desc(), eng); memset(wm.get_data_handle(), 0, pd.weights_desc().get_size());
        memory sm(s, eng, src), dm(d, eng, dst), bm(b, eng, bias), rm(d, eng, res);
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, dm}};
        if (variant == 1) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = rm;
        matmul p(pd);
        static const char* names[] = {"plain", "binary_add", "sum in place", "copy+sum"};
        char* nm = new char[80]; snprintf(nm, 80, "%dx%dx%d %s", M, K, N, names[variant]);
        vs.push_back(V{nm, [=]() mutable {
            if (variant == 3) { // copy residual with 2 threads like our parallel copy
                #pragma omp parallel for num_threads(2)
                for (int t = 0; t < 2; t++) memcpy(dst + (size_t)t * M * N / 2, res + (size_t)t * M * N / 2, (size_t)M * N / 2 * 4);
            }
            p.execute(strm, args); strm.wait(); }, {}});
    }
}
void strided(int C, int H, int O) {
    int OH = H / 2;
    float *src = buf(C * H * H, 0.1f), *sub = buf(C * OH * OH, 0), *dst = buf(O * OH * OH, 0), *bias = buf(O, 0.01f);
    {   memory::desc s({1, C, H, H}, dt::f32, tag::nhwc), d({1, O, OH, OH}, dt::f32, tag::nhwc), w({O, C, 1, 1}, dt::f32, tag::any), b({O}, dt::f32, tag::a);
        convolution_forward::primitive_desc pd(convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, s, w, b, d, {2, 2}, {0, 0}, {0, 0}), eng);
        memory wm(pd.weights_desc(), eng); memset(wm.get_data_handle(), 0, pd.weights_desc().get_size());
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(s, eng, src)}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, memory(b, eng, bias)}, {DNNL_ARG_DST, memory(d, eng, dst)}};
        convolution_forward p(pd);
        char* nm = new char[80]; snprintf(nm, 80, "down %d->%d %d conv(%s)", C, O, H, pd.impl_info_str());
        vs.push_back(V{nm, [=]() mutable { p.execute(strm, args); strm.wait(); }, {}});
    }
    {   int M = OH * OH;
        memory::desc s({M, C}, dt::f32, tag::ab), w({C, O}, dt::f32, tag::any), d({M, O}, dt::f32, tag::ab), b({1, O}, dt::f32, tag::ab);
        matmul::primitive_desc pd(matmul::desc(s, w, b, d), eng);
        memory wm(pd.weights_desc(), eng); memset(wm.get_data_handle(), 0, pd.weights_desc().get_size());
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(s, eng, sub)}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, memory(b, eng, bias)}, {DNNL_ARG_DST, memory(d, eng, dst)}};
        matmul p(pd);
        char* nm = new char[80]; snprintf(nm, 80, "down %d->%d %d subsample+matmul", C, O, H);
        vs.push_back(V{nm, [=]() mutable {
            #pragma omp parallel for num_threads(2)
            for (int y = 0; y < OH; y++) for (int x = 0; x < OH; x++) memcpy(sub + (y * OH + x) * C, src + ((2 * y) * H + 2 * x) * C, C * 4);
            p.execute(strm, args); strm.wait(); }, {}});
    }
}
int main(int argc, char** argv) {
    residualVariants(3136, 64, 256); residualVariants(784, 128, 512); residualVariants(196, 256, 1024); residualVariants(49, 512, 2048);
    strided(256, 56, 512); strided(512, 28, 1024); strided(1024, 14, 2048);
    int reps = argc > 1 ? atoi(argv[1]) : 100;
    for (int r = 0; r < reps; r++) for (auto& v : vs) { double t0 = now(); v.f(); if (r > 2) v.ts.push_back(now() - t0); }
    for (auto& v : vs) { std::sort(v.ts.begin(), v.ts.end()); printf("%-50s med %.3f  min %.3f ms\n", v.name, v.ts[v.ts.size() / 2], v.ts[0]); }
}
