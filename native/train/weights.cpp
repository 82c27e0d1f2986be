#include "weights.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "train_error.h"

namespace rstar::train {

namespace {

struct GgufFree {
    void operator()(gguf_context * g) const { gguf_free(g); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufFree>;

struct FileClose {
    void operator()(FILE * f) const { if (f) fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileClose>;

// Numeric metadata may be stored as any integer or float type; llama.cpp accepts them all.
bool get_number(const gguf_context * g, const std::string & key, double & out) {
    const int64_t id = gguf_find_key(g, key.c_str());
    if (id < 0) return false;
    switch (gguf_get_kv_type(g, id)) {
        case GGUF_TYPE_UINT8: out = gguf_get_val_u8(g, id); return true;
        case GGUF_TYPE_INT8: out = gguf_get_val_i8(g, id); return true;
        case GGUF_TYPE_UINT16: out = gguf_get_val_u16(g, id); return true;
        case GGUF_TYPE_INT16: out = gguf_get_val_i16(g, id); return true;
        case GGUF_TYPE_UINT32: out = gguf_get_val_u32(g, id); return true;
        case GGUF_TYPE_INT32: out = gguf_get_val_i32(g, id); return true;
        case GGUF_TYPE_UINT64: out = (double) gguf_get_val_u64(g, id); return true;
        case GGUF_TYPE_INT64: out = (double) gguf_get_val_i64(g, id); return true;
        case GGUF_TYPE_FLOAT32: out = gguf_get_val_f32(g, id); return true;
        case GGUF_TYPE_FLOAT64: out = gguf_get_val_f64(g, id); return true;
        case GGUF_TYPE_ARRAY: {
            // head_count may be a per-layer array; accept it only when every entry is equal.
            const size_t n = gguf_get_arr_n(g, id);
            if (n == 0) return false;
            const enum gguf_type t = gguf_get_arr_type(g, id);
            const void * d = gguf_get_arr_data(g, id);
            auto at = [&](size_t i) -> double {
                switch (t) {
                    case GGUF_TYPE_UINT32: return ((const uint32_t *) d)[i];
                    case GGUF_TYPE_INT32: return ((const int32_t *) d)[i];
                    case GGUF_TYPE_FLOAT32: return ((const float *) d)[i];
                    default: return NAN;
                }
            };
            const double first = at(0);
            for (size_t i = 1; i < n; ++i) {
                if (at(i) != first) fail("MODEL_LOAD", "%s varies per layer, which the trainer does not support", key.c_str());
            }
            if (std::isnan(first)) return false;
            out = first;
            return true;
        }
        default: return false;
    }
}

int64_t require_int(const gguf_context * g, const std::string & key) {
    double v = 0;
    if (!get_number(g, key, v)) fail("MODEL_LOAD", "the GGUF has no %s key", key.c_str());
    return (int64_t) v;
}

std::string get_string(const gguf_context * g, const char * key, const std::string & dflt) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) return dflt;
    return gguf_get_val_str(g, id);
}

std::string shape_str(const int64_t * ne) {
    char buf[96];
    snprintf(buf, sizeof(buf), "[%lld, %lld, %lld, %lld]", (long long) ne[0], (long long) ne[1], (long long) ne[2],
             (long long) ne[3]);
    return buf;
}

void widen_to_f32(ggml_type type, const void * src, float * dst, int64_t n) {
    switch (type) {
        case GGML_TYPE_F32: memcpy(dst, src, n * sizeof(float)); break;
        case GGML_TYPE_F16: ggml_fp16_to_fp32_row((const ggml_fp16_t *) src, dst, n); break;
        case GGML_TYPE_BF16: ggml_bf16_to_fp32_row((const ggml_bf16_t *) src, dst, n); break;
        default: fail("MODEL_LOAD", "unsupported tensor type %s", ggml_type_name(type));
    }
}

}  // namespace

TrainModel::~TrainModel() {
    release();
    if (ctx) ggml_free(ctx);
    if (meta) gguf_free(meta);
}

void TrainModel::release() {
    if (buffer) ggml_backend_buffer_free(buffer);
    buffer = nullptr;
}

bool gguf_read_value_head(const std::string & path, ValueHead & out, int64_t expect_n_embd) {
    gguf_init_params params = {/*no_alloc =*/ true, /*ctx =*/ nullptr};
    GgufPtr g(gguf_init_from_file(path.c_str(), params));
    if (!g) fail("MODEL_LOAD", "cannot read GGUF metadata from %s", path.c_str());
    const int64_t wid = gguf_find_key(g.get(), "rstar.value_head.weight");
    if (wid < 0) return false;
    if (gguf_get_kv_type(g.get(), wid) != GGUF_TYPE_ARRAY || gguf_get_arr_type(g.get(), wid) != GGUF_TYPE_FLOAT32) {
        fail("MODEL_LOAD", "rstar.value_head.weight in %s is not an array of float32", path.c_str());
    }
    const size_t n = gguf_get_arr_n(g.get(), wid);
    if (expect_n_embd > 0 && (int64_t) n != expect_n_embd) {
        fail("MODEL_LOAD", "rstar.value_head.weight has %zu entries but the model's n_embd is %lld", n,
             (long long) expect_n_embd);
    }
    const float * d = (const float *) gguf_get_arr_data(g.get(), wid);
    out.weight.assign(d, d + n);
    out.bias = 0.0f;
    const int64_t bid = gguf_find_key(g.get(), "rstar.value_head.bias");
    if (bid >= 0 && gguf_get_kv_type(g.get(), bid) == GGUF_TYPE_FLOAT32) out.bias = gguf_get_val_f32(g.get(), bid);
    out.transform = get_string(g.get(), "rstar.value_head.transform", "tanh_div5");
    return true;
}

void TrainModel::load(const std::string & file, ggml_backend_t backend, bool with_value_head, uint64_t seed) {
    path = file;
    gguf_init_params params = {/*no_alloc =*/ true, /*ctx =*/ nullptr};
    meta = gguf_init_from_file(file.c_str(), params);
    if (!meta) fail("MODEL_LOAD", "cannot open %s as a GGUF file", file.c_str());

    const std::string arch = get_string(meta, "general.architecture", "");
    if (arch == "qwen2") {
        hp.arch = Arch::Qwen2;
        hp.rope_mode = GGML_ROPE_TYPE_NEOX;  // llama_model_rope_type(): qwen2 -> NEOX
    } else if (arch == "llama") {
        hp.arch = Arch::Llama;
        hp.rope_mode = 0;  // LLAMA_ROPE_TYPE_NORM
    } else {
        fail("MODEL_LOAD", "the trainer supports the llama and qwen2 architectures, not \"%s\"", arch.c_str());
    }
    hp.arch_name = arch;
    const std::string p = arch + ".";
    hp.n_embd = require_int(meta, p + "embedding_length");
    hp.n_layer = require_int(meta, p + "block_count");
    hp.n_head = require_int(meta, p + "attention.head_count");
    double v = 0;
    hp.n_head_kv = get_number(meta, p + "attention.head_count_kv", v) ? (int64_t) v : hp.n_head;
    hp.n_ff = require_int(meta, p + "feed_forward_length");
    hp.n_ctx_train = get_number(meta, p + "context_length", v) ? (int64_t) v : 0;
    if (!get_number(meta, p + "attention.layer_norm_rms_epsilon", v)) {
        fail("MODEL_LOAD", "the GGUF has no %sattention.layer_norm_rms_epsilon key", p.c_str());
    }
    hp.rms_eps = (float) v;
    if (get_number(meta, p + "rope.freq_base", v)) hp.rope_freq_base = (float) v;
    if (hp.arch == Arch::Llama && get_number(meta, p + "attention.scale", v)) hp.attn_scale = (float) v;
    if (get_number(meta, p + "expert_count", v) && v > 0) fail("MODEL_LOAD", "mixture-of-experts models cannot be trained");
    if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_head <= 0 || hp.n_head_kv <= 0 || hp.n_ff <= 0) {
        fail("MODEL_LOAD", "the GGUF's hyper-parameters are not positive (n_embd %lld, n_layer %lld, n_head %lld, n_head_kv %lld, n_ff %lld)",
             (long long) hp.n_embd, (long long) hp.n_layer, (long long) hp.n_head, (long long) hp.n_head_kv,
             (long long) hp.n_ff);
    }
    if (hp.n_head % hp.n_head_kv != 0) {
        fail("MODEL_LOAD", "head_count %lld is not a multiple of head_count_kv %lld", (long long) hp.n_head,
             (long long) hp.n_head_kv);
    }
    hp.head_dim = get_number(meta, p + "attention.key_length", v) ? (int64_t) v : hp.n_embd / hp.n_head;
    if (get_number(meta, p + "attention.value_length", v) && (int64_t) v != hp.head_dim) {
        fail("MODEL_LOAD", "different key and value head sizes are not supported");
    }
    hp.n_rot = get_number(meta, p + "rope.dimension_count", v) ? (int64_t) v : hp.head_dim;
    if (hp.n_rot != hp.head_dim) fail("MODEL_LOAD", "partial RoPE (rope.dimension_count != head size) is not supported");
    const std::string scaling = get_string(meta, (p + "rope.scaling.type").c_str(), "none");
    if (scaling == "linear") {
        if (get_number(meta, p + "rope.scaling.factor", v) && v > 0) hp.rope_freq_scale = (float) (1.0 / v);
    } else if (scaling != "none") {
        fail("MODEL_LOAD", "RoPE scaling \"%s\" is not supported by the trainer (none or linear only)", scaling.c_str());
    }
    if (get_number(meta, p + "rope.scale_linear", v) && v > 0) hp.rope_freq_scale = (float) (1.0 / v);

