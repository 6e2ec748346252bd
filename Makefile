# Two commands do everything on a fresh machine: `make demo` (the main job) and `make test`.
PY ?= python3
PIP = $(PY) -m pip
STAMP = .setup.stamp

.PHONY: setup demo test bench docs site figures clean

# torch is pinned to the local CPU wheel, the rest to constraints.txt; the package itself only declares ranges.
$(STAMP): pyproject.toml constraints.txt
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[test,plot,docs,jax]'
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) -m fdiv list
	$(PY) -m fdiv derive --all
	$(PY) -m fdiv gauss kl --p 0,1 --q 1,2
	$(PY) -m fdiv gauss jsd --p 0,1 --q 1,2
	$(PY) -m proofs

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/derive_all.py
	$(PY) benchmarks/frechet.py
	$(PY) benchmarks/numerics_hot_paths.py
	$(PY) benchmarks/losses.py
	$(PY) benchmarks/losses.py --backend jax
	$(PY) benchmarks/compile_check.py
	$(PY) benchmarks/verify_speed.py
	$(PY) benchmarks/verify_gaussian_speed.py

# proofs first: the README's facts about the proofs read docs/proofs.json
docs: setup
	$(PY) -m proofs --write
	$(PY) -m fdiv.docs --write

# The documentation site (docs/ + the API reference from the docstrings) in site/; strict: a warning fails it
site: setup
	$(PY) -m mkdocs build --strict

# The figures and mixture table of docs/training.md (docs/mixture.md); the experiment trains every catalogue divergence.
figures: setup
	$(PY) -m fdiv plot gan --compare kl reverse-kl -o docs/figures/gan-kl-reverse-kl.png
	$(PY) -m fdiv experiment mixture --format markdown -o docs/figures/mixture.png > docs/mixture.md.tmp
	mv docs/mixture.md.tmp docs/mixture.md
	$(PY) -m fdiv.experiments.mixture --write-readme

clean:
	rm -f $(STAMP)
