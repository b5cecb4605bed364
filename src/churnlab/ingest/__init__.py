"""Ingest: validate raw exports (CSV/Parquet) into typed tables, quarantining bad rows."""
