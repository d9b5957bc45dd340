"""`rasd replay`: run the current rules over stored items — a backtest, dry by default."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from monitor.app import App
from monitor.config import Settings
from monitor.domain import FeedState
from monitor.pipeline import Filed, utcnow
from storage import items as item_repo

__all__ = ["replay"]


async def replay(
    settings: Settings, *, since: timedelta, rule: str | None, notify: bool, as_json: bool
) -> int:
    async with App(settings) as app:
        fired = await asyncio.to_thread(_replay, app, since, rule, notify, as_json)
        if notify:
            await app.dispatch()
    if not as_json:
        verb = "raised" if notify else "would fire"
        print(f"replay: {fired} matches {verb} over the last {since}")
    return 0


def _replay(app: App, since: timedelta, rule: str | None, notify: bool, as_json: bool) -> int:
    now = utcnow()
    fired = 0
    with app.sessions.begin() as session:
        stored_items = list(item_repo.iter_items(session, now - since))
    for stored in stored_items:
        feed = FeedState(id=stored.feed_id, url="", name=stored.feed, tags=stored.feed_tags)
        (entry,) = app.pipeline.analyse(feed, [stored.item])
        entry.matches = [m for m in entry.matches if not rule or m.rule_id == rule]
        if not entry.matches:
            continue
        fired += len(entry.matches)
        filed = Filed(None, None, None)
        if notify:
            with app.sessions.begin() as session:
                filed = app.pipeline.file_item(session, feed, stored.id, entry, now)
            if filed.story_id is not None:
                app.pipeline.index_story_item(stored.id, filed.story_id, entry, None, now)
        for match in entry.matches:
            new_alert = filed.alert_id is not None and match.rule_id == filed.rule_id
            if as_json:
                row = {
                    "item_id": stored.id,
                    "rule": match.rule_id,
                    "severity": match.severity,
                    "tags": list(match.tags),
                    "title": stored.item.title,
                    "feed": stored.feed,
                    "matched_terms": list(match.matched_terms),
                    "new_alert": new_alert,
                }
                print(json.dumps(row, ensure_ascii=False))
            else:
                mark = " (new alert)" if new_alert else ""
                print(
                    f"{match.rule_id} [{match.severity}] {stored.item.title[:100]} "
                    f"— {stored.feed}{mark}"
                )
    return fired
