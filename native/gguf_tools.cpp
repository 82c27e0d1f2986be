// GGUF file tools: writing random-weight models of real architectures (tests and benchmarks make
// their own models; nothing downloads weights), quantizing with llama.cpp, and reading metadata.
//
// The writer streams: the header goes out first, then each tensor is generated and written at its
// aligned offset, so even a 7B-shaped model needs one tensor's worth of memory, not the model's.
#include "common.h"

#include "ggml.h"
#include "gguf.h"
#include "llama.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_set>

namespace rstar {

// The rStar step markers and prompt roles: single special tokens in every model we make.
static const char * kMarkers[] = {"<code>", "<end_of_step>", "<end_of_code>", "<output>", "<end_of_output>",
                                  "<answer>", "<end_of_answer>", "<|user|>", "<|assistant|>"};
static constexpr int kNumMarkers = sizeof(kMarkers) / sizeof(kMarkers[0]);
static constexpr int kQwenFirstPad = 151646;  // [PAD151646]...: unused rows of the Qwen2 vocabulary

struct ModelSpec {
    std::string out, arch = "qwen2", vocab = "qwen2", vocab_path, type = "f32", name = "rstar-random";
    int n_embd = 64, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 128, n_ctx = 4096;
    float rope_base = 1e6f, eps = 1e-6f, init_std = 0.02f;
    bool tied = true, biases = true, value_head = false, add_bos = false, markers = true;
    std::string value_transform = "tanh_div5";
    uint64_t seed = 42;
    // Byte vocabulary only: extra BPE merges (left, right as UTF-8 text), in rank order. With merges the
    // pre-tokenizer is gpt2's, which keeps a run of digits in one chunk so merges can make numbers tokens.
    std::vector<std::pair<std::string, std::string>> merges;
};

struct GgufFree {
    void operator()(gguf_context * g) const { gguf_free(g); }
};
struct GgmlFree {
    void operator()(ggml_context * c) const { ggml_free(c); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufFree>;
using GgmlPtr = std::unique_ptr<ggml_context, GgmlFree>;

static uint64_t splitmix64(uint64_t & s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t hash_name(const char * s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; ++s) h = (h ^ (uint8_t) *s) * 1099511628211ull;
    return h;
}

static void append_utf8(std::string & out, uint32_t cp) {
    if (cp < 0x80) out += (char) cp;
    else if (cp < 0x800) {
        out += (char) (0xC0 | (cp >> 6));
        out += (char) (0x80 | (cp & 0x3F));
    } else {
        out += (char) (0xE0 | (cp >> 12));
        out += (char) (0x80 | ((cp >> 6) & 0x3F));
        out += (char) (0x80 | (cp & 0x3F));
    }
}

// GPT-2's reversible byte -> printable-unicode mapping, which llama.cpp's BPE expects for byte tokens.
static std::vector<std::string> byte_tokens() {
    std::vector<std::string> out(256);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        std::string s;
        append_utf8(s, printable ? (uint32_t) b : next++);
        out[b] = s;
    }
    return out;
}

// The byte vocabulary: 256 byte tokens, then the merged tokens of `merges` (each the concatenation of its
// two sides, which must already be tokens), then the control tokens and the markers.
static int set_tokenizer_bytes(gguf_context * g, bool markers, const std::vector<std::pair<std::string, std::string>> & extra) {
    const std::vector<std::string> bytes = byte_tokens();
    auto mapped = [&](const std::string & text) {
        std::string out;
        for (unsigned char c : text) out += bytes[c];
        return out;
    };
    std::vector<std::string> toks = bytes;
    std::vector<int32_t> types(256, LLAMA_TOKEN_TYPE_NORMAL);
    std::vector<std::string> merges;
    std::unordered_set<std::string> known(toks.begin(), toks.end());
    // One merge is mandatory for the gpt2 tokenizer; merging two spaces is harmless.
    const std::string space = bytes[' '];
    auto add_merge = [&](const std::string & left, const std::string & right) {
        if (known.count(left) == 0 || known.count(right) == 0) throw Failure("INVALID_ARGUMENT", "a merge's sides must be tokens already (merges are in rank order)");
        merges.push_back(left + " " + right);
        if (known.insert(left + right).second) {
            toks.push_back(left + right);
            types.push_back(LLAMA_TOKEN_TYPE_NORMAL);
        }
    };
    add_merge(space, space);
    for (const auto & [left, right] : extra) {
        if (left.empty() || right.empty()) throw Failure("INVALID_ARGUMENT", "a merge's sides must not be empty");
        add_merge(mapped(left), mapped(right));
    }
    const int eos = (int) toks.size();
    for (const char * s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
        toks.push_back(s);
        types.push_back(LLAMA_TOKEN_TYPE_CONTROL);
    }
    if (markers) {
        for (const char * m : kMarkers) {
            toks.push_back(m);
            types.push_back(LLAMA_TOKEN_TYPE_USER_DEFINED);
        }
    }
    std::vector<const char *> ptrs, merge_ptrs;
    for (auto & t : toks) ptrs.push_back(t.c_str());
    for (auto & m : merges) merge_ptrs.push_back(m.c_str());
    gguf_set_val_str(g, "tokenizer.ggml.model", "gpt2");
    gguf_set_val_str(g, "tokenizer.ggml.pre", extra.empty() ? "qwen2" : "gpt-2");
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", ptrs.data(), ptrs.size());
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types.data(), types.size());
    gguf_set_arr_str(g, "tokenizer.ggml.merges", merge_ptrs.data(), merge_ptrs.size());
    gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t) eos);
    gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t) eos);
    gguf_set_val_u32(g, "tokenizer.ggml.padding_token_id", (uint32_t) eos);
    gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", false);
    return (int) toks.size();
}

