// Shared helpers of the addon: the error convention, argument reading, and the async worker base.
//
// Error convention: every error that reaches JavaScript is a plain Error whose message starts with a
// bracketed code ("[KV_CACHE_FULL] ..."); lib/errors.ts maps the code onto the typed error family.
// C++ exceptions are enabled (NAPI_CPP_EXCEPTIONS in binding.gyp): synchronous methods throw
// Napi::Error, worker threads throw rstar::Failure and the worker turns it into a rejection.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace rstar {

// An error raised on a worker thread, carrying the code that lib/errors.ts understands.
struct Failure : std::runtime_error {
    std::string code;
    Failure(std::string code_, const std::string & message) : std::runtime_error(message), code(std::move(code_)) {}
};

inline std::string coded(const std::string & code, const std::string & message) {
    return "[" + code + "] " + message;
}

[[noreturn]] inline void throw_js(Napi::Env env, const std::string & code, const std::string & message) {
    throw Napi::Error::New(env, coded(code, message));
}

inline std::string get_string(const Napi::Object & o, const char * key, const std::string & def) {
    Napi::Value v = o.Get(key);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : def;
}

inline double get_number(const Napi::Object & o, const char * key, double def) {
    Napi::Value v = o.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : def;
}

inline bool get_bool(const Napi::Object & o, const char * key, bool def) {
    Napi::Value v = o.Get(key);
    return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : def;
}

// A Promise-returning worker. Subclasses implement Run() (worker thread, no Napi) and Result()
// (main thread). The target object, when given, is referenced until the promise settles so the GC
// cannot collect it mid-flight.
class PromiseWorker : public Napi::AsyncWorker {
  public:
    PromiseWorker(Napi::Env env, const char * name, Napi::Object target = Napi::Object())
        : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {
        if (!target.IsEmpty()) target_ = Napi::Persistent(target);
    }
    Napi::Promise Promise() { return deferred_.Promise(); }

  protected:
    virtual void Run() = 0;
    virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
    virtual void Finally() {}

  private:
    void Execute() override {
        try {
            Run();
        } catch (const Failure & e) {
            SetError(coded(e.code, e.what()));
        } catch (const std::bad_alloc &) {
            SetError(coded("NATIVE", "out of memory"));
        } catch (const std::exception & e) {
            SetError(coded("NATIVE", e.what()));
        } catch (...) {
            SetError(coded("NATIVE", "unknown native error"));
        }
    }
    void OnOK() override {
        Napi::Env env = Env();
        Finally();
        try {
            deferred_.Resolve(Result(env));
        } catch (const Napi::Error & e) {
            deferred_.Reject(e.Value());
        }
    }
    void OnError(const Napi::Error & e) override {
        Finally();
        deferred_.Reject(e.Value());
    }

    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference target_;
};

void init_model(Napi::Env env, Napi::Object exports);
void init_context(Napi::Env env, Napi::Object exports);
void init_sampler(Napi::Env env, Napi::Object exports);
void init_gguf_tools(Napi::Env env, Napi::Object exports);

}  // namespace rstar
