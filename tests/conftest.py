import os

from hypothesis import HealthCheck, settings

# CI is derandomised (same examples every run); FDIV_HYPOTHESIS=dev explores new examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("FDIV_HYPOTHESIS", "ci"))
