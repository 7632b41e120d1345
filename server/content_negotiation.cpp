#include "server/content_negotiation.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>

namespace coalition::server {
namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// A qvalue: "0", "1", "0.5", "1.000" (RFC 9110 §12.4.2), in thousandths; nullopt if malformed.
std::optional<int> parse_qvalue(std::string_view text) {
    if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
    int thousandths = (text[0] - '0') * 1000;
    if (text.size() == 1) return thousandths;
    if (text[1] != '.' || text.size() > 5) return std::nullopt;
    int scale = 100;
    for (const char c : text.substr(2)) {
        if (c < '0' || c > '9') return std::nullopt;
        thousandths += (c - '0') * scale;
        scale /= 10;
    }
    return thousandths <= 1000 ? std::optional<int>(thousandths) : std::nullopt;
}

struct MediaRange {
    std::string_view type;
    std::string_view subtype;
    int q = 1000;
};

std::optional<MediaRange> parse_media_range(std::string_view entry) {
    std::string_view range = entry;
    std::string_view parameters;
    if (const auto semicolon = entry.find(';'); semicolon != std::string_view::npos) {
        range = entry.substr(0, semicolon);
        parameters = entry.substr(semicolon + 1);
    }
    range = trim(range);
    const auto slash = range.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == range.size()) {
        return std::nullopt;
    }
    MediaRange out{range.substr(0, slash), range.substr(slash + 1)};
    while (!parameters.empty()) {
        const auto semicolon = parameters.find(';');
        const auto parameter = trim(parameters.substr(0, semicolon));
        parameters = semicolon == std::string_view::npos ? std::string_view()
                                                         : parameters.substr(semicolon + 1);
        const auto equals = parameter.find('=');
        if (equals == std::string_view::npos || !iequals(trim(parameter.substr(0, equals)), "q")) {
            continue;  // a media type parameter (charset=...): does not change the match here
        }
        const auto q = parse_qvalue(trim(parameter.substr(equals + 1)));
        if (!q) return std::nullopt;
        out.q = *q;
    }
    return out;
}

// The q-value the Accept entries give `type/subtype`: the most specific matching range's
// (RFC 9110 §12.5.1), 0 if none matches. `explicitly` says whether the type itself was named.
struct Preference {
    int q = 0;
    bool explicitly = false;
};

class Ranking {
  public:
    void add(const MediaRange& range) { ranges_.push_back(range); }

    Preference of(std::string_view type, std::string_view subtype) const {
        Preference best;
        int best_specificity = -1;
        for (const auto& range : ranges_) {
            int specificity = -1;
            if (range.type == "*" && range.subtype == "*") {
                specificity = 0;
            } else if (iequals(range.type, type) && range.subtype == "*") {
                specificity = 1;
            } else if (iequals(range.type, type) && iequals(range.subtype, subtype)) {
                specificity = 2;
            }
            if (specificity > best_specificity) {
                best_specificity = specificity;
                best = Preference{range.q, specificity == 2};
            }
        }
        return best;
    }

  private:
    std::vector<MediaRange> ranges_;
};

}  // namespace

bool prefers_csv(const HeaderList& headers) {
    Ranking ranking;
    for (const auto& [name, value] : headers) {
        if (!iequals(name, "Accept")) continue;
        std::string_view rest = value;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            if (const auto range = parse_media_range(rest.substr(0, comma))) ranking.add(*range);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
    }
    const auto csv = ranking.of("text", "csv");
    const auto json = ranking.of("application", "json");
    return csv.q > 0 && (csv.q > json.q || (csv.q == json.q && csv.explicitly));
}

}  // namespace coalition::server
