"""End-to-end tests: the real taskqueue-server process, real Redis, real sockets."""
