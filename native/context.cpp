#include "context.h"

#include "sampler.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

namespace rstar {

static constexpr int kMaxSeq = 256;  // LLAMA_MAX_SEQ, a compile-time limit of llama.cpp

Context::Context(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Context>(info) {}

// Reached only when the JavaScript object is collected without dispose(), or at environment
// teardown, where the Model may already be finalised: so the model is not touched here (a Model
// that still counts this context keeps its weights, which llama_free may need).
Context::~Context() {
    if (batch.token) llama_batch_free(batch);
    if (ctx) llama_free(ctx);
}

void Context::free_context(Napi::Env env) {
    if (batch.token) {
        llama_batch_free(batch);
        batch = llama_batch{};
    }
    if (ctx) {
        llama_free(ctx);
        ctx = nullptr;
    }
    if (external_bytes) {
        Napi::MemoryManagement::AdjustExternalMemory(env, -(int64_t) external_bytes);
        external_bytes = 0;
    }
    if (model) {
        model->contexts--;
        model = nullptr;
        model_ref_.Reset();
    }
}

llama_context * Context::require_idle(Napi::Env env) {
    if (!ctx || dispose_pending) throw_js(env, "DISPOSED", "the context is disposed");
    if (busy.load()) throw_js(env, "BUSY", "a decode is running on this context; KV operations must wait for it (lib/engine serialises them)");
    return ctx;
}

int Context::check_seq(Napi::Env env, const Napi::Value & v) {
    if (!v.IsNumber()) throw_js(env, "INVALID_ARGUMENT", "Expected an integer sequence id");
    const int s = v.As<Napi::Number>().Int32Value();
    if (s < 0 || s >= kMaxSeq) throw_js(env, "INVALID_ARGUMENT", "Expected a sequence id between 0 and 255 but received " + std::to_string(s));
    return s;
}

class CreateWorker : public PromiseWorker {
  public:
    CreateWorker(Napi::Env env, Context * c, Napi::Object self, llama_context_params p)
        : PromiseWorker(env, "rstar.Context.init", self), c_(c), p_(p) {}

  protected:
    void Run() override {
        c_->decode_thread.run([this] { ctx_ = llama_init_from_model(c_->model->model, p_); });
        if (!ctx_) throw Failure("NATIVE", "llama.cpp could not create the context (out of memory for the KV cache? try a smaller contextSize)");
    }
    Napi::Value Result(Napi::Env env) override {
        c_->ctx = ctx_;
        c_->n_batch = (int) llama_n_batch(ctx_);
        c_->batch = llama_batch_init(c_->n_batch, 0, 1);
        llama_set_abort_callback(ctx_, [](void * data) { return static_cast<Context *>(data)->abort.load(); }, c_);
        const llama_model * m = c_->model->model;
        const int head_dim = llama_model_n_embd(m) / std::max(1, llama_model_n_head(m));
        const size_t elt = p_.type_k == GGML_TYPE_F32 ? 4 : (p_.type_k == GGML_TYPE_Q8_0 ? 1 : 2);
        c_->external_bytes = (size_t) llama_n_ctx(ctx_) * (size_t) llama_model_n_layer(m) * 2 * (size_t) llama_model_n_head_kv(m) * (size_t) head_dim * elt;
        Napi::MemoryManagement::AdjustExternalMemory(env, (int64_t) c_->external_bytes);
        c_->busy = false;
        return env.Undefined();
    }
    void Finally() override {
        if (!ctx_) {
            c_->busy = false;
            c_->model->contexts--;
            c_->model = nullptr;
            c_->model_ref_.Reset();
        }
    }

  private:
    Context * c_;
    llama_context_params p_;
    llama_context * ctx_ = nullptr;
};

static ggml_type kv_type(Napi::Env env, const std::string & s) {
    if (s == "f16") return GGML_TYPE_F16;
    if (s == "f32") return GGML_TYPE_F32;
    if (s == "q8_0") return GGML_TYPE_Q8_0;
    throw_js(env, "INVALID_ARGUMENT", "Expected kvType f16, f32 or q8_0 but received " + s);
}

// init(model, {contextSize, batchSize, threads, flashAttention, kvType}) -> Promise<void>
Napi::Value Context::Init_(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (ctx || busy) throw_js(env, "INVALID_ARGUMENT", "this Context object is already initialised");
    if (!info[0].IsObject()) throw_js(env, "INVALID_ARGUMENT", "Expected a Model for model");
    Napi::Object mo = info[0].As<Napi::Object>();
    if (!mo.InstanceOf(Model::constructor->Value())) throw_js(env, "INVALID_ARGUMENT", "Expected a Model for model");
    Model * m = Model::Unwrap(mo);
    m->require(env);
    Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    llama_context_params p = llama_context_default_params();
    p.n_ctx = (uint32_t) get_number(o, "contextSize", 4096);
    p.n_batch = (uint32_t) get_number(o, "batchSize", 512);
    p.n_ubatch = p.n_batch;
    p.n_seq_max = (uint32_t) get_number(o, "maxSequences", 64);
    n_threads = (int) get_number(o, "threads", 2);
    p.n_threads = n_threads;
    p.n_threads_batch = n_threads;
    p.kv_unified = true;
    p.pooling_type = LLAMA_POOLING_TYPE_LAST;  // embeddings stay off except on scoring decodes
    p.embeddings = false;
    p.no_perf = true;
    const std::string fa = get_string(o, "flashAttention", "auto");
    p.flash_attn_type = fa == "on" ? LLAMA_FLASH_ATTN_TYPE_ENABLED : fa == "off" ? LLAMA_FLASH_ATTN_TYPE_DISABLED : LLAMA_FLASH_ATTN_TYPE_AUTO;
    p.type_k = p.type_v = kv_type(env, get_string(o, "kvType", "f16"));
    if (p.n_ctx < 16 || p.n_ctx > (1u << 20)) throw_js(env, "INVALID_ARGUMENT", "Expected contextSize between 16 and 1048576");
    if (p.n_batch < 1 || p.n_batch > p.n_ctx) throw_js(env, "INVALID_ARGUMENT", "Expected batchSize between 1 and contextSize");
    if (p.n_seq_max < 1 || p.n_seq_max > kMaxSeq) throw_js(env, "INVALID_ARGUMENT", "Expected maxSequences between 1 and 256");
    if (n_threads < 1 || n_threads > 1024) throw_js(env, "INVALID_ARGUMENT", "Expected threads between 1 and 1024");
    if (p.type_v == GGML_TYPE_Q8_0 && p.flash_attn_type == LLAMA_FLASH_ATTN_TYPE_DISABLED) throw_js(env, "INVALID_ARGUMENT", "a q8_0 KV cache needs flash attention");
    model = m;
    model->contexts++;
    model_ref_ = Napi::Persistent(mo);
    busy = true;
    auto * w = new CreateWorker(env, this, Value(), p);
    w->Queue();
    return w->Promise();
}

Napi::Value Context::Info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!ctx) throw_js(env, "DISPOSED", "the context is disposed");
    Napi::Object o = Napi::Object::New(env);
    o.Set("contextSize", llama_n_ctx(ctx));
    o.Set("batchSize", llama_n_batch(ctx));
    o.Set("ubatchSize", llama_n_ubatch(ctx));
    o.Set("maxSequences", llama_n_seq_max(ctx));
    o.Set("threads", n_threads);
    o.Set("nVocab", llama_vocab_n_tokens(model->vocab));
    o.Set("hasValueHead", model->head != nullptr);
    return o;
}

