"""Encryption-at-rest key rotation across every apiserver (``sealbox rotate``).

* ``target``: what ``--to`` names: :class:`Target`, :func:`parse_target`.
* ``plan``: the staged EncryptionConfiguration files (add, promote, remove) and the stages
  between them, each file checked with the apiserver's rules: :func:`plan_rotation`,
  :class:`RotationPlan`, :class:`Stage`. Pure; never shows a key's value.
* ``files``: atomic, validated, backed-up writes of the config (:func:`write_config`), 0600
  private files (:func:`write_private`), and where the rotation keeps its own files
  (:func:`state_path`, :func:`staged_path`).
* ``state``: where a rotation stands, saved so a crash or Ctrl-C resumes it:
  :class:`RotationState`; once finished, :class:`RotationRecord` (no key) makes a rerun of the
  same rotation a no-op (:func:`load_rotation` reads either).
* ``reencrypt``: every object of the rotated resources updated unchanged through the API, so it
  is rewritten with the new key (a concurrent writer wins): :func:`reencrypt_via_api`,
  :class:`ReencryptResult`, :class:`ReencryptProgress` (discovery in ``api_resources``, the qps
  limit in ``throttle``).
* ``gate``: has every apiserver loaded the staged file (or taken up a new KMS v2 key_id)?
  :func:`discover_apiservers`, :func:`loaded_everywhere`, :func:`wait_loaded` (raises
  :class:`~sealbox.errors.RotationBlocked` naming the laggards), :func:`wait_kms_key_id`; the
  apiservers are found in ``discovery``.
* ``verify``: no stored value left under the old key (:func:`verify_etcd`, an etcd scan), or
  every object readable through every apiserver (:func:`verify_api`).
* ``apply``: the five stages run behind their gates, resumably (:func:`apply_rotation`; what a
  run carries in ``run``: :class:`EtcdAccess`, :class:`RotationOutcome`; the reencrypt and
  verify stages' work in ``work``; a KMS v2 key_id rotation in ``kek``); ``status``: where a
  rotation stands, from the files beside the config alone (:func:`rotation_status`,
  :class:`RotationStatusView`, :class:`StageView`).
"""

from __future__ import annotations

from sealbox.rotate.apply import apply_rotation
from sealbox.rotate.files import staged_path, state_path, write_config, write_private
from sealbox.rotate.gate import (
    ApiserverView,
    discover_apiservers,
    key_id_hashes,
    loaded_everywhere,
    wait_kms_key_id,
    wait_loaded,
)
from sealbox.rotate.plan import STAGES, RotationPlan, Stage, plan_rotation
from sealbox.rotate.reencrypt import (
    ReencryptProgress,
    ReencryptResult,
    ResourceTally,
    reencrypt_via_api,
)
from sealbox.rotate.run import EtcdAccess, RotationOutcome
from sealbox.rotate.state import STATE_KIND, RotationRecord, RotationState, load_rotation
from sealbox.rotate.status import CompletedView, RotationStatusView, StageView, rotation_status
from sealbox.rotate.target import VALID_TARGETS, Target, TargetKind, parse_target
from sealbox.rotate.verify import (
    ApiVerifyResult,
    KekCheck,
    ServerReads,
    StoredKey,
    VerifyResult,
    verify_api,
    verify_etcd,
)

__all__ = [
    "STAGES",
    "STATE_KIND",
    "VALID_TARGETS",
    "ApiVerifyResult",
    "ApiserverView",
    "CompletedView",
    "EtcdAccess",
    "KekCheck",
    "ReencryptProgress",
    "ReencryptResult",
    "ResourceTally",
    "RotationOutcome",
    "RotationPlan",
    "RotationRecord",
    "RotationState",
    "RotationStatusView",
    "ServerReads",
    "Stage",
    "StageView",
    "StoredKey",
    "Target",
    "TargetKind",
    "VerifyResult",
    "apply_rotation",
    "discover_apiservers",
    "key_id_hashes",
    "load_rotation",
    "loaded_everywhere",
    "parse_target",
    "plan_rotation",
    "reencrypt_via_api",
    "rotation_status",
    "staged_path",
    "state_path",
    "verify_api",
    "verify_etcd",
    "wait_kms_key_id",
    "wait_loaded",
    "write_config",
    "write_private",
]
