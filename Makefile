# Two commands on a fresh machine: `make run` (the main job on an embedded local Ray) and `make test`.
PY ?= python3
OUT ?= runs/quickstart

.PHONY: setup run enrich test test-slow bench
setup:
	bash scripts/setup.sh

run: setup
	hydra-ray demo --output $(OUT)

enrich: setup
	hydra-ray enrich --input hydra_ray/sample_data/pie_sample.jsonl --output $(OUT)/enrich --config configs/enrich/local.yaml

test: setup
	$(PY) -m pytest

test-slow: setup
	$(PY) -m pytest -m slow

bench: setup
	$(PY) benchmarks/run_all.py
