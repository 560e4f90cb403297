"""Data-quality checks: the coordinator's checks through Great Expectations."""
