// The trainer's one exception type. Its code is one of lib/errors.ts's RstarErrorCode values; the
// addon turns it into "[CODE] message", which fromNative() maps back onto the TypeScript family.
// Every condition that ggml would otherwise GGML_ASSERT on (and abort the Node process) is checked
// first and thrown as one of these.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace rstar::train {

class TrainError : public std::runtime_error {
public:
    TrainError(std::string code, const std::string & message)
        : std::runtime_error(message), code_(std::move(code)) {}
    const std::string & code() const { return code_; }

private:
    std::string code_;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
[[noreturn]] inline void fail(const char * code, const char * fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    throw TrainError(code, buf);
}

}  // namespace rstar::train
