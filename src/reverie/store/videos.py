"""Video rows and what indexing derives from them: clips, transcript segments, their vectors and text."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Connection, Row, and_, delete, exists, func, or_, select, text

from . import jobs as job_queue
from . import people, spoken_words, vector_rows
from .schema import transcript_segments, video_clips, video_tags, video_vectors, videos
from .search_index import confident_labels, fold, searchable_text, tag_text

PREFIX = "VI"
STATUSES = ("UNPARSE", "PARSE", "FAILED")


def video_no(video_id: int) -> str:
    return f"{PREFIX}{video_id}"


def parse_video_no(value: str) -> int | None:
    """The id inside a `VI…` number; None for anything that cannot be one of ours."""
    digits = value[len(PREFIX):] if value.startswith(PREFIX) else ""
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 19 and int(digits) < 2**63 else None


def original_key(video_id: int, container: str) -> str:
    return f"videos/{video_id}.{container}"


def keyframe_key(video_id: int, second: float) -> str:
    return f"keyframes/{video_id}/keyframe-{int(round(second * 1000)):09d}.jpg"


def keyframe_key_named(video_id: int, name: str) -> str | None:
    """The blob key of a keyframe file name a client sent back, if it is well-formed."""
    stem = name.removeprefix("keyframe-").removesuffix(".jpg")
    if not name.startswith("keyframe-") or not name.endswith(".jpg") or not stem.isascii() or not stem.isdigit() or len(stem) != 9:
        return None
    return f"keyframes/{video_id}/{name}"


def insert(conn: Connection, row: dict, tags: list[str]) -> None:
    conn.execute(videos.insert().values(**row))
    if tags:
        conn.execute(video_tags.insert(), [dict(video_id=row["id"], tag=t, position=i) for i, t in enumerate(tags)])


def get(conn: Connection, account_id: int, video_id: int) -> Row | None:
    return conn.execute(select(videos).where(videos.c.id == video_id, videos.c.account_id == account_id)).first()


def get_any(conn: Connection, video_id: int) -> Row | None:
    return conn.execute(select(videos).where(videos.c.id == video_id)).first()


def get_many(conn: Connection, account_id: int, video_ids: list[int]) -> dict[int, Row]:
    if not video_ids:
        return {}
    return {r.id: r for r in conn.execute(select(videos).where(videos.c.id.in_(video_ids))) if r.account_id == account_id}


def tags_of(conn: Connection, video_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in video_ids}
    if video_ids:
        q = (select(video_tags.c.video_id, video_tags.c.tag).where(video_tags.c.video_id.in_(video_ids))
             .order_by(video_tags.c.video_id, video_tags.c.position))
        for video_id, tag in conn.execute(q):
            out[video_id].append(tag)
    return out


@dataclass
class VideoFilter:
    unique_id: str
    video_ids: list[int] | None = None  # None: any; []: none
    name: str | None = None
    statuses: list[str] = field(default_factory=list)
    camera_model: str | None = None
    tags_any: list[str] = field(default_factory=list)
    taken_from_ms: int | None = None
    taken_to_ms: int | None = None


def where(account_id: int, f: VideoFilter):  # noqa: ANN201
    cond = [videos.c.account_id == account_id, videos.c.unique_id == f.unique_id]
    if f.video_ids is not None:
        cond.append(videos.c.id.in_(f.video_ids))
    if f.name is not None:  # as listings show it (no extension), or the file name as uploaded
        stem = f.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with_extension = and_(videos.c.name.like(f"{stem}.%", escape="\\"), videos.c.name.not_like(f"{stem}.%.%", escape="\\"))
        cond.append(or_(videos.c.name == f.name, with_extension))
    if f.statuses:
        cond.append(videos.c.status.in_(f.statuses))
    if f.camera_model is not None:
        cond.append(videos.c.camera_model == f.camera_model)
    if f.tags_any:
        cond.append(exists().where(video_tags.c.video_id == videos.c.id, video_tags.c.tag.in_(f.tags_any)))
    if f.taken_from_ms is not None:
        cond.append(videos.c.datetime_taken_ms >= f.taken_from_ms)
    if f.taken_to_ms is not None:
        cond.append(videos.c.datetime_taken_ms <= f.taken_to_ms)
    return and_(*cond)


def page(conn: Connection, account_id: int, f: VideoFilter, page_no: int, size: int) -> tuple[int, list[Row]]:
    w = where(account_id, f)
    total = conn.execute(select(func.count()).select_from(videos).where(w)).scalar_one()
    rows = conn.execute(select(videos).where(w).order_by(videos.c.id.desc()).offset((page_no - 1) * size).limit(size)).all()
    return total, rows


def clips_of(conn: Connection, video_id: int) -> list[Row]:
    return conn.execute(select(video_clips).where(video_clips.c.video_id == video_id).order_by(video_clips.c.idx)).all()


def segments_of(conn: Connection, video_id: int) -> list[Row]:
    q = select(transcript_segments).where(transcript_segments.c.video_id == video_id).order_by(transcript_segments.c.idx)
    return conn.execute(q).all()


def clear_clips(conn: Connection, video_id: int) -> list[str]:
    """Drop what an earlier video.index attempt wrote (a retried job starts clean); returns keyframe keys."""
    clip_ids = list(conn.execute(select(video_clips.c.id).where(video_clips.c.video_id == video_id)).scalars())
    keys = list(conn.execute(select(video_clips.c.keyframe_key).where(video_clips.c.video_id == video_id)).scalars())
    if clip_ids:
        conn.execute(text(f"DELETE FROM clip_fts WHERE rowid IN ({','.join(str(int(i)) for i in clip_ids)})"))
        people.refresh(conn, people.drop_clip_faces(conn, clip_ids))  # the faces job finds them again
    conn.execute(delete(video_vectors).where(video_vectors.c.video_id == video_id, video_vectors.c.space != "speech"))
    conn.execute(delete(video_clips).where(video_clips.c.video_id == video_id))
    return keys


def clear_segments(conn: Connection, video_id: int) -> None:
    """Drop what an earlier video.asr attempt wrote."""
    seg_ids = list(conn.execute(select(transcript_segments.c.id).where(transcript_segments.c.video_id == video_id)).scalars())
    if seg_ids:
        conn.execute(text(f"DELETE FROM segment_words WHERE rowid IN ({','.join(str(int(i)) for i in seg_ids)})"))
    conn.execute(delete(video_vectors).where(video_vectors.c.video_id == video_id, video_vectors.c.space == "speech"))
    conn.execute(delete(transcript_segments).where(transcript_segments.c.video_id == video_id))
    conn.execute(videos.update().where(videos.c.id == video_id).values(language=None))


def clear_derived(conn: Connection, video_id: int) -> list[str]:
    """Drop everything indexing wrote; returns keyframe keys."""
    clear_segments(conn, video_id)
    return clear_clips(conn, video_id)


def set_caption(conn: Connection, clip_id: int, caption: str, ocr_text: str | None, unglued: list[str]) -> None:
    """A clip's caption, and its full-text row: the caption with the text on screen's dotted initials and
    glued words split apart (`unglued`, index/glued_words.py), as a photo's text is indexed."""
    conn.execute(video_clips.update().where(video_clips.c.id == clip_id).values(caption=caption))
    conn.execute(text("UPDATE clip_fts SET caption = :c WHERE rowid = :id"),
                 {"c": searchable_text(caption, ocr_text or "", unglued), "id": clip_id})


