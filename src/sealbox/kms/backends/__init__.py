"""Key backends behind one narrow interface (:mod:`.base`), one module per backend.

Each backend module exposes ``Config`` (a pydantic model whose ``type`` field names the backend)
and ``build(config, *, base_dir) -> Backend``. Modules are imported only when a config names
them, so a plugin using the local backend never loads boto3, hvac or the PKCS#11 library.
"""

from __future__ import annotations

__all__: list[str] = []
