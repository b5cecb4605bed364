"""churnlab: test which customer-success hypotheses actually lead churn."""

__version__ = "0.1.0"