// One decode over a batch of (token, sequence) rows, then per-output-row sampling and/or scoring.
class StepWorker : public PromiseWorker {
  public:
    struct Row {
        int32_t index;     // token index in the batch
        int32_t seq;
        Sampler * sampler; // may be null: no sampling for this row
    };

    StepWorker(Napi::Env env, Context * c, Napi::Object self) : PromiseWorker(env, "rstar.Context.step", self), c_(c) {}

    std::vector<int32_t> tokens, seqs, pos;
    std::vector<Row> rows;
    std::vector<Napi::ObjectReference> sampler_refs;
    bool embed = false;
    bool want_logits = false;

  protected:
    void Run() override {
        c_->decode_thread.run([this] { RunOnDecodeThread(); });
    }

    void RunOnDecodeThread() {
        llama_context * ctx = c_->ctx;
        llama_batch & b = c_->batch;
        const int n = (int) tokens.size();
        b.n_tokens = n;
        for (int i = 0; i < n; ++i) {
            b.token[i] = tokens[i];
            b.pos[i] = pos[i];
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = seqs[i];
            b.logits[i] = 0;
        }
        for (const Row & r : rows) b.logits[r.index] = 1;
        llama_set_embeddings(ctx, embed);
        using clock = std::chrono::steady_clock;
        const auto t0 = clock::now();
        const int rc = llama_decode(ctx, b);
        const auto t1 = clock::now();
        decode_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
        if (embed) llama_set_embeddings(ctx, false);
        if (rc == 1) throw Failure("KV_CACHE_FULL", "no free KV cells for a batch of " + std::to_string(n) + " tokens (context of " + std::to_string(llama_n_ctx(ctx)) + " cells); release sequences or use a larger contextSize");
        if (rc == 2) throw Failure("ABORTED", "the decode was aborted");
        if (rc == -1) throw Failure("INVALID_ARGUMENT", "llama.cpp rejected the batch as invalid");
        if (rc != 0) throw Failure("DECODE", "llama_decode failed with code " + std::to_string(rc));

        const int n_vocab = llama_vocab_n_tokens(c_->model->vocab);
        const size_t m = rows.size();
        out_tokens.assign(m, -1);
        out_logprobs.assign(m, 0.0f);
        if (embed) out_scores.assign(m, NAN);
        if (want_logits) out_logits.resize(m * (size_t) n_vocab);
        std::vector<const float *> logit_rows(m, nullptr);
        for (size_t j = 0; j < m; ++j) {
            logit_rows[j] = llama_get_logits_ith(ctx, rows[j].index);
            if (!logit_rows[j]) throw Failure("DECODE", "llama.cpp returned no logits for an output row");
            if (want_logits) std::memcpy(&out_logits[j * (size_t) n_vocab], logit_rows[j], sizeof(float) * (size_t) n_vocab);
        }
        if (embed) {
            const ValueHead & h = *c_->model->head;
            const int n_embd = (int) h.weight.size();
            for (size_t j = 0; j < m; ++j) {
                const float * e = llama_get_embeddings_seq(ctx, rows[j].seq);
                if (!e) throw Failure("DECODE", "llama.cpp returned no embedding for sequence " + std::to_string(rows[j].seq));
                double s = h.bias;
                for (int k = 0; k < n_embd; ++k) s += (double) h.weight[k] * e[k];
                out_scores[j] = (float) s;
            }
        }
        // Sampling touches only this step's logits and each row's own sampler, so rows are split
        // across threads; the decode threads are idle at this point.
        auto sample_range = [&](size_t from, size_t to) {
            for (size_t j = from; j < to; ++j) {
                if (!rows[j].sampler) continue;
                SampleOut s = rows[j].sampler->sample(logit_rows[j], n_vocab);
                out_tokens[j] = s.token;
                out_logprobs[j] = s.logprob;
            }
        };
        const size_t n_threads = std::min<size_t>((size_t) std::max(1, c_->n_threads), m / 4 + 1);
        if (n_threads <= 1) {
            sample_range(0, m);
        } else {
            std::vector<std::thread> pool;
            const size_t per = (m + n_threads - 1) / n_threads;
            for (size_t t = 1; t < n_threads; ++t) pool.emplace_back(sample_range, std::min(m, t * per), std::min(m, (t + 1) * per));
            sample_range(0, std::min(m, per));
            for (auto & th : pool) th.join();
        }
        char buf[256];
        pieces.clear();
        piece_offsets.assign(m + 1, 0);
        for (size_t j = 0; j < m; ++j) {
            piece_offsets[j] = (int32_t) pieces.size();
            if (out_tokens[j] >= 0) {
                int k = llama_token_to_piece(c_->model->vocab, out_tokens[j], buf, sizeof(buf), 0, true);
                if (k > 0) pieces.append(buf, (size_t) k);
            }
        }
        piece_offsets[m] = (int32_t) pieces.size();
        // Everything after the decode (reading logits and embeddings, sampling, pieces): the
        // benchmarks' "sampling" share of a step.
        sample_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
    }

