"""Faces and the people they are grouped into, per account and namespace.

Grouping is incremental: a new face joins the person whose centroid (the mean embedding of its faces) is
nearest, when that is within MATCH_DISTANCE, and starts a person of its own otherwise. Nothing already
grouped moves, so a person keeps its id as photos arrive; merging and taking a face out are the user's.
Chosen on the dev faces (30 people x 5 LFW photos, 20 upload orders; `bench/faces.py --choices`):
centroid distance 0.51 gives pairwise precision 0.97 and recall 0.89 on average (0.50: 0.995 / 0.86, 0.52:
0.97 / 0.90); the nearest single face within 0.5 gives 0.99 / 0.82, and dlib's Chinese Whispers (a full
re-cluster, which would move people's ids) 0.90 / 0.87 at 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, and_, delete, exists, func, or_, select, text

from .db import now_ms
from .schema import faces, images, people, video_clips, videos

MATCH_DISTANCE = 0.51
EMBEDDING_SIZE = 128
PERSON_PREFIX, FACE_PREFIX = "PE", "FA"


@dataclass(frozen=True)
class FoundFace:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the upright photo
    score: float
    embedding: np.ndarray
    crop_key: str


def person_no(person_id: int) -> str:
    return f"{PERSON_PREFIX}{person_id}"


def face_no(face_id: int) -> str:
    return f"{FACE_PREFIX}{face_id}"


def parse_no(value: object, prefix: str) -> int | None:
    """The row id inside "PE12" / "FA7"; None for anything else."""
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    digits = value[len(prefix):]
    if not (digits.isascii() and digits.isdigit() and 0 < len(digits) <= 10):
        return None
    number = int(digits)
    return number if 0 < number < 2**31 else None  # the ids are 32-bit (PostgreSQL refuses more)


def _lock(conn: Connection, account_id: int, unique_id: str) -> None:
    """Serialise grouping within a namespace. SQLite's write lock already does; on PostgreSQL two photos of
    one new person, grouped at once, would otherwise each start a person."""
    if conn.dialect.name != "sqlite":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"people:{account_id}:{unique_id}"})


def _vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def replace_faces(conn: Connection, image, found: list[FoundFace]) -> list[str]:  # noqa: ANN001
    """Store a photo's faces in place of any it had (a redone job replaces what its attempt wrote) and group
    them. Returns the crop keys of faces that are gone, for the caller to delete after the commit."""
    _lock(conn, image.account_id, image.unique_id)
    old = conn.execute(select(faces.c.person_id, faces.c.crop_key).where(faces.c.image_id == image.id)).all()
    conn.execute(delete(faces).where(faces.c.image_id == image.id))
    refresh(conn, [r.person_id for r in old if r.person_id is not None])
    _group(conn, image.account_id, image.unique_id, [({"image_id": image.id}, found)])
    kept = {f.crop_key for f in found}
    return [r.crop_key for r in old if r.crop_key not in kept]


def replace_clip_faces(conn: Connection, video, found: dict[int, list[FoundFace]]) -> None:  # noqa: ANN001
    """Store the faces of a video's clips (clip id -> the faces of its keyframe) in place of any they had."""
    _lock(conn, video.account_id, video.unique_id)
    clips = select(video_clips.c.id).where(video_clips.c.video_id == video.id).scalar_subquery()
    refresh(conn, drop_clip_faces(conn, clips))
    _group(conn, video.account_id, video.unique_id, [({"clip_id": clip_id}, f) for clip_id, f in found.items()])


def drop_clip_faces(conn: Connection, clip_ids) -> list[int]:  # noqa: ANN001  (a list or a subquery)
    """Delete the faces of these clips; returns their people, to be refreshed by the caller."""
    persons = conn.execute(select(faces.c.person_id).where(faces.c.clip_id.in_(clip_ids),
                                                           faces.c.person_id.is_not(None))).scalars().all()
    conn.execute(delete(faces).where(faces.c.clip_id.in_(clip_ids)))
    return list(persons)


