#pragma once
// What e2e claim tests share: a partner that signs its claims the Standard Webhooks way, and a
// program set up through the real coalitionctl (partners, an operator token), with row counts read
// straight from PostgreSQL so a test can compare what the server answered with what it stored.
#include "core/crypto.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/tls_client.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace coalition::testing {

// One POST /v1/partners/{id}/claims, ready to send (or to send several times, byte-identical).
struct SignedClaim {
    std::string target;
    std::map<std::string, std::string> headers;
    std::string body;
};

class PartnerSigner {
  public:
    // Throws std::invalid_argument if `secret` is not a well-formed "whsec_..." secret.
    PartnerSigner(std::string partner_id, const std::string& secret);

    const std::string& partner_id() const { return partner_id_; }

    // Signed with webhook-timestamp = now, the clock the server checks against.
    SignedClaim sign(const std::string& webhook_id, const std::string& body) const;
    SignedClaim sign_at(const std::string& webhook_id, const std::string& body,
                        std::int64_t timestamp_s) const;

    // Signs now and sends over `client`.
    HttpResult post(TlsClient& client, const std::string& webhook_id,
                    const std::string& body) const;

  private:
    std::string partner_id_;
    crypto::Bytes key_;
};

HttpResult send_claim(TlsClient& client, const SignedClaim& claim);

// Claim bodies, always serialised the same way: a retry must send the very same bytes.
std::string earn_body(const std::string& member_id, std::int64_t points);
std::string burn_body(const std::string& member_id, std::int64_t points);
std::string reversal_body(const std::string& reversed_webhook_id);

// The `error.code` of an error answer; "" if the body is not such an error.
std::string error_code_of(const HttpResult& result);
bool is_replay(const HttpResult& result);  // carries idempotent-replayed: true

struct MemberView {
    int status = 0;
    std::int64_t balance = 0;
    std::int64_t debt = 0;
    nlohmann::json json;  // the whole answer
};

// GET /v1/members/{member_id} with the bearer token.
MemberView get_member(TlsClient& client, const std::string& token, const std::string& member_id);

// Partners, tokens and row counts of one test database.
class ProgramSetup {
  public:
    explicit ProgramSetup(const TestDatabase& database);

    // `coalitionctl partner add ID --name NAME`: returns the secret it printed.
    std::string add_partner(const std::string& id, const std::string& name);
    // `coalitionctl token create --role operator`: returns the token it printed.
    std::string create_operator_token();
    // `coalitionctl token create --role partner --partner ID`: returns the token it printed.
    std::string create_partner_token(const std::string& partner_id);
    // `coalitionctl program set KEY VALUE` (throws if it fails).
    void set_program(const std::string& key, const std::string& value);
    // Any coalitionctl command against this database (fails the test on a timeout).
    CommandResult ctl(const std::vector<std::string>& args) const;

    // SELECT count(*) FROM claims [WHERE type = $1].
    std::int64_t count_claims(const std::string& type = "") const;
    std::int64_t count_slices(const std::string& kind = "") const;
    // Σ slices.points of one kind ("burn" or "burn_reversal").
    std::int64_t sum_slice_points(const std::string& kind) const;
    // The webhook-ids of one partner's stored claims, each as often as it is stored.
    std::vector<std::string> claim_webhook_ids(const std::string& partner_id) const;
    // A single bigint (or NULL → 0) from any query.
    std::int64_t query_int(const std::string& sql) const;

  private:
    std::string conninfo_;
};

// The server re-reads partners and tokens periodically: waits until `token` is accepted
// (GET /v1/members/<nobody> answers 404 rather than 401). Throws after `timeout_ms`.
void wait_until_token_accepted(int port, const std::string& token, int timeout_ms = 10000);

}  // namespace coalition::testing
