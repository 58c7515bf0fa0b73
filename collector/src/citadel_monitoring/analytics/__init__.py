"""Anomaly detection and forecasting: pure models, plus the service that feeds them."""
