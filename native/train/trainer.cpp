#include "trainer.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>
#include <thread>

#include "ggml-cpu.h"
#include "llama.h"
#include "train_error.h"

namespace fs = std::filesystem;

namespace rstar::train {

struct AbortState {
    const std::atomic<bool> * cancel = nullptr;
    std::atomic<bool> enabled{true};
};

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

double peak_rss_mib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;  // Linux reports KiB
}

bool abort_cb(void * data) {
    auto * st = (AbortState *) data;
    return st->enabled.load() && st->cancel && st->cancel->load();
}

// 64-bit FNV-1a over everything that defines a run, so a checkpoint is only resumed by the run
// that wrote it.
struct Fingerprint {
    uint64_t h = 1469598103934665603ULL;
    void bytes(const void * p, size_t n) {
        const uint8_t * b = (const uint8_t *) p;
        for (size_t i = 0; i < n; ++i) {
            h ^= b[i];
            h *= 1099511628211ULL;
        }
    }
    template <typename T> void pod(const T & v) { bytes(&v, sizeof(v)); }
    void str(const std::string & s) {
        pod(s.size());
        bytes(s.data(), s.size());
    }
    std::string hex() const {
        char buf[17];
        snprintf(buf, sizeof(buf), "%016llx", (unsigned long long) h);
        return buf;
    }
};

// Thread-count default: every core the process can see.
int resolve_threads(int threads) {
    if (threads > 0) return threads;
    const unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 4 : (int) hc;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Session

Session::Session(const std::string & model_path, bool with_value_head, int threads, const std::string & device,
                 uint64_t seed, const std::atomic<bool> * cancel, bool freeze_token_embd) {
    llama_backend_init();
    if (device != "auto" && device != "cpu" && device != "gpu") fail("INVALID_ARGUMENT", "unknown device \"%s\"", device.c_str());
    if (device != "cpu") {
        ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_GPU);
        if (dev) backend_owner_.reset(ggml_backend_dev_init(dev, nullptr));
        if (!backend_owner_ && device == "gpu") fail("TRAIN", "no GPU backend is available in this build");
    }
    if (!backend_owner_) {
        backend_owner_.reset(ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr));
        if (!backend_owner_) fail("TRAIN", "cannot initialise the CPU backend");
    }
    backend = backend_owner_.get();
    if (ggml_backend_is_cpu(backend)) {
        cpu = backend;
    } else {
        cpu_owner_.reset(ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr));
        if (!cpu_owner_) fail("TRAIN", "cannot initialise the CPU backend");
        cpu = cpu_owner_.get();
    }
    ggml_backend_cpu_set_n_threads(cpu, resolve_threads(threads));
    if (cancel) {
        abort_state = std::make_unique<AbortState>();
        abort_state->cancel = cancel;
        ggml_backend_cpu_set_abort_callback(cpu, abort_cb, abort_state.get());
    }
    device_name = ggml_backend_name(backend);

    model.load(model_path, backend, with_value_head, seed);
    tokenizer = std::make_unique<Tokenizer>(model_path);
    if (tokenizer->n_vocab() > model.hp.n_vocab) {
        fail("MODEL_LOAD", "the vocabulary has %d tokens but token_embd has only %lld rows", tokenizer->n_vocab(),
             (long long) model.hp.n_vocab);
    }

    for (const WeightEntry & w : model.weights) {
        if (!w.trainable || (freeze_token_embd && w.tensor == model.tok_embd)) continue;
        ggml_set_param(w.tensor);
        trainable.push_back(w.tensor);
        group_of.push_back(w.tensor == model.vh_w ? 2 : (w.decay ? 0 : 1));
    }

    graph_size = graph_size_for(model);
    ggml_backend_t backends[2] = {backend, cpu};
    const int n_backends = backend == cpu ? 1 : 2;
    sched = ggml_backend_sched_new(backends, nullptr, n_backends, graph_size, /*parallel =*/ false, /*op_offload =*/ false);
    if (!sched) fail("TRAIN", "cannot create the ggml scheduler");
    compute_meta.resize(ggml_tensor_overhead() * graph_size * 3 + ggml_graph_overhead_custom(graph_size, true));
}

