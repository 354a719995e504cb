"""Words that name a change to a system (a deploy, an upgrade, a config edit, a restart).

One list for the PIR (the engineer's sentences, assistant/pir/words.py; lines of tool output,
assistant/pir/data.py) and the runbook (assistant/runbook/questions.py), in a leaf module so that
neither package imports the other for it.
"""

from __future__ import annotations

import re

CHANGE = re.compile(
    r"\b(?:"
    + "|".join(
        (
            r"deploy(?:ed|ment|s)?",
            r"release[ds]?",
            r"roll(?:ed)?\s*out",
            r"rollout",
            r"upgrade[ds]?",
            r"update[ds]?",
            r"migrat(?:ion|ed|e)",
            r"config(?:uration)?\s+change",
            r"changed",
            r"new\s+version",
            r"hotfix",
            r"patch(?:ed)?",
            r"helm\s+(?:upgrade|install)",
            r"apt(?:-get)?\s+install",
            r"restart(?:ed)?",
            r"reboot(?:ed)?",
            r"scaled",
            r"feature\s+flag",
        )
    )
    + r")\b",
    re.IGNORECASE,
)
"""Any of the phrases as whole words, case-insensitive."""


def is_change_line(line: str) -> bool:
    """Does the line mention a change?"""
    return bool(CHANGE.search(line))
