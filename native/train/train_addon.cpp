// The JavaScript boundary of the trainer: option parsing on the main thread, every run on a
// libuv worker (a PromiseWorker), progress through a thread-safe function, cancellation through an
// atomic flag. Nothing here touches ggml on the main thread, and every trainer error comes back as
// a rejected promise with a "[CODE] message" error, never as an abort.
#include "train.h"

#include <atomic>
#include <chrono>
#include <memory>

#include "common.h"
#include "selftest.h"
#include "train_error.h"
#include "trainer.h"

namespace rstar {

namespace {

using train::TrainError;

// Runs `fn` and rethrows trainer errors as the addon's Failure, keeping their codes.
template <typename F> void with_codes(F && fn) {
    try {
        fn();
    } catch (const TrainError & e) {
        throw Failure(e.code(), e.what());
    }
}

Napi::Array require_array(Napi::Env env, const Napi::Object & o, const char * key) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return Napi::Array::New(env);
    if (!v.IsArray()) throw_js(env, "INVALID_ARGUMENT", std::string("Expected an array for ") + key);
    return v.As<Napi::Array>();
}

std::string require_string(Napi::Env env, const Napi::Object & o, const char * key, const char * where) {
    Napi::Value v = o.Get(key);
    if (!v.IsString()) throw_js(env, "INVALID_ARGUMENT", std::string("Expected a string for ") + where + "." + key);
    return v.As<Napi::String>().Utf8Value();
}

std::vector<train::SftExample> read_sft(Napi::Env env, const Napi::Array & a, const char * where) {
    std::vector<train::SftExample> out;
    out.reserve(a.Length());
    for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value v = a.Get(i);
        if (!v.IsObject()) throw_js(env, "INVALID_ARGUMENT", std::string("Expected objects in ") + where);
        Napi::Object o = v.As<Napi::Object>();
        out.push_back({require_string(env, o, "prompt", where), require_string(env, o, "completion", where)});
    }
    return out;
}

std::vector<train::PairExample> read_pairs(Napi::Env env, const Napi::Array & a, const char * where) {
    std::vector<train::PairExample> out;
    out.reserve(a.Length());
    for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value v = a.Get(i);
        if (!v.IsObject()) throw_js(env, "INVALID_ARGUMENT", std::string("Expected objects in ") + where);
        Napi::Object o = v.As<Napi::Object>();
        train::PairExample p;
        p.prompt = require_string(env, o, "prompt", where);
        p.chosen = require_string(env, o, "chosen", where);
        p.rejected = require_string(env, o, "rejected", where);
        p.weight = (float) get_number(o, "weight", 1.0);
        out.push_back(std::move(p));
    }
    return out;
}

Napi::Object stats_to_js(Napi::Env env, const train::UnitStats & s) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("examples", (double) s.examples_in);
    o.Set("used", (double) s.examples_used);
    o.Set("truncated", (double) s.truncated);
    o.Set("skipped", (double) s.skipped);
    o.Set("tokens", (double) s.tokens);
    return o;
}

Napi::Object progress_to_js(Napi::Env env, const train::TrainProgress & p) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("phase", p.phase);
    o.Set("step", (double) p.step);
    o.Set("totalSteps", (double) p.total_steps);
    o.Set("epoch", p.epoch);
    o.Set("loss", p.loss);
    o.Set("lr", p.lr);
    o.Set("gradNorm", p.grad_norm);
    o.Set("tokensPerSecond", p.tokens_per_s);
    o.Set("tokens", (double) p.tokens);
    o.Set("elapsedSeconds", p.elapsed_s);
    o.Set("etaSeconds", p.eta_s);
    o.Set("fraction", p.fraction);
    return o;
}

