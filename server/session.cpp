#include "server/session.hpp"

#include "core/crypto.hpp"
#include "server/responses.hpp"
#include "server/server_context.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <algorithm>
#include <iterator>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

namespace coalition::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// The subject CN of a verified client certificate, if the client presented one.
std::optional<std::string> peer_common_name(SSL* ssl) {
    X509* certificate = SSL_get0_peer_certificate(ssl);
    if (certificate == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
    X509_NAME* subject = X509_get_subject_name(certificate);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index < 0) return std::string();
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length < 0) return std::string();
    std::string name(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    return name;
}

bool is_timeout(beast::error_code ec) { return ec == beast::error::timeout; }

// Bytes that are not HTTP/1.1 (a broken client library, a proxy's mangling, a request line with
// a space in its path): the client deserves to learn why rather than see the connection drop.
// Only the parser's syntax errors: end of stream, timeouts and limits are handled on their own.
bool is_malformed_http(beast::error_code ec) {
    static constexpr http::error kMalformed[] = {
        http::error::bad_line_ending,    http::error::bad_method,
        http::error::bad_target,         http::error::bad_version,
        http::error::bad_field,          http::error::bad_value,
        http::error::bad_content_length, http::error::bad_transfer_encoding,
        http::error::bad_chunk,          http::error::bad_chunk_extension,
        http::error::bad_obs_fold,       http::error::multiple_content_length,
        http::error::unexpected_body,
    };
    return std::any_of(std::begin(kMalformed), std::end(kMalformed),
                       [ec](http::error malformed) { return ec == malformed; });
}

// The parser's state is unknown after a syntax error, so the connection closes after the answer.
Response malformed_request_response(beast::error_code ec) {
    return error_response(ErrorCode::malformed_request,
                          "the request is not valid HTTP/1.1 (" + ec.message() + ")");
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, asio::ssl::context& tls, ServerContext& context)
    : stream_(std::move(socket), tls), context_(context) {
    beast::error_code ec;
    const auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

Session::~Session() { context_.sessions.remove(this); }

void Session::start() {
    context_.sessions.add(shared_from_this());
    // Run on the connection's strand: every handler below is serialised per connection.
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
        self->set_deadline(self->context_.settings.handshake_timeout_ms);
        self->stream_.async_handshake(asio::ssl::stream_base::server,
                                      [self](beast::error_code ec) { self->on_handshake(ec); });
    });
}

void Session::drain() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
        self->draining_ = true;
        // An idle connection is waiting in a read: cancelling it ends the connection now.
        // A busy one finishes its request and then closes (see send()); so does one whose
        // request has begun to arrive, under the header's and the body's deadlines: it is in
        // flight too. Begun means bytes in the buffer, or bytes the parser took from it already
        // (a whole request line is consumed before the fields that follow it arrive).
        const bool begun =
            self->buffer_.size() > 0 || (self->parser_ && self->parser_->got_some());
        if (!self->busy_ && !begun) {
            beast::get_lowest_layer(self->stream_).cancel();
        }
    });
}

void Session::set_deadline(int milliseconds) {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::milliseconds(milliseconds));
}

void Session::on_handshake(beast::error_code ec) {
    if (ec) {
        context_.logger.log(LogLevel::debug, "handshake failed",
                            {{"remote", remote_}, {"error", ec.message()}});
        return close();
    }
    client_cn_ = peer_common_name(stream_.native_handle());
    read_request();
}

void Session::read_request() {
    if (draining_ || context_.draining) return shutdown();
    busy_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(header_bytes_max));
    parser_->body_limit(body_bytes_max);
    if (requests_served_ == 0 || buffer_.size() > 0) return read_header();
    // Between two requests a keep-alive connection may stay idle for idle_timeout_ms; once the
    // next request's first bytes arrive, its header has header_timeout_ms, as the first one's
    // had, so a client sending a header slowly cannot hold the connection for the idle time.
    set_deadline(context_.settings.idle_timeout_ms);
    stream_.async_read_some(buffer_.prepare(header_bytes_max),
                            [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                                self->buffer_.commit(bytes);
                                if (ec == asio::error::eof) ec = http::error::end_of_stream;
                                if (ec) return self->on_header(ec);
                                self->read_header();
                            });
}

void Session::read_header() {
    set_deadline(context_.settings.header_timeout_ms);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                self->on_header(ec);
                            });
}

