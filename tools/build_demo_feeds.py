"""Build monitor/demo_data/ from the shared corpus: the offline demo's RSS files.

Run from the repository root:
    .venv/bin/python tools/build_demo_feeds.py [--corpus ../shared/corpus]

It copies the seed article and the real third-party feeds byte-exact, writes the seed article
and the labelled headlines (dev.jsonl) out as RSS 2.0, and writes the manifest feeds.yaml and
PROVENANCE.md. Output is deterministic: running it twice gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "monitor" / "demo_data"
SEED_NAME = "mali-russia-2025-11-11.ar.txt"
SEED_PUBDATE = datetime(2025, 11, 11, 12, 0, tzinfo=UTC)
SEED_GUID = "rasd-demo-seed-mali-russia-2025-11-11"
# dev.jsonl items get synthetic dates counting back from here, one per STEP, newest first.
REVUE_NEWEST = datetime(2025, 12, 9, 18, 0, tzinfo=UTC)
REVUE_STEP = timedelta(hours=1, minutes=47)
# The generated feeds have no public home page; their channel link says so honestly.
LOCAL_LINK = "http://127.0.0.1/demo/"
CONTENT_TYPE = "application/rss+xml; charset=utf-8"
REVUE_CHANNELS = {
    "ar": ("Revue de presse Mali (ar)", "عناوين حقيقية عن مالي وأشباهها، للعرض دون اتصال"),
    "fr": ("Revue de presse Mali (fr)", "Titres réels sur le Mali et faux amis, démo hors ligne"),
    "en": ("Revue de presse Mali (en)", "Real headlines about Mali and look-alikes, offline demo"),
}


@dataclass(frozen=True)
class RealFeed:
    file: str
    name: str
    lang: str
    outlet: str
    repo: str
    head: str
    repo_path: str
    last_commit: str
    blob: str
    licence: str


REAL_FEEDS = [
    RealFeed(
        "france24_fr.xml",
        "France 24 (fr), copy of 24 Aug 2023",
        "fr",
        "France 24 main French feed",
        "glo10/jvs-av-19092023",
        "8c3d5dde53a0a4236bec78bda6c2445e310c9f5a",
        "cypress/fixtures/france24.xml",
        "d0e8bcdabf8cf135a007ecd43f240d80ddbe109d",
        "44ef631769347425668fc04014cbbe5c6fc4371f",
        "© France Médias Monde; test fixture in a public repository; no licence granted "
        "for redistribution beyond that",
    ),
    RealFeed(
        "lemonde_fr.xml",
        "Le Monde, les plus lus (fr), copy of Aug 2023",
        "fr",
        "Le Monde « plus lus » feed",
        "glo10/jvs-av-19092023",
        "8c3d5dde53a0a4236bec78bda6c2445e310c9f5a",
        "cypress/fixtures/lemonde.xml",
        "d0e8bcdabf8cf135a007ecd43f240d80ddbe109d",
        "e72f4787448edcb28c884e5b39a3b2e5a66fe5cc",
        "© Le Monde; Le Monde restricts its RSS feeds to strictly personal, non-professional, "
        "non-collective use",
    ),
    RealFeed(
        "lemonde_une_2018_fr.xml",
        "Le Monde, à la une (fr), copy of 11 Feb 2018",
        "fr",
        "Le Monde « À la une » feed",
        "spacecowboy/Feeder",
        "091ca126272dfd6de4535bf508e4c73adec6e274",
        "app/src/androidTest/resources/com/nononsenseapps/feeder/model/rss_lemonde.xml",
        "ef92b203325dc52bab5984fd404a3f3d01b1344b",
        "18c75d59e6715755f1f64baa682b99dc50551aad",
        "© Le Monde; Le Monde restricts its RSS feeds to strictly personal, non-professional, "
        "non-collective use",
    ),
    RealFeed(
        "rue89_fr.xml",
        "Rue89, à la une (fr), copy of 6 Apr 2013",
        "fr",
        "Rue89 « A la Une » (via feedsportal)",
        "nicolus/picoFeed",
        "c90da083220124a0e3140c264c14af9f0a06827e",
        "tests/fixtures/rue89.xml",
        "18581d35ac5bd531c665fc28a396fc9ae0c014af",
        "e9e5ea7061933d01c3ab968ab3ca91f3e9cfd5c3",
        "© Rue89; test fixture in a public repository",
    ),
    RealFeed(
        "googlenews_fr_be.xml",
        "Google Actualités, à la une (fr-BE), copy of 8 Mar 2020",
        "fr",
        "Google Actualités « À la une » (hl=fr, gl=BE)",
        "prof18/RSS-Parser",
        "9606845cb0ae5800f70e9df48ffc9f02a2e177bd",
        "rssparser/src/commonTest/resources/feed-test-source.xml",
        "f710f209f7fae795cc872e2f0a94e1a33e2ff978",
        "42757f2b034786ccd8e5ff19e83ea45a9a545c0c",
        "© Google and the linked publishers; test fixture in a public repository",
    ),
    RealFeed(
        "bbc_urdu_ur_arabic-script.xml",
        "BBC News Urdu (ur, Arabic script), copy of 24 Oct 2018",
        "ur",
        "BBC News اردو — Urdu, not Arabic: a right-to-left control that must raise nothing",
        "miniflux/v2",
        "106cdd09e1557222303f3ed1376e1dadf0638621",
        "internal/reader/parser/testdata/urdu_UTF8.xml",
        "168a870c025bfef6efdeb46e166e79a16093c157",
        "726230de71cce76d52d4dd352034e26b8999c39d",
        "© BBC; test fixture in miniflux/v2 (Apache-2.0 covers miniflux's code, not BBC's text)",
    ),
]


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _rss_bytes(title: str, description: str, lang: str, items: list[ET.Element]) -> bytes:
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = title
    ET.SubElement(channel, "link").text = LOCAL_LINK
    ET.SubElement(channel, "description").text = description
    ET.SubElement(channel, "language").text = lang
    ET.SubElement(channel, "generator").text = "rasd tools/build_demo_feeds.py"
    channel.extend(items)
    ET.indent(rss, space="  ")
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True) + b"\n"


def _item(
    title: str, description: str, link: str | None, guid: str, published: datetime
) -> ET.Element:
    item = ET.Element("item")
    if title:  # RSS 2.0 needs a title or a description; dev.jsonl has one row without title
        ET.SubElement(item, "title").text = title
    if link:
        ET.SubElement(item, "link").text = link
    if description:
        ET.SubElement(item, "description").text = description
    ET.SubElement(item, "guid", isPermaLink="false").text = guid
    ET.SubElement(item, "pubDate").text = format_datetime(published)
    return item


def _seed_feed(seed_text: str) -> bytes:
    title = seed_text.split("\n", 1)[0]
    item = _item(title, seed_text, None, SEED_GUID, SEED_PUBDATE)
    return _rss_bytes(
        "Rasd demo: seed article (ar)",
        "مقال حقيقي عن مالي وروسيا وأزمة الوقود، 11 نوفمبر 2025",
        "ar",
        [item],
    )


def _links_in_real_feeds(corpus: Path) -> dict[str, str]:
    """Title → link of every item in the real feeds (for dev.jsonl rows copied from them)."""
    links: dict[str, str] = {}
    for feed in REAL_FEEDS:
        parsed = feedparser.parse((corpus / "real-feeds" / feed.file).read_bytes())
        for entry in parsed.entries:
            if entry.get("title") and entry.get("link"):
                links.setdefault(entry.title, entry.link)
    return links


def _item_link(row: dict[str, object], real_links: dict[str, str]) -> str | None:
    source = str(row["source"])
    if source.startswith(("http://", "https://")):
        return source.split()[0]
    return real_links.get(str(row["title"]))


def _revue_feeds(rows: list[dict[str, object]], real_links: dict[str, str]) -> dict[str, bytes]:
    feeds: dict[str, bytes] = {}
    for lang, (title, description) in REVUE_CHANNELS.items():
        items = [
            _item(
                str(row["title"]),
                str(row["text"]),
                _item_link(row, real_links),
                str(row["id"]),
                REVUE_NEWEST - index * REVUE_STEP,
            )
            for index, row in enumerate(r for r in rows if r["lang"] == lang)
        ]
        feeds[lang] = _rss_bytes(title, description, lang, items)
    return feeds


def _manifest(entries: list[dict[str, str]]) -> str:
    head = "# The offline demo's feeds. Generated by tools/build_demo_feeds.py; do not edit.\n"
    return head + yaml.safe_dump({"feeds": entries}, sort_keys=False, allow_unicode=True)


def _manifest_entry(file: str, name: str, lang: str, origin: str) -> dict[str, str]:
    return {
        "path": "/demo/" + Path(file).name,
        "file": file,
        "name": name,
        "lang": lang,
        "content_type": CONTENT_TYPE,
        "origin": origin,
    }


REAL_HEADER = (
    "| file | outlet / feed | lang | source repo @ commit | path in repo "
    "| last commit touching file | git blob | rights |\n|---|---|---|---|---|---|---|---|"
)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _provenance(rows: list[dict[str, object]], seed_blob: str, dev_blob: str) -> str:
    real_rows = "\n".join(
        f"| feeds/real/{f.file} | {f.outlet} | {f.lang} | {f.repo} @ {f.head} | "
        f"{f.repo_path} | {f.last_commit} | {f.blob} | {f.licence} |"
        for f in REAL_FEEDS
    )
    item_rows = "\n".join(
        f"| {row['id']} | {row['lang']} | {_md_cell(str(row['source']))} |" for row in rows
    )
    return f"""# Provenance of the demo data

