"""The vector index against the real database: exact search, the HNSW graph past the threshold, its
incremental updates, and its reload after a restart."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import stack_free
from sqlalchemy import event

from reverie.config import Settings
from reverie.store import Store
from reverie.store.search_index import load_vectors
from reverie.store.vectors import VectorIndex
from reverie.store.videos import load_vectors as load_clip_vectors

pytestmark = stack_free  # always the embedded index: it is what the test is about

DIM = 16


@pytest.fixture
def store(tmp_path):
    s = Store.open(Settings(data=tmp_path / "data"))
    with s.db.write() as conn:
        conn.exec_driver_sql("INSERT INTO accounts(id, name, created_ms) VALUES (1, 'a', 0)")
    yield s
    s.close()


def add_images(store: Store, vectors: np.ndarray, first_id: int, unique_id: str = "default") -> list[int]:
    ids = list(range(first_id, first_id + len(vectors)))
    with store.db.write() as conn:
        for i, v in zip(ids, vectors):
            conn.exec_driver_sql(
                "INSERT INTO images(id, account_id, unique_id, name, sha256, size, content_type, format, status, created_ms) "
                "VALUES (?, 1, ?, 'x.jpg', 'h', 1, 'image/jpeg', 'JPEG', 'PARSE', 0)", (i, unique_id))
            conn.exec_driver_sql("INSERT INTO image_vectors(image_id, space, model, vector) VALUES (?, 'visual', 't', ?)",
                                 (i, v.astype("<f4").tobytes()))
    return ids


def unit(rng, n: int) -> np.ndarray:  # noqa: ANN001
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_search_ranks_by_cosine_within_the_namespace_and_filter(store):
    rng = np.random.default_rng(1)
    vecs = unit(rng, 50)
    ids = add_images(store, vecs, 1000)
    add_images(store, unit(rng, 5), 5000, unique_id="other")
    index = VectorIndex(store.db, "visual")
    found, sims, mean, std = index.search(vecs[7], 1, "default", 5)
    assert found[0] == ids[7] and sims[0] == pytest.approx(1.0, abs=1e-5)
    assert list(sims) == sorted(sims, reverse=True) and set(found) <= set(ids)
    expected = np.array(ids)[np.argsort(-(vecs @ vecs[7]))[:5]]
    assert list(found) == list(expected)
    assert mean == pytest.approx(float((vecs @ vecs[7]).mean()), abs=1e-5) and std > 0
    allowed = np.array(ids[20:30])
    found, _, _, _ = index.search(vecs[7], 1, "default", 3, allowed)
    assert set(found) <= set(allowed.tolist()) and len(found) == 3


def test_the_hnsw_graph_takes_over_past_the_threshold_grows_and_reloads(store, tmp_path):
    rng = np.random.default_rng(2)
    vecs = unit(rng, 300)
    ids = add_images(store, vecs, 1)
    ann_dir = tmp_path / "vectors"
    index = VectorIndex(store.db, "visual", ann_dir, ann_threshold=100)
    found, _, _, _ = index.search(vecs[42], 1, "default", 10)
    assert found[0] == ids[42]
    exact = np.array(ids)[np.argsort(-(vecs @ vecs[42]))[:10]]
    assert len(set(found) & set(exact)) >= 9  # recall@10 of the graph
    assert list(ann_dir.glob(f"visual-{vecs.shape[1]}-1-*.hnsw"))  # built and saved
    # vectors written later (by a worker) reach the graph on the next search
    more = unit(rng, 20)
    new_ids = add_images(store, more, 10_000)
    found, _, _, _ = index.search(more[3], 1, "default", 1)
    assert found[0] == new_ids[3]
    index.save()
    (saved,) = ann_dir.glob(f"visual-{vecs.shape[1]}-1-*.hnsw")
    saved_at = saved.stat().st_mtime_ns
    # a new process loads the saved graph (no rebuild, no save) and catches up from the database
    reloaded = VectorIndex(store.db, "visual", ann_dir, ann_threshold=100)
    found, _, _, _ = reloaded.search(more[5], 1, "default", 1)
    assert found[0] == new_ids[5]
    graph = reloaded._namespaces[(1, "default")].graph
    assert graph.index.get_current_count() == 320 and graph.unsaved == 0
    assert saved.stat().st_mtime_ns == saved_at


def test_vectors_written_after_a_delete_are_found(store):
    """Sequence numbers of deleted rows must not come back (they did, before AUTOINCREMENT)."""
    rng = np.random.default_rng(3)
    first = add_images(store, unit(rng, 4), 100)
    index = VectorIndex(store.db, "visual")
    assert len(index.search(unit(rng, 1)[0], 1, "default", 10)[0]) == 4
    with store.db.write() as conn:  # delete the newest images, whose vectors hold the highest seq
        conn.exec_driver_sql("DELETE FROM image_vectors WHERE image_id IN (?, ?)", (first[2], first[3]))
        conn.exec_driver_sql("DELETE FROM images WHERE id IN (?, ?)", (first[2], first[3]))
    fresh = unit(rng, 1)
    (new_id,) = add_images(store, fresh, 500)
    found, _, _, _ = index.search(fresh[0], 1, "default", 1)
    assert list(found) == [new_id]


def test_forgotten_vectors_leave_exact_search_and_the_graph(store, tmp_path):
    rng = np.random.default_rng(4)
    vecs = unit(rng, 150)
    ids = add_images(store, vecs, 1)
    for threshold in (10_000, 100):  # exact, then with the HNSW graph
        index = VectorIndex(store.db, "visual", tmp_path / f"v{threshold}", ann_threshold=threshold)
        assert index.search(vecs[9], 1, "default", 1)[0][0] == ids[9]
        index.forget([ids[9]])
        found, _, _, _ = index.search(vecs[9], 1, "default", 5)
        assert ids[9] not in found and len(found) == 5
        assert index.vector_of(ids[9]) is None


def test_queries_of_a_new_model_search_its_vectors_as_they_replace_the_older_ones(store):
    """A new visual model writes vectors of another length (bridge v3's gained a coordinate): a running server's
    index must follow its queries, not keep the older model's length and find nothing."""
    rng = np.random.default_rng(5)
    older = add_images(store, unit(rng, 6), 100)
    index = VectorIndex(store.db, "visual")
    assert len(index.search(unit(rng, 1)[0], 1, "default", 10)[0]) == 6

    def longer(n: int) -> np.ndarray:
        x = rng.standard_normal((n, DIM + 1)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    newer = longer(3)
    new_ids = add_images(store, newer, 200)
    found, sims, _, _ = index.search(newer[1], 1, "default", 10)
    assert list(found[:1]) == [new_ids[1]] and set(found) == set(new_ids) and sims[0] == pytest.approx(1.0, abs=1e-5)

    upgraded = longer(2)  # what upgrade-vectors does: delete the older rows, insert the new model's
    with store.db.write() as conn:
        for image_id, v in zip(older[:2], upgraded):
            conn.exec_driver_sql("DELETE FROM image_vectors WHERE image_id = ?", (image_id,))
            conn.exec_driver_sql("INSERT INTO image_vectors(image_id, space, model, vector) VALUES (?, 'visual', 't2', ?)",
                                 (image_id, v.astype("<f4").tobytes()))
    found, _, _, _ = index.search(upgraded[0], 1, "default", 10)
    assert found[0] == older[0] and set(found) == set(new_ids) | set(older[:2])
    assert len(index.search(unit(rng, 1)[0], 1, "default", 10)[0]) == 4  # the older length again: the rows left


def test_reading_new_rows_walks_only_its_own_space(store):
    """Each search reads the rows written since the last (refresh): by (space, seq), not past every row of
    the other spaces written after its own newest (migration 0013)."""
    rng = np.random.default_rng(3)
    ids = add_images(store, unit(rng, 3), 1000)
    with store.db.write() as conn:  # another space's rows after the newest 'visual' one
        for i in ids:
            conn.exec_driver_sql("INSERT INTO image_vectors(image_id, space, model, vector) VALUES (?, 'appearance', 't', x'00')", (i,))
    seen = []

    @event.listens_for(store.db.engine, "before_cursor_execute")
    def plan(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().startswith("SELECT") and "_vectors.seq >" in statement:
            seen.append(" ".join(r[-1] for r in cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)))

    with store.db.read() as conn:
        assert [r[1] for r in load_vectors(conn, "visual", 0)] == ids
        assert load_vectors(conn, "visual", 3) == [] and load_clip_vectors(conn, "speech", 0) == []
    assert len(seen) == 3
    assert "ix_image_vectors_space_seq (space=? AND seq>?)" in seen[0] and "ix_image_vectors_space_seq" in seen[1]
    assert "ix_video_vectors_space_seq (space=? AND seq>?)" in seen[2]
