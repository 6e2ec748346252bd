"""Experiments that combine fdiv's derivations, generated losses and trainer (see `fdiv experiment`)."""
