"""Run dbt Cloud jobs from GitHub workflows and any other CI."""

__version__ = "1.0.0"
