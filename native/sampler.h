// Sampler: per-sequence sampling state (temperature, top-k, top-p and its own RNG), mirroring a
// llama_sampler chain but built for this workload: sampling from a 152k-token vocabulary dozens of
// times per decode step, so the common paths are single passes over the logits that the compiler
// vectorises, and every call also returns the token's log-probability under the raw model.
#pragma once

#include "common.h"

#include <random>

namespace rstar {

struct SampleParams {
    float temperature = 1.0f;  // <= 0: greedy
    int top_k = 0;             // 0: off
    float top_p = 1.0f;        // >= 1: off
    uint64_t seed = 0;
};

struct SampleOut {
    int32_t token = -1;
    float logprob = 0.0f;  // log p(token) under the model at temperature 1
};

class Sampler : public Napi::ObjectWrap<Sampler> {
  public:
    static void Init(Napi::Env env, Napi::Object exports);
    explicit Sampler(const Napi::CallbackInfo & info);

    // Thread-compatible: one sampler is used by one row of one step at a time.
    SampleOut sample(const float * logits, int n_vocab);

    SampleParams params;

  private:
    std::mt19937_64 rng_;
    std::vector<float> scratch_;
    std::vector<int32_t> index_;
    double uniform();
};

// log(sum(exp(x))) over n floats, vectorisable.
float log_sum_exp(const float * x, int n, float max_x);

}  // namespace rstar
