// Context: one llama_context on a unified KV cache, the object a search tree lives in. It exposes
// llama.cpp's mechanisms only: per-sequence KV operations (copy, remove, position range) and one
// decode step over an arbitrary batch with per-row sampling or value-head scoring. Which sequences
// exist, what to batch together and when to evict are decided in TypeScript (lib/engine).
#pragma once

#include "common.h"
#include "model.h"

#include "llama.h"

namespace rstar {

class Context : public Napi::ObjectWrap<Context> {
  public:
    static void Init(Napi::Env env, Napi::Object exports);
    explicit Context(const Napi::CallbackInfo & info);
    ~Context() override;

    llama_context * ctx = nullptr;
    Model * model = nullptr;
    llama_batch batch{};
    int n_batch = 0;
    int n_threads = 1;
    std::atomic<bool> busy{false};
    std::atomic<bool> abort{false};
    bool dispose_pending = false;
    size_t external_bytes = 0;

    void free_context(Napi::Env env);

  private:
    Napi::Value Init_(const Napi::CallbackInfo & info);
    Napi::Value Info(const Napi::CallbackInfo & info);
    Napi::Value Step(const Napi::CallbackInfo & info);
    Napi::Value SeqCopy(const Napi::CallbackInfo & info);
    Napi::Value SeqRemove(const Napi::CallbackInfo & info);
    Napi::Value SeqPosMax(const Napi::CallbackInfo & info);
    Napi::Value SeqPosMin(const Napi::CallbackInfo & info);
    Napi::Value Clear(const Napi::CallbackInfo & info);
    Napi::Value StateSize(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    llama_context * require_idle(Napi::Env env);
    int check_seq(Napi::Env env, const Napi::Value & v);

  public:
    Napi::ObjectReference model_ref_;
};

}  // namespace rstar