def _group(conn: Connection, account_id: int, unique_id: str, pictures: list[tuple[dict, list[FoundFace]]]) -> None:
    """Insert the faces of some pictures (each: its owner column, its faces), each joining the nearest person
    of the namespace within MATCH_DISTANCE or starting one."""
    rows = conn.execute(select(people.c.id, people.c.centroid, people.c.face_count).where(
        people.c.account_id == account_id, people.c.unique_id == unique_id)).all()
    ids = [r.id for r in rows]
    counts = [r.face_count for r in rows]
    centroids = np.array([_vector(r.centroid) for r in rows], dtype=np.float32).reshape(-1, EMBEDDING_SIZE)
    for owner, found in pictures:
        for idx, face in enumerate(found):
            person = None
            if ids:
                distances = np.linalg.norm(centroids - face.embedding, axis=1)
                best = int(np.argmin(distances))
                if distances[best] <= MATCH_DISTANCE:
                    person = best
            if person is None:
                new_id = conn.execute(people.insert().values(
                    account_id=account_id, unique_id=unique_id, name=None,
                    centroid=face.embedding.astype(np.float32).tobytes(), face_count=0, created_ms=now_ms(),
                ).returning(people.c.id)).scalar_one()
                ids.append(new_id)
                counts.append(0)
                centroids = np.vstack([centroids, face.embedding[None, :]])
                person = len(ids) - 1
            counts[person] += 1
            centroids[person] += (face.embedding - centroids[person]) / counts[person]
            conn.execute(faces.insert().values(
                **owner, idx=idx, person_id=ids[person], x0=face.box[0], y0=face.box[1], x1=face.box[2],
                y1=face.box[3], score=face.score, embedding=face.embedding.astype(np.float32).tobytes(),
                crop_key=face.crop_key))
            conn.execute(people.update().where(people.c.id == ids[person]).values(
                centroid=centroids[person].tobytes(), face_count=counts[person]))


def refresh(conn: Connection, person_ids: list[int]) -> None:
    """Recompute centroids and counts from the faces left; a person with none left is gone."""
    for person_id in set(person_ids):
        blobs = conn.execute(select(faces.c.embedding).where(faces.c.person_id == person_id)).scalars().all()
        if not blobs:
            conn.execute(delete(people).where(people.c.id == person_id))
            continue
        centroid = np.mean([_vector(b) for b in blobs], axis=0).astype(np.float32)
        conn.execute(people.update().where(people.c.id == person_id).values(
            centroid=centroid.tobytes(), face_count=len(blobs)))


def leaving(conn: Connection, account_id: int, unique_id: str, image_ids: list[int]) -> tuple[list[int], list[str]]:
    """The people and face crops of images about to be deleted (their faces go with them by cascade)."""
    if not image_ids:
        return [], []
    _lock(conn, account_id, unique_id)
    rows = conn.execute(select(faces.c.person_id, faces.c.crop_key).join(images, images.c.id == faces.c.image_id)
                        .where(images.c.account_id == account_id, images.c.unique_id == unique_id,
                               faces.c.image_id.in_(image_ids))).all()
    return [r.person_id for r in rows if r.person_id is not None], [r.crop_key for r in rows]


def leaving_videos(conn: Connection, account_id: int, unique_id: str, video_ids: list[int]) -> list[int]:
    """The people of the clips of videos about to be deleted (their faces go with the clips)."""
    if not video_ids:
        return []
    _lock(conn, account_id, unique_id)
    q = (select(faces.c.person_id).join(video_clips, video_clips.c.id == faces.c.clip_id)
         .join(videos, videos.c.id == video_clips.c.video_id)
         .where(videos.c.account_id == account_id, videos.c.unique_id == unique_id, videos.c.id.in_(video_ids),
                faces.c.person_id.is_not(None)))
    return list(conn.execute(q).scalars())


def of_image(conn: Connection, image_id: int) -> list:
    return conn.execute(select(faces).where(faces.c.image_id == image_id).order_by(faces.c.idx)).all()


def names_in(conn: Connection, ids: list[int], clips: bool = False) -> dict[int, list[str]]:
    """The names of the people in each image (or, with `clips`, each clip's keyframe); unnamed people have
    none."""
    owner = faces.c.clip_id if clips else faces.c.image_id
    out: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        q = (select(owner.label("owner"), people.c.name).join(people, people.c.id == faces.c.person_id)
             .where(owner.in_(ids), people.c.name.is_not(None)).order_by(faces.c.idx))
        for r in conn.execute(q):
            if r.name not in out[r.owner]:
                out[r.owner].append(r.name)
    return out


def names_by_person(conn: Connection, person_ids: list) -> dict[int, str]:
    ids = [p for p in set(person_ids) if p is not None]
    if not ids:
        return {}
    q = select(people.c.id, people.c.name).where(people.c.id.in_(ids), people.c.name.is_not(None))
    return {r.id: r.name for r in conn.execute(q)}


def named(conn: Connection, account_id: int, unique_id: str) -> list:
    """(id, name) of the namespace's named people."""
    return conn.execute(select(people.c.id, people.c.name).where(
        people.c.account_id == account_id, people.c.unique_id == unique_id, people.c.name.is_not(None))).all()


