#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace rstar {

// exp(x) for x <= 0 (arguments here are always logit - max), branch-free so loops over it
// vectorise. Cephes-style: x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r, and 2^n
// through the exponent bits. Relative error below 2e-7; inputs below -87 flush to 0.
static inline float fast_exp_nonpos(float x) {
    x = std::max(x, -87.0f);
    const float n = std::floor(x * 1.44269504088896341f + 0.5f);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t) n + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

// The reductions below carry `omp simd` so the compiler vectorises them without -ffast-math
// (binding.gyp passes -fopenmp-simd, which enables only these pragmas, no OpenMP runtime).
static float max_of(const float * x, int n) {
    float m = x[0];
#pragma omp simd reduction(max : m)
    for (int i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
}

// The index where the running sum of w first exceeds u: block sums (vectorised) find the block,
// then a short scalar scan inside it. Falls back to the last index on rounding.
static int find_cumulative(const float * w, int n, double u) {
    constexpr int B = 256;
    double acc = 0.0;
    int i = 0;
    for (; i + B <= n; i += B) {
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int k = 0; k < B; ++k) s += w[i + k];
        if (acc + s > u) break;
        acc += s;
    }
    for (; i < n; ++i) {
        acc += w[i];
        if (acc > u) return i;
    }
    return n - 1;
}

float log_sum_exp(const float * x, int n, float max_x) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; ++i) s += fast_exp_nonpos(x[i] - max_x);
    return max_x + std::log(s);
}

double Sampler::uniform() { return (double) (rng_() >> 11) * (1.0 / 9007199254740992.0); }

SampleOut Sampler::sample(const float * logits, int n) {
    SampleOut out;
    const float mx = max_of(logits, n);
    const float t = params.temperature;
    if (t <= 0.0f) {
        out.token = (int32_t) (std::max_element(logits, logits + n) - logits);
        out.logprob = logits[out.token] - log_sum_exp(logits, n, mx);
        return out;
    }
    const float inv_t = 1.0f / t;
    const bool use_top_k = params.top_k > 0 && params.top_k < n;
    const bool use_top_p = params.top_p < 1.0f;

    if (!use_top_k && !use_top_p) {
        // The reference configuration (top_k=-1, top_p=1): inverse-CDF over the full vocabulary.
        scratch_.resize((size_t) n);
        float * w = scratch_.data();
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < n; ++i) {
            w[i] = fast_exp_nonpos((logits[i] - mx) * inv_t);
            sum += w[i];
        }
        const int chosen = find_cumulative(w, n, uniform() * sum);
        out.token = chosen;
        const float lse = (t == 1.0f) ? mx + std::log(sum) : log_sum_exp(logits, n, mx);
        out.logprob = logits[chosen] - lse;
        return out;
    }

    // Candidate set: the top-k (or, for top-p alone, the 1024 best first and the whole vocabulary
    // only if those do not reach the nucleus mass).
    index_.resize((size_t) n);
    std::iota(index_.begin(), index_.end(), 0);
    auto by_logit = [logits](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    int k = use_top_k ? params.top_k : std::min(n, 1024);
    const float lse_t = log_sum_exp(logits, n, mx);  // raw log-normaliser, also for top-p mass at t
    for (;;) {
        std::partial_sort(index_.begin(), index_.begin() + k, index_.end(), by_logit);
        if (use_top_k || !use_top_p || k == n) break;
        // Mass of the k best under temperature t, relative to the whole vocabulary.
        float total = 0.0f, head = 0.0f;
#pragma omp simd reduction(+ : total)
        for (int i = 0; i < n; ++i) total += fast_exp_nonpos((logits[i] - mx) * inv_t);
        for (int i = 0; i < k; ++i) head += fast_exp_nonpos((logits[index_[i]] - mx) * inv_t);
        if (head >= params.top_p * total) break;
        k = n;
    }
    scratch_.resize((size_t) k);
    float sum = 0.0f;
    for (int i = 0; i < k; ++i) {
        scratch_[i] = fast_exp_nonpos((logits[index_[i]] - mx) * inv_t);
        sum += scratch_[i];
    }
    int keep = k;
    if (use_top_p) {
        float acc = 0.0f;
        for (int i = 0; i < k; ++i) {
            acc += scratch_[i];
            if (acc >= params.top_p * sum) {
                keep = i + 1;
                break;
            }
        }
        sum = acc;
    }
    const double u = uniform() * sum;
    double acc = 0.0;
    int chosen = index_[keep - 1];
    for (int i = 0; i < keep; ++i) {
        acc += scratch_[i];
        if (acc > u) {
            chosen = index_[i];
            break;
        }
    }
    out.token = chosen;
    out.logprob = logits[chosen] - lse_t;
    return out;
}

// new Sampler({temperature, topK, topP, seed})
Sampler::Sampler(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Sampler>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    params.temperature = (float) get_number(o, "temperature", 1.0);
    params.top_k = (int) get_number(o, "topK", 0);
    params.top_p = (float) get_number(o, "topP", 1.0);
    params.seed = (uint64_t) get_number(o, "seed", 0);
    if (!(params.temperature >= 0.0f) || !std::isfinite(params.temperature)) throw_js(env, "INVALID_ARGUMENT", "Expected a finite temperature >= 0");
    if (params.top_k < 0) throw_js(env, "INVALID_ARGUMENT", "Expected topK >= 0");
    if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) throw_js(env, "INVALID_ARGUMENT", "Expected topP in (0, 1]");
    rng_.seed(params.seed);
}

void Sampler::Init(Napi::Env env, Napi::Object exports) {
    exports.Set("Sampler", DefineClass(env, "Sampler", {}));
}

void init_sampler(Napi::Env env, Napi::Object exports) { Sampler::Init(env, exports); }

}  // namespace rstar
