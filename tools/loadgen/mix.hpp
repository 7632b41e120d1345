#pragma once
// The workload mix: relative weights of earn, burn and reversal claims, as `--mix` spells them
// ("earn=70,burn=25,reversal=5"). Weights, not percentages: "earn=2,burn=1" is two earns per burn.
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace coalition::loadgen {

enum class ClaimKind { earn = 0, burn = 1, reversal = 2 };
inline constexpr std::size_t kClaimKindCount = 3;

std::string_view kind_name(ClaimKind kind);

class MixError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

struct Mix {
    std::array<std::uint32_t, kClaimKindCount> weights{};  // indexed by ClaimKind

    std::uint64_t total() const;
    std::uint32_t weight(ClaimKind kind) const { return weights[static_cast<std::size_t>(kind)]; }
    // The kind for a draw in [0, total()): earn's weights first, then burn's, then reversal's,
    // so a uniform draw lands on each kind in proportion to its weight.
    ClaimKind pick(std::uint64_t draw) const;
    // "earn=70,burn=25,reversal=5", every kind named, for reports.
    std::string to_string() const;
};

// Parses "kind=weight[,kind=weight...]". Kinds left out weigh 0. Throws MixError (a one-line
// reason) on an unknown or repeated kind, a weight that is not a decimal integer up to 1,000,000,
// an empty text or entry, or weights that are all 0.
Mix parse_mix(std::string_view text);

}  // namespace coalition::loadgen
