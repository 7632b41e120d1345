#pragma once
// Outcome of a ledger decision: the decision, or the business refusal the client gets (422 ...).
// Broken invariants are not refusals: they throw LedgerBug, because the caller cannot fix them.
#include <stdexcept>
#include <utility>
#include <variant>

#include "core/errors.hpp"

namespace coalition::ledger {

// A violated precondition or invariant: a bug in the caller or in stored data, answered as 500.
class LedgerBug : public std::logic_error {
  public:
    using std::logic_error::logic_error;
};

// Throws LedgerBug when `condition` is false. Kept as a function (not assert) so that Release
// builds keep the check: a wrong balance is worse than a crashed request.
inline void require(bool condition, const char* what) {
    if (!condition) throw LedgerBug(what);
}

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit, so `return outcome;` reads
    Result(ErrorCode error) : state_(error) {}     // NOLINT: implicit, so `return code;` reads

    bool ok() const { return std::holds_alternative<T>(state_); }
    explicit operator bool() const { return ok(); }

    const T& value() const& {
        require(ok(), "Result::value() on a refusal");
        return std::get<T>(state_);
    }
    T& value() & {
        require(ok(), "Result::value() on a refusal");
        return std::get<T>(state_);
    }
    T&& value() && {
        require(ok(), "Result::value() on a refusal");
        return std::get<T>(std::move(state_));
    }
    ErrorCode error() const {
        require(!ok(), "Result::error() on a success");
        return std::get<ErrorCode>(state_);
    }

  private:
    std::variant<T, ErrorCode> state_;
};

}  // namespace coalition::ledger
