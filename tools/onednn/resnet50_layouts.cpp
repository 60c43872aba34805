// ResNet-50's forward pass (batch 1, random weights, BN folded away) on oneDNN alone, in three activation
// layouts, timed per layer: the median over runs after 3 warm-ups, and their sum.
//   mode 0: channels-last, 1×1 stride-1 convolutions as matmuls with a binary-add residual (fovex's layout
//           before the change in docs/design/onnx-speed.md), other convolutions on nhwc;
//   mode 1: channels-last, every convolution a convolution primitive;
//   mode 2: nChw16c blocked activations (oneDNN's jit:avx512_core kernels).
// Build and run (Debian's libdnnl-dev):
//   g++ -O2 -std=c++17 tools/onednn/resnet50_layouts.cpp -o /tmp/r50 -ldnnl
//   OMP_NUM_THREADS=1 /tmp/r50 MODE RUNS
// Prints one line per layer (stem, maxpool, sS.down, sS.bB.c1|c2|c3) and the total.
#include <oneapi/dnnl/dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#include <string>
#include <map>
#include "harness.hpp"

struct Layer { int ic, oc, k, s, p; bool relu, residual; int h; };
struct Act { memory::desc md; memory mem; };

enum Mode { NHWC_MATMUL, NHWC_CONV, BLOCKED };

struct Step {
    std::string name; primitive prim; std::unordered_map<int, memory> args; double total = 0; std::vector<double> ts;
};

