// Context: one llama_context on a unified KV cache, the object a search tree lives in. It exposes
// llama.cpp's mechanisms only: per-sequence KV operations (copy, remove, position range) and one
// decode step over an arbitrary batch with per-row sampling or value-head scoring. Which sequences
// exist, what to batch together and when to evict are decided in TypeScript (lib/engine).
#pragma once

#include "common.h"
#include "model.h"

#include "llama.h"

#include <condition_variable>
#include <functional>
#include <thread>

namespace rstar {

// One persistent thread on which every decode of a context runs. ggml's OpenMP thread team belongs
// to the thread that starts the parallel region: decoding from whichever libuv pool thread picked up
// the work gave each pool thread its own team, whose idle, spinning workers then competed with the
// active team for the cores (measured: 5-30% of decode throughput on 2 cores). The libuv thread
// running the AsyncWorker only waits here.
class DecodeThread {
  public:
    DecodeThread() : thread_([this] { loop(); }) {}
    ~DecodeThread() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    // Runs fn on the decode thread and returns when it has finished (exceptions propagate).
    void run(const std::function<void()> & fn) {
        std::exception_ptr error;
        bool done = false;
        {
            std::lock_guard<std::mutex> lock(mu_);
            job_ = [&] {
                try {
                    fn();
                } catch (...) {
                    error = std::current_exception();
                }
                std::lock_guard<std::mutex> l(mu_);
                done = true;
                done_cv_.notify_all();
            };
        }
        cv_.notify_all();
        std::unique_lock<std::mutex> lock(mu_);
        done_cv_.wait(lock, [&] { return done; });
        if (error) std::rethrow_exception(error);
    }

  private:
    void loop() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [this] { return stop_ || job_ != nullptr; });
                if (stop_ && !job_) return;
                job = std::move(job_);
                job_ = nullptr;
            }
            job();
        }
    }
    std::mutex mu_;
    std::condition_variable cv_, done_cv_;
    std::function<void()> job_;
    bool stop_ = false;
    std::thread thread_;
};

class Context : public Napi::ObjectWrap<Context> {
  public:
    static void Init(Napi::Env env, Napi::Object exports);
    explicit Context(const Napi::CallbackInfo & info);
    ~Context() override;

    llama_context * ctx = nullptr;
    Model * model = nullptr;
    llama_batch batch{};
    DecodeThread decode_thread;
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