class TrainWorker : public PromiseWorker {
public:
    TrainWorker(Napi::Env env, train::TrainOptions opts, std::shared_ptr<std::atomic<bool>> cancel, Napi::Function on_progress)
        : PromiseWorker(env, "rstar.train"), opts_(std::move(opts)), cancel_(std::move(cancel)) {
        if (!on_progress.IsEmpty()) {
            tsfn_ = Napi::ThreadSafeFunction::New(env, on_progress, "rstar.train.progress", 0, 1);
            has_tsfn_ = true;
        }
    }

protected:
    void Run() override {
        auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
        auto progress = [&](const train::TrainProgress & p) {
            if (!has_tsfn_) return;
            // Training steps of a tiny model come every few milliseconds: forward at most 10/s,
            // plus every phase change and the last step.
            const auto now = std::chrono::steady_clock::now();
            const bool last_step = p.phase == "train" && p.step == p.total_steps;
            if ((p.phase == "train" || p.fraction > 0) && !last_step && now - last < std::chrono::milliseconds(100)) return;
            last = now;
            auto * copy = new train::TrainProgress(p);
            const napi_status st = tsfn_.NonBlockingCall(copy, [](Napi::Env env, Napi::Function fn, train::TrainProgress * data) {
                std::unique_ptr<train::TrainProgress> owned(data);
                if (env != nullptr && !fn.IsEmpty()) {
                    try {
                        fn.Call({progress_to_js(env, *owned)});
                    } catch (...) {
                        // A throwing progress callback must not end the run.
                    }
                }
            });
            if (st != napi_ok) delete copy;
        };
        with_codes([&] { result_ = train::run_training(opts_, progress, *cancel_); });
    }

    Napi::Value Result(Napi::Env env) override {
        const train::TrainResult & r = result_;
        Napi::Object o = Napi::Object::New(env);
        o.Set("cancelled", r.cancelled);
        o.Set("stepsDone", (double) r.steps_done);
        o.Set("totalSteps", (double) r.total_steps);
        o.Set("resumedFromStep", (double) r.resumed_from_step);
        o.Set("skippedSteps", (double) r.skipped_steps);
        o.Set("evalLossBefore", r.eval_loss_before);
        o.Set("evalLossAfter", r.eval_loss_after);
        o.Set("evalPairAccuracyBefore", r.eval_pair_accuracy_before);
        o.Set("evalPairAccuracyAfter", r.eval_pair_accuracy_after);
        o.Set("finalTrainLoss", r.final_train_loss);
        o.Set("trainTokensPerSecond", r.train_tokens_per_s);
        o.Set("trainTokens", (double) r.train_tokens);
        o.Set("trainSeconds", r.train_seconds);
        o.Set("trainStats", stats_to_js(env, r.train_stats));
        o.Set("evalStats", stats_to_js(env, r.eval_stats));
        o.Set("weightsMiB", r.weights_mib);
        o.Set("gradsMiB", r.grads_mib);
        o.Set("optimizerMiB", r.optimizer_mib);
        o.Set("computeMiB", r.compute_mib);
        o.Set("peakRssMiB", r.peak_rss_mib);
        o.Set("device", r.device);
        o.Set("outPath", r.out_path);
        o.Set("checkpointPath", r.checkpoint_path);
        return o;
    }

    void Finally() override {
        if (has_tsfn_) {
            tsfn_.Release();
            has_tsfn_ = false;
        }
    }

private:
    train::TrainOptions opts_;
    std::shared_ptr<std::atomic<bool>> cancel_;
    Napi::ThreadSafeFunction tsfn_;
    bool has_tsfn_ = false;
    train::TrainResult result_;
};