    // Which tensors exist, with which shapes: every tensor in the file must be one we understand,
    // or saving would silently drop it.
    const int64_t n_tensors = gguf_get_n_tensors(meta);
    std::unordered_map<std::string, int64_t> by_name;
    for (int64_t i = 0; i < n_tensors; ++i) by_name[gguf_get_tensor_name(meta, i)] = i;

    const int64_t tok_id = by_name.count("token_embd.weight") ? by_name["token_embd.weight"] : -1;
    if (tok_id < 0) fail("MODEL_LOAD", "the GGUF has no token_embd.weight tensor");
    hp.n_vocab = gguf_get_tensor_ne(meta, tok_id)[1];

    const int64_t q_dim = hp.head_dim * hp.n_head;
    const int64_t kv_dim = hp.head_dim * hp.n_head_kv;
    struct Expect {
        std::string name;
        std::vector<int64_t> ne;
        bool required;
        ggml_tensor ** slot;
        bool decay;
        bool trainable;
    };
    std::vector<Expect> expected;
    expected.push_back({"token_embd.weight", {hp.n_embd, hp.n_vocab}, true, &tok_embd, true, true});
    expected.push_back({"output_norm.weight", {hp.n_embd}, true, &output_norm, false, true});
    expected.push_back({"output.weight", {hp.n_embd, hp.n_vocab}, false, &output, true, true});
    expected.push_back({"output.bias", {hp.n_vocab}, false, &output_b, false, true});
    expected.push_back({"rope_freqs.weight", {hp.n_rot / 2}, false, &rope_freqs, false, false});
    layers.resize(hp.n_layer);
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        LayerWeights & l = layers[il];
        const std::string b = "blk." + std::to_string(il) + ".";
        expected.push_back({b + "attn_norm.weight", {hp.n_embd}, true, &l.attn_norm, false, true});
        expected.push_back({b + "attn_q.weight", {hp.n_embd, q_dim}, true, &l.wq, true, true});
        expected.push_back({b + "attn_q.bias", {q_dim}, false, &l.bq, false, true});
        expected.push_back({b + "attn_k.weight", {hp.n_embd, kv_dim}, true, &l.wk, true, true});
        expected.push_back({b + "attn_k.bias", {kv_dim}, false, &l.bk, false, true});
        expected.push_back({b + "attn_v.weight", {hp.n_embd, kv_dim}, true, &l.wv, true, true});
        expected.push_back({b + "attn_v.bias", {kv_dim}, false, &l.bv, false, true});
        expected.push_back({b + "attn_output.weight", {q_dim, hp.n_embd}, true, &l.wo, true, true});
        expected.push_back({b + "attn_output.bias", {hp.n_embd}, false, &l.bo, false, true});
        expected.push_back({b + "ffn_norm.weight", {hp.n_embd}, true, &l.ffn_norm, false, true});
        expected.push_back({b + "ffn_gate.weight", {hp.n_embd, hp.n_ff}, true, &l.w_gate, true, true});
        expected.push_back({b + "ffn_gate.bias", {hp.n_ff}, false, &l.b_gate, false, true});
        expected.push_back({b + "ffn_up.weight", {hp.n_embd, hp.n_ff}, true, &l.w_up, true, true});
        expected.push_back({b + "ffn_up.bias", {hp.n_ff}, false, &l.b_up, false, true});
        expected.push_back({b + "ffn_down.weight", {hp.n_ff, hp.n_embd}, true, &l.w_down, true, true});
        expected.push_back({b + "ffn_down.bias", {hp.n_embd}, false, &l.b_down, false, true});
    }
    // Anything else in the file (per-layer scales, MoE experts, QK-norm, ...) is outside the
    // supported family.
    std::unordered_set<std::string> known;
    for (const Expect & e : expected) known.insert(e.name);
    for (int64_t i = 0; i < n_tensors; ++i) {
        const char * name = gguf_get_tensor_name(meta, i);
        if (!known.count(name)) fail("MODEL_LOAD", "tensor %s is not part of the llama/qwen2 layout the trainer supports", name);
    }

