#include "model.h"

#include "gguf.h"

#include <cmath>
#include <cstring>
#include <fstream>

namespace rstar {

Napi::FunctionReference * Model::constructor = nullptr;

// Checks what llama.cpp would otherwise discover by crashing: a GGUF whose header parses but whose
// tensor data runs past the end of the file is mmapped and read, which is a SIGBUS, not an error.
static void validate_gguf_file(const std::string & path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw Failure("MODEL_LOAD", "cannot open " + path + ": no such file or not readable");
    const uint64_t file_size = (uint64_t) f.tellg();
    char magic[4] = {0, 0, 0, 0};
    f.seekg(0);
    f.read(magic, 4);
    if (file_size < 4 || std::memcmp(magic, "GGUF", 4) != 0) throw Failure("MODEL_LOAD", path + " is not a GGUF file (bad magic)");
    gguf_init_params params = {/*no_alloc =*/true, /*ctx =*/nullptr};
    gguf_context * g = gguf_init_from_file(path.c_str(), params);
    if (!g) throw Failure("MODEL_LOAD", path + " is not a valid GGUF file (the header or metadata is corrupt or truncated)");
    const uint64_t data = gguf_get_data_offset(g);
    uint64_t end = data;
    for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
        end = std::max<uint64_t>(end, data + gguf_get_tensor_offset(g, i) + gguf_get_tensor_size(g, i));
    }
    const int64_t n_tensors = gguf_get_n_tensors(g);
    gguf_free(g);
    if (n_tensors == 0) throw Failure("MODEL_LOAD", path + " has no tensors (a vocabulary-only GGUF cannot be loaded as a model)");
    if (end > file_size) {
        throw Failure("MODEL_LOAD", path + " is truncated: its tensors need " + std::to_string(end) + " bytes but the file has " + std::to_string(file_size));
    }
}

std::shared_ptr<ValueHead> read_value_head(const std::string & path, int n_embd) {
    gguf_init_params params = {/*no_alloc =*/true, /*ctx =*/nullptr};
    gguf_context * g = gguf_init_from_file(path.c_str(), params);
    if (!g) return nullptr;
    std::shared_ptr<ValueHead> head;
    const int64_t kw = gguf_find_key(g, "rstar.value_head.weight");
    if (kw >= 0 && gguf_get_kv_type(g, kw) == GGUF_TYPE_ARRAY && gguf_get_arr_type(g, kw) == GGUF_TYPE_FLOAT32 &&
        (int) gguf_get_arr_n(g, kw) == n_embd) {
        head = std::make_shared<ValueHead>();
        const float * w = (const float *) gguf_get_arr_data(g, kw);
        head->weight.assign(w, w + n_embd);
        const int64_t kb = gguf_find_key(g, "rstar.value_head.bias");
        if (kb >= 0 && gguf_get_kv_type(g, kb) == GGUF_TYPE_FLOAT32) head->bias = gguf_get_val_f32(g, kb);
        const int64_t kt = gguf_find_key(g, "rstar.value_head.transform");
        if (kt >= 0 && gguf_get_kv_type(g, kt) == GGUF_TYPE_STRING) head->transform = gguf_get_val_str(g, kt);
    }
    gguf_free(g);
    return head;
}

class LoadWorker : public PromiseWorker {
  public:
    LoadWorker(Napi::Env env, Model * m, Napi::Object self, std::string path, llama_model_params params, Napi::Value on_progress)
        : PromiseWorker(env, "rstar.Model.load", self), m_(m), path_(std::move(path)), params_(params) {
        if (on_progress.IsFunction()) {
            progress_ = Napi::ThreadSafeFunction::New(env, on_progress.As<Napi::Function>(), "rstar.load.progress", 0, 1);
            has_progress_ = true;
            params_.progress_callback = [](float p, void * ud) -> bool {
                auto * self = static_cast<LoadWorker *>(ud);
                float * value = new float(p);
                if (self->progress_.NonBlockingCall(value, [](Napi::Env env, Napi::Function fn, float * v) {
                        fn.Call({Napi::Number::New(env, *v)});
                        delete v;
                    }) != napi_ok) {
                    delete value;
                }
                return true;
            };
            params_.progress_callback_user_data = this;
        }
    }

