#pragma once
// One TLS connection: handshake, then HTTP/1.1 requests one at a time (keep-alive), each step
// under a size limit and a deadline (Beast advanced server-flex habit):
//   handshake_timeout, header read (header_timeout for the first request, idle_timeout between
//   keep-alive requests), body read (body_timeout), response write, TLS shutdown.
// Header over 8 KiB → 431; a declared body over 64 KiB → 413 without reading it; both close.
#include "server/http_types.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace coalition::server {

struct ServerContext;

class Session : public std::enable_shared_from_this<Session> {
public:
    static constexpr std::size_t header_bytes_max = 8 * 1024;
    static constexpr std::size_t body_bytes_max = 64 * 1024;
    // What the connection may hold read but not yet parsed. Beast 1.81 bounds a header and a
    // body but not a chunk's size line and extensions: without a bound, a client could feed one
    // endless chunk line, before any authentication, into memory for as long as the body's
    // deadline. A request needs at most a header (8 KiB) and one read beside it.
    static constexpr std::size_t unparsed_bytes_max = 2 * header_bytes_max + body_bytes_max;
    // While the server drains: how long a connection closed after its answer waits for the
    // peer's close_notify (a peer on loopback or a LAN sends it within milliseconds).
    static constexpr int kDrainCloseWaitMs = 1000;

    Session(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls, ServerContext& context);
    ~Session();

    void start();
    // Graceful stop: an idle connection is closed now, a busy one after its response.
    void drain();

private:
    using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
    using Parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

    void on_handshake(boost::beast::error_code ec);
    void read_request();
    void read_header();
    void on_header(boost::beast::error_code ec);
    void read_body();
    void on_body(boost::beast::error_code ec);
    void handle_request();
    void send(Response response, bool close_after);
    void on_write(bool close_after, boost::beast::error_code ec, std::size_t bytes);
    void shutdown();
    void close();
    void set_deadline(int milliseconds);
    void log_request(int status);

    Stream stream_;
    ServerContext& context_;
    boost::beast::flat_buffer buffer_{unparsed_bytes_max};
    std::optional<Parser> parser_;
    boost::beast::http::response<boost::beast::http::string_body> response_;
    std::string remote_;
    std::optional<std::string> client_cn_;
    std::string request_id_;
    std::string method_;
    unsigned version_ = 11;  // of the request being answered: 10 for HTTP/1.0
    HeaderList header_fields_;  // of the request being read, taken before its body (trailers)
    std::string path_;
    std::chrono::steady_clock::time_point request_started_;
    bool busy_ = false;      // between a request's header and its response being written
    bool draining_ = false;
    bool closed_ = false;
    int requests_served_ = 0;
};

}  // namespace coalition::server
