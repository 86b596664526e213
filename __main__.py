"""kimi-infra's Pulumi program: `pulumi up -s <stack>` (see README). Everything lives in components/."""

from components.program import run

run()