  protected:
    void Run() override {
        validate_gguf_file(path_);
        model_ = llama_model_load_from_file(path_.c_str(), params_);
        if (!model_) throw Failure("MODEL_LOAD", "llama.cpp could not load " + path_ + " (unsupported architecture or inconsistent tensors; set RSTAR_LLAMA_LOG=info for details)");
        head_ = read_value_head(path_, llama_model_n_embd(model_));
    }
    void Finally() override {
        if (has_progress_) progress_.Release();
        m_->loading = false;
    }
    Napi::Value Result(Napi::Env env) override {
        m_->model = model_;
        m_->vocab = llama_model_get_vocab(model_);
        m_->head = head_;
        m_->path = path_;
        return env.Undefined();
    }

  private:
    Model * m_;
    std::string path_;
    llama_model_params params_;
    llama_model * model_ = nullptr;
    std::shared_ptr<ValueHead> head_;
    Napi::ThreadSafeFunction progress_;
    bool has_progress_ = false;
};


Model::Model(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Model>(info) {}

// A model still referenced by contexts at environment teardown is left to the OS: freeing weights
// under a context that is finalised later would crash the exiting process.
Model::~Model() {
    if (contexts.load() == 0) free_model();
}

void Model::free_model() {
    if (model) {
        llama_model_free(model);
        model = nullptr;
        vocab = nullptr;
    }
}

llama_model * Model::require(Napi::Env env) const {
    if (!model) throw_js(env, "DISPOSED", loading ? "the model is still loading" : "the model is disposed or was never loaded");
    return model;
}

// load(path, {gpuLayers, mmap, onProgress}) -> Promise<void>
Napi::Value Model::Load(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (model || loading) throw_js(env, "INVALID_ARGUMENT", "this Model object already holds a model");
    if (!info[0].IsString()) throw_js(env, "INVALID_ARGUMENT", "Expected a path string for path");
    Napi::Object opts = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    llama_model_params p = llama_model_default_params();
    p.n_gpu_layers = (int32_t) get_number(opts, "gpuLayers", 0);
    p.load_mode = get_bool(opts, "mmap", true) ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    loading = true;
    auto * w = new LoadWorker(env, this, Value(), info[0].As<Napi::String>().Utf8Value(), p, opts.Get("onProgress"));
    w->Queue();
    return w->Promise();
}

static void set_meta(Napi::Env env, Napi::Object out, const llama_model * model) {
    char key[256];
    std::vector<char> val(1 << 16);
    const int n = llama_model_meta_count(model);
    for (int i = 0; i < n; ++i) {
        if (llama_model_meta_key_by_index(model, i, key, sizeof(key)) < 0) continue;
        int len = llama_model_meta_val_str_by_index(model, i, val.data(), val.size());
        if (len < 0) continue;
        out.Set(key, std::string(val.data(), std::min<size_t>((size_t) len, val.size() - 1)));
    }
}

Napi::Value Model::Info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    const llama_model * m = require(env);
    Napi::Object o = Napi::Object::New(env);
    char buf[512];
    llama_model_desc(m, buf, sizeof(buf));
    o.Set("description", std::string(buf));
    buf[0] = 0;
    llama_model_meta_val_str(m, "general.architecture", buf, sizeof(buf));
    o.Set("architecture", std::string(buf));
    o.Set("nParams", (double) llama_model_n_params(m));
    o.Set("sizeBytes", (double) llama_model_size(m));
    o.Set("nVocab", llama_vocab_n_tokens(vocab));
    o.Set("nCtxTrain", llama_model_n_ctx_train(m));
    o.Set("nEmbd", llama_model_n_embd(m));
    o.Set("nLayer", llama_model_n_layer(m));
    o.Set("nHead", llama_model_n_head(m));
    o.Set("nHeadKv", llama_model_n_head_kv(m));
    o.Set("bos", llama_vocab_bos(vocab));
    o.Set("eos", llama_vocab_eos(vocab));
    o.Set("hasValueHead", head != nullptr);
    if (head) o.Set("valueHeadTransform", head->transform);
    Napi::Object meta = Napi::Object::New(env);
    set_meta(env, meta, m);
    o.Set("metadata", meta);
    return o;
}

