// Placeholder until coalitionctl lands.
