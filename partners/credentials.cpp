// Placeholder until credentials land.
#include "partners/credentials.hpp"
