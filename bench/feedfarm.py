"""A fast local feed farm for the polling benchmark: N deterministic RSS feeds on 127.0.0.1.

    python bench/feedfarm.py --feeds 2000 --max-seconds 900

prints `READY <port>` once every worker accepts connections, then serves until SIGTERM,
SIGINT, `--max-seconds` or the death of its parent process, whichever comes first.

Feeds (`/feed/<n>.xml`) are generated from a seed, so every run serves the same bytes:
RSS 2.0, 10–100 items each, titles and summaries in Arabic or French (a few about Mali's
security, fuel or Russia, most not), about 10 % of feeds carrying full article text; sizes
from a few KiB to ~300 KiB. In every block of 100 consecutive feeds exactly 10 are slow
(answer after 1–3 s), 1 answers 500, 1 serves an HTML page, 1 serves XML cut in the middle,
so any prefix of 100·k feeds has the same mix. Every feed sends an ETag and Last-Modified and
answers a matching conditional GET with 304; bodies are gzip'd (level 1, nginx's default)
when the client accepts it.

`GET /_control/mode/304` makes every feed path answer 304 from then on, conditional or not
(the "nothing changed" cycle); `GET /_control/mode/200` makes it ignore the validators and
send the whole body again, as servers without conditional GET do (the "every feed re-sent"
cycle of a running daemon); `/_control/mode/full` restores normal answers.

Bodies are built once in the parent, then served by `--workers` forked processes sharing one
listening socket, each a bare asyncio protocol (no framework), so serving costs well under a
millisecond of CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gzip
import hashlib
import html
import multiprocessing
import os
import random
import signal
import socket
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

__all__ = ["Feed", "FeedKind", "build_farm", "kind_of", "main"]

SEED = 20_240_611
SLOW, ERROR_500, HTML_PAGE, TRUNCATED, NORMAL = "slow", "500", "html", "truncated", "normal"
FeedKind = str
_BLOCK_KINDS = [SLOW] * 10 + [ERROR_500, HTML_PAGE, TRUNCATED] + [NORMAL] * 87
MAX_FEED_BYTES = 300 * 1024
MAX_REQUEST_BYTES = 16 * 1024
MAX_REQUESTS_PER_CONNECTION = 10_000

FR_PLACES = ["Gao", "Tombouctou", "Kidal", "Mopti", "Ségou", "Bamako", "Ménaka", "Sikasso",
             "Kayes", "Dakar", "Niamey", "Ouagadougou", "Paris", "Lyon", "Marseille",
             "Abidjan", "Nouakchott", "Conakry", "Bruxelles", "Genève"]  # fmt: skip
AR_PLACES = ["غاو", "تمبكتو", "كيدال", "موبتي", "سيغو", "باماكو", "ميناكا", "سيكاسو", "داكار",
             "نيامي", "واغادوغو", "باريس", "القاهرة", "الرباط", "تونس", "الجزائر", "نواكشوط",
             "الدوحة", "بيروت", "عمّان"]  # fmt: skip
FR_TITLES = [
    "{p} : le conseil municipal adopte le budget {y}",
    "Football : victoire de l'équipe de {p} en championnat",
    "{p} accueille un festival de musique ce week-end",
    "Météo : fortes chaleurs attendues à {p}",
    "Économie : les prix du riz en hausse sur les marchés de {p}",
    "Éducation : rentrée scolaire perturbée à {p}",
    "Santé : campagne de vaccination lancée à {p}",
    "Culture : une exposition sur l'histoire de {p}",
    "Transport : nouvelle ligne de bus entre {p} et {q}",
    "Élections : les candidats font campagne à {p}",
    "Mali : une attaque jihadiste fait plusieurs morts près de {m}",
    "Pénurie de carburant : les stations-service de Bamako à sec",
    "Le Mali et la Russie signent un accord de coopération militaire",
    "Des hommes armés ont tendu une embuscade à l'armée malienne près de {m}",
]  # fmt: skip
AR_TITLES = [
    "{p}: المجلس البلدي يقر ميزانية عام {y}",
    "كرة القدم: فوز فريق {p} في البطولة",
    "{p} تستضيف مهرجانا موسيقيا نهاية الأسبوع",
    "الطقس: موجة حر متوقعة في {p}",
    "اقتصاد: ارتفاع أسعار الأرز في أسواق {p}",
    "تعليم: بداية عام دراسي متعثرة في {p}",
    "صحة: إطلاق حملة تطعيم في {p}",
    "ثقافة: معرض عن تاريخ {p}",
    "نقل: خط حافلات جديد بين {p} و{q}",
    "انتخابات: المرشحون يواصلون حملاتهم في {p}",
    "مالي: هجوم مسلح يسفر عن قتلى قرب {m}",
    "أزمة الوقود في باماكو: محطات البنزين خالية",
    "مالي وروسيا توقعان اتفاقية تعاون عسكري",
    "مسلحون يهاجمون دورية للجيش المالي قرب {m}",
]  # fmt: skip
FR_WHO = [
    "Le ministre",
    "La mairie",
    "Le gouverneur",
    "Un collectif d'habitants",
    "La fédération",
    "Le syndicat des enseignants",
    "Une ONG locale",
    "Le directeur de l'hôpital",
    "La chambre de commerce",
    "Le préfet",
    "Un groupe d'agriculteurs",
    "L'association des parents",
    "La compagnie d'électricité",
    "Le maire adjoint",
    "Une délégation étrangère",
    "Le conseil régional",
    "La police municipale",
    "Les transporteurs",
    "Les commerçants",
    "Le club de basket",
]
FR_DID = [
    "a annoncé",
    "a présenté",
    "a critiqué",
    "a reporté",
    "a salué",
    "a lancé",
    "a inauguré",
    "a dénoncé",
    "a signé",
    "a rejeté",
    "a examiné",
    "a financé",
    "a promis",
    "a suspendu",
    "a validé",
]
FR_WHAT = [
    "un plan d'investissement",
    "la réforme des marchés",
    "un nouveau centre de santé",
    "la hausse des tarifs",
    "un programme de formation",
    "la réhabilitation de la route",
    "un partenariat avec une université",
    "le calendrier des examens",
    "un projet d'irrigation",
    "la construction d'un pont",
    "une campagne de sensibilisation",
    "le budget rectificatif",
    "l'extension du réseau d'eau",
    "un accord salarial",
    "la rénovation du stade",
    "un fonds de soutien aux artisans",
    "la numérisation de l'état civil",
    "un festival de cinéma",
    "la collecte des déchets",
    "un marché couvert",
]
FR_HOW = [
    "pour {n} millions de francs CFA",
    "d'ici {n} mois",
    "avec {n} partenaires",
    "devant {n} personnes",
    "après {n} semaines de négociations",
    "dans {n} quartiers",
    "malgré {n} recours",
    "pour {n} familles",
    "lors d'une réunion de {n} heures",
    "en présence de {n} élus",
]
AR_WHO = ["الوزير", "البلدية", "الوالي", "مجموعة من السكان", "الاتحاد", "نقابة المعلمين",
    "منظمة محلية", "مدير المستشفى", "غرفة التجارة", "المحافظ", "مجموعة من المزارعين",
    "جمعية أولياء التلاميذ", "شركة الكهرباء", "نائب رئيس البلدية", "وفد أجنبي",
    "المجلس الجهوي", "الشرطة البلدية", "الناقلون", "التجار", "نادي كرة السلة"]  # fmt: skip
AR_DID = ["أعلن عن", "قدم", "انتقد", "أجل", "رحب بـ", "أطلق", "دشن", "ندد بـ", "وقع",
    "رفض", "درس", "موّل", "وعد بـ", "علّق", "صادق على"]  # fmt: skip
AR_WHAT = ["خطة استثمار", "إصلاح الأسواق", "مركز صحي جديد", "رفع الأسعار", "برنامج تدريب",
    "إعادة تأهيل الطريق", "شراكة مع جامعة", "جدول الامتحانات", "مشروع ري", "بناء جسر",
    "حملة توعية", "الميزانية التعديلية", "توسيع شبكة المياه", "اتفاق حول الأجور",
    "تجديد الملعب", "صندوق دعم الحرفيين", "رقمنة الحالة المدنية", "مهرجان سينمائي",
    "جمع النفايات", "سوق مغطى"]  # fmt: skip
AR_HOW = ["بقيمة {n} مليون فرنك", "خلال {n} أشهر", "مع {n} شركاء", "أمام {n} شخص",
    "بعد {n} أسابيع من المفاوضات", "في {n} أحياء", "رغم {n} طعون", "لصالح {n} أسرة",
    "خلال اجتماع دام {n} ساعات", "بحضور {n} منتخبين"]  # fmt: skip
MALI_PLACES_FR = ["Gao", "Tombouctou", "Kidal", "Ménaka", "Mopti"]
MALI_PLACES_AR = ["غاو", "تمبكتو", "كيدال", "ميناكا", "موبتي"]
BASE_TIME = datetime(2025, 11, 11, 12, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Feed:
    index: int
    kind: FeedKind
    lang: str
    delay: float
    body: bytes  # what a 200 carries (the page itself for HTML, cut XML for truncated)
    gzipped: bytes
    etag: str
    last_modified: str
    items: int


def kind_of(index: int, seed: int = SEED) -> FeedKind:
    """Each block of 100 consecutive feeds holds the same mix, in a seeded order."""
    block = index // 100
    order = list(_BLOCK_KINDS)
    random.Random(f"{seed}:{block}").shuffle(order)
    return order[index % 100]


@functools.cache
def _sentences(lang: str) -> tuple[str, ...]:
    """A seeded pool of distinct sentences (who, did what, how, where), HTML-escaped.

    Summaries draw a few of these each, so two items rarely share much text, as in real
    news; drawing words per item would make building 2,000 feeds slow."""
    who, did, what, how, places = (
        (FR_WHO, FR_DID, FR_WHAT, FR_HOW, FR_PLACES)
        if lang == "fr"
        else (AR_WHO, AR_DID, AR_WHAT, AR_HOW, AR_PLACES)
    )
    where = "à" if lang == "fr" else "في"
    rng = random.Random(f"{SEED}:sentences:{lang}")
    return tuple(
        html.escape(
            f"{rng.choice(who)} {rng.choice(did)} {rng.choice(what)} "
            f"{rng.choice(how).format(n=rng.randint(2, 900))} {where} {rng.choice(places)}."
        )
        for _ in range(40_000)
    )


def _item_xml(rng: random.Random, feed: int, n: int, lang: str, rich: bool) -> str:
    places, titles, mali = (
        (FR_PLACES, FR_TITLES, MALI_PLACES_FR)
        if lang == "fr"
        else (AR_PLACES, AR_TITLES, MALI_PLACES_AR)
    )
    # Most titles are ordinary local news; the last four templates are what the rules watch.
    template = (
        titles[rng.randrange(len(titles) - 4)] if rng.random() < 0.97 else rng.choice(titles[-4:])
    )
    title = template.format(
        p=rng.choice(places), q=rng.choice(places), m=rng.choice(mali), y=rng.randrange(2020, 2027)
    )
    pool = _sentences(lang)
    paragraphs = rng.randint(6, 15) if rich else 1
    summary = "".join(
        "<p>" + " ".join(pool[rng.randrange(len(pool))] for _ in range(rng.randint(3, 6))) + "</p>"
        for _ in range(paragraphs)
    )
    when = BASE_TIME - timedelta(minutes=37 * n + feed % 60)
    return (
        "<item>"
        f"<title>{html.escape(title)} ({feed}-{n})</title>"
        f"<link>https://site{feed}.example/{when:%Y/%m/%d}/article-{n}.html?utm_source=rss</link>"
        f'<guid isPermaLink="false">site{feed}-{n}</guid>'
        f"<pubDate>{format_datetime(when)}</pubDate>"
        f"<description><![CDATA[{summary}]]></description>"
        "</item>"
    )


def _rss(rng: random.Random, index: int, lang: str) -> tuple[bytes, int]:
    rich = rng.random() < 0.1
    items = rng.randint(10, 100)
    name = f"Journal {index}" if lang == "fr" else f"صحيفة {index}"
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{html.escape(name)}</title><link>https://site{index}.example/</link>"
        f"<description>{html.escape(name)}</description><language>{lang}</language>"
    )
    parts = [head]
    size = len(head.encode())
    kept = 0
    for n in range(items):
        chunk = _item_xml(rng, index, n, lang, rich)
        size += len(chunk.encode())
        if size > MAX_FEED_BYTES - 100:
            break
        parts.append(chunk)
        kept += 1
    parts.append("</channel></rss>\n")
    return "".join(parts).encode(), kept


def build_feed(index: int, seed: int = SEED) -> Feed:
    rng = random.Random(f"{seed}:feed:{index}")
    kind = kind_of(index, seed)
    lang = "ar" if index % 2 else "fr"
    body, items = _rss(rng, index, lang)
    if kind == HTML_PAGE:
        body = (
            b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>"
            b"<h1>Site en maintenance</h1>" + b"<p>Revenez plus tard.</p>" * 50 + b"</body></html>"
        )
        items = 0
    elif kind == TRUNCATED:
        body = body[: len(body) * 3 // 5]
    delay = 1.0 + 2.0 * rng.random() if kind == SLOW else 0.0
    digest = hashlib.sha1(body).hexdigest()[:20]
    modified = BASE_TIME - timedelta(minutes=index)
    return Feed(
        index=index,
        kind=kind,
        lang=lang,
        delay=delay,
        body=body,
        gzipped=gzip.compress(body, compresslevel=1, mtime=0),
        etag=f'"{digest}"',
        last_modified=format_datetime(modified, usegmt=True),
        items=items,
    )


def build_farm(count: int, seed: int = SEED) -> list[Feed]:
    return [build_feed(i, seed) for i in range(count)]


# --- serving ---------------------------------------------------------------------------------

_REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found", 500: "Internal Server Error"}


def _response(status: int, body: bytes, headers: list[tuple[str, str]], keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Farm:
    def __init__(self, feeds: list[Feed], mode: multiprocessing.sharedctypes.Synchronized) -> None:
        self.feeds = feeds
        self.mode = mode  # 0 = full answers, 1 = every feed answers 304, 2 = validators ignored

    def answer(
        self, path: str, headers: dict[str, str]
    ) -> tuple[float, int, bytes, list[tuple[str, str]]]:
        if path.startswith("/_control/mode/"):
            self.mode.value = {"304": 1, "200": 2}.get(path.rsplit("/", 1)[1], 0)
            return 0.0, 200, b"ok\n", [("Content-Type", "text/plain")]
        name = path.split("?", 1)[0]
        if not (name.startswith("/feed/") and name.endswith(".xml")):
            return 0.0, 404, b"", []
        number = name[6:-4]
        if not number.isdigit() or int(number) >= len(self.feeds):
            return 0.0, 404, b"", []
        feed = self.feeds[int(number)]
        validators = [("ETag", feed.etag), ("Last-Modified", feed.last_modified)]
        if self.mode.value == 1:
            return feed.delay, 304, b"", validators
        if feed.kind == ERROR_500:
            return feed.delay, 500, b"Internal Server Error\n", [("Content-Type", "text/plain")]
        inm = headers.get("if-none-match")
        ims = headers.get("if-modified-since")
        conditional = self.mode.value == 0
        if conditional and (
            (inm is not None and feed.etag in inm) or (inm is None and ims == feed.last_modified)
        ):
            return feed.delay, 304, b"", validators
        ctype = (
            "text/html; charset=utf-8"
            if feed.kind == HTML_PAGE
            else ("application/rss+xml; charset=utf-8")
        )
        extra = [("Content-Type", ctype), *validators, ("Vary", "Accept-Encoding")]
        if "gzip" in headers.get("accept-encoding", ""):
            return feed.delay, 200, feed.gzipped, [*extra, ("Content-Encoding", "gzip")]
        return feed.delay, 200, feed.body, extra


class _Protocol(asyncio.Protocol):
    def __init__(self, farm: _Farm) -> None:
        self.farm = farm
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.served = 0
        self.pending = 0  # delayed answers not yet written: answers stay in request order
        self.queue: list[list[Any]] = []  # [ready, payload, keep_alive], in request order

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self._request(head)
        if len(self.buffer) > MAX_REQUEST_BYTES and self.transport is not None:
            self.transport.close()

    def _request(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or self.transport is None:
            if self.transport is not None:
                self.transport.close()
            return
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        self.served += 1
        keep_alive = (
            headers.get("connection", "").lower() != "close"
            and parts[2] == "HTTP/1.1"
            and self.served < MAX_REQUESTS_PER_CONNECTION
        )
        delay, status, body, extra = self.farm.answer(parts[1], headers)
        if parts[0] == "HEAD":
            body = b""
        payload = _response(status, body, extra, keep_alive)
        if delay <= 0 and not self.queue:
            self._write(payload, keep_alive)
            return
        entry: list[Any] = [False, payload, keep_alive]
        self.queue.append(entry)
        asyncio.get_running_loop().call_later(delay, self._ready, entry)

    def _ready(self, entry: list[Any]) -> None:
        entry[0] = True
        while self.queue and self.queue[0][0]:
            _, payload, keep_alive = self.queue.pop(0)
            self._write(payload, keep_alive)

    def _write(self, payload: bytes, keep_alive: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(payload)
        if not keep_alive:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve(sock: socket.socket, farm: _Farm, deadline: float, parent: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await loop.create_server(lambda: _Protocol(farm), sock=sock, backlog=4096)
    async with server:
        while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


def _worker(
    sock: socket.socket, feeds: list[Feed], mode: object, deadline: float, parent: int
) -> None:
    asyncio.run(_serve(sock, _Farm(feeds, mode), deadline, parent))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    deadline = started + args.max_seconds
    feeds = build_farm(args.feeds, args.seed)
    built = time.monotonic() - started
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(4096)
    sock.setblocking(False)
    ctx = multiprocessing.get_context("fork")
    mode = ctx.Value("i", 0, lock=False)
    me = os.getpid()
    workers = [
        ctx.Process(target=_worker, args=(sock, feeds, mode, deadline, me), daemon=True)
        for _ in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    total = sum(len(f.body) for f in feeds)
    print(
        f"READY {sock.getsockname()[1]} feeds={len(feeds)} bytes={total} "
        f"items={sum(f.items for f in feeds)} build_s={built:.1f} "
        f"pids={','.join(str(w.pid) for w in workers)}",
        flush=True,
    )
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    parent = os.getppid()
    while not stopping and time.monotonic() < deadline and os.getppid() == parent:
        if not any(w.is_alive() for w in workers):
            break
        time.sleep(0.2)
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            os.kill(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.join(5)
        if worker.is_alive():
            worker.kill()
            worker.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
