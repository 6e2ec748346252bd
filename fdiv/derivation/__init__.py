"""The derivation stage: a `Spec` in; a `Derivation` out (conjugate, critic range, activation, self-checks, cache)."""
