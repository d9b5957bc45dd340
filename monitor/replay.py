"""`rasd replay`: run the current rules over stored items — a backtest, dry by default."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from monitor.app import App
from monitor.config import Settings
from monitor.domain import Document
from monitor.pipeline import utcnow
from storage import alerts as alert_repo
from storage import deliveries as delivery_repo
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
    matcher = app.rules.current()
    now = utcnow()
    fired = 0
    with app.sessions.begin() as session:
        stored_items = list(item_repo.iter_items(session, now - since))
    for stored in stored_items:
        doc = Document(
            title=stored.item.title,
            summary=stored.item.summary,
            lang=stored.item.lang,
            feed=stored.feed,
            feed_tags=stored.feed_tags,
        )
        for match in matcher.match(doc):
            if rule and match.rule_id != rule:
                continue
            fired += 1
            created = False
            if notify and stored.story_id is not None:
                with app.sessions.begin() as session:
                    alert_id, created = alert_repo.get_or_add_alert(
                        session,
                        match,
                        story_id=stored.story_id,
                        item_id=stored.id,
                        item=stored.item,
                        feed=stored.feed,
                        sources=[stored.feed],
                        now=now,
                    )
                    if created:
                        delivery_repo.add_deliveries(
                            session,
                            alert_id,
                            app.pipeline.plan_deliveries(match, stored.item.lang, now),
                            now,
                        )
            if as_json:
                print(
                    json.dumps(
                        {
                            "item_id": stored.id,
                            "rule": match.rule_id,
                            "severity": match.severity,
                            "tags": list(match.tags),
                            "title": stored.item.title,
                            "feed": stored.feed,
                            "matched_terms": list(match.matched_terms),
                            "new_alert": created,
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                mark = " (new alert)" if created else ""
                print(
                    f"{match.rule_id} [{match.severity}] {stored.item.title[:100]} "
                    f"— {stored.feed}{mark}"
                )
    return fired
