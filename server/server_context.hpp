#pragma once
// What every connection shares: settings, logging, routes and the open-connection registry.
#include "core/settings.hpp"
#include "server/logger.hpp"
#include "server/router.hpp"
#include "server/session_registry.hpp"

#include <atomic>

namespace coalition::server {

struct ServerContext {
    Settings settings;
    Logger& logger;
    Router router;
    SessionRegistry sessions;
    std::atomic<bool> draining{false};
};

}  // namespace coalition::server
