"""Citadel monitoring: collector and analytics services for LLM inference hosts."""

__version__ = "0.1.0"
