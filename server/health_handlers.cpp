#include "server/health_handlers.hpp"

#include "server/db_pool.hpp"
#include "server/partner_directory.hpp"
#include "server/responses.hpp"
#include "storage/database.hpp"
#include "storage/migrator.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace coalition::server {
namespace {

// Ready means the database answers and its schema has every migration this binary was built
// with: a server started before `coalitionctl migrate` answers every claim 503 (its code needs
// the newer schema; partner_directory.hpp), so it stays out of a load balancer's rotation.
// And the partner directory has been read once: until then every claim is answered 503.
//
// The query runs on the pool's lane of its own (submit_first), not behind the bookings and
// reads queued for the workers: under a heavy load a probe would otherwise wait seconds and a
// load balancer take a busy but healthy server out of rotation. One query at a time: a probe
// that arrives while one runs gets its answer, so a flood of probes (the path needs no
// authentication) costs one query at a time and cannot hold up the partner directory's
// re-read, which shares the lane.
class ReadinessCheck : public std::enable_shared_from_this<ReadinessCheck> {
  public:
    ReadinessCheck(DatabasePool& database, const PartnerDirectory& directory,
                   const Settings& settings)
        : database_(database),
          directory_(directory),
          retry_after_s_(settings.db_retry_after_s),
          schema_(storage::embedded_migrations()) {}

    void probe(Respond respond) {
        {
            std::lock_guard lock(mutex_);
            waiting_.push_back(std::move(respond));
            if (running_) return;
            running_ = true;
        }
        auto missing = std::make_shared<std::optional<std::string>>();
        database_.submit_first(
            [self = shared_from_this(), missing](pqxx::connection& connection) {
                *missing = storage::first_missing_migration(connection, self->schema_);
            },
            [self = shared_from_this(), missing](std::exception_ptr failure) {
                self->answer(self->response(failure, *missing));
            });
    }

  private:
    Response response(std::exception_ptr failure, const std::optional<std::string>& missing) {
        if (failure) return unavailable_response(retry_after_s_);
        if (missing) {
            return unavailable_response(
                retry_after_s_,
                storage::schema_behind_message(*missing));
        }
        if (!directory_.current()) {
            return unavailable_response(retry_after_s_, "partner directory not loaded yet");
        }
        // Its own query does not wait in the pool's queue, but claims and reads do: with the
        // queue full they are answered 503 at once, and a load balancer should send them
        // elsewhere.
        if (database_.queue_full()) {
            return unavailable_response(retry_after_s_, "the database queue is full");
        }
        return json_response(200, {{"status", "ready"}});
    }

    void answer(const Response& response) {
        std::vector<Respond> waiting;
        {
            std::lock_guard lock(mutex_);
            waiting.swap(waiting_);
            running_ = false;
        }
        for (auto& respond : waiting) respond(response);
    }

    DatabasePool& database_;
    const PartnerDirectory& directory_;
    const int retry_after_s_;
    const std::vector<storage::Migration> schema_;
    std::mutex mutex_;
    std::vector<Respond> waiting_;  // the probes the running query answers
    bool running_ = false;
};

}  // namespace

void add_health_routes(Router& router, DatabasePool& database, const PartnerDirectory& directory,
                       const Settings& settings) {
    router.add_unguarded("GET", "/healthz", [](const Request&, const PathParams&, Respond respond) {
        respond(json_response(200, {{"status", "ok"}}));
    });
    router.add_unguarded("GET", "/readyz",
                         [check = std::make_shared<ReadinessCheck>(database, directory, settings)](
                             const Request&, const PathParams&, Respond respond) {
                             check->probe(std::move(respond));
                         });
}

}  // namespace coalition::server
