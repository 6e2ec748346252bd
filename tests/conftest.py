import os

# One torch thread: the tests' tensors are small, and on a 2-core machine shared with other work, torch's
# intra-op threads oversubscribe the cores (200 tiny training steps: 28 s with 2 threads under load, 0.5 s with 1).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from hypothesis import HealthCheck, settings

# CI is derandomised (same examples every run); FDIV_HYPOTHESIS=dev explores new examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("FDIV_HYPOTHESIS", "ci"))

# One derivation cache for the whole run (and the next run in this checkout): each heavy derivation happens once,
# whichever test asks first. Subprocesses inherit it. A fresh clone starts with an empty one.
os.environ.setdefault("FDIV_CACHE_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".fdiv-cache"))
