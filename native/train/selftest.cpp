#include "selftest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>

#include "train_error.h"
#include "trainer.h"

namespace rstar::train {

namespace {

PackedBatch single_sequence(const std::vector<int32_t> & tokens) {
    Unit u;
    u.tokens = tokens;
    u.segments.push_back({-1, 0, (int) tokens.size()});
    std::vector<Unit> units{u};
    PackedBatch b = build_batch(units, {0});
    return b;
}

double log_softmax_at(const float * row, int64_t n, int32_t idx) {
    double mx = row[0];
    for (int64_t i = 1; i < n; ++i) mx = std::max(mx, (double) row[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp((double) row[i] - mx);
    return (double) row[idx] - mx - std::log(sum);
}

}  // namespace

std::vector<float> forward_logits(const std::string & model_path, const std::vector<int32_t> & tokens, int threads) {
    if (tokens.empty()) fail("INVALID_ARGUMENT", "no tokens");
    Session s(model_path, false, threads, "auto", 0);
    for (int32_t t : tokens) {
        if (t < 0 || t >= s.model.hp.n_vocab) fail("INVALID_ARGUMENT", "token id %d is out of range", t);
    }
    PackedBatch b = single_sequence(tokens);
    for (int32_t i = 0; i < (int32_t) tokens.size(); ++i) b.target_rows.push_back(i);
    return s.run(b, LossKind::None, 0.0f, false, (int64_t) tokens.size()).logits;
}

std::vector<float> score_tokens(const std::string & model_path, const std::vector<std::vector<int32_t>> & sequences,
                                int threads) {
    ValueHead head;
    if (!gguf_read_value_head(model_path, head, -1)) fail("INVALID_ARGUMENT", "%s has no rstar.value_head (not a PPM)", model_path.c_str());
    Session s(model_path, true, threads, "auto", 0);
    std::vector<float> out;
    for (const std::vector<int32_t> & seq : sequences) {
        if (seq.empty()) fail("INVALID_ARGUMENT", "an empty token sequence cannot be scored");
        for (int32_t t : seq) {
            if (t < 0 || t >= s.model.hp.n_vocab) fail("INVALID_ARGUMENT", "token id %d is out of range", t);
        }
        PackedBatch b = single_sequence(seq);
        b.chosen_rows = {(int32_t) seq.size() - 1};
        b.rejected_rows = {(int32_t) seq.size() - 1};
        b.pair_weights = {1.0f};
        out.push_back(s.run(b, LossKind::Ppm, 1.0f, false).r_chosen.at(0));
    }
    return out;
}

GradCheckResult gradient_check(const std::string & model_path, const std::string & mode, const std::vector<SftExample> & sft,
                               const std::vector<PairExample> & pairs, int probes_per_tensor, double eps, uint64_t seed,
                               int threads) {
    const bool ppm = mode == "ppm";
    if (!ppm && mode != "sft") fail("INVALID_ARGUMENT", "mode must be sft or ppm");
    Session s(model_path, ppm, threads, "cpu", seed);
    s.init_optimizer();
    const int32_t n_vocab = (int32_t) s.model.hp.n_vocab;
    UnitStats stats;
    const int64_t ctx = 1 << 20;
    std::vector<Unit> units = ppm ? make_ppm_units(*s.tokenizer, pairs, ctx, n_vocab, stats)
                                  : make_sft_units(*s.tokenizer, sft, ctx, true, n_vocab, stats);
    if (units.empty()) fail("INVALID_ARGUMENT", "no usable example");
    std::vector<int> all(units.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = (int) i;
    const PackedBatch b = build_batch(units, all);
    const int64_t T = b.n_tokens();
    GradCheckResult res;

    double weight_sum = 0;
    for (float w : b.pair_weights) weight_sum += w;
    const float scale = ppm ? (float) (1.0 / weight_sum) : 1.0f;  // SFT: one micro-batch, mean over its rows

    // Every logit row of the packed sequence, to score on the host.
    PackedBatch all_rows = b;
    all_rows.target_rows.resize(T);
    for (int64_t i = 0; i < T; ++i) all_rows.target_rows[i] = (int32_t) i;
    std::vector<char> is_target(T, 0);
    for (int32_t r : b.target_rows) is_target[r] = 1;

    auto reference = [&](double * all_positions) -> double {
        if (ppm) {
            Session::MicroResult r = s.run(b, LossKind::Ppm, 1.0f, false);
            double loss = 0;
            for (size_t p = 0; p < r.r_chosen.size(); ++p) {
                const double d = (double) r.r_rejected[p] - (double) r.r_chosen[p];
                loss += b.pair_weights[p] * (d > 30 ? d : std::log1p(std::exp(d)));
            }
            return loss / weight_sum;
        }
        Session::MicroResult r = s.run(all_rows, LossKind::None, 0.0f, false, T);
        double loss = 0;
        for (size_t k = 0; k < b.target_rows.size(); ++k) {
            loss -= log_softmax_at(r.logits.data() + (int64_t) b.target_rows[k] * n_vocab, n_vocab, b.target_ids[k]);
        }
        if (all_positions) {
            // Every position that predicts a token of its own example (prompt rows included).
            double all = 0;
            int64_t n = 0;
            int64_t tok0 = 0;
            for (const Unit & u : units) {
                for (int64_t i = 0; i + 1 < (int64_t) u.tokens.size(); ++i) {
                    all -= log_softmax_at(r.logits.data() + (tok0 + i) * n_vocab, n_vocab, u.tokens[i + 1]);
                    ++n;
                }
                tok0 += (int64_t) u.tokens.size();
            }
            *all_positions = all / (double) n;
        }
        return loss / (double) b.target_rows.size();
    };

    res.reference_loss = reference(&res.all_positions_loss);
    res.target_rows = (int64_t) b.target_rows.size();
    if (!ppm) {
        for (const Unit & u : units) res.prompt_rows += (int64_t) u.tokens.size() - 1 - (int64_t) u.target_rows.size();
        // Packing check: each example alone gives the same logits as inside the packed sequence.
        Session::MicroResult packed = s.run(all_rows, LossKind::None, 0.0f, false, T);
        int64_t tok0 = 0;
        for (const Unit & u : units) {
            const int64_t n = (int64_t) u.tokens.size();
            PackedBatch alone = single_sequence(u.tokens);
            for (int64_t i = 0; i < n; ++i) alone.target_rows.push_back((int32_t) i);
            Session::MicroResult r = s.run(alone, LossKind::None, 0.0f, false, n);
            for (int64_t i = 0; i < n * n_vocab; ++i) {
                res.packing_max_abs_diff = std::max(res.packing_max_abs_diff,
                                                    (double) std::fabs(r.logits[i] - packed.logits[tok0 * n_vocab + i]));
            }
            tok0 += n;
        }
    }

    s.zero_grads();
    res.graph_loss = s.run(b, ppm ? LossKind::Ppm : LossKind::Sft, scale, true).loss;

    std::mt19937_64 rng(seed);
    for (size_t ti = 0; ti < s.trainable.size(); ++ti) {
        ggml_tensor * w = s.trainable[ti];
        ggml_tensor * gacc = s.grads[ti];
        const int64_t n = ggml_nelements(w);
        std::vector<float> grad(n);
        ggml_backend_tensor_get(gacc, grad.data(), 0, n * sizeof(float));
        for (float x : grad) res.max_abs_grad = std::max(res.max_abs_grad, (double) std::fabs(x));
        // Probe the largest gradients among a random sample: near-zero entries test nothing.
        std::uniform_int_distribution<int64_t> pick(0, n - 1);
        std::vector<int64_t> cand;
        for (int i = 0; i < 16 * probes_per_tensor; ++i) cand.push_back(pick(rng));
        std::sort(cand.begin(), cand.end(), [&](int64_t a, int64_t c) { return std::fabs(grad[a]) > std::fabs(grad[c]); });
        cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
        for (int p = 0; p < probes_per_tensor && p < (int) cand.size(); ++p) {
            const int64_t idx = cand[p];
            float orig = 0;
            ggml_backend_tensor_get(w, &orig, idx * sizeof(float), sizeof(float));
            float v = orig + (float) eps;
            ggml_backend_tensor_set(w, &v, idx * sizeof(float), sizeof(float));
            const double lp = reference(nullptr);
            v = orig - (float) eps;
            ggml_backend_tensor_set(w, &v, idx * sizeof(float), sizeof(float));
            const double lm = reference(nullptr);
            ggml_backend_tensor_set(w, &orig, idx * sizeof(float), sizeof(float));
            const double fd = (lp - lm) / (2 * eps);
            const double an = grad[idx];
            const double abs_err = std::fabs(fd - an);
            const double rel = abs_err / std::max({std::fabs(fd), std::fabs(an), 1e-3});
            res.max_abs_error = std::max(res.max_abs_error, abs_err);
            res.max_rel_error = std::max(res.max_rel_error, rel);
            res.probes++;
        }
    }
    return res;
}

}  // namespace rstar::train