def write_segments(conn: Connection, video_id: int, segments: list, vectors, model: str) -> list[int]:  # noqa: ANN001
    """A video's transcript: its segments, their vectors, and their rows of the phrase index; the video's
    language is the one most of its words were heard in."""
    ids = []
    for i, (seg, vec) in enumerate(zip(segments, vectors)):
        seg_id = conn.execute(transcript_segments.insert().values(
            video_id=video_id, idx=i, start_s=seg.start, end_s=seg.end, text=seg.text,
            words_json=json.dumps(seg.words), language=seg.language)).inserted_primary_key[0]
        ids.append(seg_id)
        conn.execute(video_vectors.insert().values(video_id=video_id, item_id=seg_id, space="speech", model=model,
                                                   **vector_rows.stored(conn, vec)))
    rows = spoken_words.index_rows([[w[0] for w in s.words] if s.words else s.text.split() for s in segments])
    if ids:
        conn.execute(text("INSERT INTO segment_words(rowid, text, tail) VALUES (:id, :t, :tail)"),
                     [{"id": i, "t": t, "tail": tail} for i, (t, tail) in zip(ids, rows)])
    counts = Counter()
    for s in segments:
        counts[s.language] += len(s.words) or 1
    language = counts.most_common(1)[0][0] if counts else None
    conn.execute(videos.update().where(videos.c.id == video_id).values(language=language))
    return ids