// Copies every tokenizer.* key of the vendored Qwen2 vocabulary, with the markers written over the
// first unused [PAD] rows so the vocabulary keeps its real size (151,936).
static int set_tokenizer_qwen2(gguf_context * g, const std::string & vocab_path, bool markers) {
    gguf_init_params params = {/*no_alloc =*/true, /*ctx =*/nullptr};
    GgufPtr src(gguf_init_from_file(vocab_path.c_str(), params));
    if (!src) throw Failure("IO", "cannot read the Qwen2 vocabulary " + vocab_path + " (run `npm install` to unpack llama.cpp)");
    int n_vocab = 0;
    for (int64_t i = 0; i < gguf_get_n_kv(src.get()); ++i) {
        const std::string key = gguf_get_key(src.get(), i);
        if (key.rfind("tokenizer.", 0) != 0) continue;
        const gguf_type t = gguf_get_kv_type(src.get(), i);
        if (key == "tokenizer.ggml.tokens" || key == "tokenizer.ggml.merges") {
            const size_t n = gguf_get_arr_n(src.get(), i);
            std::vector<std::string> keep;
            std::vector<const char *> ptrs(n);
            for (size_t j = 0; j < n; ++j) ptrs[j] = gguf_get_arr_str(src.get(), i, j);
            if (key == "tokenizer.ggml.tokens") {
                n_vocab = (int) n;
                if (markers) for (int m = 0; m < kNumMarkers; ++m) ptrs[kQwenFirstPad + m] = kMarkers[m];
            }
            gguf_set_arr_str(g, key.c_str(), ptrs.data(), n);
        } else if (key == "tokenizer.ggml.token_type") {
            const size_t n = gguf_get_arr_n(src.get(), i);
            std::vector<int32_t> types((const int32_t *) gguf_get_arr_data(src.get(), i), (const int32_t *) gguf_get_arr_data(src.get(), i) + n);
            if (markers) for (int m = 0; m < kNumMarkers; ++m) types[kQwenFirstPad + m] = LLAMA_TOKEN_TYPE_USER_DEFINED;
            gguf_set_arr_data(g, key.c_str(), GGUF_TYPE_INT32, types.data(), n);
        } else if (t == GGUF_TYPE_STRING) {
            gguf_set_val_str(g, key.c_str(), gguf_get_val_str(src.get(), i));
        } else if (t == GGUF_TYPE_UINT32) {
            gguf_set_val_u32(g, key.c_str(), gguf_get_val_u32(src.get(), i));
        } else if (t == GGUF_TYPE_INT32) {
            gguf_set_val_i32(g, key.c_str(), gguf_get_val_i32(src.get(), i));
        } else if (t == GGUF_TYPE_BOOL) {
            gguf_set_val_bool(g, key.c_str(), gguf_get_val_bool(src.get(), i));
        }
    }
    if (n_vocab <= kQwenFirstPad + kNumMarkers) throw Failure("DATA", vocab_path + " is not the Qwen2 vocabulary we expect");
    return n_vocab;
}

class MakeModelWorker : public PromiseWorker {
  public:
    MakeModelWorker(Napi::Env env, ModelSpec spec) : PromiseWorker(env, "rstar.makeModel"), s_(std::move(spec)) {}

