#pragma once
// Which representation a statement is sent in: CSV or JSON, chosen from the request's Accept
// headers as RFC 9110 §12.5.1 defines them (media ranges with q-values), so that a client that
// ranks CSV low, or refuses it with q=0, is not sent CSV.
#include "server/http_types.hpp"

#include <string_view>

namespace coalition::server {

// True when the Accept header values (all of them) give text/csv a q-value above 0 and above the
// one application/json gets, each from its most specific matching range; on a tie, when text/csv
// is named itself. JSON is the default: no Accept, `*/*`, or a tie through wildcards alone.
// Malformed entries are skipped, as a lenient server does.
bool prefers_csv(const HeaderList& headers);

}  // namespace coalition::server
