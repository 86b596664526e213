"""Shared test support: fixtures, moto_server, scratch projects on the known stacks, the resolver and OpenClaw."""
