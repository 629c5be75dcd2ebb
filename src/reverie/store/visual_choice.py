"""Which visual model a library's vectors come from, recorded in the database so that every server and
worker of the library embeds with it: vectors of two models are not comparable. `reverie models add-clip`
records a switch; an explicit --visual-model (REVERIE_VISUAL_MODEL) still wins, for trying one out."""

from __future__ import annotations

import json
from dataclasses import replace

from sqlalchemy import Connection, select

from ..config import Settings
from .db import Database
from .schema import server_settings

KEY = "visual_model"


def recorded(conn: Connection) -> dict | None:
    """{"visual_model": "clip", "clip_path": "..."} once a switch was recorded."""
    value = conn.execute(select(server_settings.c.value).where(server_settings.c.key == KEY)).scalar_one_or_none()
    return json.loads(value) if value else None


def record(conn: Connection, visual_model: str, clip_path: str = "") -> None:
    conn.execute(server_settings.delete().where(server_settings.c.key == KEY))
    conn.execute(server_settings.insert().values(key=KEY, value=json.dumps({"visual_model": visual_model,
                                                                           "clip_path": clip_path})))


def resolved(db: Database, settings: Settings) -> Settings:
    """The settings with the library's visual model filled in where none was given."""
    if settings.visual_model:
        return settings
    with db.read() as conn:
        choice = recorded(conn) or {"visual_model": "conse", "clip_path": settings.clip_path}
    return replace(settings, **choice)
