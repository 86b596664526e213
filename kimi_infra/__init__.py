"""kimi-infra: OpenClaw model-provider config for Moonshot AI (Kimi), deployed per environment.

The pure core (`models`, `catalog`, `assemble`, `render`, `stackfile`) imports neither pulumi nor
boto3, so the offline CLI starts fast and its tests need no cloud.
"""

__version__ = "0.2.0"