  protected:
    void Run() override {
        const std::string & a = s_.arch;
        GgufPtr g(gguf_init_empty());
        gguf_set_val_str(g.get(), "general.architecture", a.c_str());
        gguf_set_val_str(g.get(), "general.name", s_.name.c_str());
        gguf_set_val_u32(g.get(), "general.file_type", s_.type == "f16" ? 1 : 0);
        gguf_set_val_u32(g.get(), (a + ".context_length").c_str(), (uint32_t) s_.n_ctx);
        gguf_set_val_u32(g.get(), (a + ".embedding_length").c_str(), (uint32_t) s_.n_embd);
        gguf_set_val_u32(g.get(), (a + ".block_count").c_str(), (uint32_t) s_.n_layer);
        gguf_set_val_u32(g.get(), (a + ".feed_forward_length").c_str(), (uint32_t) s_.n_ff);
        gguf_set_val_u32(g.get(), (a + ".attention.head_count").c_str(), (uint32_t) s_.n_head);
        gguf_set_val_u32(g.get(), (a + ".attention.head_count_kv").c_str(), (uint32_t) s_.n_head_kv);
        gguf_set_val_f32(g.get(), (a + ".attention.layer_norm_rms_epsilon").c_str(), s_.eps);
        gguf_set_val_f32(g.get(), (a + ".rope.freq_base").c_str(), s_.rope_base);
        const int head_dim = s_.n_embd / s_.n_head;
        if (a == "llama") gguf_set_val_u32(g.get(), (a + ".rope.dimension_count").c_str(), (uint32_t) head_dim);
        gguf_set_val_str(g.get(), "rstar.generator", "rstar model make (random weights: for speed, never accuracy)");
        gguf_set_val_u64(g.get(), "rstar.seed", s_.seed);
        if (s_.value_head) {
            // A random PPM head in the layout `rstar train ppm` writes (for scoring tests/benchmarks).
            std::vector<float> w((size_t) s_.n_embd);
            uint64_t state = s_.seed ^ 0x5eedull;
            const float a = std::sqrt(3.0f / (float) s_.n_embd);
            for (float & x : w) x = a * (2.0f * (float) ((splitmix64(state) >> 40) * (1.0 / 16777216.0)) - 1.0f);
            gguf_set_arr_data(g.get(), "rstar.value_head.weight", GGUF_TYPE_FLOAT32, w.data(), w.size());
            gguf_set_val_f32(g.get(), "rstar.value_head.bias", 0.0f);
            gguf_set_val_str(g.get(), "rstar.value_head.transform", s_.value_transform.c_str());
        }

        const int n_vocab = s_.vocab == "bytes" ? set_tokenizer_bytes(g.get(), s_.markers, s_.merges) : set_tokenizer_qwen2(g.get(), s_.vocab_path, s_.markers);
        if (s_.vocab == "bytes") gguf_set_val_u32(g.get(), (a + ".vocab_size").c_str(), (uint32_t) n_vocab);
        // Models whose tokenizer starts every sequence with BOS (llama-family conventions).
        if (s_.add_bos) gguf_set_val_bool(g.get(), "tokenizer.ggml.add_bos_token", true);

        struct Spec {
            std::string name;
            int64_t ne0, ne1;  // ne1 == 0: a 1-D tensor
            float fill;        // NAN: random; otherwise a constant (norms 1, biases 0)
        };
        std::vector<Spec> specs;
        const int kv = s_.n_head_kv * head_dim;
        specs.push_back({"token_embd.weight", s_.n_embd, n_vocab, NAN});
        for (int l = 0; l < s_.n_layer; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            specs.push_back({p + "attn_norm.weight", s_.n_embd, 0, 1.0f});
            specs.push_back({p + "attn_q.weight", s_.n_embd, s_.n_embd, NAN});
            specs.push_back({p + "attn_k.weight", s_.n_embd, kv, NAN});
            specs.push_back({p + "attn_v.weight", s_.n_embd, kv, NAN});
            if (s_.biases) {
                specs.push_back({p + "attn_q.bias", s_.n_embd, 0, NAN});
                specs.push_back({p + "attn_k.bias", kv, 0, NAN});
                specs.push_back({p + "attn_v.bias", kv, 0, NAN});
            }
            specs.push_back({p + "attn_output.weight", s_.n_embd, s_.n_embd, NAN});
            specs.push_back({p + "ffn_norm.weight", s_.n_embd, 0, 1.0f});
            specs.push_back({p + "ffn_gate.weight", s_.n_embd, s_.n_ff, NAN});
            specs.push_back({p + "ffn_up.weight", s_.n_embd, s_.n_ff, NAN});
            specs.push_back({p + "ffn_down.weight", s_.n_ff, s_.n_embd, NAN});
        }
        specs.push_back({"output_norm.weight", s_.n_embd, 0, 1.0f});
        if (!s_.tied) specs.push_back({"output.weight", s_.n_embd, n_vocab, NAN});

        const ggml_type wtype = s_.type == "f16" ? GGML_TYPE_F16 : GGML_TYPE_F32;
        ggml_init_params ip = {ggml_tensor_overhead() * (specs.size() + 8), nullptr, /*no_alloc =*/true};
        GgmlPtr meta(ggml_init(ip));
        for (const Spec & sp : specs) {
            ggml_tensor * t = sp.ne1 == 0 ? ggml_new_tensor_1d(meta.get(), GGML_TYPE_F32, sp.ne0)
                                          : ggml_new_tensor_2d(meta.get(), wtype, sp.ne0, sp.ne1);
            ggml_set_name(t, sp.name.c_str());
            gguf_add_tensor(g.get(), t);
            n_params_ += (uint64_t) ggml_nelements(t);
        }

        FILE * f = std::fopen(s_.out.c_str(), "wb");
        if (!f) throw Failure("IO", "cannot write " + s_.out);
        std::unique_ptr<FILE, int (*)(FILE *)> guard(f, std::fclose);
        std::vector<uint8_t> header(gguf_get_meta_size(g.get()));
        gguf_get_meta_data(g.get(), header.data());
        if (std::fwrite(header.data(), 1, header.size(), f) != header.size()) throw Failure("IO", "short write to " + s_.out);
        // A context built in memory has no data offset yet: the data section starts at the header's
        // end, padded to the alignment, exactly as gguf_write_to_file would lay it out.
        const size_t align = gguf_get_alignment(g.get());
        const size_t data_offset = (header.size() + align - 1) / align * align;
        std::vector<float> f32;
        std::vector<ggml_fp16_t> f16;
        const float amplitude = s_.init_std * std::sqrt(3.0f);  // uniform[-a, a] has std a/sqrt(3)
        for (size_t i = 0; i < specs.size(); ++i) {
            const Spec & sp = specs[i];
            const size_t n = (size_t) sp.ne0 * (size_t) (sp.ne1 == 0 ? 1 : sp.ne1);
            f32.resize(n);
            if (std::isnan(sp.fill)) {
                uint64_t state = s_.seed ^ hash_name(sp.name.c_str());
                for (size_t k = 0; k < n; ++k) f32[k] = amplitude * (2.0f * (float) ((splitmix64(state) >> 40) * (1.0 / 16777216.0)) - 1.0f);
            } else {
                std::fill(f32.begin(), f32.end(), sp.fill);
            }
            const size_t pos = data_offset + gguf_get_tensor_offset(g.get(), (int64_t) i);
            if (std::fseek(f, (long) pos, SEEK_SET) != 0) throw Failure("IO", "seek failed in " + s_.out);
            if (sp.ne1 != 0 && wtype == GGML_TYPE_F16) {
                f16.resize(n);
                ggml_fp32_to_fp16_row(f32.data(), f16.data(), (int64_t) n);
                if (std::fwrite(f16.data(), sizeof(ggml_fp16_t), n, f) != n) throw Failure("IO", "short write to " + s_.out + " (disk full?)");
            } else if (std::fwrite(f32.data(), sizeof(float), n, f) != n) {
                throw Failure("IO", "short write to " + s_.out + " (disk full?)");
            }
            bytes_ = pos + n * (sp.ne1 != 0 && wtype == GGML_TYPE_F16 ? 2 : 4);
        }
        n_vocab_ = n_vocab;
    }
    Napi::Value Result(Napi::Env env) override {
        Napi::Object o = Napi::Object::New(env);
        o.Set("path", s_.out);
        o.Set("nParams", (double) n_params_);
        o.Set("bytes", (double) bytes_);
        o.Set("nVocab", n_vocab_);
        return o;
    }

