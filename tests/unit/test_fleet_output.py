"""`fleet` prints what agents wrote in their own reports: as one line of plain text each."""

from __future__ import annotations

from kimi_infra.commands.fleet import _printable


def test_a_report_field_cannot_fake_lines_or_drive_the_terminal():
    forged = "boom\n  gw-evil (h, s3://b/k): current, config abc\x1b[2J\r"
    shown = _printable(forged)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert shown.startswith("boom\\n  gw-evil") and shown.endswith("\\x1b[2J\\r")
    assert _printable("gw-a 2026-12-02T10:00:00Z") == "gw-a 2026-12-02T10:00:00Z"
