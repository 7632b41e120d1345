#include "tests/support/tls_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <stdexcept>

namespace coalition::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct TlsClient::Impl {
    asio::io_context io;
    asio::ssl::context tls{asio::ssl::context::tls_client};
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream;
    beast::flat_buffer buffer;
    int timeout_ms = 10000;

    // Runs the io_context until `done` or the deadline; a missed deadline is a test failure.
    void wait(bool& done, const char* what) {
        io.restart();
        io.run_for(std::chrono::milliseconds(timeout_ms));
        if (!done) {
            beast::get_lowest_layer(*stream).cancel();
            io.restart();
            io.run_for(std::chrono::milliseconds(500));
            throw std::runtime_error(std::string("timed out: ") + what);
        }
    }
};

TlsClient::TlsClient(int port, TlsClientOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->timeout_ms = options.timeout_ms;
    SSL_CTX* ctx = impl_->tls.native_handle();
    if (options.min_version != 0) SSL_CTX_set_min_proto_version(ctx, options.min_version);
    if (options.max_version != 0) SSL_CTX_set_max_proto_version(ctx, options.max_version);
    if (!options.cipher_list.empty()) SSL_CTX_set_cipher_list(ctx, options.cipher_list.c_str());
    if (!options.ca_file.empty()) {
        impl_->tls.load_verify_file(options.ca_file);
        impl_->tls.set_verify_mode(asio::ssl::verify_peer);
    } else {
        impl_->tls.set_verify_mode(asio::ssl::verify_none);
    }
    if (!options.cert_file.empty()) {
        impl_->tls.use_certificate_chain_file(options.cert_file);
        impl_->tls.use_private_key_file(options.key_file, asio::ssl::context::pem);
    }
    impl_->stream = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(impl_->io, impl_->tls);
    // SNI, as a browser or curl would send it (SSL_set_tlsext_host_name is a macro with a C cast).
    static char kServerName[] = "localhost";
    SSL_ctrl(impl_->stream->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             kServerName);
    if (options.resume &&
        SSL_set_session(impl_->stream->native_handle(), options.resume.get()) != 1) {
        throw std::runtime_error("the TLS session cannot be offered");
    }

    bool done = false;
    beast::error_code result;
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                                           static_cast<unsigned short>(port));
    beast::get_lowest_layer(*impl_->stream).async_connect(endpoint, [&](beast::error_code ec) {
        if (ec) {
            result = ec;
            done = true;
            return;
        }
        impl_->stream->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code hec) {
            result = hec;
            done = true;
        });
    });
    impl_->wait(done, "connect and handshake");
    if (result) throw std::runtime_error("TLS connect failed: " + result.message());
}

TlsClient::~TlsClient() = default;

HttpResult TlsClient::request(const std::string& method, const std::string& target,
                              const std::map<std::string, std::string>& headers,
                              const std::string& body) {
    http::request<http::string_body> message;
    message.method_string(method);
    message.target(target);
    message.version(11);
    message.set(http::field::host, "localhost");
    for (const auto& [name, value] : headers) message.set(name, value);
    message.body() = body;
    if (!body.empty() || method == "POST") message.prepare_payload();
    bool done = false;
    beast::error_code result;
    http::async_write(*impl_->stream, message, [&](beast::error_code ec, std::size_t) {
        result = ec;
        done = true;
    });
    impl_->wait(done, "write request");
    if (result) throw std::runtime_error("write failed: " + result.message());
    return read_response(method == "HEAD");
}

void TlsClient::send_raw(const std::string& bytes) {
    bool done = false;
    beast::error_code result;
    asio::async_write(*impl_->stream, asio::buffer(bytes), [&](beast::error_code ec, std::size_t) {
        result = ec;
        done = true;
    });
    impl_->wait(done, "write raw bytes");
    if (result) throw std::runtime_error("write failed: " + result.message());
}

HttpResult TlsClient::read_response(bool to_head) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    parser.skip(to_head);  // an answer to HEAD has no body, whatever its Content-Length says
    bool done = false;
    beast::error_code result;
    http::async_read(*impl_->stream, impl_->buffer, parser, [&](beast::error_code ec, std::size_t) {
        result = ec;
        done = true;
    });
    impl_->wait(done, "read response");
    if (result) throw std::runtime_error("read failed: " + result.message());
    HttpResult out;
    auto& message = parser.get();
    out.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out.headers[name] = std::string(field.value());
    }
    out.body = message.body();
    return out;
}

bool TlsClient::closed_by_peer_within(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char scratch[512];
    while (std::chrono::steady_clock::now() < deadline) {
        bool done = false;
        beast::error_code result;
        impl_->stream->async_read_some(asio::buffer(scratch), [&](beast::error_code ec, std::size_t) {
            result = ec;
            done = true;
        });
        impl_->io.restart();
        impl_->io.run_until(deadline);
        if (!done) {
            beast::get_lowest_layer(*impl_->stream).cancel();
            impl_->io.restart();
            impl_->io.run_for(std::chrono::milliseconds(500));
            return false;
        }
        if (result) return true;  // EOF, truncation or reset: the server closed it
    }
    return false;
}

std::string TlsClient::protocol() const { return SSL_get_version(impl_->stream->native_handle()); }

TlsSession TlsClient::session() const {
    SSL_SESSION* session = SSL_get1_session(impl_->stream->native_handle());
    if (session == nullptr || SSL_SESSION_is_resumable(session) != 1) {
        SSL_SESSION_free(session);
        throw std::runtime_error("the connection has no resumable TLS session");
    }
    return TlsSession(session, SSL_SESSION_free);
}

bool TlsClient::session_reused() const {
    return SSL_session_reused(impl_->stream->native_handle()) == 1;
}

IdleTcpConnection::IdleTcpConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        throw std::runtime_error("connect failed");
    }
}

SilentListener::SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = 0;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(fd_, 64) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        if (fd_ >= 0) close(fd_);
        throw std::runtime_error("cannot listen on a loopback port");
    }
    port_ = ntohs(address.sin_port);
}

SilentListener::~SilentListener() { close(fd_); }

IdleTcpConnection::~IdleTcpConnection() {
    if (fd_ >= 0) close(fd_);
}

bool IdleTcpConnection::closed_by_peer_within(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return false;
        pollfd pfd{fd_, POLLIN, 0};
        if (poll(&pfd, 1, static_cast<int>(left)) <= 0) return false;
        char scratch[256];
        const ssize_t n = recv(fd_, scratch, sizeof scratch, 0);
        if (n <= 0) return true;
    }
}

}  // namespace coalition::testing