    const size_t n_ctx_tensors = expected.size() + 2;
    ggml_init_params ip = {n_ctx_tensors * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
    ctx = ggml_init(ip);
    if (!ctx) fail("TRAIN", "ggml_init failed");

    struct Pending {
        int64_t file_id;
        ggml_tensor * t;
    };
    std::vector<Pending> pending;
    // Create tensors in file order so a saved GGUF keeps the source layout.
    std::unordered_map<std::string, const Expect *> expect_by_name;
    for (const Expect & e : expected) expect_by_name[e.name] = &e;
    for (int64_t i = 0; i < n_tensors; ++i) {
        const std::string name = gguf_get_tensor_name(meta, i);
        const Expect & e = *expect_by_name[name];
        const int64_t * ne = gguf_get_tensor_ne(meta, i);
        int64_t want[4] = {1, 1, 1, 1};
        for (size_t d = 0; d < e.ne.size(); ++d) want[d] = e.ne[d];
        if (ne[0] != want[0] || ne[1] != want[1] || ne[2] != want[2] || ne[3] != want[3]) {
            fail("MODEL_LOAD", "tensor %s has shape %s but the hyper-parameters imply %s", name.c_str(),
                 shape_str(ne).c_str(), shape_str(want).c_str());
        }
        const ggml_type type = gguf_get_tensor_type(meta, i);
        if (type != GGML_TYPE_F32 && type != GGML_TYPE_F16 && type != GGML_TYPE_BF16) {
            fail("MODEL_LOAD", "tensor %s is %s; the trainer needs F32, F16 or BF16 weights (quantized weights have no gradient)",
                 name.c_str(), ggml_type_name(type));
        }
        ggml_tensor * t = ggml_new_tensor(ctx, GGML_TYPE_F32, (int) std::max<size_t>(1, e.ne.size()), e.ne.data());
        ggml_set_name(t, name.c_str());
        *e.slot = t;
        WeightEntry w;
        w.name = name;
        w.tensor = t;
        w.file_type = type;
        w.trainable = e.trainable;
        w.decay = e.decay;
        weights.push_back(w);
        pending.push_back({i, t});
    }
    for (const Expect & e : expected) {
        if (e.required && !*e.slot) fail("MODEL_LOAD", "the GGUF has no %s tensor", e.name.c_str());
    }
    tied_output = output == nullptr;
    if (tied_output) output = tok_embd;

    ValueHead head;
    had_value_head = gguf_read_value_head(file, head, hp.n_embd);
    if (had_value_head) value_transform = head.transform;
    if (with_value_head) {
        vh_w = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, hp.n_embd, 1);
        ggml_set_name(vh_w, "rstar.value_head.weight");
        vh_b = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, 1);
        ggml_set_name(vh_b, "rstar.value_head.bias");
        weights.push_back({"rstar.value_head.weight", vh_w, GGML_TYPE_F32, true, false});
        // The Bradley-Terry loss depends on score differences only, so the bias gets no gradient.
        weights.push_back({"rstar.value_head.bias", vh_b, GGML_TYPE_F32, false, false});
    }

