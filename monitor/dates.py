"""French and Arabic dates as news sites write them, for `feedparser.registerDateHandler`.

    « 11 novembre 2025 », « mar. 11 nov. 2025 à 14h30 », « 1er mars 2025 10:05 »
    « ١١ نوفمبر ٢٠٢٥ », « 11 نوفمبر 2025 - 14:30 », « الثلاثاء 11 تشرين الثاني 2025 »

Also the Maghreb month names (جانفي, فيفري, أفريل, ماي, جوان, جويلية, أوت) and Arabic-Indic
digits. Without a zone the time is taken as UTC. Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
import time
import unicodedata
from calendar import timegm
from datetime import UTC, datetime, timedelta

__all__ = ["parse_localized_date"]

_MAX_INPUT = 120

_FRENCH_MONTHS = {
    "janvier": 1, "janv": 1, "jan": 1,
    "fevrier": 2, "fevr": 2, "fev": 2,
    "mars": 3, "mar": 3,
    "avril": 4, "avr": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7, "juil": 7,
    "aout": 8,
    "septembre": 9, "sept": 9, "sep": 9,
    "octobre": 10, "oct": 10,
    "novembre": 11, "nov": 11,
    "decembre": 12, "dec": 12,
}  # fmt: skip
_ARABIC_MONTHS = {
    # Egyptian / Gulf (transliterated)
    "يناير": 1, "فبراير": 2, "مارس": 3, "ابريل": 4, "مايو": 5, "يونيو": 6, "يونيه": 6,
    "يوليو": 7, "يوليه": 7, "اغسطس": 8, "سبتمبر": 9, "اكتوبر": 10, "نوفمبر": 11,
    "ديسمبر": 12,
    # Maghreb (from French)
    "جانفي": 1, "فيفري": 2, "افريل": 4, "ماي": 5, "جوان": 6, "جويلية": 7, "جويليه": 7, "اوت": 8,
    "شتنبر": 9, "نونبر": 11, "دجنبر": 12, "يوليوز": 7, "غشت": 8,
    # Levantine (Syriac)
    "كانون الثاني": 1, "شباط": 2, "اذار": 3, "نيسان": 4, "ايار": 5, "حزيران": 6,
    "تموز": 7, "اب": 8, "ايلول": 9, "تشرين الاول": 10, "تشرين الثاني": 11,
    "كانون الاول": 12,
}  # fmt: skip
_WEEKDAYS = (
    "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|lun|mar|mer|jeu|ven|sam|dim|"
    "الاثنين|الإثنين|الثلاثاء|الاربعاء|الأربعاء|الخميس|الجمعة|السبت|الاحد|الأحد"
)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_MONTH_WORDS = "|".join(
    sorted((re.escape(m) for m in (*_FRENCH_MONTHS, *_ARABIC_MONTHS)), key=len, reverse=True)
)
_DATE = re.compile(
    rf"""^(?:(?:{_WEEKDAYS})\.?\s*[,،]?\s*)?
    (?:le\s+)?
    (?P<day>\d{{1,2}})(?:er)?\s*
    (?P<month>{_MONTH_WORDS})\.?\s*[,،]?\s*
    (?P<year>\d{{4}})
    (?:\s*(?:[,،\-–|/]|à|a|الساعة|في)?\s*
      (?P<hour>\d{{1,2}})\s*(?:[:h]|ساعة)\s*(?P<minute>\d{{2}})?(?::(?P<second>\d{{2}}))?
      \s*(?P<ampm>ص|م|am|pm)?
    )?
    \s*(?P<zone>Z|UTC|GMT|(?:UTC|GMT)?\s*[+-]\d{{1,2}}(?::?\d{{2}})?)?
    \s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_SPACE_RUN = re.compile(r"\s+")
_ZONE = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?$")


def parse_localized_date(text: str) -> time.struct_time | None:
    """A French or Arabic date as a UTC 9-tuple (feedparser's contract), else None."""
    if not text or len(text) > _MAX_INPUT:
        return None
    found = _DATE.match(_fold(text))
    if found is None:
        return None
    month = _FRENCH_MONTHS.get(found["month"]) or _ARABIC_MONTHS.get(found["month"])
    if month is None:
        return None
    hour = int(found["hour"] or 0)
    if found["ampm"] and found["ampm"] in ("pm", "م") and hour < 12:
        hour += 12
    try:
        when = datetime(
            int(found["year"]), month, int(found["day"]),
            hour, int(found["minute"] or 0), int(found["second"] or 0), tzinfo=UTC,
        )  # fmt: skip
        when -= _offset(found["zone"])
    except (ValueError, OverflowError):
        return None
    return time.gmtime(timegm(when.timetuple()))


def _fold(text: str) -> str:
    """Lower-case, no accents (French), unified alef/hamza forms and ASCII digits (Arabic)."""
    if text.isascii():  # nothing below but the case and the spaces can change ASCII
        return _SPACE_RUN.sub(" ", text.strip().lower())
    text = text.translate(_DIGITS).strip().lower()
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    text = text.replace("\u0640", "")  # tatweel
    for alef in ("أ", "إ", "آ", "ٱ"):
        text = text.replace(alef, "ا")
    return _SPACE_RUN.sub(" ", text.replace("\u200f", "").replace("\u200e", ""))


def _offset(zone: str | None) -> timedelta:
    if not zone:
        return timedelta(0)
    found = _ZONE.search(zone.replace(" ", ""))
    if found is None:
        return timedelta(0)
    sign = -1 if found[1] == "-" else 1
    hours, minutes = int(found[2]), int(found[3] or 0)
    if hours > 14 or minutes > 59:
        raise ValueError("zone out of range")
    return sign * timedelta(hours=hours, minutes=minutes)
