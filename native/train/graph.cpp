#include "graph.h"

#include <cmath>

#include "train_error.h"

namespace rstar::train {

namespace {

ggml_tensor * linear(ggml_context * ctx, ggml_tensor * w, ggml_tensor * b, ggml_tensor * x) {
    ggml_tensor * y = ggml_mul_mat(ctx, w, x);
    return b ? ggml_add(ctx, y, b) : y;
}

ggml_tensor * rms_norm(ggml_context * ctx, ggml_tensor * x, ggml_tensor * weight, float eps) {
    return ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), weight);
}

ggml_tensor * input_i32(ggml_context * ctx, int64_t n, const char * name) {
    ggml_tensor * t = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    ggml_set_name(t, name);
    ggml_set_input(t);
    return t;
}

// RoPE exactly as llama.cpp's llm_graph_context applies it for llama/qwen2 without YaRN:
// ext_factor 0 (so beta_fast/slow are inert), attn_factor 1, the model's base and linear scale.
ggml_tensor * rope(ggml_context * ctx, const TrainModel & m, ggml_tensor * x, ggml_tensor * pos) {
    const Hparams & hp = m.hp;
    return ggml_rope_ext(ctx, x, pos, m.rope_freqs, (int) hp.n_rot, hp.rope_mode, (int) hp.n_ctx_train,
                         hp.rope_freq_base, hp.rope_freq_scale, /*ext_factor =*/ 0.0f, /*attn_factor =*/ 1.0f,
                         /*beta_fast =*/ 32.0f, /*beta_slow =*/ 1.0f);
}

}  // namespace

size_t graph_size_for(const TrainModel & model) {
    return 2048 + 320 * (size_t) model.hp.n_layer + 16 * model.weights.size();
}

