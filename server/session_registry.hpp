#pragma once
// The open connections: counted for the connection cap, and reachable for a graceful drain.
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace coalition::server {

class Session;

class SessionRegistry {
public:
    void add(const std::shared_ptr<Session>& session);
    void remove(const Session* session);
    std::size_t size() const;
    // Calls `visit` on every live session (outside the lock).
    void for_each(const std::function<void(Session&)>& visit) const;

private:
    mutable std::mutex mutex_;
    std::unordered_map<const Session*, std::weak_ptr<Session>> sessions_;
};

}  // namespace coalition::server
