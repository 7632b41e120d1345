#include "tools/loadgen/mix.hpp"

#include <charconv>

namespace coalition::loadgen {
namespace {

// Large enough for any useful ratio, small enough that the total never overflows.
constexpr std::uint32_t kWeightMax = 1'000'000;

constexpr std::array<std::string_view, kClaimKindCount> kKindNames = {"earn", "burn", "reversal"};

}  // namespace

std::string_view kind_name(ClaimKind kind) { return kKindNames[static_cast<std::size_t>(kind)]; }

std::uint64_t Mix::total() const {
    std::uint64_t sum = 0;
    for (const auto weight : weights) sum += weight;
    return sum;
}

ClaimKind Mix::pick(std::uint64_t draw) const {
    for (std::size_t i = 0; i < kClaimKindCount; ++i) {
        if (draw < weights[i]) return static_cast<ClaimKind>(i);
        draw -= weights[i];
    }
    // Only a draw outside [0, total) gets here; the last kind with any weight takes it.
    for (std::size_t i = kClaimKindCount; i-- > 0;) {
        if (weights[i] > 0) return static_cast<ClaimKind>(i);
    }
    return ClaimKind::earn;
}

std::string Mix::to_string() const {
    std::string out;
    for (std::size_t i = 0; i < kClaimKindCount; ++i) {
        if (i > 0) out += ',';
        out += kKindNames[i];
        out += '=';
        out += std::to_string(weights[i]);
    }
    return out;
}

Mix parse_mix(std::string_view text) {
    if (text.empty()) throw MixError("--mix: empty; expected e.g. earn=70,burn=25,reversal=5");
    Mix mix;
    std::array<bool, kClaimKindCount> seen{};
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto comma = text.find(',', start);
        const auto entry = text.substr(
            start, comma == std::string_view::npos ? text.size() - start : comma - start);
        const auto equals = entry.find('=');
        if (entry.empty() || equals == std::string_view::npos) {
            throw MixError("--mix: expected kind=weight, got '" + std::string(entry) + "'");
        }
        const auto name = entry.substr(0, equals);
        const auto number = entry.substr(equals + 1);
        std::size_t index = kClaimKindCount;
        for (std::size_t i = 0; i < kClaimKindCount; ++i) {
            if (kKindNames[i] == name) index = i;
        }
        if (index == kClaimKindCount) {
            throw MixError("--mix: unknown kind '" + std::string(name) +
                           "' (earn, burn, reversal)");
        }
        if (seen[index]) throw MixError("--mix: '" + std::string(name) + "' given twice");
        seen[index] = true;
        std::uint32_t weight = 0;
        const auto* end = number.data() + number.size();
        const auto [ptr, ec] = std::from_chars(number.data(), end, weight);
        if (number.empty() || ec != std::errc() || ptr != end || weight > kWeightMax) {
            throw MixError("--mix: weight of " + std::string(name) +
                           " must be an integer 0..1000000, got '" + std::string(number) + "'");
        }
        mix.weights[index] = weight;
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    if (mix.total() == 0) throw MixError("--mix: all weights are 0");
    return mix;
}

}  // namespace coalition::loadgen
