"""A dbt Cloud Administrative API v2 emulator on loopback, for the demo, tests and benchmarks."""
