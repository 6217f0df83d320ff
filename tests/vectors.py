"""Loader for values a real kube-apiserver wrote to etcd, read in place from the shared testdata.

The recordings live outside the repository, at ``<repo>/../shared/testdata/<dataset>/``:

::

    kube-apiserver-1.36/
        etcd-values.json   {"etcd_prefix": "/registry", "values": {etcd key: base64(raw value)}}
        expected.json      {etcd key: {"type", "data", "data_b64", "immutable", "labels", "spec"}}
        ...                (encryption-config.yaml, test-kms.json, kms-calls.jsonl, README.md)
    kube-apiserver-kmsv2-legacy/
        etcd-values.json

They are never copied into the repo. A missing directory is an error, not a skip: tests that need
ground truth must fail loudly when it is absent.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_DATASET",
    "TESTDATA",
    "load_etcd_values",
    "load_expected",
    "load_json",
    "recorded_path",
]

TESTDATA: Path = (Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata").resolve()
DEFAULT_DATASET = "kube-apiserver-1.36"


def recorded_path(dataset: str, name: str) -> Path:
    """The path of one recorded file; raises ``FileNotFoundError`` naming what is missing."""
    if not TESTDATA.is_dir():
        raise FileNotFoundError(
            f"recorded test data not found at {TESTDATA} (expected <repo>/../shared/testdata); "
            "these tests need the kube-apiserver recordings and must not be skipped"
        )
    path = TESTDATA / dataset / name
    if not path.is_file():
        raise FileNotFoundError(f"recorded file {name!r} of dataset {dataset!r} not at {path}")
    return path


@functools.cache
def _read_json(dataset: str, name: str) -> Any:
    return json.loads(recorded_path(dataset, name).read_text(encoding="utf-8"))


def load_json(dataset: str, name: str) -> Any:
    """A recorded JSON file, parsed (a fresh copy on every call, so callers may mutate it)."""
    return copy.deepcopy(_read_json(dataset, name))


@functools.cache
def _etcd_values(dataset: str) -> tuple[str, dict[str, bytes]]:
    doc = _read_json(dataset, "etcd-values.json")
    values = {key: base64.b64decode(raw, validate=True) for key, raw in doc["values"].items()}
    return str(doc["etcd_prefix"]), values


def load_etcd_values(dataset: str = DEFAULT_DATASET) -> tuple[str, dict[str, bytes]]:
    """The etcd prefix and every recorded ``etcd key -> raw stored bytes`` of a dataset."""
    prefix, values = _etcd_values(dataset)
    return prefix, dict(values)


def load_expected(dataset: str = DEFAULT_DATASET) -> dict[str, dict[str, Any]]:
    """What each recorded value must decode to, per etcd key (see the dataset's README.md)."""
    expected: dict[str, dict[str, Any]] = load_json(dataset, "expected.json")
    return expected
