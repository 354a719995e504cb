"""Issue 15 item 3: masking is linear on hostile input and, past its time budget, withholds whole lines.

Timings live in bench/redaction_worst_case.py; here the behaviour: the review's hostile inputs are masked
correctly, and a masking pass that runs out of time never shows a secret (it degrades to withholding
every line that could hold one) nor a line that could not.
"""

from __future__ import annotations

import pytest

from assistant.config import Settings
from assistant.redaction import redactor_for
from tools.redact import WITHHELD, redact

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretbody\n-----END RSA PRIVATE KEY-----"


def test_repeated_begin_lines_around_a_real_key_are_masked():
    text = "-----BEGIN RSA PRIVATE KEY-----" * 40_000 + "\n" + KEY + "\nok\n"
    out = redact(text)
    assert "MIIEowIBAAKCAQEAsecretbody" not in out and out.endswith("-----END RSA PRIVATE KEY-----\nok\n")


def test_hostile_lines_for_the_scanning_rules_still_mask_the_real_secret():
    for line in (
        "curl " * 50_000 + "curl -u bob:hunter2x",
        "Cookie: " * 30_000 + "Cookie: sid=hunter2x",
        "mysql " * 50_000 + "mysql -phunter2x",
        "x://" * 50_000 + " https://bob:hunter2x@db/",
    ):
        assert "hunter2x" not in redact(line), line[:20]


def test_out_of_budget_withholds_every_line_that_could_hold_a_secret():
    text = "disk 91% full\npassword=hunter2x\nAKIAIOSFODNN7EXAMPLE in env\nall good\n"
    out = redact(text, budget_s=0.0)
    assert out == f"disk 91% full\n{WITHHELD}\n{WITHHELD}\nall good\n"
    custom = redactor_for(Settings(redact_patterns=[r"INC-\d+"]))  # a deployment's patterns still apply
    assert custom("ticket INC-42 done") == "ticket [REDACTED] done"


def test_deployment_patterns_must_be_linear_time():
    with pytest.raises(ValueError, match="RE2"):
        Settings(redact_patterns=[r"(a)\1"])
