// Model: one loaded llama_model (weights + vocabulary), plus the rStar value head when the GGUF
// carries one. Shared read-only by every Context created from it.
#pragma once

#include "common.h"

#include "llama.h"

#include <memory>

namespace rstar {

struct ValueHead {
    std::vector<float> weight;  // n_embd
    float bias = 0.0f;
    std::string transform = "tanh_div5";
};

class Model : public Napi::ObjectWrap<Model> {
  public:
    static Napi::FunctionReference * constructor;
    static void Init(Napi::Env env, Napi::Object exports);
    explicit Model(const Napi::CallbackInfo & info);
    ~Model() override;

    // The loaded model, or a thrown [DISPOSED] error.
    llama_model * require(Napi::Env env) const;
    llama_model * model = nullptr;
    const llama_vocab * vocab = nullptr;
    std::shared_ptr<ValueHead> head;  // null when the GGUF has none
    std::atomic<int> contexts{0};     // live contexts; dispose waits for none in flight
    std::string path;

    void free_model();

  private:
    Napi::Value Load(const Napi::CallbackInfo & info);
    Napi::Value Info(const Napi::CallbackInfo & info);
    Napi::Value Tokenize(const Napi::CallbackInfo & info);
    Napi::Value Detokenize(const Napi::CallbackInfo & info);
    Napi::Value TokenPieces(const Napi::CallbackInfo & info);
    Napi::Value IsEog(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    size_t external_bytes_ = 0;

  public:
    bool loading = false;
};

// Reads the value head from GGUF metadata (`rstar.value_head.*`); null when absent.
std::shared_ptr<ValueHead> read_value_head(const std::string & path, int n_embd);

}  // namespace rstar