void Session::on_header(beast::error_code ec) {
    request_started_ = std::chrono::steady_clock::now();
    request_id_ = crypto::hex(crypto::random_bytes(8));
    method_.clear();
    path_.clear();
    if (ec == http::error::header_limit) {
        busy_ = true;
        return send(error_response(ErrorCode::header_too_large,
                                   "request headers exceed 8 KiB"), true);
    }
    if (ec == http::error::body_limit) {
        // Beast checks a declared Content-Length against the limit while parsing the header,
        // so an oversized body is refused before a byte of it is read.
        busy_ = true;
        return send(error_response(ErrorCode::payload_too_large, "request body exceeds 64 KiB"), true);
    }
    if (is_malformed_http(ec)) {
        busy_ = true;
        return send(malformed_request_response(ec), true);
    }
    if (ec) {
        // end_of_stream, timeout, cancellation by drain, or protocol garbage: nothing to answer.
        if (is_timeout(ec)) {
            context_.logger.log(LogLevel::debug, "connection timed out waiting for a request",
                                {{"remote", remote_}});
        }
        return ec == http::error::end_of_stream ? shutdown() : close();
    }
    busy_ = true;
    const auto& header = parser_->get();
    method_ = std::string(header.method_string());
    path_ = std::string(header.target());
    version_ = header.version();
    // Taken now, before the body: Beast adds a chunked body's trailer fields to these (beside a
    // field of the same name), and RFC 9110 §6.5.1 forbids merging them. A webhook-id or
    // Content-Type sent as a trailer must not count, nor make the header's own look sent twice.
    header_fields_.clear();
    for (const auto& field : header) {
        header_fields_.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without a Host field, and for any request
    // with more than one. Beast leaves that check to the server.
    const auto hosts = header.count(http::field::host);
    if ((header.version() >= 11 && hosts == 0) || hosts > 1) {
        return send(error_response(ErrorCode::malformed_request,
                                   "an HTTP/1.1 request carries exactly one Host field"),
                    true);
    }
    // RFC 9112 §6.1: a Transfer-Encoding other than chunked alone leaves the body's length to
    // guesswork. Beast takes such a request as bodiless and its body's bytes as the next
    // request on the connection (request smuggling, behind a proxy that frames it otherwise);
    // and no other coding is decoded here. 400 and close.
    // In HTTP/1.0 it is faulty framing whatever its value (RFC 9112 §6.1): a 1.0 proxy in
    // between would not know it.
    if (header.count(http::field::transfer_encoding) != 0 &&
        (header.version() < 11 || header.count(http::field::transfer_encoding) != 1 ||
         !parser_->chunked() ||
         !beast::iequals(header[http::field::transfer_encoding], "chunked"))) {
        return send(error_response(ErrorCode::malformed_request,
                                   "Transfer-Encoding: only chunked alone is accepted"),
                    true);
    }
    if (parser_->is_done()) return handle_request();
    set_deadline(context_.settings.body_timeout_ms);
    if (header.version() >= 11 && beast::iequals(header[http::field::expect], "100-continue")) {
        // The client holds its body back until told to go on (curl does for bodies over 1 KiB,
        // .NET for every POST by default), or until its own wait runs out: 0.35-1 s a claim.
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        return asio::async_write(
            stream_, asio::buffer(kContinue.data(), kContinue.size()),
            [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                if (write_ec) return self->close();
                self->read_body();
            });
    }
    read_body();
}

void Session::read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code read_ec, std::size_t) {
                         self->on_body(read_ec);
                     });
}

void Session::on_body(beast::error_code ec) {
    if (ec == http::error::body_limit) {
        return send(error_response(ErrorCode::payload_too_large, "request body exceeds 64 KiB"), true);
    }
    if (is_malformed_http(ec)) return send(malformed_request_response(ec), true);
    if (ec) return close();
    handle_request();
}

void Session::handle_request() {
    auto message = parser_->release();
    Request request;
    request.method = method_;
    const std::string target = origin_form(message.target());
    const auto question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos) request.query = target.substr(question + 1);
    request.headers = std::move(header_fields_);
    header_fields_.clear();
    request.body = std::move(message.body());
    request.request_id = request_id_;
    request.remote_address = remote_;
    request.client_certificate_cn = client_cn_;
    path_ = request.path;
    const bool keep_alive = message.keep_alive();

    // A handler may answer from a database thread: hop back onto this connection's strand.
    context_.router.dispatch(request, [self = shared_from_this(), keep_alive](Response response) {
        asio::post(self->stream_.get_executor(), [self, keep_alive, r = std::move(response)]() mutable {
            self->send(std::move(r), !keep_alive);
        });
    });
}

void Session::send(Response response, bool close_after) {
    close_after = close_after || draining_ || context_.draining;
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) response_.set(name, value);
    response_.set("X-Request-Id", request_id_);
    response_.set(http::field::cache_control, "no-store");
    response_.keep_alive(!close_after);
    // An HTTP/1.0 client keeps the connection only when the answer says so (RFC 9112 §9.3); an
    // HTTP/1.1 answer's keep_alive(true) just leaves "close" out.
    if (!close_after && version_ == 10) response_.set(http::field::connection, "keep-alive");
    response_.body() = std::move(response.body);
    response_.prepare_payload();
    // An answer to HEAD says the length GET's body would have and carries none: bytes after its
    // header would be read by a keep-alive client as the start of the next answer.
    if (method_ == "HEAD") response_.body().clear();
    log_request(response.status);
    set_deadline(context_.settings.body_timeout_ms);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), close_after](beast::error_code ec, std::size_t n) {
                          self->on_write(close_after, ec, n);
                      });
}

void Session::on_write(bool close_after, beast::error_code ec, std::size_t) {
    ++requests_served_;
    if (ec) return close();
    if (close_after) return shutdown();
    read_request();
}

void Session::shutdown() {
    if (closed_) return;
    // The peer's close_notify is waited for, so that closing does not reset the connection
    // under an answer it has not read yet. While the server drains, a peer that keeps the
    // connection open after its answer would otherwise hold the stop until its deadline.
    const bool stopping = draining_ || context_.draining;
    set_deadline(stopping ? std::min(context_.settings.shutdown_timeout_ms, kDrainCloseWaitMs)
                          : context_.settings.shutdown_timeout_ms);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close(); });
}

void Session::close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
}

void Session::log_request(int status) {
    const auto elapsed = std::chrono::steady_clock::now() - request_started_;
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    const LogLevel level = status >= 500 ? LogLevel::warn : LogLevel::info;
    if (!context_.logger.enabled(level)) return;
    const LogField fields[] = {{"request_id", request_id_},
                               {"method", method_},
                               {"path", path_},
                               {"status", std::int64_t{status}},
                               {"duration_ms", static_cast<double>(micros) / 1000.0},
                               {"remote", remote_}};
    context_.logger.log_fields(level, "request", fields);
}

}  // namespace coalition::server
