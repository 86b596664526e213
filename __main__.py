"""kimi-infra's Pulumi program: `pulumi up -s <stack>` (see README). Everything lives in components/."""

import gc

from kimi_infra.short_lived import settle_process

settle_process()
# What the imports below make (pydantic's validators, our models) lives until the process ends: no
# collection walks it while they run, and frozen after, none walks it while the program runs.
gc.disable()
from components.program import leave_quietly_on_interrupt, run  # noqa: E402

gc.freeze()
gc.enable()
leave_quietly_on_interrupt()
run()
