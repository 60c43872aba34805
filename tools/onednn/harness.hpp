// What the oneDNN measurement programs in this folder share: one CPU engine and stream, the usual aliases, and a
// millisecond clock. Each program still builds with the one g++ line in its header (this file sits beside it).
#pragma once
#include <oneapi/dnnl/dnnl.hpp>
#include <chrono>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
static engine eng(engine::kind::cpu, 0);
static stream strm(eng);
static double now() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