Session::~Session() {
    if (sched) ggml_backend_sched_free(sched);
    if (grads_buf) ggml_backend_buffer_free(grads_buf);
    if (grads_ctx) ggml_free(grads_ctx);
    if (opt_buf) ggml_backend_buffer_free(opt_buf);
    if (opt_ctx) ggml_free(opt_ctx);
    // The model's buffer goes before the backends (members declared first, destroyed last).
    model.release();
}

void Session::set_cancellable(bool on) {
    if (abort_state) abort_state->enabled = on;
}

void Session::init_optimizer() {
    if (grads_ctx) return;
    const size_t n = trainable.size();
    ggml_init_params ip = {(n + 1) * ggml_tensor_overhead(), nullptr, true};
    grads_ctx = ggml_init(ip);
    ggml_init_params op = {(2 * n + 8) * ggml_tensor_overhead(), nullptr, true};
    opt_ctx = ggml_init(op);
    for (ggml_tensor * t : trainable) {
        ggml_tensor * g = ggml_dup_tensor(grads_ctx, t);
        ggml_format_name(g, "grad.%s", ggml_get_name(t));
        grads.push_back(g);
        ggml_tensor * m = ggml_dup_tensor(opt_ctx, t);
        ggml_format_name(m, "m.%s", ggml_get_name(t));
        adam_m.push_back(m);
        ggml_tensor * v = ggml_dup_tensor(opt_ctx, t);
        ggml_format_name(v, "v.%s", ggml_get_name(t));
        adam_v.push_back(v);
    }
    loss_grad = ggml_new_tensor_1d(opt_ctx, GGML_TYPE_F32, 1);
    ggml_set_name(loss_grad, "loss_grad");
    for (int i = 0; i < 3; ++i) {
        hyper[i] = ggml_new_tensor_1d(opt_ctx, GGML_TYPE_F32, 7);
        ggml_format_name(hyper[i], "adamw_params_%d", i);
    }
    clip_scale_t = ggml_new_tensor_1d(opt_ctx, GGML_TYPE_F32, 1);
    ggml_set_name(clip_scale_t, "clip_scale");

    grads_buf = ggml_backend_alloc_ctx_tensors(grads_ctx, backend);
    if (!grads_buf) fail("TRAIN", "cannot allocate %.1f MiB for gradients on %s", model.weight_bytes() / 1048576.0, device_name.c_str());
    opt_buf = ggml_backend_alloc_ctx_tensors(opt_ctx, backend);
    if (!opt_buf) fail("TRAIN", "cannot allocate %.1f MiB for the AdamW moments on %s", 2 * model.weight_bytes() / 1048576.0, device_name.c_str());
    ggml_backend_buffer_clear(grads_buf, 0);
    ggml_backend_buffer_clear(opt_buf, 0);
    const float one = 1.0f;
    ggml_backend_tensor_set(loss_grad, &one, 0, sizeof(float));
}

ggml_tensor * Session::grad_of(const ggml_tensor * weight) const {
    for (size_t i = 0; i < trainable.size() && i < grads.size(); ++i) {
        if (trainable[i] == weight) return grads[i];
    }
    return nullptr;
}

void Session::zero_grads() {
    if (grads_buf) ggml_backend_buffer_clear(grads_buf, 0);
}

double Session::grads_mib() const { return grads_buf ? ggml_backend_buffer_get_size(grads_buf) / 1048576.0 : 0; }
double Session::optimizer_mib() const { return opt_buf ? ggml_backend_buffer_get_size(opt_buf) / 1048576.0 : 0; }
double Session::compute_mib() const { return max_compute_bytes / 1048576.0; }

namespace {

struct CtxGuard {
    ggml_context * ctx;
    ~CtxGuard() { ggml_free(ctx); }
};

}  // namespace

