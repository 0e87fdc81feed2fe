"""Jinja2 templates of the pages, with filters for local times and numbers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def local_time(value: datetime | None, timezone: str = "UTC") -> str:
    """Format a time in a site's zone, e.g. 'Mon 13 Jul 2026, 15:00 EDT'."""
    if value is None:
        return "–"
    return value.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %Y, %H:%M %Z")


def clock_time(value: datetime | None, timezone: str = "UTC") -> str:
    if value is None:
        return "–"
    return value.astimezone(ZoneInfo(timezone)).strftime("%H:%M:%S")


templates.env.filters["local_time"] = local_time
templates.env.filters["clock_time"] = clock_time
