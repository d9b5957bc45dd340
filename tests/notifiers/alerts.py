"""Alerts for the notifier tests: Arabic and French, hits at real offsets, a hostile one."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.domain import Alert, TermHit

HOSTILE_TITLE = "<script>alert(1)</script> & @everyone <b>"


def hit(text: str, word: str, field: str = "title", term: str | None = None) -> TermHit:
    start = text.index(word)
    return TermHit(term or word, field, start, start + len(word), word)  # type: ignore[arg-type]


AR_TITLE = "أزمة الوقود في باماكو: طوابير طويلة أمام محطات Total"
AR_SUMMARY = (
    "تشهد العاصمة المالية باماكو نقصا حادا في الوقود بعد هجمات على قوافل الصهاريج "
    "القادمة من السنغال، وتقول السلطات إن الإمدادات ستعود خلال أيام."
)
FR_TITLE = "Mali : l'armée et Wagner/Africa Corps annoncent une opération près de Kidal"
FR_SUMMARY = (
    "Les Forces armées maliennes (FAMa) et leurs partenaires russes d'Africa Corps "
    "ont lancé une opération dans la région de Kidal, selon un communiqué publié mardi."
)


def arabic_alert(**changes: object) -> Alert:
    fields: dict[str, object] = dict(
        id=101,
        rule_id="fuel-crisis",
        rule_title="أزمة الوقود",
        severity="high",
        tags=("fuel", "mali"),
        title=AR_TITLE,
        summary=AR_SUMMARY,
        url="https://www.example-ar.ml/news/123?utm_source=x&a=b",
        feed="صحيفة الساحل",
        published=datetime(2025, 3, 4, 9, 30, tzinfo=UTC),
        lang="ar",
        hits=(
            hit(AR_TITLE, "الوقود", term="وقود"),
            hit(AR_TITLE, "باماكو"),
            hit(AR_SUMMARY, "الوقود", "summary", term="وقود"),
            hit(AR_SUMMARY, "الصهاريج", "summary", term="صهريج*"),
        ),
        story_id=7,
        sources=("صحيفة الساحل", "Mali Actu", "الجزيرة"),
        created_at=datetime(2025, 3, 4, 9, 31, tzinfo=UTC),
    )
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def french_alert(**changes: object) -> Alert:
    fields: dict[str, object] = dict(
        id=202,
        rule_id="russia-coop",
        rule_title="Coopération militaire russe",
        severity="critical",
        tags=("russia", "security"),
        title=FR_TITLE,
        summary=FR_SUMMARY,
        url="https://www.example.fr/afrique/mali-kidal",
        feed="Le Sahel Info",
        published=datetime(2025, 3, 4, 23, 50, tzinfo=UTC),
        lang="fr",
        hits=(
            hit(FR_TITLE, "Wagner"),
            hit(FR_TITLE, "Africa Corps"),
            hit(FR_SUMMARY, "russes", "summary", term="russe*"),
        ),
        story_id=8,
        sources=("Le Sahel Info",),
    )
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def hostile_alert(**changes: object) -> Alert:
    title = HOSTILE_TITLE
    summary = "Body with <img src=x onerror=alert(1)> and @here and *stars* _under_ `tick` [x](y)"
    fields: dict[str, object] = dict(
        id=303,
        rule_id="security",
        rule_title="Sécurité <i>",
        severity="medium",
        tags=("security",),
        title=title,
        summary=summary,
        url="javascript:alert(1)",
        feed="Evil & Co <feed>",
        published=None,
        lang="fr",
        hits=(hit(title, "alert"),),
        sources=("Evil & Co <feed>", "@everyone news"),
    )
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]