    void Finally() override {
        c_->busy = false;
        if (c_->dispose_pending) c_->free_context(Env());
        sampler_refs.clear();
    }

    Napi::Value Result(Napi::Env env) override {
        Napi::Object o = Napi::Object::New(env);
        const size_t m = out_tokens.size();
        Napi::Int32Array t = Napi::Int32Array::New(env, m);
        Napi::Float32Array lp = Napi::Float32Array::New(env, m);
        std::memcpy(t.Data(), out_tokens.data(), m * sizeof(int32_t));
        std::memcpy(lp.Data(), out_logprobs.data(), m * sizeof(float));
        o.Set("tokens", t);
        o.Set("logprobs", lp);
        Napi::Int32Array off = Napi::Int32Array::New(env, m + 1);
        std::memcpy(off.Data(), piece_offsets.data(), (m + 1) * sizeof(int32_t));
        o.Set("pieces", Napi::Buffer<char>::Copy(env, pieces.data(), pieces.size()));
        o.Set("pieceOffsets", off);
        o.Set("decodeMs", decode_ms);
        o.Set("sampleMs", sample_ms);
        if (embed) {
            Napi::Float32Array sc = Napi::Float32Array::New(env, m);
            std::memcpy(sc.Data(), out_scores.data(), m * sizeof(float));
            o.Set("scores", sc);
        }
        if (want_logits) {
            Napi::Float32Array lg = Napi::Float32Array::New(env, out_logits.size());
            std::memcpy(lg.Data(), out_logits.data(), out_logits.size() * sizeof(float));
            o.Set("logits", lg);
        }
        return o;
    }

