#include "server/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

namespace coalition::server {
namespace {

// Mozilla server-side TLS, "intermediate" profile (TLS 1.2 suites; TLS 1.3 suites are
// OpenSSL's defaults, which match the profile).
constexpr const char* kIntermediateCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

std::string openssl_reason() {
    const unsigned long code = ERR_get_error();
    if (code == 0) return "unknown OpenSSL error";
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    ERR_clear_error();
    return buffer;
}

void require(bool ok, const std::string& what) {
    if (!ok) throw SettingsError(what + ": " + openssl_reason());
}

// OpenSSL's default asks for an encrypted key's passphrase on the terminal: prompts in the log
// stream, and a service that waits at start for an answer nobody gives. No passphrase: the
// load fails, with the reason.
int no_passphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

}  // namespace

void configure_tls(boost::asio::ssl::context& context, const Settings& settings) {
    SSL_CTX* ctx = context.native_handle();
    require(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1, "TLS minimum version");
    require(SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1, "TLS maximum version");
    require(SSL_CTX_set_cipher_list(ctx, kIntermediateCiphers) == 1, "TLS 1.2 cipher list");
    require(SSL_CTX_set1_groups_list(ctx, "X25519:prime256v1:secp384r1") == 1, "TLS groups");
    // No stateless session tickets: their key lives as long as the process, and a TLS 1.2
    // ticket carries the session's master secret, so whoever obtained that key could decrypt
    // every recorded TLS 1.2 session that got one since the start (Mozilla's guidance: rotate
    // the key or turn tickets off). Sessions still resume, from the server's own session cache
    // (TLS 1.2 session ids; TLS 1.3 then issues tickets that only name a cached session).
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    // That cache holds every session a client may resume (in TLS 1.3, one a ticket), a few kB
    // each: bounded, so that clients making a fresh handshake for every claim (one curl each)
    // cannot grow it without end. A client whose session fell out makes a full handshake.
    SSL_CTX_sess_set_cache_size(ctx, 4096);
    SSL_CTX_set_timeout(ctx, 3600);
    require(SSL_CTX_set_num_tickets(ctx, 1) == 1, "TLS 1.3 tickets per handshake");

    require(SSL_CTX_use_certificate_chain_file(ctx, settings.tls_cert.c_str()) == 1,
            "COALITION_TLS_CERT '" + settings.tls_cert + "'");
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    require(
        SSL_CTX_use_PrivateKey_file(ctx, settings.tls_key.c_str(), SSL_FILETYPE_PEM) == 1,
        "COALITION_TLS_KEY '" + settings.tls_key + "' (a PEM private key without a passphrase)");
    require(SSL_CTX_check_private_key(ctx) == 1, "COALITION_TLS_KEY does not match the certificate");

    // Clients resume sessions (TLS 1.3 tickets, TLS 1.2 session ids): Node's https agent and curl
    // do by default. A context that verifies peers (a client CA, below) and has no session id
    // context makes OpenSSL refuse every resumption with a fatal alert instead of a full
    // handshake, so with mutual TLS on, a partner's reconnections failed. A resumed session keeps
    // the client certificate verified in its first handshake, so the partner check still holds.
    static constexpr unsigned char kSessionIdContext[] = "coalition-server";
    require(
        SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1) == 1,
        "TLS session id context");

    if (!settings.client_ca.empty()) {
        require(SSL_CTX_load_verify_locations(ctx, settings.client_ca.c_str(), nullptr) == 1,
                "COALITION_CLIENT_CA '" + settings.client_ca + "'");
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca.c_str());
        require(names != nullptr, "COALITION_CLIENT_CA '" + settings.client_ca + "'");
        SSL_CTX_set_client_CA_list(ctx, names);  // tells clients which CA to present a cert from
        int mode = SSL_VERIFY_PEER;
        if (settings.client_cert_required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, nullptr);
        SSL_CTX_set_verify_depth(ctx, 4);
    }
}

}  // namespace coalition::server
