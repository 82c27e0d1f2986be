// The trainable copy of a llama/qwen2 GGUF: hyper-parameters, F32 master weights on a ggml
// backend, and the writer that turns them back into a GGUF our engine (llama.cpp) loads.
//
// Scope: the dense llama and qwen2 architectures as llama.cpp builds them (RMSNorm, RoPE, GQA,
// optional Q/K/V/O and FFN biases, SwiGLU, tied or untied output). Weights may be F32, F16 or
// BF16; they are widened to F32 for training and written back in their original type.
// Deliberately left out: quantized weights (no gradient through them), MoE, sliding windows,
// YaRN/LongRoPE scaling, QK-norm (llama4) and every other architecture: loading one fails with
// a sentence that says why, never with a GGML_ASSERT.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ggml.h"
#include "ggml-backend.h"
#include "gguf.h"

namespace rstar::train {

enum class Arch { Llama, Qwen2 };

struct Hparams {
    Arch arch = Arch::Qwen2;
    std::string arch_name;
    int64_t n_vocab = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t n_ff = 0;
    int64_t head_dim = 0;
    int64_t n_rot = 0;
    int64_t n_ctx_train = 0;
    float rms_eps = 1e-6f;
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;
    float attn_scale = 0.0f;  // 0: 1/sqrt(head_dim), as llama.cpp
    int rope_mode = 0;        // GGML_ROPE_TYPE_NEOX for qwen2, 0 (NORM) for llama
};

struct LayerWeights {
    ggml_tensor * attn_norm = nullptr;
    ggml_tensor * wq = nullptr, * bq = nullptr;
    ggml_tensor * wk = nullptr, * bk = nullptr;
    ggml_tensor * wv = nullptr, * bv = nullptr;
    ggml_tensor * wo = nullptr, * bo = nullptr;
    ggml_tensor * ffn_norm = nullptr;
    ggml_tensor * w_gate = nullptr, * b_gate = nullptr;
    ggml_tensor * w_up = nullptr, * b_up = nullptr;
    ggml_tensor * w_down = nullptr, * b_down = nullptr;
};

// One tensor of the model as it travels GGUF -> training -> GGUF.
struct WeightEntry {
    std::string name;
    ggml_tensor * tensor = nullptr;  // F32 master copy on the backend
    ggml_type file_type = GGML_TYPE_F32;
    bool trainable = true;           // false: rope_freqs (constant), the value-head bias
    bool decay = true;               // weight decay applies to matrices only
};

// The value head of a PPM: r = w . h_last + b on the final (post output_norm) hidden state.
struct ValueHead {
    std::vector<float> weight;  // n_embd
    float bias = 0.0f;
    std::string transform = "tanh_div5";
};

class TrainModel {
public:
    TrainModel() = default;
    TrainModel(const TrainModel &) = delete;
    TrainModel & operator=(const TrainModel &) = delete;
    ~TrainModel();

    // Frees the backend buffer (call before freeing the backend itself).
    void release();

    // Reads hyper-parameters and tensors from `path` into a buffer of `backend`. When
    // `with_value_head` is set, creates the head tensors (from the file's metadata when present,
    // else a small seeded random init). Throws TrainError on anything unsupported.
    void load(const std::string & path, ggml_backend_t backend, bool with_value_head, uint64_t seed);

    // Writes a GGUF with the original metadata and tensor types plus, when `head` is set, the
    // rstar.value_head.* keys. `f32_weights` forces F32 for every tensor (checkpoints).
    void save(const std::string & path, const ValueHead * head, bool f32_weights,
              const std::vector<std::pair<std::string, std::string>> & extra_str_kv = {}) const;

    // Overwrites every weight (and the head) with the values stored in another GGUF of the same
    // layout, e.g. a checkpoint written by save(..., f32_weights = true).
    void load_weights_from(const std::string & path);

    // Reads back the value head currently on the backend.
    ValueHead value_head() const;

    Hparams hp;
    ggml_tensor * tok_embd = nullptr;
    ggml_tensor * output_norm = nullptr;
    ggml_tensor * output = nullptr;  // == tok_embd when tied
    ggml_tensor * output_b = nullptr;
    ggml_tensor * rope_freqs = nullptr;
    ggml_tensor * vh_w = nullptr;    // [n_embd, 1]
    ggml_tensor * vh_b = nullptr;    // [1]
    bool tied_output = false;
    std::vector<LayerWeights> layers;
    std::vector<WeightEntry> weights;  // file tensors first (file order), then the head
    std::string path;
    std::string value_transform = "tanh_div5";
    bool had_value_head = false;

    size_t weight_bytes() const { return buffer ? ggml_backend_buffer_get_size(buffer) : 0; }

private:
    ggml_context * ctx = nullptr;
    ggml_backend_buffer_t buffer = nullptr;
    gguf_context * meta = nullptr;  // the source file's metadata (no tensor data)
};

// Reads rstar.value_head.* from a GGUF's metadata without loading tensors; false when absent.
bool gguf_read_value_head(const std::string & path, ValueHead & out, int64_t expect_n_embd);

// Streams F32 backend tensors into a GGUF (narrowing to F16/BF16 where asked) next to the metadata
// of `kv`, through a temporary file renamed into place, so a crash never leaves a torn file.
struct TensorOut {
    std::string name;
    const ggml_tensor * src;
    ggml_type type;
};
void write_gguf(const std::string & path, const gguf_context * kv, const std::vector<TensorOut> & tensors);

// Reads the named tensors of a GGUF into same-shaped F32 backend tensors.
void read_gguf_tensors(const std::string & path, const std::vector<std::pair<std::string, ggml_tensor *>> & into);

}  // namespace rstar::train
