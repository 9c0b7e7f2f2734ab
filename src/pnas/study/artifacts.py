"""Named tensors of one study, kept in its store."""

from __future__ import annotations

from typing import Any

from pnas.storage.base import StudyStorage


class StudyArtifacts:
    """Named tensors of one study, stored as safetensors bytes (never pickled)."""

    def __init__(self, store: StudyStorage, study_id: int) -> None:
        self.store, self.study_id = store, study_id

    def save_artifact(self, name: str, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        self.store.save_artifact(self.study_id, name, save(tensors), meta)

    def load_artifact(self, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        found = self.store.load_artifact(self.study_id, name)
        if found is None:
            return None
        data, meta = found
        if not data:
            return {}, meta
        from safetensors.torch import load

        return load(data), meta