    buffer = ggml_backend_alloc_ctx_tensors(ctx, backend);
    if (!buffer) {
        fail("TRAIN", "cannot allocate %.1f MiB for the F32 weights on %s",
             ggml_backend_alloc_ctx_tensors_from_buft_size(ctx, ggml_backend_get_default_buffer_type(backend)) / 1048576.0,
             ggml_backend_name(backend));
    }

    FilePtr f(fopen(file.c_str(), "rb"));
    if (!f) fail("IO", "cannot open %s", file.c_str());
    const size_t data_offset = gguf_get_data_offset(meta);
    std::vector<uint8_t> raw;
    std::vector<float> wide;
    for (const Pending & pt : pending) {
        const size_t off = data_offset + gguf_get_tensor_offset(meta, pt.file_id);
        const size_t size = gguf_get_tensor_size(meta, pt.file_id);
        raw.resize(size);
        if (fseeko(f.get(), (off_t) off, SEEK_SET) != 0 || fread(raw.data(), 1, size, f.get()) != size) {
            fail("IO", "%s is truncated (tensor %s)", file.c_str(), ggml_get_name(pt.t));
        }
        const int64_t n = ggml_nelements(pt.t);
        wide.resize(n);
        widen_to_f32(gguf_get_tensor_type(meta, pt.file_id), raw.data(), wide.data(), n);
        for (int64_t i = 0; i < n; ++i) {
            if (!std::isfinite(wide[i])) fail("MODEL_LOAD", "tensor %s holds a non-finite value", ggml_get_name(pt.t));
        }
        ggml_backend_tensor_set(pt.t, wide.data(), 0, n * sizeof(float));
    }

