#include "tests/support/claims_client.hpp"

#include "partners/credentials.hpp"
#include "partners/webhook_signature.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>

namespace coalition::testing {
namespace {

std::string trimmed(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return "";
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

std::int64_t now_unix_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

PartnerSigner::PartnerSigner(std::string partner_id, const std::string& secret)
    : partner_id_(std::move(partner_id)) {
    auto key = partners::secret_key(secret);
    if (!key) throw std::invalid_argument("not a webhook secret: '" + secret + "'");
    key_ = std::move(*key);
}

SignedClaim PartnerSigner::sign(const std::string& webhook_id, const std::string& body) const {
    return sign_at(webhook_id, body, now_unix_s());
}

SignedClaim PartnerSigner::sign_at(const std::string& webhook_id, const std::string& body,
                                   std::int64_t timestamp_s) const {
    SignedClaim claim;
    claim.target = "/v1/partners/" + partner_id_ + "/claims";
    claim.body = body;
    claim.headers = {
        {"webhook-id", webhook_id},
        {"webhook-timestamp", std::to_string(timestamp_s)},
        {"webhook-signature", partners::sign_webhook(webhook_id, timestamp_s, body, key_)},
        {"content-type", "application/json"},
    };
    return claim;
}

HttpResult PartnerSigner::post(TlsClient& client, const std::string& webhook_id,
                               const std::string& body) const {
    return send_claim(client, sign(webhook_id, body));
}

HttpResult send_claim(TlsClient& client, const SignedClaim& claim) {
    return client.request("POST", claim.target, claim.headers, claim.body);
}

std::string earn_body(const std::string& member_id, std::int64_t points) {
    nlohmann::ordered_json body = {{"type", "earn"}, {"member_id", member_id}, {"points", points}};
    return body.dump();
}

std::string burn_body(const std::string& member_id, std::int64_t points) {
    nlohmann::ordered_json body = {{"type", "burn"}, {"member_id", member_id}, {"points", points}};
    return body.dump();
}

std::string reversal_body(const std::string& reversed_webhook_id) {
    nlohmann::ordered_json body = {{"type", "reversal"}, {"reverses", reversed_webhook_id}};
    return body.dump();
}

std::string error_code_of(const HttpResult& result) {
    const auto json = nlohmann::json::parse(result.body, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object() || !json.contains("error") || !json["error"].is_object()) return "";
    const auto& code = json["error"].value("code", nlohmann::json());
    return code.is_string() ? code.get<std::string>() : "";
}

bool is_replay(const HttpResult& result) {
    const auto header = result.headers.find("idempotent-replayed");
    return header != result.headers.end() && header->second == "true";
}

MemberView get_member(TlsClient& client, const std::string& token, const std::string& member_id) {
    const auto result =
        client.request("GET", "/v1/members/" + member_id, {{"authorization", "Bearer " + token}});
    MemberView view;
    view.status = result.status;
    view.json = nlohmann::json::parse(result.body, nullptr, /*allow_exceptions=*/false);
    if (result.status == 200 && view.json.is_object()) {
        view.balance = view.json.at("balance").get<std::int64_t>();
        view.debt = view.json.at("debt").get<std::int64_t>();
    }
    return view;
}

ProgramSetup::ProgramSetup(const TestDatabase& database) : conninfo_(database.conninfo()) {}

CommandResult ProgramSetup::ctl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {bin_path("coalitionctl")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, {{"COALITION_DB", conninfo_}, {"COALITION_CONFIG", kUnset}});
}

std::string ProgramSetup::add_partner(const std::string& id, const std::string& name) {
    const auto result = ctl({"partner", "add", id, "--name", name});
    if (result.exit_code != 0) {
        throw std::runtime_error("coalitionctl partner add " + id + " failed: " + result.err);
    }
    return trimmed(result.out);
}

std::string ProgramSetup::create_operator_token() {
    const auto result = ctl({"token", "create", "--role", "operator"});
    if (result.exit_code != 0) {
        throw std::runtime_error("coalitionctl token create failed: " + result.err);
    }
    return trimmed(result.out);
}

std::string ProgramSetup::create_partner_token(const std::string& partner_id) {
    const auto result = ctl({"token", "create", "--role", "partner", "--partner", partner_id});
    if (result.exit_code != 0) {
        throw std::runtime_error("coalitionctl token create --partner " + partner_id +
                                 " failed: " + result.err);
    }
    return trimmed(result.out);
}

void ProgramSetup::set_program(const std::string& key, const std::string& value) {
    const auto result = ctl({"program", "set", key, value});
    if (result.exit_code != 0) {
        throw std::runtime_error("coalitionctl program set " + key + " " + value +
                                 " failed: " + result.err);
    }
}

std::int64_t ProgramSetup::query_int(const std::string& sql) const {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction tx(connection);
    const auto value = tx.exec(sql).at(0).at(0);
    return value.is_null() ? 0 : value.as<std::int64_t>();
}

std::int64_t ProgramSetup::count_claims(const std::string& type) const {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction tx(connection);
    if (type.empty()) return tx.exec("SELECT count(*) FROM claims").at(0).at(0).as<std::int64_t>();
    return tx.exec_params("SELECT count(*) FROM claims WHERE type = $1", type)
        .at(0)
        .at(0)
        .as<std::int64_t>();
}

std::int64_t ProgramSetup::count_slices(const std::string& kind) const {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction tx(connection);
    if (kind.empty()) return tx.exec("SELECT count(*) FROM slices").at(0).at(0).as<std::int64_t>();
    return tx.exec_params("SELECT count(*) FROM slices WHERE kind = $1", kind)
        .at(0)
        .at(0)
        .as<std::int64_t>();
}

std::int64_t ProgramSetup::sum_slice_points(const std::string& kind) const {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction tx(connection);
    return tx
        .exec_params("SELECT coalesce(sum(points), 0)::bigint FROM slices WHERE kind = $1", kind)
        .at(0)
        .at(0)
        .as<std::int64_t>();
}

std::vector<std::string> ProgramSetup::claim_webhook_ids(const std::string& partner_id) const {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction tx(connection);
    std::vector<std::string> out;
    for (const auto& row :
         tx.exec_params("SELECT webhook_id FROM claims WHERE partner_id = $1", partner_id)) {
        out.push_back(row.at(0).as<std::string>());
    }
    return out;
}

void wait_until_token_accepted(int port, const std::string& token, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    TlsClient client(port);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        status = get_member(client, token, "nobody-enrolled-this").status;
        if (status != 401) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("the server still refuses the operator token (last status " +
                             std::to_string(status) + ")");
}

}  // namespace coalition::testing
