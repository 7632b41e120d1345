#include "server/session_registry.hpp"

#include <vector>

namespace coalition::server {

void SessionRegistry::add(const std::shared_ptr<Session>& session) {
    std::lock_guard lock(mutex_);
    sessions_.emplace(session.get(), session);
}

void SessionRegistry::remove(const Session* session) {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
}

std::size_t SessionRegistry::size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

void SessionRegistry::for_each(const std::function<void(Session&)>& visit) const {
    std::vector<std::shared_ptr<Session>> live;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [key, weak] : sessions_) {
            if (auto session = weak.lock()) live.push_back(std::move(session));
        }
    }
    for (const auto& session : live) visit(*session);
}

}  // namespace coalition::server
