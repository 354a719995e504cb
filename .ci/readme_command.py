"""Print the README's newcomer command named NAME (`quickstart` or `tests`), so CI runs exactly that text.

The command is the first ```bash block after the `<!-- ci: NAME ... -->` marker; a README edit that
moves, renames or breaks it therefore fails CI instead of going unnoticed.
"""

import re
import sys
from pathlib import Path

name = sys.argv[1]
text = Path(sys.argv[2] if len(sys.argv) > 2 else "README.md").read_text(encoding="utf-8")
found = re.search(r"<!-- ci: " + re.escape(name) + r"\b[^>]*-->\s*```bash\n(.+?)\n```", text, re.DOTALL)
if found is None or "\n" in found.group(1).strip():
    sys.exit(f"readme_command: no one-line ```bash block after '<!-- ci: {name} -->' in README.md")
print(found.group(1).strip())