train::TrainOptions read_options(Napi::Env env, const Napi::Object & o) {
    train::TrainOptions t;
    t.mode = get_string(o, "mode", t.mode);
    t.model_path = get_string(o, "modelPath", "");
    t.out_path = get_string(o, "outPath", "");
    t.checkpoint_dir = get_string(o, "checkpointDir", "");
    if (t.mode == "ppm") {
        t.ppm_train = read_pairs(env, require_array(env, o, "train"), "train");
        t.ppm_eval = read_pairs(env, require_array(env, o, "eval"), "eval");
    } else {
        t.sft_train = read_sft(env, require_array(env, o, "train"), "train");
        t.sft_eval = read_sft(env, require_array(env, o, "eval"), "eval");
    }
    t.epochs = (int) get_number(o, "epochs", t.epochs);
    t.max_steps = (int) get_number(o, "maxSteps", t.max_steps);
    t.batch = (int) get_number(o, "batch", t.batch);
    t.ctx = (int) get_number(o, "ctx", t.ctx);
    t.lr = (float) get_number(o, "lr", t.lr);
    t.schedule = get_string(o, "schedule", t.schedule);
    t.warmup_ratio = (float) get_number(o, "warmupRatio", t.warmup_ratio);
    t.warmup_steps = (int) get_number(o, "warmupSteps", t.warmup_steps);
    t.min_lr_ratio = (float) get_number(o, "minLrRatio", t.min_lr_ratio);
    t.weight_decay = (float) get_number(o, "weightDecay", t.weight_decay);
    t.beta1 = (float) get_number(o, "beta1", t.beta1);
    t.beta2 = (float) get_number(o, "beta2", t.beta2);
    t.adam_eps = (float) get_number(o, "adamEps", t.adam_eps);
    t.grad_clip = (float) get_number(o, "gradClip", t.grad_clip);
    t.head_lr_mult = (float) get_number(o, "headLrMult", t.head_lr_mult);
    t.add_eos = get_bool(o, "addEos", t.add_eos);
    t.freeze_embeddings = get_bool(o, "freezeEmbeddings", t.freeze_embeddings);
    t.value_transform = get_string(o, "valueTransform", t.value_transform);
    t.checkpoint_every = (int) get_number(o, "checkpointEvery", t.checkpoint_every);
    t.resume = get_bool(o, "resume", t.resume);
    t.keep_checkpoint = get_bool(o, "keepCheckpoint", t.keep_checkpoint);
    t.eval_before = get_bool(o, "evalBefore", t.eval_before);
    t.seed = (uint64_t) get_number(o, "seed", (double) t.seed);
    t.threads = (int) get_number(o, "threads", t.threads);
    t.device = get_string(o, "device", t.device);
    Napi::Value md = o.Get("metadata");
    if (md.IsObject()) {
        Napi::Object m = md.As<Napi::Object>();
        Napi::Array keys = m.GetPropertyNames();
        for (uint32_t i = 0; i < keys.Length(); ++i) {
            const std::string k = keys.Get(i).ToString().Utf8Value();
            Napi::Value v = m.Get(k);
            if (!v.IsString()) throw_js(env, "INVALID_ARGUMENT", "Expected string values in metadata");
            if (k.rfind("rstar.", 0) != 0) throw_js(env, "INVALID_ARGUMENT", "Expected metadata keys under rstar.");
            t.metadata.push_back({k, v.As<Napi::String>().Utf8Value()});
        }
    }
    return t;
}

Napi::Value train_start(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw_js(env, "INVALID_ARGUMENT", "Expected an options object for trainStart");
    train::TrainOptions opts = read_options(env, info[0].As<Napi::Object>());
    Napi::Function on_progress;
    if (info.Length() > 1 && info[1].IsFunction()) on_progress = info[1].As<Napi::Function>();
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto * worker = new TrainWorker(env, std::move(opts), cancel, on_progress);
    Napi::Object job = Napi::Object::New(env);
    job.Set("promise", worker->Promise());
    job.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo &) { cancel->store(true); }, "cancel"));
    worker->Queue();
    return job;
}

class LambdaWorker : public PromiseWorker {
public:
    LambdaWorker(Napi::Env env, std::function<void()> run, std::function<Napi::Value(Napi::Env)> result)
        : PromiseWorker(env, "rstar.train.util"), run_(std::move(run)), result_(std::move(result)) {}

protected:
    void Run() override { with_codes(run_); }
    Napi::Value Result(Napi::Env env) override { return result_(env); }

private:
    std::function<void()> run_;
    std::function<Napi::Value(Napi::Env)> result_;
};

Napi::Value queue(Napi::Env env, std::function<void()> run, std::function<Napi::Value(Napi::Env)> result) {
    auto * w = new LambdaWorker(env, std::move(run), std::move(result));
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
}

std::vector<int32_t> read_tokens(Napi::Env env, const Napi::Value & v, const char * what) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
        throw_js(env, "INVALID_ARGUMENT", std::string("Expected an Int32Array for ") + what);
    }
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Float32Array to_f32(Napi::Env env, const std::vector<float> & v) {
    Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
    std::copy(v.begin(), v.end(), a.Data());
    return a;
}

Napi::Value forward_logits(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString()) throw_js(env, "INVALID_ARGUMENT", "Expected (modelPath, tokens, threads)");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    std::vector<int32_t> tokens = read_tokens(env, info[1], "tokens");
    const int threads = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
    auto out = std::make_shared<std::vector<float>>();
    return queue(env, [=] { *out = train::forward_logits(path, tokens, threads); }, [out](Napi::Env e) { return to_f32(e, *out); });
}

