// Our own forward graph of a llama/qwen2 decoder, built from ggml ops that all have a backward
// pass (GET_ROWS, RMS_NORM, MUL_MAT + ADD, ROPE, SOFT_MAX with a mask, SWIGLU split, ADD), and
// the two training losses on top of it.
//
// Layout of one micro-batch: a single packed sequence of T tokens holding several examples. A
// [T, T] additive mask (0 or -inf) makes it block-diagonal and causal, and positions restart per
// example, so packing changes no logit. The same mask expresses a shared prompt with several
// branches (PPM pairs: prompt, then chosen and rejected continuations that each see the prompt
// but not each other). Flash attention is not used: it has no backward pass in ggml.
#pragma once

#include <cstdint>
#include <vector>

#include "weights.h"

namespace rstar::train {

// Host-side inputs of one packed micro-batch.
struct PackedBatch {
    std::vector<int32_t> tokens;  // T
    std::vector<int32_t> pos;     // T, restarting per example
    std::vector<float> mask;      // T*T, row q (query) holds the key mask: mask[q*T + k]

    // SFT: rows whose next token is scored, and those next tokens (prompt rows never appear).
    std::vector<int32_t> target_rows;
    std::vector<int32_t> target_ids;

    // PPM: the last row of each chosen / rejected continuation, and the pair's weight.
    std::vector<int32_t> chosen_rows;
    std::vector<int32_t> rejected_rows;
    std::vector<float> pair_weights;

    int64_t n_tokens() const { return (int64_t) tokens.size(); }
};

enum class LossKind { None, Sft, Ppm };

// Tensors of one built graph. Inputs are created with ggml_set_input and must be filled with
// set_inputs() after the scheduler allocated the graph.
struct BuiltGraph {
    ggml_tensor * tokens = nullptr;
    ggml_tensor * pos = nullptr;
    ggml_tensor * mask = nullptr;
    ggml_tensor * rows = nullptr;        // SFT target rows / logits rows
    ggml_tensor * label_index = nullptr; // SFT: row*n_vocab + id, into the flattened one-hot labels
    ggml_tensor * chosen_rows = nullptr;
    ggml_tensor * rejected_rows = nullptr;
    ggml_tensor * pair_weights = nullptr;

    ggml_tensor * hidden = nullptr;   // [n_embd, T] after output_norm
    ggml_tensor * logits = nullptr;   // [n_vocab, K] for the selected rows
    ggml_tensor * r_chosen = nullptr; // [1, P]
    ggml_tensor * r_rejected = nullptr;
    ggml_tensor * loss = nullptr;     // scalar; SFT: mean CE over the rows times `loss_scale`
};

// Builds hidden states, then the loss of `kind` into `gf`. `loss_scale` multiplies the loss so
// that accumulating micro-batches yields the mean over the whole optimizer step.
// With kind None and `logit_rows` > 0 it builds logits for `logit_rows` selected rows (tests).
BuiltGraph build_graph(ggml_context * ctx, ggml_cgraph * gf, const TrainModel & model, const PackedBatch & batch,
                       LossKind kind, float loss_scale, int64_t logit_rows = 0);

void set_inputs(const BuiltGraph & g, const TrainModel & model, const PackedBatch & batch);

// Conservative node count for graphs of this model (forward + backward + optimizer).
size_t graph_size_for(const TrainModel & model);

}  // namespace rstar::train
