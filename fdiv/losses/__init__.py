"""Generated torch loss modules, one per catalogue entry: `from fdiv.losses import gan`.

Written by `python -m fdiv.docs --write` (which runs the same emitter as `fdiv gen`); CI fails when a
regenerated module differs from the checked-in one.
"""