Napi::Value score_tokens(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) throw_js(env, "INVALID_ARGUMENT", "Expected (modelPath, sequences, threads)");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    Napi::Array arr = info[1].As<Napi::Array>();
    std::vector<std::vector<int32_t>> seqs;
    for (uint32_t i = 0; i < arr.Length(); ++i) seqs.push_back(read_tokens(env, arr.Get(i), "sequences[i]"));
    const int threads = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
    auto out = std::make_shared<std::vector<float>>();
    return queue(env, [=] { *out = train::score_tokens(path, seqs, threads); }, [out](Napi::Env e) { return to_f32(e, *out); });
}

Napi::Value gradient_check(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw_js(env, "INVALID_ARGUMENT", "Expected an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    const std::string path = get_string(o, "modelPath", "");
    const std::string mode = get_string(o, "mode", "sft");
    std::vector<train::SftExample> sft;
    std::vector<train::PairExample> pairs;
    if (mode == "ppm") pairs = read_pairs(env, require_array(env, o, "examples"), "examples");
    else sft = read_sft(env, require_array(env, o, "examples"), "examples");
    const int probes = (int) get_number(o, "probesPerTensor", 3);
    const double eps = get_number(o, "eps", 1e-2);
    const uint64_t seed = (uint64_t) get_number(o, "seed", 1);
    const int threads = (int) get_number(o, "threads", 0);
    auto out = std::make_shared<train::GradCheckResult>();
    return queue(
        env, [=] { *out = train::gradient_check(path, mode, sft, pairs, probes, eps, seed, threads); },
        [out](Napi::Env e) {
            Napi::Object r = Napi::Object::New(e);
            r.Set("maxRelError", out->max_rel_error);
            r.Set("maxAbsError", out->max_abs_error);
            r.Set("maxAbsGrad", out->max_abs_grad);
            r.Set("probes", (double) out->probes);
            r.Set("graphLoss", out->graph_loss);
            r.Set("referenceLoss", out->reference_loss);
            r.Set("allPositionsLoss", out->all_positions_loss);
            r.Set("packingMaxAbsDiff", out->packing_max_abs_diff);
            r.Set("promptRows", (double) out->prompt_rows);
            r.Set("targetRows", (double) out->target_rows);
            return r;
        });
}

Napi::Value tokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) throw_js(env, "INVALID_ARGUMENT", "Expected (modelPath, texts, addSpecial)");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    Napi::Array arr = info[1].As<Napi::Array>();
    std::vector<std::string> texts;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value v = arr.Get(i);
        if (!v.IsString()) throw_js(env, "INVALID_ARGUMENT", "Expected strings in texts");
        texts.push_back(v.As<Napi::String>().Utf8Value());
    }
    const bool add_special = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
    auto out = std::make_shared<std::vector<std::vector<int32_t>>>();
    return queue(
        env,
        [=] {
            train::Tokenizer tok(path);
            for (const std::string & t : texts) out->push_back(tok.encode(t, add_special));
        },
        [out](Napi::Env e) {
            Napi::Array a = Napi::Array::New(e, out->size());
            for (size_t i = 0; i < out->size(); ++i) {
                Napi::Int32Array t = Napi::Int32Array::New(e, (*out)[i].size());
                std::copy((*out)[i].begin(), (*out)[i].end(), t.Data());
                a.Set((uint32_t) i, t);
            }
            return a;
        });
}

}  // namespace

void InitTrainer(Napi::Env env, Napi::Object exports) {
    exports.Set("trainStart", Napi::Function::New(env, train_start, "trainStart"));
    exports.Set("trainForwardLogits", Napi::Function::New(env, forward_logits, "trainForwardLogits"));
    exports.Set("trainScoreTokens", Napi::Function::New(env, score_tokens, "trainScoreTokens"));
    exports.Set("trainGradientCheck", Napi::Function::New(env, gradient_check, "trainGradientCheck"));
    exports.Set("trainTokenize", Napi::Function::New(env, tokenize, "trainTokenize"));
}

}  // namespace rstar
