"""Helpers of the test suite that are not tests: what a test needs (requirements.py)."""
