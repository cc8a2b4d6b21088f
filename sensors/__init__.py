"""Arrival, retraining, alerting and run-failure sensors (added with the automation work)."""
