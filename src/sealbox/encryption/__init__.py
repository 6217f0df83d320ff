"""Encryption at rest as kube-apiserver does it: the EncryptionConfiguration model and its loader.

Submodules: :mod:`~sealbox.encryption.config` (parse and lint a config file),
:mod:`~sealbox.encryption.resources` (which entry a group-resource uses),
:mod:`~sealbox.encryption.keygen` (fresh static keys) and the transformers built on them.
"""

from __future__ import annotations

__all__: list[str] = []