Session::MicroResult Session::run(const PackedBatch & batch, LossKind kind, float loss_scale, bool backward,
                                  int64_t logit_rows) {
    if (backward && !grads_ctx) fail("TRAIN", "internal: backward pass before init_optimizer()");
    const int64_t T = batch.n_tokens();
    if ((int64_t) batch.mask.size() != T * T || (int64_t) batch.pos.size() != T) fail("TRAIN", "internal: malformed micro-batch");
    if (kind == LossKind::Sft && (int64_t) batch.target_rows.size() * model.hp.n_vocab >= (int64_t) INT32_MAX) {
        fail("TRAIN", "a micro-batch of %zu target tokens over a %lld-token vocabulary is too large; lower --ctx",
             batch.target_rows.size(), (long long) model.hp.n_vocab);
    }
    ggml_init_params ip = {compute_meta.size(), compute_meta.data(), /*no_alloc =*/ true};
    CtxGuard guard{ggml_init(ip)};
    ggml_context * ctx = guard.ctx;
    ggml_cgraph * gf = ggml_new_graph_custom(ctx, graph_size, backward);
    BuiltGraph g = build_graph(ctx, gf, model, batch, kind, loss_scale, logit_rows);
    if (backward) {
        if (!g.loss) fail("TRAIN", "internal: backward pass without a loss");
        ggml_set_loss(g.loss);
        const int n_nodes = ggml_graph_n_nodes(gf);
        std::vector<ggml_tensor *> accs(n_nodes, nullptr);
        for (int i = 0; i < n_nodes; ++i) {
            ggml_tensor * node = ggml_graph_node(gf, i);
            if (node == g.loss) accs[i] = loss_grad;
            else if (node->flags & GGML_TENSOR_FLAG_PARAM) accs[i] = grad_of(node);
        }
        ggml_build_backward_expand(ctx, gf, accs.data());
    }
    ggml_backend_sched_reset(sched);
    if (!ggml_backend_sched_alloc_graph(sched, gf)) {
        fail("TRAIN", "out of memory for a micro-batch of %lld tokens on %s; lower --ctx", (long long) T, device_name.c_str());
    }
    size_t bytes = ggml_backend_sched_get_buffer_size(sched, backend);
    if (cpu != backend) bytes += ggml_backend_sched_get_buffer_size(sched, cpu);
    max_compute_bytes = std::max(max_compute_bytes, bytes);

    set_inputs(g, model, batch);
    const ggml_status st = ggml_backend_sched_graph_compute(sched, gf);
    MicroResult r;
    if (st == GGML_STATUS_ABORTED) {
        r.aborted = true;
        return r;
    }
    if (st != GGML_STATUS_SUCCESS) fail("TRAIN", "graph computation failed (ggml status %d)", (int) st);
    if (g.loss) {
        float v = 0;
        ggml_backend_tensor_get(g.loss, &v, 0, sizeof(float));
        r.loss = v;
    }
    if (g.r_chosen) {
        r.r_chosen.resize(ggml_nelements(g.r_chosen));
        r.r_rejected.resize(ggml_nelements(g.r_rejected));
        ggml_backend_tensor_get(g.r_chosen, r.r_chosen.data(), 0, ggml_nbytes(g.r_chosen));
        ggml_backend_tensor_get(g.r_rejected, r.r_rejected.data(), 0, ggml_nbytes(g.r_rejected));
    }
    if (g.logits && logit_rows > 0) {
        r.logits.resize(ggml_nelements(g.logits));
        ggml_backend_tensor_get(g.logits, r.logits.data(), 0, ggml_nbytes(g.logits));
    }
    return r;
}

double Session::grad_norm() {
    ggml_init_params ip = {compute_meta.size(), compute_meta.data(), true};
    CtxGuard guard{ggml_init(ip)};
    ggml_cgraph * gf = ggml_new_graph_custom(guard.ctx, graph_size, false);
    ggml_tensor * total = nullptr;
    for (ggml_tensor * g : grads) {
        ggml_tensor * s = ggml_sum(guard.ctx, ggml_sqr(guard.ctx, g));
        total = total ? ggml_add(guard.ctx, total, s) : s;
    }
    if (!total) return 0;
    ggml_set_output(total);
    ggml_build_forward_expand(gf, total);
    ggml_backend_sched_reset(sched);
    if (!ggml_backend_sched_alloc_graph(sched, gf)) fail("TRAIN", "out of memory computing the gradient norm");
    if (ggml_backend_sched_graph_compute(sched, gf) != GGML_STATUS_SUCCESS) fail("TRAIN", "gradient norm computation failed");
    float v = 0;
    ggml_backend_tensor_get(total, &v, 0, sizeof(float));
    return std::sqrt((double) v);
}

