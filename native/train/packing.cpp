#include "packing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "llama.h"
#include "train_error.h"

namespace rstar::train {

Tokenizer::Tokenizer(const std::string & model_path) {
    llama_model_params params = llama_model_default_params();
    params.vocab_only = true;
    params.progress_callback = [](float, void *) { return true; };  // no progress dots on stderr
    model_ = llama_model_load_from_file(model_path.c_str(), params);
    if (!model_) fail("MODEL_LOAD", "llama.cpp could not load the vocabulary of %s", model_path.c_str());
    vocab_ = llama_model_get_vocab(model_);
}

Tokenizer::~Tokenizer() {
    if (model_) llama_model_free(model_);
}

std::vector<int32_t> Tokenizer::encode(const std::string & text, bool add_special) const {
    if (text.size() > (size_t) std::numeric_limits<int32_t>::max() / 2) fail("DATA", "a text of %zu bytes is too long", text.size());
    std::vector<int32_t> out(text.size() + 8);
    int32_t n = llama_tokenize(vocab_, text.data(), (int32_t) text.size(), out.data(), (int32_t) out.size(), add_special,
                               /*parse_special =*/ true);
    if (n < 0) {
        if (n == std::numeric_limits<int32_t>::min()) fail("DATA", "tokenization overflowed");
        out.resize(-n);
        n = llama_tokenize(vocab_, text.data(), (int32_t) text.size(), out.data(), (int32_t) out.size(), add_special, true);
        if (n < 0) fail("DATA", "tokenization failed");
    }
    out.resize(n);
    return out;
}

std::string Tokenizer::decode(const std::vector<int32_t> & tokens) const {
    std::string out;
    char buf[256];
    for (int32_t t : tokens) {
        const int32_t n = llama_token_to_piece(vocab_, t, buf, sizeof(buf), 0, /*special =*/ true);
        if (n > 0) out.append(buf, n);
    }
    return out;
}

int32_t Tokenizer::eos() const { return llama_vocab_eos(vocab_); }

int32_t Tokenizer::n_vocab() const { return llama_vocab_n_tokens(vocab_); }

namespace {

void check_ids(const std::vector<int32_t> & ids, int32_t n_vocab) {
    for (int32_t t : ids) {
        if (t < 0 || t >= n_vocab) {
            fail("DATA", "token id %d is outside the model's %d embedding rows (tokenizer and weights disagree)", t, n_vocab);
        }
    }
}

}  // namespace

std::vector<Unit> make_sft_units(const Tokenizer & tok, const std::vector<SftExample> & examples, int64_t ctx,
                                 bool add_eos, int32_t n_vocab, UnitStats & stats) {
    std::vector<Unit> units;
    units.reserve(examples.size());
    const int32_t eos = tok.eos();
    for (const SftExample & ex : examples) {
        stats.examples_in++;
        std::vector<int32_t> p = tok.encode(ex.prompt, /*add_special =*/ true);
        std::vector<int32_t> c = tok.encode(ex.completion, false);
        if (add_eos && eos >= 0) c.push_back(eos);
        if (c.empty() || ctx < 2) {
            stats.skipped++;
            continue;
        }
        if ((int64_t) (p.size() + c.size()) > ctx) {
            // Keep the end of the prompt (the part next to the completion) and as much of the
            // completion as fits; at least half the window goes to the prompt when it is long.
            stats.truncated++;
            const int64_t max_prompt = std::max<int64_t>(ctx / 2, ctx - (int64_t) c.size());
            if ((int64_t) p.size() > max_prompt) p.erase(p.begin(), p.end() - max_prompt);
            if ((int64_t) (p.size() + c.size()) > ctx) c.resize(ctx - p.size());
        }
        check_ids(p, n_vocab);
        check_ids(c, n_vocab);
        Unit u;
        u.tokens = p;
        u.tokens.insert(u.tokens.end(), c.begin(), c.end());
        u.segments.push_back({-1, 0, (int) u.tokens.size()});
        // Row r predicts token r+1; only completion tokens are targets (prompt rows masked out).
        const int first_target = std::max<int>(1, (int) p.size());
        for (int t = first_target; t < (int) u.tokens.size(); ++t) {
            u.target_rows.push_back(t - 1);
            u.target_ids.push_back(u.tokens[t]);
        }
        if (u.target_rows.empty()) {
            stats.skipped++;
            continue;
        }
        u.n_examples = 1;
        stats.examples_used++;
        stats.tokens += (int64_t) u.tokens.size();
        units.push_back(std::move(u));
    }
    return units;
}

namespace {

struct PromptGroup {
    std::string prompt;
    std::vector<size_t> pairs;
};

// Adds `text` as a branch of the unit's root prompt (once per distinct text); returns its segment.
int add_branch(Unit & u, std::unordered_map<std::string, int> & seen, const std::string & text,
               const std::vector<int32_t> & ids) {
    auto it = seen.find(text);
    if (it != seen.end()) return it->second;
    Segment s;
    s.parent = 0;
    s.start = (int) u.tokens.size();
    s.len = (int) ids.size();
    u.tokens.insert(u.tokens.end(), ids.begin(), ids.end());
    u.segments.push_back(s);
    const int idx = (int) u.segments.size() - 1;
    seen[text] = idx;
    return idx;
}

}  // namespace

std::vector<Unit> make_ppm_units(const Tokenizer & tok, const std::vector<PairExample> & pairs, int64_t ctx,
                                 int32_t n_vocab, UnitStats & stats) {
    std::vector<PromptGroup> groups;
    std::unordered_map<std::string, size_t> group_of;
    for (size_t i = 0; i < pairs.size(); ++i) {
        auto it = group_of.find(pairs[i].prompt);
        if (it == group_of.end()) {
            group_of[pairs[i].prompt] = groups.size();
            groups.push_back({pairs[i].prompt, {i}});
        } else {
            groups[it->second].pairs.push_back(i);
        }
    }

    std::vector<Unit> units;
    for (const PromptGroup & g : groups) {
        const std::vector<int32_t> p = tok.encode(g.prompt, true);
        check_ids(p, n_vocab);
        std::unordered_map<std::string, std::vector<int32_t>> ids_of;
        auto ids = [&](const std::string & text) -> const std::vector<int32_t> & {
            auto it = ids_of.find(text);
            if (it != ids_of.end()) return it->second;
            std::vector<int32_t> v = tok.encode(text, false);
            check_ids(v, n_vocab);
            return ids_of.emplace(text, std::move(v)).first->second;
        };

        Unit cur;
        std::unordered_map<std::string, int> seen;
        auto start_unit = [&](const std::vector<int32_t> & prompt) {
            cur = Unit();
            seen.clear();
            cur.tokens = prompt;
            cur.segments.push_back({-1, 0, (int) prompt.size()});
        };
        auto flush = [&]() {
            if (cur.n_examples > 0) {
                stats.tokens += (int64_t) cur.tokens.size();
                units.push_back(std::move(cur));
            }
        };
        auto add_pair = [&](const PairExample & pe) {
            const int sc = add_branch(cur, seen, pe.chosen, ids(pe.chosen));
            const int sr = add_branch(cur, seen, pe.rejected, ids(pe.rejected));
            cur.chosen_rows.push_back(cur.segments[sc].start + cur.segments[sc].len - 1);
            cur.rejected_rows.push_back(cur.segments[sr].start + cur.segments[sr].len - 1);
            cur.pair_weights.push_back(pe.weight);
            cur.n_examples++;
            stats.examples_used++;
        };

        start_unit(p);
        for (size_t pi : g.pairs) {
            const PairExample & pe = pairs[pi];
            stats.examples_in++;
            const std::vector<int32_t> & c = ids(pe.chosen);
            const std::vector<int32_t> & r = ids(pe.rejected);
            if (c.empty() || r.empty() || pe.chosen == pe.rejected || !(pe.weight > 0.0f) || !std::isfinite(pe.weight)) {
                stats.skipped++;
                continue;
            }
            const int64_t alone = (int64_t) (p.size() + c.size() + r.size());
            if (alone > ctx) {
                // Even by itself the pair does not fit: keep the end of the prompt.
                const int64_t room = ctx - (int64_t) (c.size() + r.size());
                if (room < 1) {
                    stats.skipped++;
                    continue;
                }
                stats.truncated++;
                flush();
                start_unit(std::vector<int32_t>(p.end() - room, p.end()));
                add_pair(pe);
                flush();
                start_unit(p);
                continue;
            }
            const int64_t need = (seen.count(pe.chosen) ? 0 : (int64_t) c.size()) + (seen.count(pe.rejected) ? 0 : (int64_t) r.size());
            if ((int64_t) cur.tokens.size() + need > ctx) {
                flush();
                start_unit(p);
            }
            add_pair(pe);
        }
        flush();
    }
    return units;
}

std::vector<std::vector<int>> pack_units(const std::vector<Unit> & units, const std::vector<int> & order, int64_t ctx) {
    std::vector<int> sorted = order;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&](int a, int b) { return units[a].tokens.size() > units[b].tokens.size(); });
    std::vector<std::vector<int>> bins;
    std::vector<int64_t> room;
    for (int u : sorted) {
        const int64_t n = (int64_t) units[u].tokens.size();
        size_t b = 0;
        while (b < bins.size() && room[b] < n) ++b;
        if (b == bins.size()) {
            bins.emplace_back();
            room.push_back(ctx);
        }
        bins[b].push_back(u);
        room[b] -= n;
    }
    return bins;
}

