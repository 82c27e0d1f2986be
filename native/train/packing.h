// From text examples to packed micro-batches.
//
// Tokenization uses the model's own llama.cpp vocabulary (loaded vocab-only), with the same
// conventions the engine uses at inference: the prompt is tokenized with the model's BOS rule and
// special-token parsing, the completion separately (no BOS) and followed by EOS, so the token
// boundary between prompt and completion is exactly the one generation sees.
//
// Batching without waste: examples are never padded. A "unit" is an example (SFT) or a prompt
// with all of its continuations (PPM: the prompt is computed once, and each chosen/rejected
// continuation is a branch that sees the prompt but not its siblings). Units are packed
// first-fit-decreasing into micro-batches of at most `ctx` tokens, each a single sequence with a
// block-diagonal causal mask. Gradient accumulation over a step's micro-batches gives the
// optimizer batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graph.h"

struct llama_model;
struct llama_vocab;

namespace rstar::train {

struct SftExample {
    std::string prompt;
    std::string completion;
};

struct PairExample {
    std::string prompt;
    std::string chosen;
    std::string rejected;
    float weight = 1.0f;  // the per-prefix-group factor, computed by the caller
};

class Tokenizer {
public:
    explicit Tokenizer(const std::string & model_path);
    ~Tokenizer();
    Tokenizer(const Tokenizer &) = delete;
    Tokenizer & operator=(const Tokenizer &) = delete;

    std::vector<int32_t> encode(const std::string & text, bool add_special) const;
    std::string decode(const std::vector<int32_t> & tokens) const;
    int32_t eos() const;
    int32_t n_vocab() const;

private:
    llama_model * model_ = nullptr;
    const llama_vocab * vocab_ = nullptr;
};

// One branch of a unit: tokens appended after its parent (the unit's prompt) or at the root.
struct Segment {
    int parent = -1;  // index in Unit::segments, or -1
    int start = 0;    // offset of its first token in Unit::tokens
    int len = 0;
};

struct Unit {
    std::vector<int32_t> tokens;
    std::vector<Segment> segments;
    std::vector<int32_t> target_rows;  // unit-local rows whose next token is scored (SFT)
    std::vector<int32_t> target_ids;
    std::vector<int32_t> chosen_rows;  // unit-local last rows of continuations (PPM)
    std::vector<int32_t> rejected_rows;
    std::vector<float> pair_weights;
    int n_examples = 0;  // SFT examples or PPM pairs it carries
};

struct UnitStats {
    int64_t examples_in = 0;
    int64_t examples_used = 0;
    int64_t truncated = 0;  // shortened to fit the context
    int64_t skipped = 0;    // could not fit even after truncation
    int64_t tokens = 0;     // tokens over all units
};

std::vector<Unit> make_sft_units(const Tokenizer & tok, const std::vector<SftExample> & examples, int64_t ctx,
                                 bool add_eos, int32_t n_vocab, UnitStats & stats);

// Pairs that share an identical prompt become one unit (or several when they do not fit in ctx).
std::vector<Unit> make_ppm_units(const Tokenizer & tok, const std::vector<PairExample> & pairs, int64_t ctx,
                                 int32_t n_vocab, UnitStats & stats);

// First-fit decreasing into bins of `ctx` tokens; returns unit indices per micro-batch.
std::vector<std::vector<int>> pack_units(const std::vector<Unit> & units, const std::vector<int> & order, int64_t ctx);

// Concatenates units into one micro-batch: tokens, positions, mask and rows shifted.
PackedBatch build_batch(const std::vector<Unit> & units, const std::vector<int> & members);

}  // namespace rstar::train
