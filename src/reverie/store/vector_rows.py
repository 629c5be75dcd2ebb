"""How a vector sits in a row of image_vectors or video_vectors, on either database (see schema.EMBEDDING)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection


def stored(conn: Connection, vec: np.ndarray) -> dict:
    """The column values that hold `vec` on the database behind `conn`."""
    vec = np.asarray(vec, "<f4")
    return {"vector": vec.tobytes()} if conn.dialect.name == "sqlite" else {"embedding": vec}


def loaded(vector: bytes | None, embedding) -> np.ndarray:  # noqa: ANN001
    """The vector of a row, from whichever column holds it."""
    if vector is not None:
        return np.frombuffer(vector, dtype="<f4")
    if hasattr(embedding, "to_numpy"):  # pgvector's Vector
        return embedding.to_numpy().astype(np.float32, copy=False)
    return np.asarray(embedding, dtype=np.float32)