void Session::optimizer_step(double lr, double head_lr, const TrainOptions & o, double clip_scale) {
    opt_t++;
    const float b1h = (float) (1.0 / (1.0 - std::pow((double) o.beta1, (double) opt_t)));
    const float b2h = (float) (1.0 / (1.0 - std::pow((double) o.beta2, (double) opt_t)));
    const float groups[3][7] = {
        {(float) lr, o.beta1, o.beta2, o.adam_eps, o.weight_decay, b1h, b2h},
        {(float) lr, o.beta1, o.beta2, o.adam_eps, 0.0f, b1h, b2h},
        {(float) head_lr, o.beta1, o.beta2, o.adam_eps, 0.0f, b1h, b2h},
    };
    for (int i = 0; i < 3; ++i) ggml_backend_tensor_set(hyper[i], groups[i], 0, sizeof(groups[i]));
    const float cs = (float) clip_scale;
    ggml_backend_tensor_set(clip_scale_t, &cs, 0, sizeof(float));

    ggml_init_params ip = {compute_meta.size(), compute_meta.data(), true};
    CtxGuard guard{ggml_init(ip)};
    ggml_cgraph * gf = ggml_new_graph_custom(guard.ctx, graph_size, false);
    for (size_t i = 0; i < trainable.size(); ++i) {
        ggml_tensor * g = clip_scale < 1.0 ? ggml_mul(guard.ctx, grads[i], clip_scale_t) : grads[i];
        ggml_build_forward_expand(gf, ggml_opt_step_adamw(guard.ctx, trainable[i], g, adam_m[i], adam_v[i], hyper[group_of[i]]));
    }
    ggml_backend_sched_reset(sched);
    if (!ggml_backend_sched_alloc_graph(sched, gf)) fail("TRAIN", "out of memory in the optimizer step");
    if (ggml_backend_sched_graph_compute(sched, gf) != GGML_STATUS_SUCCESS) fail("TRAIN", "optimizer step failed");
}

// ---------------------------------------------------------------------------------------------
// Training run

