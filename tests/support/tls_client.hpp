#pragma once
// A small HTTPS client for e2e tests: one TLS connection, requests over keep-alive, every wait
// bounded. Built on Beast so that the tests exercise a real, independent HTTP implementation.
#include <map>
#include <memory>
#include <string>

struct ssl_session_st;  // OpenSSL's SSL_SESSION, kept out of this header

namespace coalition::testing {

// A TLS session a client may resume on a later connection (TLS 1.2 session id or TLS 1.3
// ticket), as browsers, curl and Node's https agent do.
using TlsSession = std::shared_ptr<ssl_session_st>;

struct TlsClientOptions {
    std::string ca_file;            // verify the server against it (empty: no verification)
    std::string cert_file;          // client certificate (mutual TLS)
    std::string key_file;
    int min_version = 0;            // e.g. TLS1_3_VERSION; 0 = library default
    int max_version = 0;
    std::string cipher_list;        // for forcing legacy protocols in refusal tests
    int timeout_ms = 10000;
    TlsSession resume;  // offer this session in the handshake (empty: none)
};

struct HttpResult {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
};

class TlsClient {
public:
    // Connects and completes the handshake; throws std::runtime_error on failure.
    TlsClient(int port, TlsClientOptions options = {});
    ~TlsClient();
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;

    HttpResult request(const std::string& method, const std::string& target,
                       const std::map<std::string, std::string>& headers = {},
                       const std::string& body = {});
    // Sends raw bytes over TLS (for malformed or oversized requests).
    void send_raw(const std::string& bytes);
    // `to_head`: the answer to a HEAD request, which has no body.
    HttpResult read_response(bool to_head = false);
    // True if the server closes the connection within timeout_ms (reads and discards data).
    bool closed_by_peer_within(int timeout_ms);
    std::string protocol() const;  // "TLSv1.3", ...
    // The connection's session, to resume later. In TLS 1.3 the server sends its tickets after
    // the handshake, so call this after a request has been answered.
    TlsSession session() const;
    bool session_reused() const;  // the handshake resumed options.resume

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Opens a plain TCP connection and does nothing; closed_by_peer_within() as above.
class IdleTcpConnection {
public:
    explicit IdleTcpConnection(int port);
    ~IdleTcpConnection();
    bool closed_by_peer_within(int timeout_ms);

private:
    int fd_ = -1;
};

// A loopback port that is listened on and never accepted from: a connection to it completes in
// the kernel's backlog, then nothing ever answers, as with a database host that hangs.
class SilentListener {
  public:
    SilentListener();
    ~SilentListener();
    SilentListener(const SilentListener&) = delete;
    SilentListener& operator=(const SilentListener&) = delete;
    int port() const { return port_; }

  private:
    int fd_ = -1;
    int port_ = 0;
};

}  // namespace coalition::testing