  private:
    Context * c_;
    std::vector<int32_t> out_tokens;
    std::vector<float> out_logprobs, out_scores, out_logits;
    std::string pieces;
    std::vector<int32_t> piece_offsets;
    double decode_ms = 0, sample_ms = 0;
};

// step(tokens: Int32Array, seqs: Int32Array, outRows: Int32Array, samplers: (Sampler|null)[],
//      {embed, logits}) -> Promise<{tokens, logprobs, pieces, pieceOffsets, decodeMs, sampleMs,
//      scores?, logits?}>
// A token index may appear several times in outRows (not on embed steps): its logits are then
// sampled once per entry, each with its own sampler, which is how an expansion draws the first
// token of every child from the parent's last decode instead of decoding that token once per child.
// Positions are not passed: each sequence continues at its own pos_max + 1, the only position
// llama.cpp accepts, so a caller cannot get it wrong. Everything llama.cpp would assert on
// (batch larger than n_batch, sequence ids >= 256, tokens outside the vocabulary) is checked here.
Napi::Value Context::Step(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = require_idle(env);
    if (!info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() || !info[3].IsArray()) {
        throw_js(env, "INVALID_ARGUMENT", "step(tokens: Int32Array, seqs: Int32Array, outRows: Int32Array, samplers: Array, options)");
    }
    Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
    Napi::Int32Array seqs = info[1].As<Napi::Int32Array>();
    Napi::Int32Array out_rows = info[2].As<Napi::Int32Array>();
    Napi::Array samplers = info[3].As<Napi::Array>();
    Napi::Object opts = info[4].IsObject() ? info[4].As<Napi::Object>() : Napi::Object::New(env);
    const size_t n = tokens.ElementLength();
    if (n == 0) throw_js(env, "INVALID_ARGUMENT", "a step needs at least one token");
    if (n > (size_t) n_batch) throw_js(env, "INVALID_ARGUMENT", "a step of " + std::to_string(n) + " tokens exceeds the batch size " + std::to_string(n_batch));
    if (seqs.ElementLength() != n) throw_js(env, "INVALID_ARGUMENT", "tokens and seqs differ in length");
    if (samplers.Length() != out_rows.ElementLength()) throw_js(env, "INVALID_ARGUMENT", "outRows and samplers differ in length");
    const bool embed = get_bool(opts, "embed", false);
    if (embed && !model->head) throw_js(env, "INVALID_ARGUMENT", "this model has no value head (rstar.value_head.weight): it is not a PPM");

    auto * w = new StepWorker(env, this, Value());
    w->embed = embed;
    w->want_logits = get_bool(opts, "logits", false);
    w->tokens.assign(tokens.Data(), tokens.Data() + n);
    w->seqs.assign(seqs.Data(), seqs.Data() + n);
    w->pos.resize(n);
    const int32_t n_vocab = llama_vocab_n_tokens(model->vocab);
    llama_memory_t mem = llama_get_memory(c);
    int32_t next_pos[kMaxSeq];
    bool seen[kMaxSeq] = {false};
    int32_t last_index[kMaxSeq];
    try {
        for (size_t i = 0; i < n; ++i) {
            const int32_t s = w->seqs[i];
            if (s < 0 || s >= kMaxSeq) throw_js(env, "INVALID_ARGUMENT", "sequence id " + std::to_string(s) + " is outside [0, 256)");
            if (w->tokens[i] < 0 || w->tokens[i] >= n_vocab) throw_js(env, "INVALID_ARGUMENT", "token id " + std::to_string(w->tokens[i]) + " is outside the vocabulary");
            if (!seen[s]) {
                seen[s] = true;
                next_pos[s] = llama_memory_seq_pos_max(mem, s) + 1;
            }
            w->pos[i] = next_pos[s]++;
            last_index[s] = (int32_t) i;
            if (w->pos[i] >= (int32_t) llama_n_ctx(c)) throw_js(env, "CONTEXT_OVERFLOW", "sequence " + std::to_string(s) + " would grow past the context size " + std::to_string(llama_n_ctx(c)));
        }
        std::vector<bool> row_used(n, false);
        for (size_t j = 0; j < out_rows.ElementLength(); ++j) {
            const int32_t r = out_rows[j];
            if (r < 0 || (size_t) r >= n) throw_js(env, "INVALID_ARGUMENT", "outRows must be token indices of this step");
            if (row_used[r] && (embed || w->want_logits)) throw_js(env, "INVALID_ARGUMENT", "outRows must be distinct on scoring and logits steps");
            row_used[r] = true;
            Napi::Value sv = samplers.Get((uint32_t) j);
            Sampler * sp = nullptr;
            if (sv.IsObject()) {
                sp = Sampler::Unwrap(sv.As<Napi::Object>());
                w->sampler_refs.push_back(Napi::Persistent(sv.As<Napi::Object>()));
            } else if (!sv.IsNull() && !sv.IsUndefined()) {
                throw_js(env, "INVALID_ARGUMENT", "Expected a Sampler or null in samplers");
            }
            const int32_t s = w->seqs[r];
            if (embed && last_index[s] != r) throw_js(env, "INVALID_ARGUMENT", "a scoring row must be the last token of its sequence in the step");
            w->rows.push_back({r, s, sp});
        }
    } catch (...) {
        delete w;
        throw;
    }
    busy = true;
    w->Queue();
    return w->Promise();
}

