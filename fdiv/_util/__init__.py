"""Plumbing shared by every stage: CPU-time limits, atomic writes, escaped text, the sandbox a user's function
runs in, the check record. Imports nothing from the stages above it."""

__version__ = "0.1.0"
