"""Helpers that run with the system python3 before the course's .venv exists."""