namespace {

double softplus(double x) { return x > 30 ? x : std::log1p(std::exp(x)); }

struct EvalResult {
    double loss = NAN;
    double pair_accuracy = NAN;
    bool aborted = false;
};

EvalResult evaluate(Session & s, const std::vector<Unit> & units, const std::vector<std::vector<int>> & micro, LossKind kind,
                    const std::function<void(double)> & on_fraction) {
    EvalResult out;
    double total = 0, count = 0, correct = 0;
    for (size_t i = 0; i < micro.size(); ++i) {
        const PackedBatch b = build_batch(units, micro[i]);
        if (kind == LossKind::Sft) {
            const double K = (double) b.target_rows.size();
            Session::MicroResult r = s.run(b, kind, (float) K, false);  // scale K: the sum over rows
            if (r.aborted) {
                out.aborted = true;
                return out;
            }
            total += r.loss;
            count += K;
        } else {
            Session::MicroResult r = s.run(b, kind, 1.0f, false);
            if (r.aborted) {
                out.aborted = true;
                return out;
            }
            for (size_t p = 0; p < r.r_chosen.size(); ++p) {
                const double d = (double) r.r_chosen[p] - (double) r.r_rejected[p];
                total += softplus(-d);
                correct += d > 0 ? 1 : 0;
                count += 1;
            }
        }
        if (on_fraction) on_fraction((double) (i + 1) / (double) micro.size());
    }
    if (count > 0) {
        out.loss = total / count;
        if (kind == LossKind::Ppm) out.pair_accuracy = correct / count;
    }
    return out;
}

double lr_factor(const TrainOptions & o, int64_t step, int64_t total, int64_t warmup) {
    if (step < warmup) return (double) (step + 1) / (double) warmup;
    if (o.schedule == "constant") return 1.0;
    const double p = total > warmup ? (double) (step - warmup) / (double) (total - warmup) : 0.0;
    const double lo = o.min_lr_ratio;
    if (o.schedule == "cosine") return lo + (1.0 - lo) * 0.5 * (1.0 + std::cos(M_PI * p));
    return 1.0 - (1.0 - lo) * p;  // linear
}

struct Checkpoint {
    fs::path dir;
    int64_t step = -1;
};

Checkpoint find_checkpoint(const std::string & root) {
    Checkpoint best;
    std::error_code ec;
    if (root.empty() || !fs::is_directory(root, ec)) return best;
    for (const auto & e : fs::directory_iterator(root, ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("step-", 0) != 0 || !e.is_directory()) continue;
        if (!fs::exists(e.path() / "model.gguf") || !fs::exists(e.path() / "optimizer.gguf")) continue;
        const int64_t step = std::strtoll(name.c_str() + 5, nullptr, 10);
        if (step > best.step) best = {e.path(), step};
    }
    return best;
}

struct RunState {
    int64_t step = 0;
    double eval_loss_before = NAN;
    double eval_acc_before = NAN;
};

void save_checkpoint(Session & s, const TrainOptions & o, const std::string & fingerprint, const RunState & st) {
    const fs::path root(o.checkpoint_dir);
    fs::create_directories(root);
    char name[32];
    snprintf(name, sizeof(name), "step-%08lld", (long long) st.step);
    const fs::path partial = root / (std::string(".partial-") + name);
    const fs::path final_dir = root / name;
    std::error_code ec;
    fs::remove_all(partial, ec);
    fs::create_directories(partial);

    ValueHead head;
    const bool ppm = o.mode == "ppm";
    if (ppm) head = s.model.value_head();
    s.model.save((partial / "model.gguf").string(), ppm ? &head : nullptr, /*f32_weights =*/ true);

    gguf_context * kv = gguf_init_empty();
    std::unique_ptr<gguf_context, void (*)(gguf_context *)> kv_guard(kv, gguf_free);
    gguf_set_val_str(kv, "rstar.train.fingerprint", fingerprint.c_str());
    gguf_set_val_i64(kv, "rstar.train.step", st.step);
    gguf_set_val_i64(kv, "rstar.train.opt_t", s.opt_t);
    gguf_set_val_f64(kv, "rstar.train.eval_loss_before", st.eval_loss_before);
    gguf_set_val_f64(kv, "rstar.train.eval_pair_accuracy_before", st.eval_acc_before);
    std::vector<TensorOut> tensors;
    for (size_t i = 0; i < s.trainable.size(); ++i) {
        tensors.push_back({ggml_get_name(s.adam_m[i]), s.adam_m[i], GGML_TYPE_F32});
        tensors.push_back({ggml_get_name(s.adam_v[i]), s.adam_v[i], GGML_TYPE_F32});
    }
    write_gguf((partial / "optimizer.gguf").string(), kv, tensors);

    fs::remove_all(final_dir, ec);
    fs::rename(partial, final_dir);
    // Only the newest checkpoint is kept.
    for (const auto & e : fs::directory_iterator(root, ec)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("step-", 0) == 0 && e.path() != final_dir) fs::remove_all(e.path(), ec);
    }
}

RunState load_checkpoint(Session & s, const Checkpoint & ck, const std::string & fingerprint) {
    const std::string opt_path = (ck.dir / "optimizer.gguf").string();
    gguf_init_params params = {true, nullptr};
    gguf_context * kv = gguf_init_from_file(opt_path.c_str(), params);
    if (!kv) fail("IO", "cannot read %s", opt_path.c_str());
    std::unique_ptr<gguf_context, void (*)(gguf_context *)> kv_guard(kv, gguf_free);
    auto find = [&](const char * key, gguf_type type) -> int64_t {
        const int64_t id = gguf_find_key(kv, key);
        if (id < 0 || gguf_get_kv_type(kv, id) != type) fail("IO", "%s has no %s", opt_path.c_str(), key);
        return id;
    };
    const std::string fp = gguf_get_val_str(kv, find("rstar.train.fingerprint", GGUF_TYPE_STRING));
    if (fp != fingerprint) {
        fail("TRAIN", "the checkpoint in %s was written by a run with other data or settings; delete that directory or "
                      "pass --no-resume to start over", ck.dir.parent_path().string().c_str());
    }
    RunState st;
    st.step = gguf_get_val_i64(kv, find("rstar.train.step", GGUF_TYPE_INT64));
    s.opt_t = gguf_get_val_i64(kv, find("rstar.train.opt_t", GGUF_TYPE_INT64));
    st.eval_loss_before = gguf_get_val_f64(kv, find("rstar.train.eval_loss_before", GGUF_TYPE_FLOAT64));
    st.eval_acc_before = gguf_get_val_f64(kv, find("rstar.train.eval_pair_accuracy_before", GGUF_TYPE_FLOAT64));
    s.model.load_weights_from((ck.dir / "model.gguf").string());
    std::vector<std::pair<std::string, ggml_tensor *>> into;
    for (size_t i = 0; i < s.trainable.size(); ++i) {
        into.push_back({ggml_get_name(s.adam_m[i]), s.adam_m[i]});
        into.push_back({ggml_get_name(s.adam_v[i]), s.adam_v[i]});
    }
    read_gguf_tensors(opt_path, into);
    return st;
}