    if (with_value_head) {
        if (!had_value_head) {
            // Small random weights so the untrained head ranks pairs at chance instead of tying
            // every pair; the reference initialises near zero too.
            std::mt19937_64 rng(seed ^ 0x5eedULL);
            std::normal_distribution<float> nd(0.0f, 0.02f);
            head.weight.resize(hp.n_embd);
            for (float & x : head.weight) x = nd(rng);
            head.bias = 0.0f;
        }
        ggml_backend_tensor_set(vh_w, head.weight.data(), 0, hp.n_embd * sizeof(float));
        ggml_backend_tensor_set(vh_b, &head.bias, 0, sizeof(float));
    }
}

ValueHead TrainModel::value_head() const {
    ValueHead h;
    h.transform = value_transform;
    if (!vh_w) return h;
    h.weight.resize(hp.n_embd);
    ggml_backend_tensor_get(vh_w, h.weight.data(), 0, hp.n_embd * sizeof(float));
    ggml_backend_tensor_get(vh_b, &h.bias, 0, sizeof(float));
    return h;
}

void write_gguf(const std::string & out_path, const gguf_context * kv, const std::vector<TensorOut> & tensors) {
    GgufPtr g(gguf_init_empty());
    gguf_set_kv(g.get(), kv);
    // The data section is written with the default alignment below; a copied key would lie.
    gguf_remove_key(g.get(), "general.alignment");

    ggml_init_params ip = {(tensors.size() + 1) * ggml_tensor_overhead(), nullptr, true};
    std::unique_ptr<ggml_context, void (*)(ggml_context *)> meta_ctx(ggml_init(ip), ggml_free);
    for (const TensorOut & t : tensors) {
        if (t.src->type != GGML_TYPE_F32) fail("TRAIN", "internal: tensor %s is not F32", t.name.c_str());
        ggml_tensor * info = ggml_new_tensor(meta_ctx.get(), t.type, ggml_n_dims(t.src), t.src->ne);
        ggml_set_name(info, t.name.c_str());
        gguf_add_tensor(g.get(), info);
    }

    const std::string tmp = out_path + ".partial";
    FilePtr f(fopen(tmp.c_str(), "wb"));
    if (!f) fail("IO", "cannot write %s", tmp.c_str());
    if (!gguf_write_to_file_ptr(g.get(), f.get(), /*only_meta =*/ true)) fail("IO", "cannot write %s", tmp.c_str());
    const size_t align = gguf_get_alignment(g.get());
    std::vector<float> host;
    std::vector<uint8_t> narrow;
    static const uint8_t zeros[64] = {0};
    for (const TensorOut & t : tensors) {
        const int64_t n = ggml_nelements(t.src);
        host.resize(n);
        ggml_backend_tensor_get(t.src, host.data(), 0, n * sizeof(float));
        const void * data = host.data();
        size_t nbytes = n * sizeof(float);
        if (t.type == GGML_TYPE_F16) {
            narrow.resize(n * sizeof(ggml_fp16_t));
            ggml_fp32_to_fp16_row(host.data(), (ggml_fp16_t *) narrow.data(), n);
            data = narrow.data();
            nbytes = narrow.size();
        } else if (t.type == GGML_TYPE_BF16) {
            narrow.resize(n * sizeof(ggml_bf16_t));
            ggml_fp32_to_bf16_row_ref(host.data(), (ggml_bf16_t *) narrow.data(), n);
            data = narrow.data();
            nbytes = narrow.size();
        }
        if (fwrite(data, 1, nbytes, f.get()) != nbytes) fail("IO", "cannot write %s (disk full?)", tmp.c_str());
        const size_t pad = GGML_PAD(nbytes, align) - nbytes;
        if (pad && fwrite(zeros, 1, pad, f.get()) != pad) fail("IO", "cannot write %s (disk full?)", tmp.c_str());
    }
    if (fflush(f.get()) != 0) fail("IO", "cannot write %s (disk full?)", tmp.c_str());
    f.reset();
    if (rename(tmp.c_str(), out_path.c_str()) != 0) fail("IO", "cannot rename %s to %s", tmp.c_str(), out_path.c_str());
}

