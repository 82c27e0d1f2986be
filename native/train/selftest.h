// Checks of the trainer against independent references, exposed to the TypeScript tests: our
// forward pass against llama.cpp's, analytic gradients against finite differences, and the
// value-head scores the engine must reproduce. Test models come from `rstar model make`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "packing.h"

namespace rstar::train {

// Logits of our forward graph for every position of `tokens`: [T * n_vocab], row-major by token.
std::vector<float> forward_logits(const std::string & model_path, const std::vector<int32_t> & tokens, int threads);

// Raw value-head scores r = w . h_last + b of each token sequence, as the trainer computes them.
std::vector<float> score_tokens(const std::string & model_path, const std::vector<std::vector<int32_t>> & sequences,
                                int threads);

// Compares the analytic gradient of the SFT (or PPM) loss of one packed micro-batch with central
// finite differences of a loss computed on the host from forward-only outputs. The SFT reference
// scores completion positions only, so a prompt position leaking into the training loss (or its
// gradient) shows up as a mismatch.
struct GradCheckResult {
    double max_rel_error = 0;
    double max_abs_error = 0;
    double max_abs_grad = 0;
    int64_t probes = 0;
    double graph_loss = 0;          // loss of the training graph
    double reference_loss = 0;      // host-side loss over completion positions (SFT) / pairs (PPM)
    double all_positions_loss = 0;  // SFT: host-side loss had prompt positions been scored too
    double packing_max_abs_diff = 0;  // max |logit| difference, packed vs each example alone
    int64_t prompt_rows = 0;        // SFT: prompt positions excluded from the loss
    int64_t target_rows = 0;
};
GradCheckResult gradient_check(const std::string & model_path, const std::string & mode,
                               const std::vector<SftExample> & sft, const std::vector<PairExample> & pairs,
                               int probes_per_tensor, double eps, uint64_t seed, int threads);

}  // namespace rstar::train