BuiltGraph build_graph(ggml_context * ctx, ggml_cgraph * gf, const TrainModel & m, const PackedBatch & batch,
                       LossKind kind, float loss_scale, int64_t logit_rows) {
    const Hparams & hp = m.hp;
    const int64_t T = batch.n_tokens();
    if (T <= 0) fail("TRAIN", "empty micro-batch");
    BuiltGraph g;

    g.tokens = input_i32(ctx, T, "tokens");
    g.pos = input_i32(ctx, T, "pos");
    g.mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, T, T);
    ggml_set_name(g.mask, "kq_mask");
    ggml_set_input(g.mask);

    const float kq_scale = hp.attn_scale != 0.0f ? hp.attn_scale : 1.0f / sqrtf((float) hp.head_dim);
    const int64_t q_dim = hp.head_dim * hp.n_head;

    ggml_tensor * x = ggml_get_rows(ctx, m.tok_embd, g.tokens);  // [n_embd, T]
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights & l = m.layers[il];
        ggml_tensor * h = rms_norm(ctx, x, l.attn_norm, hp.rms_eps);

        ggml_tensor * q = ggml_reshape_3d(ctx, linear(ctx, l.wq, l.bq, h), hp.head_dim, hp.n_head, T);
        ggml_tensor * k = ggml_reshape_3d(ctx, linear(ctx, l.wk, l.bk, h), hp.head_dim, hp.n_head_kv, T);
        ggml_tensor * v = ggml_reshape_3d(ctx, linear(ctx, l.wv, l.bv, h), hp.head_dim, hp.n_head_kv, T);
        q = rope(ctx, m, q, g.pos);
        k = rope(ctx, m, k, g.pos);

        // Grouped-query attention: mul_mat broadcasts the n_head_kv K/V heads over the n_head
        // query heads (query head i uses kv head i / (n_head/n_head_kv), as llama.cpp does), and
        // its backward sums the gradients of each group back into the shared head.
        ggml_tensor * Q = ggml_permute(ctx, q, 0, 2, 1, 3);               // [hd, T, n_head]
        ggml_tensor * K = ggml_permute(ctx, k, 0, 2, 1, 3);               // [hd, T, n_head_kv]
        ggml_tensor * kq = ggml_mul_mat(ctx, K, Q);                      // [T_k, T_q, n_head]
        kq = ggml_soft_max_ext(ctx, kq, g.mask, kq_scale, 0.0f);
        ggml_tensor * Vt = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3));  // [T, hd, n_head_kv]
        ggml_tensor * kqv = ggml_mul_mat(ctx, Vt, kq);                   // [hd, T_q, n_head]
        ggml_tensor * o = ggml_cont(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3));  // [hd, n_head, T]
        o = ggml_reshape_2d(ctx, o, q_dim, T);
        x = ggml_add(ctx, x, linear(ctx, l.wo, l.bo, o));

        h = rms_norm(ctx, x, l.ffn_norm, hp.rms_eps);
        ggml_tensor * gate = linear(ctx, l.w_gate, l.b_gate, h);
        ggml_tensor * up = linear(ctx, l.w_up, l.b_up, h);
        x = ggml_add(ctx, x, linear(ctx, l.w_down, l.b_down, ggml_swiglu_split(ctx, gate, up)));
    }
    g.hidden = rms_norm(ctx, x, m.output_norm, hp.rms_eps);
    ggml_set_name(g.hidden, "result_norm");

    if (kind == LossKind::Sft || logit_rows > 0) {
        const int64_t K = kind == LossKind::Sft ? (int64_t) batch.target_rows.size() : logit_rows;
        if (K <= 0) fail("TRAIN", "a micro-batch without target tokens");
        g.rows = input_i32(ctx, K, "rows");
        ggml_tensor * h_sel = ggml_get_rows(ctx, g.hidden, g.rows);  // [n_embd, K]
        g.logits = linear(ctx, m.output, m.output_b, h_sel);         // [n_vocab, K]
        ggml_set_name(g.logits, "logits");
        ggml_set_output(g.logits);
        if (kind == LossKind::Sft) {
            // One-hot labels are built on the device from K indices instead of uploading K*n_vocab
            // floats: fill a flat [1, K*n_vocab] buffer with 0, then SET_ROWS writes a 1 at
            // row*n_vocab + id. Labels need no gradient, so SET_ROWS' missing backward is fine.
            ggml_tensor * base = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, hp.n_vocab * K);
            ggml_tensor * zeros = ggml_fill_inplace(ctx, base, 0.0f);
            ggml_tensor * ones = ggml_fill_inplace(ctx, ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, K), 1.0f);
            g.label_index = input_i32(ctx, K, "label_index");
            ggml_tensor * labels = ggml_set_rows(ctx, zeros, ones, g.label_index);
            labels = ggml_reshape_2d(ctx, labels, hp.n_vocab, K);
            // CROSS_ENTROPY_LOSS is the mean over the K rows; scaled so micro-batches add up to the
            // mean over every completion token of the optimizer step.
            g.loss = ggml_scale(ctx, ggml_cross_entropy_loss(ctx, g.logits, labels), loss_scale);
        }
    }

    if (kind == LossKind::Ppm) {
        if (!m.vh_w) fail("TRAIN", "PPM graph without a value head");
        const int64_t P = (int64_t) batch.chosen_rows.size();
        if (P <= 0) fail("TRAIN", "a micro-batch without pairs");
        g.chosen_rows = input_i32(ctx, P, "chosen_rows");
        g.rejected_rows = input_i32(ctx, P, "rejected_rows");
        g.pair_weights = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, P);
        ggml_set_name(g.pair_weights, "pair_weights");
        ggml_set_input(g.pair_weights);
        g.r_chosen = ggml_add(ctx, ggml_mul_mat(ctx, m.vh_w, ggml_get_rows(ctx, g.hidden, g.chosen_rows)), m.vh_b);
        g.r_rejected = ggml_add(ctx, ggml_mul_mat(ctx, m.vh_w, ggml_get_rows(ctx, g.hidden, g.rejected_rows)), m.vh_b);
        ggml_set_output(g.r_chosen);
        ggml_set_output(g.r_rejected);
        // Bradley-Terry: -log sigmoid(r_c - r_r) = softplus(r_r - r_c), weighted per pair.
        ggml_tensor * bt = ggml_softplus(ctx, ggml_sub(ctx, g.r_rejected, g.r_chosen));
        g.loss = ggml_scale(ctx, ggml_sum(ctx, ggml_mul(ctx, bt, g.pair_weights)), loss_scale);
    }

    if (g.loss) {
        ggml_set_name(g.loss, "loss");
        ggml_set_output(g.loss);
        ggml_build_forward_expand(gf, g.loss);
    }
    if (g.logits) ggml_build_forward_expand(gf, g.logits);
    if (g.r_chosen) {
        ggml_build_forward_expand(gf, g.r_chosen);
        ggml_build_forward_expand(gf, g.r_rejected);
    }
    if (!g.loss && !g.logits) {
        ggml_set_output(g.hidden);
        ggml_build_forward_expand(gf, g.hidden);
    }
    return g;
}

void set_inputs(const BuiltGraph & g, const TrainModel & m, const PackedBatch & b) {
    const int64_t T = b.n_tokens();
    ggml_backend_tensor_set(g.tokens, b.tokens.data(), 0, T * sizeof(int32_t));
    ggml_backend_tensor_set(g.pos, b.pos.data(), 0, T * sizeof(int32_t));
    ggml_backend_tensor_set(g.mask, b.mask.data(), 0, T * T * sizeof(float));
    if (g.rows) {
        ggml_backend_tensor_set(g.rows, b.target_rows.data(), 0, ggml_nbytes(g.rows));
    }
    if (g.label_index) {
        std::vector<int32_t> idx(b.target_ids.size());
        for (size_t i = 0; i < idx.size(); ++i) idx[i] = (int32_t) (i * m.hp.n_vocab + b.target_ids[i]);
        ggml_backend_tensor_set(g.label_index, idx.data(), 0, idx.size() * sizeof(int32_t));
    }
    if (g.chosen_rows) {
        ggml_backend_tensor_set(g.chosen_rows, b.chosen_rows.data(), 0, b.chosen_rows.size() * sizeof(int32_t));
        ggml_backend_tensor_set(g.rejected_rows, b.rejected_rows.data(), 0, b.rejected_rows.size() * sizeof(int32_t));
        ggml_backend_tensor_set(g.pair_weights, b.pair_weights.data(), 0, b.pair_weights.size() * sizeof(float));
    }
}

}  // namespace rstar::train
