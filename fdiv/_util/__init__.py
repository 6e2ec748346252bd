"""Plumbing shared by every stage: CPU-time limits (`timelimit`), atomic writes (`atomic`), escaped text (`text`),
the child process a user's function runs in (`sandbox`), the check record (`checks`), lazy re-exports (`lazy`).
Takes and gives nothing of the pipeline; imports nothing from the stages above it (only `fdiv.errors`)."""

__version__ = "0.1.0"