// seqCopy(src, dst, p0, p1): dst sees src's cells in [p0, p1) (p < 0: open end). dst is cleared
// first because llama.cpp's copy adds to whatever dst already holds. Metadata only: no K/V moves.
Napi::Value Context::SeqCopy(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = require_idle(env);
    const int src = check_seq(env, info[0]);
    const int dst = check_seq(env, info[1]);
    const int p0 = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
    const int p1 = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
    if (src == dst) throw_js(env, "INVALID_ARGUMENT", "seqCopy needs two different sequences");
    llama_memory_t mem = llama_get_memory(c);
    llama_memory_seq_rm(mem, dst, -1, -1);
    llama_memory_seq_cp(mem, src, dst, p0, p1);
    return env.Undefined();
}

Napi::Value Context::SeqRemove(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = require_idle(env);
    const int s = check_seq(env, info[0]);
    const int p0 = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
    const int p1 = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
    return Napi::Boolean::New(env, llama_memory_seq_rm(llama_get_memory(c), s, p0, p1));
}

Napi::Value Context::SeqPosMax(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = require_idle(env);
    return Napi::Number::New(env, llama_memory_seq_pos_max(llama_get_memory(c), check_seq(env, info[0])));
}

Napi::Value Context::SeqPosMin(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = require_idle(env);
    return Napi::Number::New(env, llama_memory_seq_pos_min(llama_get_memory(c), check_seq(env, info[0])));
}

Napi::Value Context::Clear(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_memory_clear(llama_get_memory(require_idle(env)), true);
    return env.Undefined();
}

// The size in bytes of the serialised context state, which grows with the number of KV cells in
// use (shared cells are written once). Tests use it to measure prefix sharing.
Napi::Value Context::StateSize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    return Napi::Number::New(env, (double) llama_state_get_size(require_idle(env)));
}

// dispose(): idempotent; a decode in flight is aborted and the context is freed when it returns.
Napi::Value Context::Dispose(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!ctx) {
        if (model && !busy) free_context(env);
        return env.Undefined();
    }
    if (busy) {
        dispose_pending = true;
        abort = true;
        return env.Undefined();
    }
    free_context(env);
    return env.Undefined();
}

void Context::Init(Napi::Env env, Napi::Object exports) {
    exports.Set("Context", DefineClass(env, "Context", {
        InstanceMethod("init", &Context::Init_),
        InstanceMethod("info", &Context::Info),
        InstanceMethod("step", &Context::Step),
        InstanceMethod("seqCopy", &Context::SeqCopy),
        InstanceMethod("seqRemove", &Context::SeqRemove),
        InstanceMethod("seqPosMax", &Context::SeqPosMax),
        InstanceMethod("seqPosMin", &Context::SeqPosMin),
        InstanceMethod("clear", &Context::Clear),
        InstanceMethod("stateSize", &Context::StateSize),
        InstanceMethod("dispose", &Context::Dispose),
    }));
}

void init_context(Napi::Env env, Napi::Object exports) { Context::Init(env, exports); }

}  // namespace rstar