void validate(const TrainOptions & o) {
    if (o.mode != "sft" && o.mode != "ppm") fail("INVALID_ARGUMENT", "mode must be sft or ppm, not \"%s\"", o.mode.c_str());
    if (o.model_path.empty() || o.out_path.empty()) fail("INVALID_ARGUMENT", "a model path and an output path are required");
    if (o.epochs < 1 || o.batch < 1 || o.ctx < 8 || o.max_steps < 0) fail("INVALID_ARGUMENT", "epochs and batch must be >= 1 and ctx >= 8");
    if (!(o.lr > 0) || !std::isfinite(o.lr)) fail("INVALID_ARGUMENT", "the learning rate must be a positive number");
    if (o.schedule != "linear" && o.schedule != "cosine" && o.schedule != "constant") {
        fail("INVALID_ARGUMENT", "schedule must be linear, cosine or constant");
    }
    if (o.beta1 < 0 || o.beta1 >= 1 || o.beta2 < 0 || o.beta2 >= 1 || !(o.adam_eps > 0)) fail("INVALID_ARGUMENT", "invalid AdamW betas or epsilon");
    if (o.weight_decay < 0 || o.warmup_ratio < 0 || o.warmup_ratio > 1 || o.min_lr_ratio < 0 || o.min_lr_ratio > 1) {
        fail("INVALID_ARGUMENT", "weight decay, warmup ratio and min-lr ratio must be in range");
    }
    if (o.value_transform != "tanh_div5" && o.value_transform != "tanh" && o.value_transform != "raw") {
        fail("INVALID_ARGUMENT", "value transform must be tanh_div5, tanh or raw");
    }
}

}  // namespace

