"""Reference numerics: high-precision computations that check fdiv's symbolic results independently."""
