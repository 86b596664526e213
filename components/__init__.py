"""What the Pulumi engine runs: component resources, dynamic providers and the program.

Everything else (models, render, stores, targets, operations, CLI) is the `kimi_infra` tool.
"""
