"""fdiv.train: the trainer fits N(2, 0.5^2) with generated losses, the NaN guard stops bad runs, histories."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from fdiv import train
from fdiv.errors import FdivError
from numerics import gaussian

TARGET_MU, TARGET_SIGMA = 2.0, 0.5


def sample_target(n: int) -> torch.Tensor:
    return TARGET_MU + TARGET_SIGMA * torch.randn(n, 1)


def identity_generator() -> torch.nn.Linear:
    """G(z) = z: training starts from Q = N(0, 1), the noise itself."""
    return train.affine_generator()


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_train_example() -> tuple[str, float]:
    """The README's fdiv.train snippet and the tolerance it states for (mu, sigma)."""
    block = re.search(r"<!-- train-example:begin -->\n```python\n(.*?)```\n<!-- train-example:end -->",
                      README.read_text(), re.S)
    assert block, "README: the train example block is missing"
    code = block.group(1)
    assert code.count("\nseed = 0\n") == 1, "the snippet sets its seed on one line: seed = 0"
    stated = re.search(r"# within ([0-9.]+) of \(2, 0\.5\)", code)
    assert stated, "the snippet states its tolerance: within X of (2, 0.5)"
    return code, float(stated.group(1))


def run_readme_train_example(seed: int, monkeypatch, tmp_path) -> tuple[float, float, dict]:
    code, _ = readme_train_example()
    monkeypatch.chdir(tmp_path)  # it saves run.json
    scope: dict = {}
    exec(compile(code.replace("\nseed = 0\n", f"\nseed = {seed}\n"), "README.md", "exec"), scope)  # noqa: S102
    return scope["mu"], scope["sigma"], scope


@pytest.mark.parametrize("seed", range(10))
def test_readme_train_example_lands_within_its_tolerance(seed, monkeypatch, tmp_path):
    """The README's snippet as written, for seeds 0-9: (mu, sigma) within the tolerance it states of (2, 0.5).
    Measured errors at most 0.01 over these seeds; from torch's random Linear(1, 1) start they reach 2
    (test below)."""
    mu, sigma, _ = run_readme_train_example(seed, monkeypatch, tmp_path)
    _, tolerance = readme_train_example()
    assert abs(mu - TARGET_MU) < tolerance and abs(sigma - TARGET_SIGMA) < tolerance, (seed, mu, sigma)
    assert (tmp_path / "run.json").is_file()


def test_readme_train_example_needs_its_generator_start(monkeypatch, tmp_path):
    """The tolerance can fail: the same snippet with torch's random initialisation of the generator (at seed 7
    the weight is drawn at 0.07, Q far narrower than P) ends far from (2, 0.5)."""
    code, tolerance = readme_train_example()
    start = "generator = train.affine_generator()"
    assert start in code
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    random_start = "torch.manual_seed(seed); generator = torch.nn.Linear(1, 1)"
    exec(compile(code.replace("\nseed = 0\n", "\nseed = 7\n").replace(start, random_start), "README.md", "exec"),
         scope)  # noqa: S102
    assert abs(scope["mu"] - TARGET_MU) > tolerance or abs(scope["sigma"] - TARGET_SIGMA) > tolerance


def test_seed_fixes_the_whole_run(monkeypatch, tmp_path):
    """Same seed, same run, bit for bit, whatever torch's global RNG held before (the snippet shortened to 50
    steps: a difference shows from the first step); mlp(seed=...) draws the critic's weights from the seed and
    leaves the global RNG as it was."""
    code, _ = readme_train_example()
    assert code.count(", 1000,") == 1
    monkeypatch.chdir(tmp_path)

    def run(seed: int) -> dict:
        scope: dict = {}
        short = code.replace(", 1000,", ", 50,").replace("\nseed = 0\n", f"\nseed = {seed}\n")
        exec(compile(short, "README.md", "exec"), scope)  # noqa: S102
        return scope

    torch.manual_seed(123)
    first = run(3)
    torch.manual_seed(456)
    second = run(3)
    a, b = (first["mu"], first["sigma"], first), (second["mu"], second["sigma"], second)
    assert a[:2] == b[:2]
    weights = [p.detach().clone() for p in a[2]["critic"].parameters()]
    assert all(torch.equal(x, y) for x, y in zip(weights, b[2]["critic"].parameters()))

    state = torch.random.get_rng_state()
    first, again, other = train.mlp(1, seed=5), train.mlp(1, seed=5), train.mlp(1, seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(first.parameters(), again.parameters()))
    assert not torch.equal(first[0].weight, other[0].weight)


