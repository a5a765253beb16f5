"""Test doubles: a stub OpenAI-compatible judge, a fault-injecting proxy and the loopback HTTP app they
share. For fault and load tests only; the real path uses a real judge server."""
