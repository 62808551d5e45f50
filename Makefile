# kubelite: the README's two commands are `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: bootstrap images run test unit integration e2e lint bench clean lab lab-down monitoring

bootstrap:
	@bash deploy/bootstrap.sh

run: bootstrap
	@$(VENV)/bin/kubelite up
	@$(VENV)/bin/kubelite apply -f deploy/examples/hello.yaml
	@$(PY) deploy/wait_pod.py default hello 120
	@$(VENV)/bin/kubelite get pods -o wide
	@echo "try: $(VENV)/bin/kubelite logs hello; $(VENV)/bin/kubelite exec hello -- wget -qO- localhost:8080; $(VENV)/bin/kubelite down"

images:
	@KUBELITE_BUILD_PYTHON_IMAGE=1 bash deploy/images/build.sh

# The docker-compose multi-host lab (deploy/lab): LAB_ARGS e.g. "--nodes 4 --name mylab".
LAB_ARGS ?=
lab: bootstrap
	@$(VENV)/bin/kubelite lab up $(LAB_ARGS)

lab-down:
	@$(VENV)/bin/kubelite lab down $(filter --name=%,$(LAB_ARGS))

# Two lanes at once (tests/run_lanes.py): tests/e2e beside tests/unit + tests/integration.
test: bootstrap
	@$(PY) tests/run_lanes.py $(PYTEST_ARGS)

unit: bootstrap
	@$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

integration: bootstrap
	@$(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

e2e: bootstrap
	@$(PY) -m pytest -q tests/e2e $(PYTEST_ARGS)

lint: bootstrap
	@$(VENV)/bin/ruff check machinery apiserver scheduler controllers kubelet proxy cli addons routeagent tests bench
	@$(VENV)/bin/mypy
	@$(VENV)/bin/mypy bench
	@$(VENV)/bin/lint-imports --no-cache

# Debian's Prometheus scraping the local cluster (deploy/monitoring; PROM_ADDRESS=127.0.0.1:9090).
monitoring: bootstrap
	@bash deploy/monitoring/run.sh

# The quick version of every benchmark (bench/README.md), one after the other; not part of `make test`.
# BENCH="scheduler.py --nodes 100 --pods 1000" runs one (any arguments).
BENCH_QUICK = "apiserver.py --quick" "authz.py --quick" "scheduler.py --nodes 100 --pods 1000" \
	"pod_startup.py --pods 10" "node_failure.py --only short" "proxy.py --quick" \
	"cluster_logging.py --quick" "streams.py --mib 16" "idle.py --settle-s 5 --sample-s 10" \
	"controllers.py --real-replicas 10 --skip-hollow" "scale.py --nodes 100 --pods 500" \
	"lab.py --requests 20 --mib 20 --rounds 1"
BENCH ?=
bench: bootstrap
	@set -e; if [ -n "$(BENCH)" ]; then set -- "$(BENCH)"; else set -- $(BENCH_QUICK); fi; \
	for b in "$$@"; do echo "== bench/$$b"; $(PY) bench/$$b; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .test-logs