def test_affine_generator_starts_where_asked():
    g = train.affine_generator(1.5, 0.25)
    assert train.affine_parameters(g) == (1.5, 0.25)
    assert torch.equal(g(torch.tensor([[2.0]])), torch.tensor([[2.0]]))
    for bad in ({"sigma": 0.0}, {"mu": math.inf}, {"sigma": True}):
        with pytest.raises(train.TrainingError, match="affine_generator"):
            train.affine_generator(**bad)


@pytest.mark.parametrize("loss, scheme", [
    ("kl", "single-step"),
    ("gan", "alternating"),
    ("(sqrt(u) - 1)**2/2", "single-step"),  # a user f (half squared Hellinger), derived and emitted on the fly
])
def test_fits_a_gaussian_from_standard_normal_noise(loss, scheme):
    torch.manual_seed(0)
    generator, critic = identity_generator(), train.mlp(1)
    history = train.fit_generator(loss, sample_target, generator, critic, 1000, scheme=scheme, batch_size=512,
                                  lr=0.02, seed=0, threads=1)
    mu, sigma = train.affine_parameters(generator)
    # the acceptance tolerance; at this seed the errors are below 0.015 (over seeds 0-5 at most 0.03,
    # the minibatch noise left at the end of the cosine schedule)
    assert abs(mu - TARGET_MU) < 0.05, (mu, sigma)
    assert abs(sigma - TARGET_SIGMA) < 0.05, (mu, sigma)
    assert history.step[-1] == 1000 and len(history.bound) == len(history.step) == 100
    assert history.parameters.keys() == {"weight", "bias"}  # a 2-parameter generator is traced
    assert abs(history.parameters["bias"][-1] - mu) < 1e-6


def test_history_records_the_true_divergence_and_bound_approaches_it():
    torch.manual_seed(1)
    generator, critic = identity_generator(), train.mlp(1)

    def kl_now(g: torch.nn.Module) -> float:
        mu, sigma = train.affine_parameters(g)
        return float(gaussian.kl(gaussian.univariate(TARGET_MU, TARGET_SIGMA**2), gaussian.univariate(mu, sigma**2)))

    history = train.fit_generator("kl", sample_target, generator, critic, 300, batch_size=256, lr=0.02,
                                  scheme="single-step", true_divergence=kl_now, log_every=30, seed=1, threads=1)
    assert history.step == list(range(30, 301, 30))
    assert len(history.true_divergence) == 10
    assert history.true_divergence[-1] < history.true_divergence[0] / 10  # Q moved toward P
    assert abs(history.bound[-1] - history.true_divergence[-1]) < 0.05


def test_fit_critic_bound_approaches_kl_from_below():
    """P = N(1, 1), Q = N(0, 1): KL = 1/2. The bound averaged over the last 10% of steps is within 0.05 of it
    (batch noise of the mean of 50 batch estimates at n = 512 is ~0.01)."""
    history = train.fit_critic("kl", lambda n: torch.randn(n, 1) + 1.0, lambda n: torch.randn(n, 1),
                               train.mlp(1), 500, batch_size=512, true_divergence=0.5, log_every=50, seed=0,
                               threads=1)
    assert history.true_divergence == [0.5] * 10
    assert abs(history.bound[-1] - 0.5) < 0.05
    assert history.generator_loss == [] and history.scheme == "critic"


def test_nan_guard_names_the_step_and_the_tensor():
    calls = {"n": 0}

    def poisoned(n: int) -> torch.Tensor:
        calls["n"] += 1
        x = sample_target(n)
        if calls["n"] == 4:  # one NaN in the 4th batch of real samples
            x[7, 0] = math.nan
        return x

    with pytest.raises(train.NonFiniteError, match=r"^step 4: non-finite values in real samples \(1 NaN and 0 "
                                                   r"infinite of 64 entries\); training stopped$"):
        train.fit_generator("kl", poisoned, identity_generator(), train.mlp(1), 10, batch_size=64,
                            scheme="single-step", seed=0, threads=1)


