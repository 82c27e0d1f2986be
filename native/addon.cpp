// Module entry: initialises the llama.cpp backend once, routes its log, and registers the classes.
#include "common.h"

#include "llama.h"
#include "train/train.h"

#include <cstdio>
#include <cstdlib>

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

static Napi::Value system_info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
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
