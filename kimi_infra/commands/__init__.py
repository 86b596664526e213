"""One module per `kimi-infra` command: thin click wrappers over `kimi_infra.ops` and the core.

`kimi_infra.cli` registers them in one lazy table, so running one command imports only its module.
"""
