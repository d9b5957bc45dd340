"""Jinja2 templates for alert text: the built-in ones in notifiers/templates/, each
overridable by a file of the same name in RenderSettings.templates_dir."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from notifiers.base import RenderSettings

__all__ = ["BUILTIN_TEMPLATES", "render_template"]

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=16)
def _environment(templates_dir: Path | None) -> Environment:
    loaders = [FileSystemLoader(str(BUILTIN_TEMPLATES))]
    if templates_dir is not None:
        loaders.insert(0, FileSystemLoader(str(templates_dir)))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render_template(settings: RenderSettings, name: str, **context: Any) -> str:
    """Render `name`; `.html` templates autoescape, others get text escaped beforehand."""
    return _environment(settings.templates_dir).get_template(name).render(**context).strip()