def write_clip_names(conn: Connection, clip_ids: list[int]) -> None:
    """The names of the people in these clips into their full-text rows (beside the video's tags, as for
    photos), after a person is named, merged or loses a face, or the clips' faces are found."""
    if not clip_ids:
        return
    names = people.names_in(conn, clip_ids, clips=True)
    rows = conn.execute(select(video_clips.c.id, video_clips.c.video_id).where(video_clips.c.id.in_(clip_ids))).all()
    tags = tags_of(conn, list({r.video_id for r in rows}))
    for r in rows:
        conn.execute(text("UPDATE clip_fts SET tags = :t WHERE rowid = :id"),
                     {"id": r.id, "t": tag_text(tags[r.video_id], names[r.id])})


def write_clips(conn: Connection, video_id: int, clips: list, tags: list[str], name: str, model: str) -> None:  # noqa: ANN001
    for i, c in enumerate(clips):
        clip_id = conn.execute(video_clips.insert().values(
            video_id=video_id, idx=i, start_s=c.start, end_s=c.end, keyframe_key=c.keyframe_key,
            labels_json=json.dumps(c.labels), objects_json=json.dumps(c.objects),
            object_likelihoods_json=json.dumps(c.likelihoods), ocr_text=c.ocr_text or None,
            caption=c.caption)).inserted_primary_key[0]
        for space, vec in (("clip_visual", c.visual), ("clip_appearance", c.features)):
            conn.execute(video_vectors.insert().values(video_id=video_id, item_id=clip_id, space=space, model=model,
                                                       **vector_rows.stored(conn, vec)))
        conn.execute(text("INSERT INTO clip_fts(rowid, caption, labels, tags, name) VALUES (:id, :c, :l, :t, :n)"),
                     {"id": clip_id, "c": searchable_text(c.caption, c.ocr_text, c.unglued), "l": fold(confident_labels(c.labels)),
                      "t": fold(" ".join(tags)), "n": fold(name.rsplit(".", 1)[0].replace("_", " ").replace("-", " "))})


def delete_rows(conn: Connection, account_id: int, unique_id: str, video_ids: list[int]) -> tuple[list[Row], list[str]]:
    """Delete videos with everything derived; returns the rows and the keyframe keys to remove."""
    rows = conn.execute(select(videos).where(videos.c.account_id == account_id, videos.c.unique_id == unique_id,
                                             videos.c.id.in_(video_ids))).all()
    keys: list[str] = []
    for r in rows:
        keys += clear_derived(conn, r.id)
    ids = [r.id for r in rows]
    if ids:
        conn.execute(video_tags.delete().where(video_tags.c.video_id.in_(ids)))
        job_queue.delete_for(conn, ids)
        conn.execute(videos.delete().where(videos.c.id.in_(ids)))
    return rows, keys


def load_vectors(conn: Connection, space: str, after_seq: int):  # noqa: ANN201
    """Rows written since `after_seq`: (seq, item id, account_id, unique_id, model, vector bytes)."""
    q = (
        select(video_vectors.c.seq, video_vectors.c.item_id, videos.c.account_id, videos.c.unique_id,
               video_vectors.c.model, video_vectors.c.vector)
        .join(videos, videos.c.id == video_vectors.c.video_id)
        .where(video_vectors.c.space == space, video_vectors.c.seq > after_seq)
        .order_by(video_vectors.c.seq)
    )
    return conn.execute(q).all()