  private:
    ModelSpec s_;
    uint64_t n_params_ = 0, bytes_ = 0;
    int n_vocab_ = 0;
};

// makeModel(spec) -> Promise<{path, nParams, bytes, nVocab}>. Shapes are validated in TypeScript
// (lib/engine/model-make.ts); here only what would make ggml assert.
static Napi::Value make_model(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw_js(env, "INVALID_ARGUMENT", "makeModel(spec)");
    Napi::Object o = info[0].As<Napi::Object>();
    ModelSpec s;
    s.out = get_string(o, "out", "");
    s.arch = get_string(o, "arch", "qwen2");
    s.vocab = get_string(o, "vocab", "qwen2");
    s.vocab_path = get_string(o, "vocabPath", "");
    s.type = get_string(o, "type", "f32");
    s.name = get_string(o, "name", s.name);
    s.n_embd = (int) get_number(o, "nEmbd", s.n_embd);
    s.n_layer = (int) get_number(o, "nLayer", s.n_layer);
    s.n_head = (int) get_number(o, "nHead", s.n_head);
    s.n_head_kv = (int) get_number(o, "nHeadKv", s.n_head_kv);
    s.n_ff = (int) get_number(o, "nFf", s.n_ff);
    s.n_ctx = (int) get_number(o, "nCtx", s.n_ctx);
    s.rope_base = (float) get_number(o, "ropeBase", s.rope_base);
    s.eps = (float) get_number(o, "eps", s.eps);
    s.init_std = (float) get_number(o, "initStd", s.init_std);
    s.tied = get_bool(o, "tied", s.tied);
    s.biases = get_bool(o, "biases", s.biases);
    s.value_head = get_bool(o, "valueHead", false);
    s.value_transform = get_string(o, "valueTransform", "tanh_div5");
    s.add_bos = get_bool(o, "addBos", false);
    s.markers = get_bool(o, "markers", true);
    if (s.value_transform != "tanh_div5" && s.value_transform != "tanh" && s.value_transform != "raw") {
        throw_js(env, "INVALID_ARGUMENT", "Expected valueTransform tanh_div5, tanh or raw");
    }
    s.seed = (uint64_t) get_number(o, "seed", 42);
    if (o.Has("merges") && !o.Get("merges").IsUndefined()) {
        if (!o.Get("merges").IsArray()) throw_js(env, "INVALID_ARGUMENT", "Expected merges as an array of [left, right] pairs");
        Napi::Array arr = o.Get("merges").As<Napi::Array>();
        for (uint32_t i = 0; i < arr.Length(); ++i) {
            Napi::Value v = arr.Get(i);
            if (!v.IsArray() || v.As<Napi::Array>().Length() != 2 || !v.As<Napi::Array>().Get(0u).IsString() || !v.As<Napi::Array>().Get(1u).IsString()) {
                throw_js(env, "INVALID_ARGUMENT", "Expected merges as an array of [left, right] string pairs");
            }
            Napi::Array pair = v.As<Napi::Array>();
            s.merges.emplace_back(pair.Get(0u).As<Napi::String>().Utf8Value(), pair.Get(1u).As<Napi::String>().Utf8Value());
        }
    }
    if (!s.merges.empty() && s.vocab != "bytes") throw_js(env, "INVALID_ARGUMENT", "merges are for the byte vocabulary only");
    if (s.out.empty()) throw_js(env, "INVALID_ARGUMENT", "Expected an output path for out");
    if (s.arch != "qwen2" && s.arch != "llama") throw_js(env, "INVALID_ARGUMENT", "Expected arch qwen2 or llama");
    if (s.vocab != "qwen2" && s.vocab != "bytes") throw_js(env, "INVALID_ARGUMENT", "Expected vocab qwen2 or bytes");
    if (s.type != "f32" && s.type != "f16") throw_js(env, "INVALID_ARGUMENT", "Expected type f32 or f16 (quantize afterwards)");
    if (s.n_embd < 1 || s.n_layer < 1 || s.n_head < 1 || s.n_head_kv < 1 || s.n_ff < 1 || s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0 || (s.n_embd / s.n_head) % 2 != 0) {
        throw_js(env, "INVALID_ARGUMENT", "inconsistent shape: need embd divisible by heads, heads by kv-heads, and an even head dimension");
    }
    auto * w = new MakeModelWorker(env, s);
    w->Queue();
    return w->Promise();
}

