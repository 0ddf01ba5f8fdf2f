#!/usr/bin/env python3
"""The action's main step. Thin on purpose: everything lives in src/dbt_cloud_action."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from dbt_cloud_action.action import main

if __name__ == "__main__":
    sys.exit(main())
