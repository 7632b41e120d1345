#pragma once
// The server's TLS configuration: TLS 1.2 and 1.3 only, Mozilla "intermediate" cipher suites,
// optional client certificates checked against COALITION_CLIENT_CA.
#include "core/settings.hpp"

#include <boost/asio/ssl/context.hpp>

namespace coalition::server {

// Throws SettingsError with a one-line reason if a certificate or key cannot be loaded.
void configure_tls(boost::asio::ssl::context& context, const Settings& settings);

}  // namespace coalition::server