Everything here is real published text, kept as found; nothing was written for the demo except
the RSS wrapping of two sources (below), done by `tools/build_demo_feeds.py`. The text belongs
to its publishers. It is bundled so that `rasd demo` runs offline, for evaluation and testing
only: do not republish it. Each third-party file keeps the licence and notice it came with.

## seed/{SEED_NAME} and feeds/seed-mali-russia-ar.xml

An Arabic news article (11 November 2025) on the Russian defence delegation received in
Koulouba, the fuel crisis and the attacks in Mali, copied byte-exact from Rasd's shared corpus
(`corpus/seed/{SEED_NAME}`, git blob `{seed_blob}`). The shared corpus does not record the
publishing outlet or its URL, so the RSS item has no `<link>`.

The RSS item: title = the article's first sentence (its first line), description = the whole
file, unchanged; guid `{SEED_GUID}`; pubDate {format_datetime(SEED_PUBDATE)}. The date is
the one the article gives; the time of day is not in the source and was set to 12:00 UTC.

## feeds/revue-ar.xml, feeds/revue-fr.xml, feeds/revue-en.xml

The {len(rows)} labelled headlines of Rasd's development set (`corpus/labelled/dev.jsonl`, git
blob `{dev_blob}`): real headlines and opening sentences about Mali and deliberate look-alikes,
copied from public news pages. One feed per language, items in the file's order. Each item:
title = `title`, description = `text` (omitted where `text` is empty), link = the `source` URL
(its first word where the source adds a note after it, e.g. `(France 24)`), guid = `id`. Rows
whose source is one of the real feeds below get that feed's own link for the same title; the
one row with no URL at all (ar-027) has no link. The labels are not in the feeds.

