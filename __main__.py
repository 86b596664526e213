"""kimi-infra's Pulumi program: `pulumi up -s <stack>` (see README). Everything lives in components/."""

import atexit
import gc

from components.program import leave_quietly_on_interrupt, run

# What the imports made (the SDK's protobuf descriptors, pydantic's validators) lives until the process
# ends: frozen, the collector skips it in every collection while the program runs, and at exit, where the
# interpreter's teardown collects every object still tracked (~100 ms of each no-op pass, issue 23), the
# rest is frozen too. The program writes nothing itself (providers do, in their own process) and holds no
# finaliser that must run.
gc.freeze()
atexit.register(gc.freeze)
leave_quietly_on_interrupt()
run()
