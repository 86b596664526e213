"""kimi-infra's Pulumi program: `pulumi up -s <stack>` (see README). Everything lives in components/."""

from components.program import leave_quietly_on_interrupt, run

leave_quietly_on_interrupt()
run()
