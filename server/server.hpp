#pragma once
#include "core/settings.hpp"

namespace coalition::server {

// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish (bounded
// by shutdown_timeout_ms) and returns 0. Returns 2 with a one-line reason on stderr when it
// cannot start (bad certificate, address in use).
int run_server(const Settings& settings);

}  // namespace coalition::server
