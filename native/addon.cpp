// Module entry: initialises the llama.cpp backend once, routes its log, and registers the classes.
#include "common.h"

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "llama.h"
#include "train/train.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace rstar {

// llama.cpp logs from whichever thread it runs on. Writing straight to stderr is thread-safe and
// never blocks the event loop; anything below the threshold is dropped so a model load does not
// print hundreds of lines. RSTAR_LLAMA_LOG=debug|info|warn|error|none sets the threshold.
static int g_log_threshold = GGML_LOG_LEVEL_ERROR;

static void log_callback(ggml_log_level level, const char * text, void *) {
    // A CONT line continues the previous message of the same thread: print it iff that one was.
    static thread_local bool last_printed = false;
    if (level != GGML_LOG_LEVEL_CONT) last_printed = level >= g_log_threshold;
    if (last_printed) fputs(text, stderr);
}

static void configure_log() {
    const char * v = std::getenv("RSTAR_LLAMA_LOG");
    std::string s = v ? v : "error";
    if (s == "debug") g_log_threshold = GGML_LOG_LEVEL_DEBUG;
    else if (s == "info") g_log_threshold = GGML_LOG_LEVEL_INFO;
    else if (s == "warn") g_log_threshold = GGML_LOG_LEVEL_WARN;
    else if (s == "none") g_log_threshold = GGML_LOG_LEVEL_ERROR + 1;
    else g_log_threshold = GGML_LOG_LEVEL_ERROR;
    llama_log_set(log_callback, nullptr);
}

static const char * device_type_name(enum ggml_backend_dev_type t) {
    switch (t) {
        case GGML_BACKEND_DEVICE_TYPE_CPU: return "cpu";
        case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
        case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
        default: return "accel";
    }
}

// The devices ggml registered: the CPU, plus one per GPU a GPU build found (none when the driver
// or the device is missing: ggml logs why and registers nothing).
static Napi::Array device_list(Napi::Env env) {
    Napi::Array out = Napi::Array::New(env);
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        size_t free_b = 0, total_b = 0;
        ggml_backend_dev_memory(dev, &free_b, &total_b);
        Napi::Object d = Napi::Object::New(env);
        d.Set("name", ggml_backend_dev_name(dev));
        d.Set("description", ggml_backend_dev_description(dev));
        d.Set("type", device_type_name(ggml_backend_dev_type(dev)));
        d.Set("memoryFree", (double) free_b);
        d.Set("memoryTotal", (double) total_b);
        out.Set((uint32_t) i, d);
    }
    return out;
}

// Runs a small graph (an add and a matrix product) on one device and checks the numbers. A GPU
// build for the wrong architecture aborts the process here (ggml's CUDA error handler), which is
// why lib/native/binding.ts calls this only in a child process before trusting the build.
static std::string probe_device(ggml_backend_dev_t dev) {
    ggml_backend_t backend = ggml_backend_dev_init(dev, nullptr);
    if (!backend) return "could not initialise the device";
    const int n = 64, m = 8;
    ggml_init_params ip = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
    ggml_context * ctx = ggml_init(ip);
    ggml_tensor * a = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n);
    ggml_tensor * b = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n);
    ggml_tensor * w = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n, m);
    ggml_tensor * y = ggml_mul_mat(ctx, w, ggml_add(ctx, a, b));
    ggml_cgraph * gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, y);
    std::string err;
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(ctx, backend);
    if (!buf) {
        err = "could not allocate a buffer on the device";
    } else {
        std::vector<float> va(n), vb(n), vw((size_t) n * m), vy(m);
        for (int i = 0; i < n; ++i) {
            va[i] = 0.5f * (float) i;
            vb[i] = 1.0f;
        }
        for (int r = 0; r < m; ++r)
            for (int i = 0; i < n; ++i) vw[(size_t) r * n + i] = (float) ((r + i) % 3) - 1.0f;
        ggml_backend_tensor_set(a, va.data(), 0, sizeof(float) * n);
        ggml_backend_tensor_set(b, vb.data(), 0, sizeof(float) * n);
        ggml_backend_tensor_set(w, vw.data(), 0, vw.size() * sizeof(float));
        if (ggml_backend_graph_compute(backend, gf) != GGML_STATUS_SUCCESS) {
            err = "the test graph failed to compute";
        } else {
            ggml_backend_tensor_get(y, vy.data(), 0, sizeof(float) * m);
            for (int r = 0; r < m && err.empty(); ++r) {
                double want = 0;
                for (int i = 0; i < n; ++i) want += (double) vw[(size_t) r * n + i] * (va[i] + vb[i]);
                if (!(std::fabs(vy[r] - want) <= 1e-3 * (1 + std::fabs(want)))) err = "the test graph computed wrong numbers";
            }
        }
        ggml_backend_buffer_free(buf);
    }
    ggml_free(ctx);
    ggml_backend_free(backend);
    return err;
}

// probeDevices() -> [{name, description, type, ok, error?}] for every non-CPU device.
static Napi::Value probe_devices(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    uint32_t k = 0;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU) continue;
        const std::string err = probe_device(dev);
        Napi::Object d = Napi::Object::New(env);
        d.Set("name", ggml_backend_dev_name(dev));
        d.Set("description", ggml_backend_dev_description(dev));
        d.Set("type", device_type_name(ggml_backend_dev_type(dev)));
        d.Set("ok", err.empty());
        if (!err.empty()) d.Set("error", err);
        out.Set(k++, d);
    }
    return out;
}

static Napi::Value system_info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("devices", device_list(env));
    o.Set("llamaVersion", RSTAR_LLAMA_VERSION);
    o.Set("llamaCommit", RSTAR_LLAMA_COMMIT);
    o.Set("backends", RSTAR_BACKENDS);
    o.Set("gpuOffload", llama_supports_gpu_offload());
    o.Set("maxSequences", (double) llama_max_parallel_sequences());
    o.Set("system", llama_print_system_info());
    return o;
}

static Napi::Object init(Napi::Env env, Napi::Object exports) {
    configure_log();
    llama_backend_init();
    exports.Set("systemInfo", Napi::Function::New(env, system_info, "systemInfo"));
    exports.Set("probeDevices", Napi::Function::New(env, probe_devices, "probeDevices"));
    init_model(env, exports);
    init_context(env, exports);
    init_sampler(env, exports);
    init_gguf_tools(env, exports);
    InitTrainer(env, exports);
    return exports;
}

}  // namespace rstar

static Napi::Object init_addon(Napi::Env env, Napi::Object exports) { return rstar::init(env, exports); }

NODE_API_MODULE(rstar_addon, init_addon)