class QuantizeWorker : public PromiseWorker {
  public:
    QuantizeWorker(Napi::Env env, std::string in, std::string out, llama_ftype ftype, int threads)
        : PromiseWorker(env, "rstar.quantize"), in_(std::move(in)), out_(std::move(out)), ftype_(ftype), threads_(threads) {}

  protected:
    void Run() override {
        gguf_init_params params = {/*no_alloc =*/true, /*ctx =*/nullptr};
        GgufPtr g(gguf_init_from_file(in_.c_str(), params));
        if (!g) throw Failure("MODEL_LOAD", in_ + " is not a readable GGUF file");
        llama_model_quantize_params p = llama_model_quantize_default_params();
        p.ftype = ftype_;
        p.nthread = threads_;
        p.allow_requantize = true;
        if (llama_model_quantize(in_.c_str(), out_.c_str(), &p) != 0) throw Failure("NATIVE", "llama.cpp could not quantize " + in_);
    }

  private:
    std::string in_, out_;
    llama_ftype ftype_;
    int threads_;
};

// quantize(in, out, type, threads) -> Promise<void>
static Napi::Value quantize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !info[1].IsString() || !info[2].IsString()) throw_js(env, "INVALID_ARGUMENT", "quantize(in, out, type, threads)");
    const std::string type = info[2].As<Napi::String>().Utf8Value();
    llama_ftype ft;
    if (type == "q8_0") ft = LLAMA_FTYPE_MOSTLY_Q8_0;
    else if (type == "q4_k_m") ft = LLAMA_FTYPE_MOSTLY_Q4_K_M;
    else if (type == "q4_0") ft = LLAMA_FTYPE_MOSTLY_Q4_0;
    else if (type == "f16") ft = LLAMA_FTYPE_MOSTLY_F16;
    else throw_js(env, "INVALID_ARGUMENT", "Expected type q8_0, q4_k_m, q4_0 or f16 but received " + type);
    const int threads = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
    auto * w = new QuantizeWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(), ft, threads);
    w->Queue();
    return w->Promise();
}

class InspectWorker : public PromiseWorker {
  public:
    InspectWorker(Napi::Env env, std::string path) : PromiseWorker(env, "rstar.inspect"), path_(std::move(path)) {}

