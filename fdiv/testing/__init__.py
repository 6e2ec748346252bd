"""fdiv as a reference oracle for other people's code: losses, activations, conjugates, DPO / f-DPO preference
losses, Gaussian divergences, FID and Monte Carlo estimators against fdiv's exact derivations.

Every check_* returns a Report (outcome: agree, numerically limited or wrong; worst point, errors, non-finite
points, a one-line diagnosis); its assert_* twin raises AssertionError with that report, verdict first. The
function under test gets its own copies of the inputs and runs in this process (`fdiv verify` runs it in a child
process: fdiv.testing.isolate). Hypothesis strategies are in
fdiv.testing.strategies, the pytest fixtures in fdiv.testing.plugin (a pytest11 entry point).

Importing this package loads torch and numpy only; SymPy and the derivation engine load when a check first needs
a derivation.
"""
from __future__ import annotations

from .dpo import DPOFunctionError, check_dpo
from .estimators import (EstimatorError, check_divergence_estimator, check_elbo_estimator, check_estimator,
                         check_iwae_estimator)
from .gaussians import Case, GaussianFunctionError, check_fid, check_gaussian_divergence, gaussian_cases
from .losses import (ROLES, UserFunctionError, check_activation, check_conjugate, check_conjugate_of_activation,
                     check_critic_loss, check_density_ratio, check_divergence_estimate, check_generator_loss,
                     check_generator_loss_nonsaturating, check_loss, default_logits, drawn_logits)
from .reference import DTYPES, LOGIT_GRID, RTOL, Point
from .report import AGREE, ASSERTS, LIMITED, WRONG, Report

assert_loss = ASSERTS["assert_loss"]
assert_activation = ASSERTS["assert_activation"]
assert_conjugate = ASSERTS["assert_conjugate"]
assert_conjugate_of_activation = ASSERTS["assert_conjugate_of_activation"]
assert_density_ratio = ASSERTS["assert_density_ratio"]
assert_critic_loss = ASSERTS["assert_critic_loss"]
assert_divergence_estimate = ASSERTS["assert_divergence_estimate"]
assert_generator_loss = ASSERTS["assert_generator_loss"]
assert_generator_loss_nonsaturating = ASSERTS["assert_generator_loss_nonsaturating"]
assert_gaussian_divergence = ASSERTS["assert_gaussian_divergence"]
assert_fid = ASSERTS["assert_fid"]
assert_dpo = ASSERTS["assert_dpo"]
assert_estimator = ASSERTS["assert_estimator"]
assert_divergence_estimator = ASSERTS["assert_divergence_estimator"]
assert_elbo_estimator = ASSERTS["assert_elbo_estimator"]
assert_iwae_estimator = ASSERTS["assert_iwae_estimator"]

__all__ = [
    "DTYPES", "LOGIT_GRID", "ROLES", "RTOL", "Case", "Point", "Report", "default_logits", "drawn_logits", "gaussian_cases",
    "UserFunctionError", "GaussianFunctionError", "EstimatorError", "DPOFunctionError", "AGREE", "LIMITED", "WRONG",
    "check_loss", "check_activation", "check_conjugate", "check_conjugate_of_activation", "check_density_ratio",
    "check_critic_loss", "check_divergence_estimate", "check_generator_loss", "check_generator_loss_nonsaturating",
    "check_gaussian_divergence", "check_fid", "check_dpo",
    "check_estimator", "check_divergence_estimator", "check_elbo_estimator", "check_iwae_estimator",
    *ASSERTS,
]