// tokenize(text, addSpecial, parseSpecial) -> Int32Array. Synchronous: tokenizing a prompt takes
// microseconds to a few milliseconds, far below the cost of a worker round trip.
Napi::Value Model::Tokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    require(env);
    if (!info[0].IsString()) throw_js(env, "INVALID_ARGUMENT", "Expected a string for text");
    std::string text = info[0].As<Napi::String>().Utf8Value();
    const bool add_special = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    const bool parse_special = !info[2].IsBoolean() || info[2].As<Napi::Boolean>().Value();
    if (text.size() > (size_t) INT32_MAX / 2) throw_js(env, "INVALID_ARGUMENT", "text is too long to tokenize");
    std::vector<llama_token> toks(text.size() + 8);
    int n = llama_tokenize(vocab, text.data(), (int32_t) text.size(), toks.data(), (int32_t) toks.size(), add_special, parse_special);
    if (n < 0) {
        toks.resize((size_t) -n);
        n = llama_tokenize(vocab, text.data(), (int32_t) text.size(), toks.data(), (int32_t) toks.size(), add_special, parse_special);
    }
    if (n < 0) throw_js(env, "NATIVE", "tokenization failed");
    Napi::Int32Array out = Napi::Int32Array::New(env, (size_t) n);
    std::memcpy(out.Data(), toks.data(), sizeof(llama_token) * (size_t) n);
    return out;
}

static void check_tokens(Napi::Env env, const llama_vocab * vocab, const int32_t * t, size_t n) {
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    for (size_t i = 0; i < n; ++i) {
        if (t[i] < 0 || t[i] >= n_vocab) throw_js(env, "INVALID_ARGUMENT", "token id " + std::to_string(t[i]) + " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
    }
}

// detokenize(Int32Array, renderSpecial) -> string
Napi::Value Model::Detokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    require(env);
    if (!info[0].IsTypedArray()) throw_js(env, "INVALID_ARGUMENT", "Expected an Int32Array for tokens");
    Napi::Int32Array t = info[0].As<Napi::Int32Array>();
    const bool special = !info[1].IsBoolean() || info[1].As<Napi::Boolean>().Value();
    check_tokens(env, vocab, t.Data(), t.ElementLength());
    std::vector<char> buf(t.ElementLength() * 8 + 16);
    int n = llama_detokenize(vocab, t.Data(), (int32_t) t.ElementLength(), buf.data(), (int32_t) buf.size(), false, special);
    if (n < 0) {
        buf.resize((size_t) -n);
        n = llama_detokenize(vocab, t.Data(), (int32_t) t.ElementLength(), buf.data(), (int32_t) buf.size(), false, special);
    }
    if (n < 0) throw_js(env, "NATIVE", "detokenization failed");
    return Napi::String::New(env, buf.data(), (size_t) n);
}

// tokenPieces(Int32Array) -> Buffer of every token's raw bytes (special tokens rendered), with an
// Int32Array of n+1 offsets. Used to build stop-token sets by content (e.g. "\n\n").
Napi::Value Model::TokenPieces(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    require(env);
    if (!info[0].IsTypedArray()) throw_js(env, "INVALID_ARGUMENT", "Expected an Int32Array for tokens");
    Napi::Int32Array t = info[0].As<Napi::Int32Array>();
    check_tokens(env, vocab, t.Data(), t.ElementLength());
    std::string bytes;
    Napi::Int32Array offsets = Napi::Int32Array::New(env, t.ElementLength() + 1);
    char buf[256];
    for (size_t i = 0; i < t.ElementLength(); ++i) {
        offsets[i] = (int32_t) bytes.size();
        int n = llama_token_to_piece(vocab, t[i], buf, sizeof(buf), 0, true);
        if (n > 0) bytes.append(buf, (size_t) n);
    }
    offsets[t.ElementLength()] = (int32_t) bytes.size();
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytes", Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size()));
    o.Set("offsets", offsets);
    return o;
}

Napi::Value Model::IsEog(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    require(env);
    return Napi::Boolean::New(env, llama_vocab_is_eog(vocab, info[0].As<Napi::Number>().Int32Value()));
}

// dispose(): idempotent. The JS side disposes every context first; a context still alive keeps a
// reference to this object, so the weights are never freed under a running decode.
Napi::Value Model::Dispose(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (contexts.load() > 0) throw_js(env, "INVALID_ARGUMENT", "dispose the model's contexts before the model");
    free_model();
    head.reset();
    return env.Undefined();
}

void Model::Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Model", {
        InstanceMethod("load", &Model::Load),
        InstanceMethod("info", &Model::Info),
        InstanceMethod("tokenize", &Model::Tokenize),
        InstanceMethod("detokenize", &Model::Detokenize),
        InstanceMethod("tokenPieces", &Model::TokenPieces),
        InstanceMethod("isEog", &Model::IsEog),
        InstanceMethod("dispose", &Model::Dispose),
    });
    constructor = new Napi::FunctionReference(Napi::Persistent(f));
    exports.Set("Model", f);
}

void init_model(Napi::Env env, Napi::Object exports) { Model::Init(env, exports); }

}  // namespace rstar