  protected:
    void Run() override {
        gguf_init_params params = {/*no_alloc =*/true, /*ctx =*/nullptr};
        g_.reset(gguf_init_from_file(path_.c_str(), params));
        if (!g_) throw Failure("MODEL_LOAD", path_ + " is not a readable GGUF file (missing, truncated header or corrupt)");
    }
    Napi::Value Result(Napi::Env env) override {
        gguf_context * g = g_.get();
        Napi::Object o = Napi::Object::New(env);
        Napi::Object meta = Napi::Object::New(env);
        for (int64_t i = 0; i < gguf_get_n_kv(g); ++i) {
            const char * key = gguf_get_key(g, i);
            const gguf_type t = gguf_get_kv_type(g, i);
            switch (t) {
                case GGUF_TYPE_STRING: meta.Set(key, gguf_get_val_str(g, i)); break;
                case GGUF_TYPE_UINT8: meta.Set(key, gguf_get_val_u8(g, i)); break;
                case GGUF_TYPE_INT8: meta.Set(key, gguf_get_val_i8(g, i)); break;
                case GGUF_TYPE_UINT16: meta.Set(key, gguf_get_val_u16(g, i)); break;
                case GGUF_TYPE_INT16: meta.Set(key, gguf_get_val_i16(g, i)); break;
                case GGUF_TYPE_UINT32: meta.Set(key, gguf_get_val_u32(g, i)); break;
                case GGUF_TYPE_INT32: meta.Set(key, gguf_get_val_i32(g, i)); break;
                case GGUF_TYPE_FLOAT32: meta.Set(key, gguf_get_val_f32(g, i)); break;
                case GGUF_TYPE_UINT64: meta.Set(key, (double) gguf_get_val_u64(g, i)); break;
                case GGUF_TYPE_INT64: meta.Set(key, (double) gguf_get_val_i64(g, i)); break;
                case GGUF_TYPE_FLOAT64: meta.Set(key, gguf_get_val_f64(g, i)); break;
                case GGUF_TYPE_BOOL: meta.Set(key, gguf_get_val_bool(g, i)); break;
                case GGUF_TYPE_ARRAY: {
                    Napi::Object a = Napi::Object::New(env);
                    a.Set("type", std::string("array<") + gguf_type_name(gguf_get_arr_type(g, i)) + ">");
                    a.Set("length", (double) gguf_get_arr_n(g, i));
                    meta.Set(key, a);
                    break;
                }
                default: break;
            }
        }
        Napi::Array tensors = Napi::Array::New(env);
        for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
            Napi::Object t = Napi::Object::New(env);
            t.Set("name", gguf_get_tensor_name(g, i));
            t.Set("type", ggml_type_name(gguf_get_tensor_type(g, i)));
            t.Set("bytes", (double) gguf_get_tensor_size(g, i));
            tensors.Set((uint32_t) i, t);
        }
        o.Set("metadata", meta);
        o.Set("tensors", tensors);
        o.Set("version", gguf_get_version(g));
        return o;
    }

  private:
    std::string path_;
    GgufPtr g_;
};

// inspect(path) -> Promise<{version, metadata, tensors}>; reads only the header.
static Napi::Value inspect(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw_js(env, "INVALID_ARGUMENT", "inspect(path)");
    auto * w = new InspectWorker(env, info[0].As<Napi::String>().Utf8Value());
    w->Queue();
    return w->Promise();
}

// ---- add-tokens: give a model's vocabulary new special tokens (the step markers) ----------------
//
// The tokenizer arrays get the new texts as USER_DEFINED tokens (llama.cpp then matches them as single
// tokens when parsing special text). Each new token takes an unused row when the vocabulary has padding
// rows ("[PAD…]" entries, as Qwen2's GGUFs do: the embedding has more rows than real tokens), else a new
// row is appended to token_embd (and to an untied output matrix). Every new row is the mean of the
// existing rows, so the new tokens start as an "average" token instead of noise. The file is streamed
// one tensor at a time, in the tensor's own type (quantized rows are re-quantized from the mean).

struct AddTokensResult {
    int added = 0, reused = 0, present = 0, n_vocab = 0;
};

static bool is_padding_token(const char * t) {
    return std::strncmp(t, "[PAD", 4) == 0 && t[std::strlen(t) - 1] == ']';
}

class AddTokensWorker : public PromiseWorker {
  public:
    AddTokensWorker(Napi::Env env, std::string in, std::string out, std::vector<std::string> tokens)
        : PromiseWorker(env, "rstar.addTokens"), in_(std::move(in)), out_(std::move(out)), tokens_(std::move(tokens)) {}