int main(int argc, char** argv) {
    Mode mode = (Mode)atoi(argv[1]);
    int runs = argc > 2 ? atoi(argv[2]) : 20;
    std::vector<Step> steps;
    auto fill = [](memory& m) { float* p = (float*)m.get_data_handle(); size_t n = m.get_desc().get_size() / 4; for (size_t i = 0; i < n; i++) p[i] = (rand() % 1000) / 1000.f - 0.5f; };
    // input
    int H = 224;
    memory::desc inMD({1, 3, 224, 224}, dt::f32, tag::nchw);
    memory in(inMD, eng); fill(in);
    memory cur = in; memory::desc curMD = inMD;
    auto conv = [&](memory src, memory::desc srcMD, int ic, int oc, int k, int s, int p, int h, bool relu, memory* residual, memory::desc* resMD, memory::desc& outMD, const std::string& name) -> memory {
        int oh = (h + 2 * p - k) / s + 1;
        memory::desc wUser({oc, ic, k, k}, dt::f32, tag::oihw);
        memory wu(wUser, eng); fill(wu);
        memory::desc bMD({oc}, dt::f32, tag::a); memory b(bMD, eng); fill(b);
        post_ops po;
        if (residual) po.append_binary(algorithm::binary_add, *resMD);
        if (relu) po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
        primitive_attr attr; attr.set_post_ops(po);
        if (mode == NHWC_MATMUL && k == 1 && s == 1) {
            int M = h * h;
            memory::desc sMD({M, ic}, dt::f32, tag::ab), wMD({ic, oc}, dt::f32, tag::any), dMD({M, oc}, dt::f32, tag::ab), bb({1, oc}, dt::f32, tag::ab);
            post_ops po2; if (residual) po2.append_binary(algorithm::binary_add, dMD); if (relu) po2.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
            primitive_attr a2; a2.set_post_ops(po2);
            matmul::primitive_desc pd(matmul::desc(sMD, wMD, bb, dMD), a2, eng);
            memory w(pd.weights_desc(), eng);
            memory::desc wio({ic, oc}, dt::f32, memory::dims{1, ic});
            { memory wm(wio, eng, wu.get_data_handle()); reorder(wm, w).execute(strm, wm, w); }
            memory d(dMD, eng);
            Step st{name, matmul(pd), {{DNNL_ARG_SRC, memory(sMD, eng, src.get_data_handle())}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, memory(bb, eng, b.get_data_handle())}, {DNNL_ARG_DST, d}}};
            if (residual) st.args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = memory(dMD, eng, residual->get_data_handle());
            steps.push_back(st);
            outMD = memory::desc({1, oc, h, h}, dt::f32, tag::nhwc);
            return memory(outMD, eng, d.get_data_handle());
        }
        memory::desc dAny({1, oc, oh, oh}, dt::f32, mode == BLOCKED ? tag::nChw16c : tag::nhwc);
        memory::desc sIn = srcMD;
        if (mode == BLOCKED && ic > 3) sIn = memory::desc({1, ic, h, h}, dt::f32, tag::nChw16c);
        if (mode == BLOCKED && residual) {
            // residual must match dst; build with dst nChw16c-known layout
            dAny = *resMD;
            post_ops po3; po3.append_binary(algorithm::binary_add, *resMD); if (relu) po3.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
            attr.set_post_ops(po3);
        }
        convolution_forward::primitive_desc pd(convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, sIn,
            memory::desc({oc, ic, k, k}, dt::f32, tag::any), bMD, dAny, {s, s}, {p, p}, {p, p}), attr, eng);
        if (pd.src_desc() != srcMD) { fprintf(stderr, "%s: src layout mismatch, reorder inserted\n", name.c_str());
            memory r(pd.src_desc(), eng); Step st{name + "-reorder", reorder(src, r), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, r}}}; steps.push_back(st); src = r; }
        memory w(pd.weights_desc(), eng); reorder(wu, w).execute(strm, wu, w);
        memory d(pd.dst_desc(), eng);
        Step st{name, convolution_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, d}}};
        if (residual) st.args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = *residual;
        steps.push_back(st);
        outMD = pd.dst_desc();
        fprintf(stderr, "%s impl %s\n", name.c_str(), pd.impl_info_str());
        return d;
    };
    memory::desc md;
    if (mode != BLOCKED) { memory::desc n({1, 3, 224, 224}, dt::f32, tag::nhwc); memory r(n, eng);
        steps.push_back(Step{"input-reorder", reorder(cur, r), {{DNNL_ARG_FROM, cur}, {DNNL_ARG_TO, r}}}); cur = r; curMD = n; }
    cur = conv(cur, curMD, 3, 64, 7, 2, 3, 224, true, nullptr, nullptr, md, "stem");
    H = 112;
    {   // max pool
        memory::desc o({1, 64, 56, 56}, dt::f32, mode == BLOCKED ? tag::nChw16c : tag::nhwc);
        pooling_v2_forward::primitive_desc pd(pooling_v2_forward::desc(prop_kind::forward_inference, algorithm::pooling_max, md, o, {2, 2}, {3, 3}, {0, 0}, {1, 1}, {1, 1}), eng);
        memory d(pd.dst_desc(), eng);
        steps.push_back(Step{"maxpool", pooling_v2_forward(pd), {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, d}}});
        cur = d; md = pd.dst_desc(); H = 56;
    }
    int cfg[4][3] = {{64, 256, 3}, {128, 512, 4}, {256, 1024, 6}, {512, 2048, 3}};
    int ic = 64;
    for (int st = 0; st < 4; st++) {
        for (int b = 0; b < cfg[st][2]; b++) {
            int s = (st > 0 && b == 0) ? 2 : 1, mid = cfg[st][0], oc = cfg[st][1];
            char nm[64];
            memory shortcut = cur; memory::desc scMD = md;
            memory::desc m1, m2, m3;
            if (b == 0) { snprintf(nm, 64, "s%d.down", st); shortcut = conv(cur, md, ic, oc, 1, s, 0, H, false, nullptr, nullptr, scMD, nm); }
            snprintf(nm, 64, "s%d.b%d.c1", st, b); memory a = conv(cur, md, ic, mid, 1, 1, 0, H, true, nullptr, nullptr, m1, nm);
            snprintf(nm, 64, "s%d.b%d.c2", st, b); memory c = conv(a, m1, mid, mid, 3, s, 1, H, true, nullptr, nullptr, m2, nm);
            int oh = (H + 2 - 3) / s + 1;
            snprintf(nm, 64, "s%d.b%d.c3", st, b); memory e = conv(c, m2, mid, oc, 1, 1, 0, oh, true, &shortcut, &scMD, m3, nm);
            cur = e; md = m3; ic = oc; H = oh;
        }
    }
    for (int r = 0; r < runs; r++) {
        for (auto& s : steps) { double t0 = now(); s.prim.execute(strm, s.args); strm.wait(); double t = now() - t0; if (r >= 3) s.ts.push_back(t); }
    }
    double total = 0; std::map<std::string, double> groups;
    for (auto& s : steps) { std::sort(s.ts.begin(), s.ts.end()); double m = s.ts[s.ts.size() / 2]; total += m;
        printf("%-20s %8.3f\n", s.name.c_str(), m); }
    printf("TOTAL mode %d: %.2f ms\n", mode, total);
}