PackedBatch build_batch(const std::vector<Unit> & units, const std::vector<int> & members) {
    PackedBatch b;
    std::vector<Segment> segs;
    for (int ui : members) {
        const Unit & u = units[ui];
        const int tok0 = (int) b.tokens.size();
        const int seg0 = (int) segs.size();
        b.tokens.insert(b.tokens.end(), u.tokens.begin(), u.tokens.end());
        for (const Segment & s : u.segments) segs.push_back({s.parent < 0 ? -1 : s.parent + seg0, s.start + tok0, s.len});
        for (size_t i = 0; i < u.target_rows.size(); ++i) {
            b.target_rows.push_back(u.target_rows[i] + tok0);
            b.target_ids.push_back(u.target_ids[i]);
        }
        for (size_t i = 0; i < u.chosen_rows.size(); ++i) {
            b.chosen_rows.push_back(u.chosen_rows[i] + tok0);
            b.rejected_rows.push_back(u.rejected_rows[i] + tok0);
            b.pair_weights.push_back(u.pair_weights[i]);
        }
    }
    const int64_t T = (int64_t) b.tokens.size();
    b.pos.assign(T, 0);
    b.mask.assign(T * T, -INFINITY);
    std::vector<int> pos0(segs.size(), 0);
    for (size_t s = 0; s < segs.size(); ++s) {
        const int parent = segs[s].parent;  // parents precede their children
        pos0[s] = parent < 0 ? 0 : pos0[parent] + segs[parent].len;
        for (int i = 0; i < segs[s].len; ++i) b.pos[segs[s].start + i] = pos0[s] + i;
    }
    for (size_t s = 0; s < segs.size(); ++s) {
        for (int i = 0; i < segs[s].len; ++i) {
            const int q = segs[s].start + i;
            float * row = b.mask.data() + (int64_t) q * T;
            for (int a = segs[s].parent; a >= 0; a = segs[a].parent) {
                std::fill(row + segs[a].start, row + segs[a].start + segs[a].len, 0.0f);
            }
            std::fill(row + segs[s].start, row + q + 1, 0.0f);
        }
    }
    return b;
}

}  // namespace rstar::train
