// The built-in trainer: SFT (masked causal-LM loss) and PPM (policy backbone + scalar value head,
// Bradley-Terry loss) on our own ggml graph, AdamW with warmup + decay, global-norm clipping,
// gradient accumulation, checkpoints and resume. Plain C++: the N-API layer (train_addon.cpp) and
// the test harness both drive it through run_training() and the Session helpers below.
//
// Threading: run_training() blocks for the whole run and must be called off the JS thread. It
// polls `cancel` between micro-batches (and the CPU backend polls it inside a graph); a cancelled
// run writes a checkpoint of the last completed step and returns with `cancelled` set.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "graph.h"
#include "packing.h"
#include "weights.h"

namespace rstar::train {

struct TrainOptions {
    std::string mode = "sft";  // "sft" | "ppm"
    std::string model_path;
    std::string out_path;
    std::string checkpoint_dir;  // empty: no checkpoints, no resume

    std::vector<SftExample> sft_train, sft_eval;
    std::vector<PairExample> ppm_train, ppm_eval;

    int epochs = 1;
    int max_steps = 0;  // > 0: stop after this many optimizer steps (benchmarks)
    int batch = 16;     // SFT examples or PPM pairs per optimizer step
    int ctx = 512;      // tokens per packed micro-batch
    float lr = 1e-4f;
    std::string schedule = "linear";  // linear | cosine | constant (after warmup)
    float warmup_ratio = 0.05f;       // of the total steps; warmup_steps >= 0 overrides
    int warmup_steps = -1;
    float min_lr_ratio = 0.0f;
    float weight_decay = 0.0f;  // decoupled (AdamW), matrices only
    float beta1 = 0.9f, beta2 = 0.999f, adam_eps = 1e-8f;
    float grad_clip = 1.0f;     // global L2 norm; <= 0 disables
    float head_lr_mult = 1.0f;  // PPM: learning-rate multiplier of the value head
    bool add_eos = true;        // SFT: append EOS to every completion
    bool freeze_embeddings = false;  // keep token_embd (and a tied output head) fixed
    std::string value_transform = "tanh_div5";
    std::vector<std::pair<std::string, std::string>> metadata;  // extra string keys for the output GGUF
    int checkpoint_every = -1;  // optimizer steps between checkpoints; 0: only on cancel; -1: every ~10%
    bool resume = true;         // continue from checkpoint_dir when it holds a matching checkpoint
    bool keep_checkpoint = false;  // keep checkpoint_dir after a successful run
    bool eval_before = true;
    uint64_t seed = 42;
    int threads = 0;            // 0: hardware concurrency
    std::string device = "auto";  // auto | cpu | gpu
};

struct TrainProgress {
    std::string phase;  // tokenize | eval_before | train | checkpoint | eval_after | save
    int64_t step = 0;
    int64_t total_steps = 0;
    double epoch = 0;
    double loss = 0;      // loss of the last optimizer step
    double lr = 0;
    double grad_norm = 0;
    double tokens_per_s = 0;
    int64_t tokens = 0;   // trained tokens so far in this run
    double elapsed_s = 0;
    double eta_s = 0;
    double fraction = 0;  // eval progress
};

struct TrainResult {
    bool cancelled = false;
    int64_t steps_done = 0;
    int64_t total_steps = 0;
    int64_t resumed_from_step = -1;
    int64_t skipped_steps = 0;  // non-finite loss
    double eval_loss_before = NAN, eval_loss_after = NAN;
    double eval_pair_accuracy_before = NAN, eval_pair_accuracy_after = NAN;
    double final_train_loss = NAN;
    double train_tokens_per_s = 0;
    int64_t train_tokens = 0;
    double train_seconds = 0;
    UnitStats train_stats, eval_stats;
    double weights_mib = 0, grads_mib = 0, optimizer_mib = 0, compute_mib = 0;
    double peak_rss_mib = 0;
    std::string device;
    std::string out_path;
    std::string checkpoint_path;  // set when a checkpoint was kept (cancel or keep_checkpoint)
};

using ProgressFn = std::function<void(const TrainProgress &)>;

TrainResult run_training(const TrainOptions & opts, const ProgressFn & progress, const std::atomic<bool> & cancel);

struct AbortState;

// A loaded model on a backend with a scheduler: what training, evaluation and the test helpers
// share. Optimizer state is allocated only by init_optimizer().
class Session {
    // Declared first so they are destroyed last: every buffer below lives on these backends.
    struct BackendFree {
        void operator()(ggml_backend_t b) const { ggml_backend_free(b); }
    };
    std::unique_ptr<ggml_backend, BackendFree> backend_owner_, cpu_owner_;

public:
    // `freeze_token_embd` keeps token_embd.weight fixed (with tied embeddings, the output head too).
    Session(const std::string & model_path, bool with_value_head, int threads, const std::string & device,
            uint64_t seed, const std::atomic<bool> * cancel = nullptr, bool freeze_token_embd = false);
    ~Session();
    Session(const Session &) = delete;
    Session & operator=(const Session &) = delete;

    struct MicroResult {
        double loss = 0;
        std::vector<float> r_chosen, r_rejected;  // PPM
        std::vector<float> logits;                // when logit rows were requested
        bool aborted = false;
    };

    // Builds and runs one micro-batch graph; with `backward`, adds the gradients of its loss into
    // the accumulators.
    MicroResult run(const PackedBatch & batch, LossKind kind, float loss_scale, bool backward, int64_t logit_rows = 0);

    void init_optimizer();
    void zero_grads();
    double grad_norm();  // global L2 norm of the accumulated gradients
    // One AdamW update of every trainable tensor with gradients scaled by `clip_scale`.
    void optimizer_step(double lr, double head_lr, const TrainOptions & o, double clip_scale);

    // Whether the cancel flag may abort a running graph (off once training proper is over).
    void set_cancellable(bool on);

    // Gradient accumulator of a weight, or nullptr.
    ggml_tensor * grad_of(const ggml_tensor * weight) const;

    TrainModel model;
    std::unique_ptr<Tokenizer> tokenizer;
    std::string device_name;
    int64_t opt_t = 0;  // AdamW step counter (bias correction)

    std::vector<ggml_tensor *> trainable;
    std::vector<ggml_tensor *> grads, adam_m, adam_v;

    double grads_mib() const;
    double optimizer_mib() const;
    double compute_mib() const;

private:
    ggml_backend_t backend = nullptr;  // where the weights live (owned by backend_owner_)
    ggml_backend_t cpu = nullptr;      // == backend on CPU-only runs
    ggml_backend_sched_t sched = nullptr;
    size_t graph_size = 0;
    std::vector<uint8_t> compute_meta;

    ggml_context * grads_ctx = nullptr;
    ggml_backend_buffer_t grads_buf = nullptr;
    ggml_context * opt_ctx = nullptr;
    ggml_backend_buffer_t opt_buf = nullptr;
    ggml_tensor * loss_grad = nullptr;
    ggml_tensor * hyper[3] = {nullptr, nullptr, nullptr};  // decay, no-decay, head
    ggml_tensor * clip_scale_t = nullptr;
    std::vector<int> group_of;  // per trainable tensor
    size_t max_compute_bytes = 0;
    std::unique_ptr<AbortState> abort_state;
};

}  // namespace rstar::train