The pubDates are synthetic, for a realistic demo timeline: the first item of each feed is
{format_datetime(REVUE_NEWEST)}, each next one {int(REVUE_STEP.total_seconds() // 60)} minutes
earlier. They are not the articles' publication dates.

Sources of the items, as recorded in dev.jsonl:

| id | lang | source |
|---|---|---|
{item_rows}

## feeds/real/*.xml

Byte-exact copies of feed files committed as test fixtures in public GitHub repositories
(each file's git blob id matches the source; `.gitattributes` keeps git from touching them),
taken from Rasd's shared corpus (`corpus/real-feeds/`). None carries an item about Mali: they
are the demo's negatives (Wagner/Prigojine without Mali, Russia–Ukraine, a Syrian fuel price
story, the Niger crisis). The Urdu feed is Urdu in Arabic script, not Arabic.

{REAL_HEADER}
{real_rows}

Le Monde's feeds carry this notice: « L'utilisation des flux RSS du Monde.fr est réservée à un
usage strictement personnel, non professionnel et non collectif ». They are here only as
offline test input.
"""


def build(corpus: Path, out: Path) -> None:
    seed = (corpus / "seed" / SEED_NAME).read_bytes()
    dev = (corpus / "labelled" / "dev.jsonl").read_bytes()
    rows = [json.loads(line) for line in dev.decode("utf-8").splitlines() if line.strip()]

    (out / "seed").mkdir(parents=True, exist_ok=True)
    (out / "feeds" / "real").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(corpus / "seed" / SEED_NAME, out / "seed" / SEED_NAME)
    (out / "feeds" / "seed-mali-russia-ar.xml").write_bytes(_seed_feed(seed.decode("utf-8")))
    entries = [
        _manifest_entry(
            "feeds/seed-mali-russia-ar.xml", "Rasd demo: seed article (ar)", "ar", "generated"
        )
    ]
    for lang, body in _revue_feeds(rows, _links_in_real_feeds(corpus)).items():
        file = f"feeds/revue-{lang}.xml"
        (out / file).write_bytes(body)
        entries.append(_manifest_entry(file, REVUE_CHANNELS[lang][0], lang, "generated"))
    for feed in REAL_FEEDS:
        data = (corpus / "real-feeds" / feed.file).read_bytes()
        if _git_blob_id(data) != feed.blob:
            raise SystemExit(f"{feed.file}: git blob differs from SOURCES.md")
        (out / "feeds" / "real" / feed.file).write_bytes(data)
        entries.append(_manifest_entry(f"feeds/real/{feed.file}", feed.name, feed.lang, "copied"))
    (out / "feeds.yaml").write_text(_manifest(entries), encoding="utf-8")
    (out / "PROVENANCE.md").write_text(
        _provenance(rows, _git_blob_id(seed), _git_blob_id(dev)), encoding="utf-8"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    build(args.corpus, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