  protected:
    void Run() override {
        gguf_init_params params = {/*no_alloc =*/true, /*ctx =*/nullptr};
        GgufPtr src(gguf_init_from_file(in_.c_str(), params));
        if (!src) throw Failure("MODEL_LOAD", in_ + " is not a readable GGUF file");
        const int64_t k_tokens = gguf_find_key(src.get(), "tokenizer.ggml.tokens");
        if (k_tokens < 0) throw Failure("DATA", in_ + " has no tokenizer (tokenizer.ggml.tokens)");
        const size_t n_old = gguf_get_arr_n(src.get(), k_tokens);
        std::vector<std::string> toks(n_old);
        for (size_t i = 0; i < n_old; ++i) toks[i] = gguf_get_arr_str(src.get(), k_tokens, i);
        const int64_t k_types = gguf_find_key(src.get(), "tokenizer.ggml.token_type");
        std::vector<int32_t> types(n_old, LLAMA_TOKEN_TYPE_NORMAL);
        if (k_types >= 0 && gguf_get_arr_n(src.get(), k_types) == n_old) {
            const int32_t * t = (const int32_t *) gguf_get_arr_data(src.get(), k_types);
            types.assign(t, t + n_old);
        }
        const int64_t k_scores = gguf_find_key(src.get(), "tokenizer.ggml.scores");
        std::vector<float> scores;
        if (k_scores >= 0 && gguf_get_arr_n(src.get(), k_scores) == n_old) {
            const float * f = (const float *) gguf_get_arr_data(src.get(), k_scores);
            scores.assign(f, f + n_old);
        }

        // Which rows the new tokens take: unused padding rows first, then new rows at the end.
        std::vector<int64_t> rows_to_fill;
        size_t next_pad = 0;
        for (const std::string & t : tokens_) {
            bool exists = false;
            for (const std::string & have : toks) exists = exists || have == t;
            if (exists) {
                r_.present++;
                continue;
            }
            while (next_pad < toks.size() && !is_padding_token(toks[next_pad].c_str())) next_pad++;
            if (next_pad < toks.size()) {
                toks[next_pad] = t;
                types[next_pad] = LLAMA_TOKEN_TYPE_USER_DEFINED;
                if (!scores.empty()) scores[next_pad] = 0.0f;
                rows_to_fill.push_back((int64_t) next_pad++);
                r_.reused++;
            } else {
                rows_to_fill.push_back((int64_t) toks.size());
                toks.push_back(t);
                types.push_back(LLAMA_TOKEN_TYPE_USER_DEFINED);
                if (!scores.empty()) scores.push_back(0.0f);
                r_.added++;
            }
        }
        r_.n_vocab = (int) toks.size();

        GgufPtr g(gguf_init_empty());
        gguf_set_kv(g.get(), src.get());
        gguf_remove_key(g.get(), "general.alignment");  // the data section is written with the default alignment
        std::vector<const char *> ptrs;
        for (const std::string & t : toks) ptrs.push_back(t.c_str());
        gguf_set_arr_str(g.get(), "tokenizer.ggml.tokens", ptrs.data(), ptrs.size());
        gguf_set_arr_data(g.get(), "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types.data(), types.size());
        if (!scores.empty()) gguf_set_arr_data(g.get(), "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores.data(), scores.size());
        const int64_t k_arch = gguf_find_key(src.get(), "general.architecture");
        if (k_arch >= 0) {
            const std::string vs = std::string(gguf_get_val_str(src.get(), k_arch)) + ".vocab_size";
            if (gguf_find_key(src.get(), vs.c_str()) >= 0) gguf_set_val_u32(g.get(), vs.c_str(), (uint32_t) toks.size());
        }

        const int64_t n_tensors = gguf_get_n_tensors(src.get());
        ggml_init_params ip = {(size_t) (n_tensors + 1) * ggml_tensor_overhead(), nullptr, true};
        GgmlPtr meta(ggml_init(ip));
        auto grows = [](const char * name) { return std::strcmp(name, "token_embd.weight") == 0 || std::strcmp(name, "output.weight") == 0; };
        for (int64_t i = 0; i < n_tensors; ++i) {
            const char * name = gguf_get_tensor_name(src.get(), i);
            // The shapes come from the source's tensor infos: read them back through a metadata context.
            ggml_tensor * t = src_tensor(i);
            int64_t ne[GGML_MAX_DIMS];
            for (int d = 0; d < GGML_MAX_DIMS; ++d) ne[d] = t->ne[d];
            // An embedding may have more rows than the token list (padded); it only grows past both.
            if (grows(name)) ne[1] = std::max<int64_t>(ne[1], (int64_t) toks.size());
            ggml_tensor * info = ggml_new_tensor(meta.get(), t->type, ggml_n_dims(t), ne);
            ggml_set_name(info, name);
            gguf_add_tensor(g.get(), info);
        }

        FilePtrLocal in(std::fopen(in_.c_str(), "rb"));
        if (!in) throw Failure("IO", "cannot open " + in_);
        const std::string tmp = out_ + ".partial";
        FilePtrLocal f(std::fopen(tmp.c_str(), "wb"));
        if (!f) throw Failure("IO", "cannot write " + tmp);
        if (!gguf_write_to_file_ptr(g.get(), f.get(), /*only_meta =*/true)) throw Failure("IO", "cannot write " + tmp);
        const size_t align = gguf_get_alignment(g.get());
        const size_t data_offset = gguf_get_data_offset(src.get());
        static const uint8_t zeros[64] = {0};
        std::vector<uint8_t> buf;
        for (int64_t i = 0; i < n_tensors; ++i) {
            const char * name = gguf_get_tensor_name(src.get(), i);
            ggml_tensor * t = src_tensor(i);
            const size_t nbytes = ggml_nbytes(t);
            buf.resize(nbytes);
            if (std::fseek(in.get(), (long) (data_offset + gguf_get_tensor_offset(src.get(), i)), SEEK_SET) != 0 || std::fread(buf.data(), 1, nbytes, in.get()) != nbytes) {
                throw Failure("MODEL_LOAD", in_ + " is truncated (tensor " + name + ")");
            }
            if (grows(name) && !rows_to_fill.empty()) {
                const int64_t n_embd = t->ne[0];
                const size_t row = ggml_row_size(t->type, n_embd);
                const int64_t rows_now = t->ne[1];
                const int64_t rows_new = std::max<int64_t>(rows_now, (int64_t) toks.size());
                buf.resize(row * rows_new);
                const std::vector<uint8_t> mean = mean_row(t->type, buf.data(), n_embd, std::min<int64_t>(rows_now, (int64_t) n_old), row);
                for (int64_t r : rows_to_fill) std::memcpy(buf.data() + r * row, mean.data(), row);
                for (int64_t r = rows_now; r < rows_new; ++r) std::memcpy(buf.data() + r * row, mean.data(), row);  // appended rows
            }
            if (std::fwrite(buf.data(), 1, buf.size(), f.get()) != buf.size()) throw Failure("IO", "cannot write " + tmp + " (disk full?)");
            const size_t pad = GGML_PAD(buf.size(), align) - buf.size();
            if (pad && std::fwrite(zeros, 1, pad, f.get()) != pad) throw Failure("IO", "cannot write " + tmp + " (disk full?)");
        }
        if (std::fflush(f.get()) != 0) throw Failure("IO", "cannot write " + tmp + " (disk full?)");
        f.reset();
        if (std::rename(tmp.c_str(), out_.c_str()) != 0) throw Failure("IO", "cannot rename " + tmp + " to " + out_);
    }

    Napi::Value Result(Napi::Env env) override {
        Napi::Object o = Napi::Object::New(env);
        o.Set("added", r_.added);
        o.Set("reused", r_.reused);
        o.Set("present", r_.present);
        o.Set("nVocab", r_.n_vocab);
        return o;
    }

  private:
    struct FileClose {
        void operator()(FILE * f) const { if (f) std::fclose(f); }
    };
    using FilePtrLocal = std::unique_ptr<FILE, FileClose>;

    // A tensor of the source with its shape and type, from a metadata-only load (created on first use).
    ggml_tensor * src_tensor(int64_t i) {
        if (!meta_ctx_) {
            ggml_context * ctx = nullptr;
            gguf_init_params params = {/*no_alloc =*/true, &ctx};
            src_meta_.reset(gguf_init_from_file(in_.c_str(), params));
            if (!src_meta_ || !ctx) throw Failure("MODEL_LOAD", in_ + " is not a readable GGUF file");
            meta_ctx_.reset(ctx);
        }
        ggml_tensor * t = ggml_get_tensor(meta_ctx_.get(), gguf_get_tensor_name(src_meta_.get(), i));
        if (!t) throw Failure("MODEL_LOAD", std::string("tensor ") + gguf_get_tensor_name(src_meta_.get(), i) + " is missing");
        return t;
    }

    // The mean of `rows` rows of `data` (each `row_bytes` long, type `type`), in that type.
    static std::vector<uint8_t> mean_row(ggml_type type, const uint8_t * data, int64_t n_embd, int64_t rows, size_t row_bytes) {
        const ggml_type_traits * tr = ggml_get_type_traits(type);
        if (type != GGML_TYPE_F32 && (!tr->to_float || ggml_quantize_requires_imatrix(type))) {
            throw Failure("INVALID_ARGUMENT", std::string("cannot add rows to a ") + ggml_type_name(type) + " embedding; add tokens to the F16/F32 model, then quantize");
        }
        std::vector<double> sum((size_t) n_embd, 0.0);
        std::vector<float> tmp((size_t) n_embd);
        for (int64_t r = 0; r < rows; ++r) {
            const uint8_t * src = data + r * row_bytes;
            if (type == GGML_TYPE_F32) std::memcpy(tmp.data(), src, n_embd * sizeof(float));
            else tr->to_float(src, tmp.data(), n_embd);
            for (int64_t j = 0; j < n_embd; ++j) sum[j] += tmp[j];
        }
        for (int64_t j = 0; j < n_embd; ++j) tmp[j] = (float) (sum[j] / (double) std::max<int64_t>(1, rows));
        std::vector<uint8_t> out(row_bytes);
        if (type == GGML_TYPE_F32) std::memcpy(out.data(), tmp.data(), row_bytes);
        else if (type == GGML_TYPE_F16) ggml_fp32_to_fp16_row(tmp.data(), (ggml_fp16_t *) out.data(), n_embd);
        else if (type == GGML_TYPE_BF16) ggml_fp32_to_bf16_row_ref(tmp.data(), (ggml_bf16_t *) out.data(), n_embd);
        else ggml_quantize_chunk(type, tmp.data(), out.data(), 0, 1, n_embd, nullptr);
        return out;
    }

    std::string in_, out_;
    std::vector<std::string> tokens_;
    AddTokensResult r_;
    GgufPtr src_meta_;
    GgmlPtr meta_ctx_;
};

// addTokens(in, out, tokens[]) -> Promise<{added, reused, present, nVocab}>
static Napi::Value add_tokens(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsArray()) throw_js(env, "INVALID_ARGUMENT", "addTokens(in, out, tokens)");
    Napi::Array arr = info[2].As<Napi::Array>();
    std::vector<std::string> tokens;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value v = arr.Get(i);
        if (!v.IsString() || v.As<Napi::String>().Utf8Value().empty()) throw_js(env, "INVALID_ARGUMENT", "tokens must be non-empty strings");
        tokens.push_back(v.As<Napi::String>().Utf8Value());
    }
    auto * w = new AddTokensWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(), std::move(tokens));
    w->Queue();
    return w->Promise();
}

void init_gguf_tools(Napi::Env env, Napi::Object exports) {
    exports.Set("addTokens", Napi::Function::New(env, add_tokens, "addTokens"));
    exports.Set("makeModel", Napi::Function::New(env, make_model, "makeModel"));
    exports.Set("quantize", Napi::Function::New(env, quantize, "quantize"));
    exports.Set("inspect", Napi::Function::New(env, inspect, "inspect"));
}

}  // namespace rstar
