#!/usr/bin/env python3
"""The action's post step (runs with always()): cancels a dbt Cloud run the main step left going."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from dbt_cloud_action.action import main_post

if __name__ == "__main__":
    sys.exit(main_post())
