"""Generated JAX loss modules, one per catalogue entry: `from fdiv.losses_jax import gan` (needs the jax extra).

The same functions, names and docstrings as fdiv.losses, printed from the same lowering by the JAX printer. Written
by `python -m fdiv.docs --write` (which runs the same emitter as `fdiv gen --backend jax`); CI fails when a
regenerated module differs from the checked-in one.
"""
