# Sealbox: `make run` shows it working, `make test` checks everything. Both start from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the demo and the test suite start for real: SoftHSM2 (PKCS#11), etcd, and
# Chromium (headless, to check the HTML audit report renders).
APT_PACKAGES ?= softhsm2 etcd-server etcd-client chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
CODE_DIRS := $(wildcard src tests bench)
PROTO_SRC := $(wildcard proto/sealbox/_proto/*.proto)
PROTO_SERVICES := $(wildcard proto/sealbox/_proto/*_api.proto)

.PHONY: run test lint typecheck unit proto install apt clean

run: apt $(VENV)/.installed
	$(BIN)/sealbox demo

test: apt $(VENV)/.installed lint typecheck unit

lint: $(VENV)/.installed
	$(BIN)/ruff check $(CODE_DIRS)
	$(BIN)/ruff format --check $(CODE_DIRS)

typecheck: $(VENV)/.installed
	$(BIN)/mypy $(CODE_DIRS)

unit: $(VENV)/.installed
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

apt:
ifneq ($(strip $(APT_PACKAGES)),)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
endif

# Regenerate the committed gRPC/protobuf code (grpcio-tools is pinned exactly in pyproject).
proto: $(VENV)/.installed
	PATH=$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -Iproto \
	  --python_out=src --mypy_out=src $(PROTO_SRC)
	PATH=$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -Iproto \
	  --grpc_python_out=src --mypy_grpc_out=src $(PROTO_SERVICES)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