def get(conn: Connection, account_id: int, unique_id: str, person_id: int):  # noqa: ANN201
    return conn.execute(select(people).where(people.c.id == person_id, people.c.account_id == account_id,
                                             people.c.unique_id == unique_id)).first()


def images_of(conn: Connection, person_ids: list[int]) -> list[int]:
    q = select(faces.c.image_id).where(faces.c.person_id.in_(person_ids), faces.c.image_id.is_not(None)).distinct()
    return list(conn.execute(q).scalars())


def clips_of(conn: Connection, person_ids: list[int]) -> list[int]:
    q = select(faces.c.clip_id).where(faces.c.person_id.in_(person_ids), faces.c.clip_id.is_not(None)).distinct()
    return list(conn.execute(q).scalars())


def page(conn: Connection, account_id: int, unique_id: str, number: int, size: int) -> tuple[int, list]:
    """(people in the namespace, one page of them: most photos first), each with its photo and clip counts
    and the crop of its most confident face as cover."""
    mine = and_(people.c.account_id == account_id, people.c.unique_id == unique_id)
    total = conn.execute(select(func.count()).select_from(people).where(mine)).scalar_one()
    image_count = func.count(faces.c.image_id.distinct()).label("image_count")
    clip_count = func.count(faces.c.clip_id.distinct()).label("clip_count")
    rows = conn.execute(
        select(people.c.id, people.c.name, people.c.face_count, image_count, clip_count)
        .join(faces, faces.c.person_id == people.c.id).where(mine).group_by(people.c.id, people.c.name,
                                                                            people.c.face_count)
        .order_by(image_count.desc(), clip_count.desc(), people.c.id).limit(size).offset((number - 1) * size)
    ).all()
    covers: dict[int, int] = {}
    if rows:
        q = (select(faces.c.person_id, faces.c.id).where(faces.c.person_id.in_([r.id for r in rows]))
             .order_by(faces.c.score.desc(), faces.c.id))
        for r in conn.execute(q):
            covers.setdefault(r.person_id, r.id)
    return total, [(r, covers[r.id]) for r in rows]


def rename(conn: Connection, person_id: int, name: str | None) -> None:
    conn.execute(people.update().where(people.c.id == person_id).values(name=name))


def merge(conn: Connection, account_id: int, unique_id: str, person_ids: list[int], into: int) -> None:
    """Move the faces of `person_ids` into `into`; it keeps its name, or takes the first name among them."""
    _lock(conn, account_id, unique_id)
    others = [p for p in dict.fromkeys(person_ids) if p != into]
    if not others:
        return
    target = conn.execute(select(people.c.name).where(people.c.id == into)).scalar_one()
    if target is None:
        names = conn.execute(select(people.c.id, people.c.name).where(people.c.id.in_(others))).all()
        named = {r.id: r.name for r in names if r.name}
        first = next((named[p] for p in others if p in named), None)
        if first is not None:
            rename(conn, into, first)
    conn.execute(faces.update().where(faces.c.person_id.in_(others)).values(person_id=into))
    refresh(conn, [into, *others])


def _owned(account_id: int, unique_id: str | None):  # noqa: ANN202
    """Faces in a photo or a clip of this account (and namespace, when given)."""
    photo = [images.c.id == faces.c.image_id, images.c.account_id == account_id]
    video = [video_clips.c.id == faces.c.clip_id, videos.c.id == video_clips.c.video_id, videos.c.account_id == account_id]
    if unique_id is not None:
        photo.append(images.c.unique_id == unique_id)
        video.append(videos.c.unique_id == unique_id)
    return or_(exists().where(*photo), exists().where(*video))


def face_in(conn: Connection, account_id: int, unique_id: str, face_id: int):  # noqa: ANN201
    """The face, when it is in a photo or clip of this account and namespace."""
    return conn.execute(select(faces).where(faces.c.id == face_id, _owned(account_id, unique_id))).first()


def face_of_account(conn: Connection, account_id: int, face_id: int):  # noqa: ANN201
    """The face, when it is in a photo or clip of this account (signed links name no namespace)."""
    return conn.execute(select(faces).where(faces.c.id == face_id, _owned(account_id, None))).first()


def take_out(conn: Connection, account_id: int, unique_id: str, face) -> None:  # noqa: ANN001
    """A wrongly grouped face leaves its person, and joins no other."""
    _lock(conn, account_id, unique_id)
    conn.execute(faces.update().where(faces.c.id == face.id).values(person_id=None))
    if face.person_id is not None:
        refresh(conn, [face.person_id])
