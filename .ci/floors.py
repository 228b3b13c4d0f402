"""Print the declared lower bounds of the runtime dependencies as exact pins.

``pip install $(python3 .ci/floors.py)`` installs exactly the oldest versions
pyproject.toml claims to support, so CI can test that the floors are true;
``python3 .ci/floors.py dask`` prints those of an extra.
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
pins = []
# no argument: the runtime dependencies; else the named extra's
extra = sys.argv[1] if len(sys.argv) > 1 else None
reqs = project["project"]["dependencies"]
if extra is not None:
    reqs = project["project"]["optional-dependencies"][extra]
for req in reqs:
    match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][0-9.]*)", req.strip())
    if match is None:
        sys.exit(f"dependency {req!r} has no '>=' floor: declare one")
    pins.append(f"{match[1]}=={match[2]}")
print(" ".join(pins))