def test_nan_guard_stops_a_diverging_run():
    """A huge learning rate sends KL's exp(v - 1) to inf: the guard stops at the first non-finite tensor,
    and the message says which one."""
    with pytest.raises(train.NonFiniteError) as info:
        train.fit_generator("kl", sample_target, identity_generator(), train.mlp(1), 200, batch_size=64,
                            lr=1e6, lr_schedule="constant", scheme="single-step", seed=0, threads=1)
    message = str(info.value)
    assert message.startswith("step ") and message.endswith("training stopped")
    step = int(message.split()[1].rstrip(":"))
    assert 1 <= step <= 200
    assert any(name in message for name in ("critic output", "critic loss", "generator loss", "gradient of",
                                            "parameter", "generated samples"))


def test_critic_output_shape_is_checked():
    with pytest.raises(train.TrainingError, match="one output per sample"):
        train.fit_critic("kl", sample_target, sample_target, torch.nn.Linear(1, 2), 3, batch_size=8, threads=1)


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps must be a positive integer"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"lr": -1.0}, "learning rate must be positive"),
    ({"lr": math.nan}, "learning rate must be positive"),
    ({"scheme": "both"}, "scheme 'both'"),
    ({"critic_steps": 0}, "critic_steps must be a positive integer"),
    ({"lr_schedule": "linear"}, "lr_schedule 'linear'"),
    ({"threads": 0}, "threads must be a positive integer"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2\^63\)"),
    ({"seed": 2**64}, r"seed must be an integer in \[0, 2\^63\)"),
])
def test_bad_arguments_are_one_line_errors(kwargs, message):
    args = {"steps": 5, **kwargs}
    steps = args.pop("steps")
    with pytest.raises(FdivError, match=message):
        train.fit_generator("kl", sample_target, identity_generator(), train.mlp(1), steps, **args)


def test_a_loss_must_be_a_generated_module():
    with pytest.raises(train.TrainingError, match=r"loss has no activation\(\)"):
        train.fit_critic(object(), sample_target, sample_target, train.mlp(1), 2)


def test_progress_bar_only_when_asked_or_on_a_terminal(capsys):
    train.fit_critic("kl", sample_target, sample_target, train.mlp(1), 20, batch_size=16, threads=1)
    assert capsys.readouterr().err == ""  # pytest's stderr is not a terminal
    train.fit_critic("kl", sample_target, sample_target, train.mlp(1), 20, batch_size=16, progress=True, threads=1)
    err = capsys.readouterr().err
    assert err.count("\r[") == 20 and "20/20" in err and err.endswith("\n")


def test_history_json_round_trip_and_validation(tmp_path):
    h = train.History("kl", "single-step", step=[1, 2], bound=[0.1, 0.2], true_divergence=[0.5, math.inf],
                      parameters={"bias": [0.0, 0.1]})
    path = h.save(tmp_path / "h.json")
    back = train.History.load(path)
    assert back == h
    bad = {"step": [1, 2], "bound": [0.1]}
    with pytest.raises(train.TrainingError, match="'bound' and 'step' must be non-empty and of equal length"):
        train.History.from_json(bad)
    with pytest.raises(train.TrainingError, match="'true_divergence' has 1 entries"):
        train.History.from_json({"step": [1, 2], "bound": [0.1, 0.2], "true_divergence": [1.0]})
    with pytest.raises(train.TrainingError, match="'parameters.w' must be a list of numbers"):
        train.History.from_json({"step": [1], "bound": [0.1], "parameters": {"w": ["x"]}})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(train.TrainingError, match="not JSON"):
        train.History.load(tmp_path / "bad.json")
    json.loads(path.read_text())  # the file is plain JSON


def test_load_loss_caches_and_names_user_f():
    a = train.load_loss("(sqrt(u) - 1)**2/2")
    assert train.load_loss("(sqrt(u) - 1)**2/2") is a
    assert a.DIVERGENCE == "f(u) = (sqrt(u) - 1)**2/2"
    v = torch.linspace(-30, 30, 7, dtype=torch.float64)
    # the critic range of this f is (-oo, 1/2) (f' = (1 - 1/sqrt(u))/2), so sigma_f(v) = 1/2 - softplus(-v)
    expected = 0.5 - torch.nn.functional.softplus(-v)
    assert torch.allclose(a.activation(v), expected, rtol=1e-12, atol=1e-12)  # same formula, float64 rounding
    from fdiv.losses import kl

    assert train.load_loss("kl") is kl
