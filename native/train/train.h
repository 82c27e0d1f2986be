// N-API surface of the built-in trainer (native/train). Registered from native/addon.cpp.
//
// Exports (typed in lib/native/binding.ts, wrapped by lib/train):
//   trainStart(options, onProgress) -> { promise, cancel }   a training run on a worker thread
//   trainForwardLogits(model, tokens, threads) -> Promise<Float32Array>   forward-parity tests
//   trainScoreTokens(model, sequences, threads) -> Promise<Float32Array>  value-head scores
//   trainGradientCheck(options) -> Promise<object>            finite-difference gradient test
//   trainTokenize(model, texts, addSpecial) -> Promise<Int32Array[]>     the trainer's tokenization
#pragma once

#include <napi.h>

namespace rstar {

void InitTrainer(Napi::Env env, Napi::Object exports);

}  // namespace rstar
