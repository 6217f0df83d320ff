# Sealbox: `make run` shows it working, `make test` checks everything. Both start from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages started for real: etcd for the demo and the tests; SoftHSM2 (PKCS#11),
# Chromium (headless, to check the HTML audit report renders) and age (to open sealing key
# backups as users do) for the tests only.
APT_RUN := etcd-server etcd-client
APT_TEST := $(APT_RUN) softhsm2 chromium age
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# Wait for another apt (unattended upgrades) instead of failing at once on its lock.
APT_GET := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -qq
LOGS := $(VENV)/logs
CODE_DIRS := $(wildcard src tests bench)
PROTO_SRC := $(wildcard proto/sealbox/_proto/*.proto)
PROTO_SERVICES := $(wildcard proto/sealbox/_proto/*_api.proto)

.PHONY: run test lint typecheck unit proto install apt-run apt-test clean

# One line per step; each step's full output goes to .venv/logs/ and is shown only on failure.
define step
	@mkdir -p $(LOGS); echo "==> $(1)"; \
	( $(2) ) >$(LOGS)/$(3).log 2>&1 || { tail -n 30 $(LOGS)/$(3).log; \
	  echo "make: $(1) failed; full log: $(LOGS)/$(3).log" >&2; exit 1; }
endef

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then mkdir -p $(LOGS); \
	  echo "==> installing Debian packages:$$missing"; \
	  { $(APT_GET) update && $(APT_GET) install -y $$missing; } >$(LOGS)/apt.log 2>&1 || \
	  { tail -n 30 $(LOGS)/apt.log; echo "make: apt-get failed; full log: $(LOGS)/apt.log" >&2; \
	    exit 1; }; fi
endef

run: apt-run $(VENV)/.installed-run
	@$(BIN)/sealbox demo

test: apt-test $(VENV)/.installed lint typecheck unit

lint: $(VENV)/.installed
	$(BIN)/ruff check $(CODE_DIRS)
	$(BIN)/ruff format --check $(CODE_DIRS)

typecheck: $(VENV)/.installed
	$(BIN)/mypy $(CODE_DIRS)

unit: $(VENV)/.installed
	$(BIN)/pytest

install: $(VENV)/.installed

# make run needs only Sealbox and its runtime dependencies; make test adds the dev tools.
$(VENV)/.installed-run: pyproject.toml constraints.txt
	$(call step,installing Sealbox into $(VENV),test -x $(BIN)/python || $(PYTHON) -m venv \
	  $(VENV); $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install \
	  -c constraints.txt -e .,pip)
	@touch $@

$(VENV)/.installed: pyproject.toml constraints.txt
	$(call step,installing Sealbox and its test tools into $(VENV),test -x $(BIN)/python || \
	  $(PYTHON) -m venv $(VENV); $(BIN)/python -m pip install --upgrade pip && \
	  $(BIN)/python -m pip install -c constraints.txt -e '.[dev]',pip)
	@touch $@ $(VENV)/.installed-run

apt-run:
	$(call apt_install,$(APT_RUN))

apt-test:
	$(call apt_install,$(APT_TEST))

# Regenerate the committed gRPC/protobuf code (grpcio-tools is pinned exactly in pyproject).
proto: $(VENV)/.installed
	PATH=$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -Iproto \
	  --python_out=src --mypy_out=src $(PROTO_SRC)
	PATH=$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -Iproto \
	  --grpc_python_out=src --mypy_grpc_out=src $(PROTO_SERVICES)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
