"""Indicator catalog (ids, meanings, units, tables) and the SQL blocks that define them."""

from churnlab.indicators.catalog import BY_ID, CATALOG, Indicator, testability

__all__ = ["BY_ID", "CATALOG", "Indicator", "testability"]
