// The one translation unit that compiles Asio, Asio SSL, Beast and Boost.URL (separate
// compilation): keeps them out of every other object file and off the 2-core build's critical
// path.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/url/src.hpp>