TrainResult run_training(const TrainOptions & o, const ProgressFn & progress, const std::atomic<bool> & cancel) {
    validate(o);
    const bool ppm = o.mode == "ppm";
    const LossKind kind = ppm ? LossKind::Ppm : LossKind::Sft;
    const auto t_start = Clock::now();
    TrainResult res;
    TrainProgress pr;
    auto emit = [&](const std::string & phase) {
        pr.phase = phase;
        pr.elapsed_s = seconds_since(t_start);
        if (progress) progress(pr);
    };

    Session s(o.model_path, ppm, o.threads, o.device, o.seed, &cancel, o.freeze_embeddings);
    res.device = s.device_name;
    res.out_path = o.out_path;
    emit("tokenize");

    const int32_t n_vocab = (int32_t) s.model.hp.n_vocab;
    std::vector<Unit> train_units, eval_units;
    if (ppm) {
        train_units = make_ppm_units(*s.tokenizer, o.ppm_train, o.ctx, n_vocab, res.train_stats);
        eval_units = make_ppm_units(*s.tokenizer, o.ppm_eval, o.ctx, n_vocab, res.eval_stats);
    } else {
        train_units = make_sft_units(*s.tokenizer, o.sft_train, o.ctx, o.add_eos, n_vocab, res.train_stats);
        eval_units = make_sft_units(*s.tokenizer, o.sft_eval, o.ctx, o.add_eos, n_vocab, res.eval_stats);
    }
    if (train_units.empty()) fail("DATA", "no training example fits in a context of %d tokens", o.ctx);

    // The whole schedule is fixed up front (seeded shuffles per epoch), so a resumed run replays
    // exactly the steps it had not done yet.
    std::vector<std::vector<int>> plan;
    std::vector<double> plan_epoch;
    for (int e = 0; e < o.epochs; ++e) {
        std::vector<int> order(train_units.size());
        std::iota(order.begin(), order.end(), 0);
        std::mt19937_64 rng(o.seed + 7919ULL * (uint64_t) e);
        std::shuffle(order.begin(), order.end(), rng);
        std::vector<int> cur;
        int carried = 0;
        size_t done_units = 0;
        for (int u : order) {
            cur.push_back(u);
            carried += train_units[u].n_examples;
            ++done_units;
            if (carried >= o.batch) {
                plan.push_back(cur);
                plan_epoch.push_back(e + (double) done_units / (double) order.size());
                cur.clear();
                carried = 0;
            }
        }
        if (!cur.empty()) {
            plan.push_back(cur);
            plan_epoch.push_back(e + 1.0);
        }
    }
    int64_t total_steps = (int64_t) plan.size();
    if (o.max_steps > 0) total_steps = std::min<int64_t>(total_steps, o.max_steps);
    res.total_steps = total_steps;
    pr.total_steps = total_steps;
    const int64_t warmup = o.warmup_steps >= 0 ? o.warmup_steps : (int64_t) std::ceil(o.warmup_ratio * (double) total_steps);

    std::vector<int> eval_order(eval_units.size());
    std::iota(eval_order.begin(), eval_order.end(), 0);
    const std::vector<std::vector<int>> eval_micro = pack_units(eval_units, eval_order, o.ctx);

    Fingerprint fp;
    fp.str(o.mode);
    for (const WeightEntry & w : s.model.weights) {
        fp.str(w.name);
        fp.bytes(w.tensor->ne, sizeof(w.tensor->ne));
    }
    for (const Unit & u : train_units) {
        fp.pod(u.tokens.size());
        fp.bytes(u.tokens.data(), u.tokens.size() * sizeof(int32_t));
        fp.bytes(u.pair_weights.data(), u.pair_weights.size() * sizeof(float));
    }
    fp.pod(eval_units.size());
    fp.pod(o.epochs); fp.pod(o.max_steps); fp.pod(o.batch); fp.pod(o.ctx); fp.pod(o.lr); fp.str(o.schedule);
    fp.pod(o.warmup_ratio); fp.pod(o.warmup_steps); fp.pod(o.min_lr_ratio); fp.pod(o.weight_decay); fp.pod(o.beta1);
    fp.pod(o.beta2); fp.pod(o.adam_eps); fp.pod(o.grad_clip); fp.pod(o.head_lr_mult); fp.pod(o.seed); fp.pod(o.add_eos);
    fp.pod(o.freeze_embeddings);
    const std::string fingerprint = fp.hex();

    s.init_optimizer();
    res.weights_mib = s.model.weight_bytes() / 1048576.0;
    res.grads_mib = s.grads_mib();
    res.optimizer_mib = s.optimizer_mib();

    RunState st;
    const Checkpoint ck = o.resume ? find_checkpoint(o.checkpoint_dir) : Checkpoint();
    if (ck.step >= 0) {
        st = load_checkpoint(s, ck, fingerprint);
        res.resumed_from_step = st.step;
    } else if (o.eval_before && !eval_units.empty()) {
        emit("eval_before");
        const EvalResult ev = evaluate(s, eval_units, eval_micro, kind, [&](double f) {
            pr.fraction = f;
            emit("eval_before");
        });
        if (ev.aborted) {
            res.cancelled = true;
            return res;
        }
        st.eval_loss_before = ev.loss;
        st.eval_acc_before = ev.pair_accuracy;
    }
    res.eval_loss_before = st.eval_loss_before;
    res.eval_pair_accuracy_before = st.eval_acc_before;

    double train_seconds = 0;
    int64_t train_tokens = 0, steps_this_run = 0, bad_in_a_row = 0;
    int64_t last_checkpoint = st.step;
    auto checkpoint_now = [&]() {
        if (o.checkpoint_dir.empty() || st.step == last_checkpoint) return;
        emit("checkpoint");
        save_checkpoint(s, o, fingerprint, st);
        last_checkpoint = st.step;
        res.checkpoint_path = o.checkpoint_dir;
    };

    // -1: about ten checkpoints per run; 0: only when interrupted.
    const int64_t checkpoint_every = o.checkpoint_every < 0 ? std::max<int64_t>(1, (total_steps + 9) / 10) : o.checkpoint_every;
    while (st.step < total_steps) {
        if (cancel.load()) break;
        const auto t_step = Clock::now();
        const std::vector<int> & step_units = plan[st.step];
        double norm = 0;
        for (int u : step_units) {
            norm += ppm ? std::accumulate(train_units[u].pair_weights.begin(), train_units[u].pair_weights.end(), 0.0)
                        : (double) train_units[u].target_rows.size();
        }
        const std::vector<std::vector<int>> micro = pack_units(train_units, step_units, o.ctx);
        double step_loss = 0;
        int64_t step_tokens = 0;
        bool aborted = false;
        for (const std::vector<int> & mb : micro) {
            const PackedBatch b = build_batch(train_units, mb);
            const float scale = ppm ? (float) (1.0 / norm) : (float) (b.target_rows.size() / norm);
            const Session::MicroResult r = s.run(b, kind, scale, /*backward =*/ true);
            if (r.aborted || cancel.load()) {
                aborted = true;
                break;
            }
            step_loss += r.loss;
            step_tokens += b.n_tokens();
        }
        if (aborted) {
            s.zero_grads();  // a half-accumulated step is dropped; the checkpoint holds the last whole one
            break;
        }
        if (!std::isfinite(step_loss)) {
            s.zero_grads();
            res.skipped_steps++;
            if (++bad_in_a_row >= 8) fail("TRAIN", "the loss was not finite for 8 steps in a row; lower --lr");
        } else {
            bad_in_a_row = 0;
            const double gnorm = s.grad_norm();
            if (!std::isfinite(gnorm)) {
                s.zero_grads();
                res.skipped_steps++;
            } else {
                const double clip = (o.grad_clip > 0 && gnorm > o.grad_clip) ? o.grad_clip / gnorm : 1.0;
                const double lr = o.lr * lr_factor(o, st.step, total_steps, warmup);
                s.optimizer_step(lr, lr * o.head_lr_mult, o, clip);
                s.zero_grads();
                pr.lr = lr;
                pr.grad_norm = gnorm;
            }
            pr.loss = step_loss;
            res.final_train_loss = step_loss;
        }
        st.step++;
        steps_this_run++;
        train_seconds += seconds_since(t_step);
        train_tokens += step_tokens;
        pr.step = st.step;
        pr.epoch = plan_epoch[st.step - 1];
        pr.tokens = train_tokens;
        pr.tokens_per_s = train_seconds > 0 ? train_tokens / train_seconds : 0;
        pr.eta_s = (double) (total_steps - st.step) * (train_seconds / (double) steps_this_run);
        emit("train");
        if (checkpoint_every > 0 && st.step % checkpoint_every == 0 && st.step < total_steps) checkpoint_now();
    }
    res.steps_done = st.step;
    res.train_seconds = train_seconds;
    res.train_tokens = train_tokens;
    res.train_tokens_per_s = train_seconds > 0 ? train_tokens / train_seconds : 0;
    res.compute_mib = s.compute_mib();

    if (st.step < total_steps) {
        checkpoint_now();
        res.cancelled = true;
        res.peak_rss_mib = peak_rss_mib();
        return res;
    }

    // Past this point the run is complete: a late cancel no longer interrupts evaluation.
    s.set_cancellable(false);
    if (!eval_units.empty()) {
        emit("eval_after");
        const EvalResult ev = evaluate(s, eval_units, eval_micro, kind, [&](double f) {
            pr.fraction = f;
            emit("eval_after");
        });
        res.eval_loss_after = ev.loss;
        res.eval_pair_accuracy_after = ev.pair_accuracy;
    }

    emit("save");
    if (ppm) {
        ValueHead head = s.model.value_head();
        head.transform = o.value_transform;
        s.model.save(o.out_path, &head, false, o.metadata);
    } else {
        s.model.save(o.out_path, nullptr, false, o.metadata);
    }
    if (!o.checkpoint_dir.empty()) {
        if (o.keep_checkpoint) {
            st.step = total_steps;
            if (last_checkpoint != st.step) {
                save_checkpoint(s, o, fingerprint, st);
            }
            res.checkpoint_path = o.checkpoint_dir;
        } else {
            std::error_code ec;
            fs::remove_all(o.checkpoint_dir, ec);
            res.checkpoint_path.clear();
        }
    }
    res.peak_rss_mib = peak_rss_mib();
    return res;
}

}  // namespace rstar::train