void read_gguf_tensors(const std::string & file, const std::vector<std::pair<std::string, ggml_tensor *>> & into) {
    gguf_init_params params = {/*no_alloc =*/ true, /*ctx =*/ nullptr};
    GgufPtr g(gguf_init_from_file(file.c_str(), params));
    if (!g) fail("IO", "cannot open %s as a GGUF file", file.c_str());
    FilePtr f(fopen(file.c_str(), "rb"));
    if (!f) fail("IO", "cannot open %s", file.c_str());
    const size_t data_offset = gguf_get_data_offset(g.get());
    std::vector<uint8_t> raw;
    std::vector<float> wide;
    for (const auto & [name, t] : into) {
        const int64_t id = gguf_find_tensor(g.get(), name.c_str());
        if (id < 0) fail("IO", "%s has no tensor %s", file.c_str(), name.c_str());
        const int64_t * ne = gguf_get_tensor_ne(g.get(), id);
        for (int d = 0; d < GGML_MAX_DIMS; ++d) {
            if (ne[d] != t->ne[d]) fail("IO", "tensor %s in %s has shape %s, expected %s", name.c_str(), file.c_str(),
                                        shape_str(ne).c_str(), shape_str(t->ne).c_str());
        }
        const size_t size = gguf_get_tensor_size(g.get(), id);
        raw.resize(size);
        if (fseeko(f.get(), (off_t) (data_offset + gguf_get_tensor_offset(g.get(), id)), SEEK_SET) != 0 ||
            fread(raw.data(), 1, size, f.get()) != size) {
            fail("IO", "%s is truncated (tensor %s)", file.c_str(), name.c_str());
        }
        const int64_t n = ggml_nelements(t);
        wide.resize(n);
        widen_to_f32(gguf_get_tensor_type(g.get(), id), raw.data(), wide.data(), n);
        ggml_backend_tensor_set(t, wide.data(), 0, n * sizeof(float));
    }
}

void TrainModel::save(const std::string & out_path, const ValueHead * head, bool f32_weights,
                      const std::vector<std::pair<std::string, std::string>> & extra_str_kv) const {
    GgufPtr g(gguf_init_empty());
    gguf_set_kv(g.get(), meta);
    gguf_remove_key(g.get(), "rstar.value_head.weight");
    gguf_remove_key(g.get(), "rstar.value_head.bias");
    gguf_remove_key(g.get(), "rstar.value_head.transform");
    if (head) {
        gguf_set_arr_data(g.get(), "rstar.value_head.weight", GGUF_TYPE_FLOAT32, head->weight.data(), head->weight.size());
        gguf_set_val_f32(g.get(), "rstar.value_head.bias", head->bias);
        gguf_set_val_str(g.get(), "rstar.value_head.transform", head->transform.c_str());
    }
    for (const auto & kv : extra_str_kv) gguf_set_val_str(g.get(), kv.first.c_str(), kv.second.c_str());
    if (f32_weights) gguf_set_val_u32(g.get(), "general.file_type", 0);  // LLAMA_FTYPE_ALL_F32

    std::vector<TensorOut> out;
    for (const WeightEntry & w : weights) {
        if (w.tensor == vh_w || w.tensor == vh_b) continue;  // the head lives in the metadata
        out.push_back({w.name, w.tensor, f32_weights ? GGML_TYPE_F32 : w.file_type});
    }
    write_gguf(out_path, g.get(), out);
}

void TrainModel::load_weights_from(const std::string & file) {
    std::vector<std::pair<std::string, ggml_tensor *>> into;
    for (const WeightEntry & w : weights) {
        if (w.tensor == vh_w || w.tensor == vh_b) continue;
        into.push_back({w.name, w.tensor});
    }
    read_gguf_tensors(file, into);
    if (vh_w) {
        ValueHead head;
        if (!gguf_read_value_head(file, head, hp.n_embd)) fail("IO", "%s has no value head", file.c_str());
        ggml_backend_tensor_set(vh_w, head.weight.data(), 0, hp.n_embd * sizeof(float));
        ggml_backend_tensor_set(vh_b, &head.bias, 0, sizeof(float));
    }
}

}  // namespace rstar::train
