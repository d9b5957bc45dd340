"""`rasd`: parse arguments, call the app, print. Exit codes: 0 ok, 1 problems found,
2 bad configuration or usage."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from monitor.config import Settings, load_settings, parse_duration
from monitor.errors import ConfigError, FetchError, ParseError, RuleError
from monitor.logs import setup_logging
from storage.migrate import SchemaError

__all__ = ["main"]

BOLD, RESET = "\033[1m", "\033[0m"


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


# --- run / once / demo ---------------------------------------------------------------------


async def _run_daemon(settings: Settings, *, migrate: bool = False) -> int:
    from monitor.app import App
    from monitor.scheduler import Daemon
    from monitor.web import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with App(settings, migrate=migrate, warm_workers=True) as app:
        daemon = Daemon(app)
        server = await serve(app, daemon) if settings.server.enabled else None
        try:
            await daemon.run(stop)
        finally:
            if server is not None:
                server.close()
                await server.wait_closed()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    setup_logging(settings.log_format)
    return asyncio.run(_run_daemon(settings, migrate=args.migrate))


async def _once(settings: Settings) -> dict[str, int]:
    from monitor.app import App

    async with App(settings, warm_workers=True) as app:
        report = await app.once()
        for outcome in report.outcomes:
            if outcome.status == "error":
                print(
                    f"feed error: {outcome.feed} <{outcome.url}>: {outcome.error}", file=sys.stderr
                )
        return report.to_json()


def cmd_once(args: argparse.Namespace) -> int:
    settings = _settings(args)
    setup_logging(settings.log_format)
    summary = asyncio.run(_once(settings))
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            "polled {feeds_polled} feeds ({feed_errors} errors, {feeds_not_modified} not "
            "modified): {items_new} new items, {alerts} alerts, {deliveries_sent} deliveries "
            "sent, {deliveries_failed} failed".format(**summary)
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.config import settings_from_text
    from monitor.demo import DemoFeeds, demo_config_yaml

    setup_logging("text")
    rules_dir = Path(args.rules) if args.rules else Path("rules")
    if not rules_dir.exists():
        print(f"demo: rules folder {rules_dir} not found (use --rules PATH)", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="rasd-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    with DemoFeeds() as feeds:
        text = demo_config_yaml(feeds, data_dir, rules_dir)
        (data_dir / "rasd.yaml").write_text(text, encoding="utf-8")
        settings = settings_from_text(text, str(data_dir / "rasd.yaml"))
        print(f"demo: serving {len(feeds)} bundled feeds on 127.0.0.1; data in {data_dir}\n")
        summary = asyncio.run(_once(settings))
    print(
        f"\ndemo: {summary['items_new']} items read from {summary['feeds_polled']} feeds, "
        f"{summary['alerts']} alerts raised; alerts written to {data_dir / 'alerts.jsonl'}"
    )
    if args.json:
        print(json.dumps(summary))
    return 0 if summary["feed_errors"] == 0 else 1


# --- rules -----------------------------------------------------------------------------------


def _rule_paths(args: argparse.Namespace) -> list[Path]:
    if getattr(args, "paths", None):
        return [Path(p) for p in args.paths]
    try:
        return [_settings(args).rules_dir]
    except ConfigError:
        return [Path("rules")]


def cmd_rules_check(args: argparse.Namespace) -> int:
    from monitor.match import Matcher
    from monitor.rulebook import rule_files
    from monitor.rules import check_rules, load_rules

    paths = _rule_paths(args)
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{path}: no such file or folder", file=sys.stderr)
    files = [f for p in paths if p.exists() for f in rule_files(p)]
    problems = check_rules(files)
    for problem in problems:
        print(problem)
    if problems or missing:
        return 1
    matcher = Matcher.compile(load_rules(files))
    print(f"ok: {matcher.rule_count} rules, {matcher.term_count} terms in {len(files)} files")
    return 0


def _load_matcher(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from monitor.match import Matcher
    from monitor.rulebook import load_leniently, rule_files

    files = [f for p in _rule_paths(args) for f in rule_files(p)]
    result = load_leniently(files)
    for problem in result.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return Matcher.compile(result.ruleset)


def _bold_hits(text: str, spans: Sequence[tuple[int, int]], tty: bool) -> str:
    if not tty:
        out, last = [], 0
        for start, end in sorted(spans):
            if start < last:
                continue
            out += [text[last:start], "[", text[start:end], "]"]
            last = end
        return "".join(out) + text[last:]
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        out += [text[last:start], BOLD, text[start:end], RESET]
        last = end
    return "".join(out) + text[last:]


def cmd_rules_test(args: argparse.Namespace) -> int:
    from monitor.domain import Document

    if args.text is not None:
        title, summary = args.text, ""
    elif args.file:
        content = Path(args.file).read_text(encoding="utf-8")
        title, _, summary = content.partition("\n")
    else:
        title, summary = _fetch_article(args.url)
    matcher = _load_matcher(args)
    doc = Document(title=title, summary=summary, lang=args.lang)
    matches = matcher.match(doc)
    tty = sys.stdout.isatty()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "rule": m.rule_id,
                        "title": m.rule_title,
                        "severity": m.severity,
                        "tags": list(m.tags),
                        "score": m.score,
                        "hits": [
                            {
                                "term": h.term,
                                "field": h.field,
                                "start": h.start,
                                "end": h.end,
                                "text": h.text,
                            }
                            for h in m.hits
                        ],
                    }
                    for m in matches
                ],
                ensure_ascii=False,
            )
        )
        return 0 if matches else 1
    if not matches:
        print("no rule fired")
        return 1
    for m in matches:
        print(
            f"{m.rule_id} [{m.severity}] {', '.join(m.tags)} — {m.rule_title} (score {m.score:g})"
        )
        for field_name, text in (("title", title), ("summary", summary)):
            spans = [(h.start, h.end) for h in m.hits if h.field == field_name]
            if spans:
                print(f"  {field_name}: {_bold_hits(text, spans, tty)[:600]}")
        terms = sorted({f"{h.text} ← {h.term}" for h in m.hits})
        print("  terms: " + "; ".join(terms))
    return 0


def _fetch_article(url: str) -> tuple[str, str]:
    """Fetch a page (or feed) and return its (title, visible text) for `rules test --url`."""
    import re
    from email.message import Message

    from monitor.domain import FeedState
    from monitor.fetch import Fetcher, make_client
    from monitor.sanitize import html_to_text

    async def get() -> tuple[str, str]:
        async with make_client() as client:
            result = await Fetcher(client).fetch(FeedState(id=0, url=url, name=url))
        header = Message()
        header["content-type"] = result.headers.get("content-type", "text/html")
        charset = header.get_content_charset() or "utf-8"
        try:
            text = (result.body or b"").decode(charset, errors="replace")
        except LookupError:
            text = (result.body or b"").decode("utf-8", errors="replace")
        found = re.search(r"<title[^>]*>(.*?)</title>", text, re.S | re.I)
        title = html_to_text(found.group(1)) if found else url
        body = re.sub(r"<title[^>]*>.*?</title>", " ", text, count=1, flags=re.S | re.I)
        return title, html_to_text(body)

    try:
        return asyncio.run(get())
    except FetchError as exc:
        raise SystemExit(f"rules test: {exc}") from None


def cmd_rules_eval(args: argparse.Namespace) -> int:
    from monitor.evaluate import evaluate, format_report

    matcher = _load_matcher(args)
    records = []
    with open(args.corpus, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    print(f"{args.corpus}:{number}: not JSON: {exc.msg}", file=sys.stderr)
                    return 2
    report = evaluate(matcher, records)
    print(format_report(report))
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from monitor.replay import replay

    settings = _settings(args)
    setup_logging(settings.log_format)
    return asyncio.run(
        replay(
            settings,
            since=parse_duration(args.since),
            rule=args.rule,
            notify=args.notify,
            as_json=args.json,
        )
    )


# --- feeds -----------------------------------------------------------------------------------


def cmd_feeds_check(args: argparse.Namespace) -> int:
    from monitor.domain import FeedState
    from monitor.fetch import Fetcher, make_client
    from monitor.parse import parse_feed

    async def check() -> int:
        async with make_client() as client:
            feed = FeedState(id=0, url=args.url, name=args.url, encoding=args.encoding)
            try:
                result = await Fetcher(client).fetch(feed)
            except FetchError as exc:
                print(
                    f"FAIL {args.url}: cannot fetch: {exc.reason}"
                    + (f" ({exc.detail})" if exc.detail else "")
                )
                return 1
            print(
                f"HTTP {result.status} from {result.final_url} "
                f"({len(result.body or b'')} bytes, {result.headers.get('content-type', '?')},"
                f" {result.elapsed.total_seconds():.2f}s)"
            )
            if result.permanent_redirect:
                print(f"note: moved permanently to {result.permanent_redirect}")
            try:
                parsed = await parse_feed(result, encoding=args.encoding)
            except ParseError as exc:
                print(
                    f"FAIL {args.url}: not a usable feed: {exc.reason}"
                    + (f" ({exc.detail})" if exc.detail else "")
                )
                return 1
            for warning in parsed.warnings:
                print(f"warning: {warning}")
            print(
                f"OK {parsed.title or '(untitled)'}: {len(parsed.items)} items"
                + (f", lang {parsed.lang}" if parsed.lang else "")
            )
            for item in parsed.items[:5]:
                when = item.published.isoformat() if item.published else "no date"
                print(f"  - {item.title[:100]}  [{when}]")
            return 0

    return asyncio.run(check())


def cmd_feeds_list(args: argparse.Namespace) -> int:
    from monitor.status import feed_table

    settings = _settings(args)
    rows = feed_table(settings)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=str))
        return 0
    print(f"{'status':<9} {'errors':>6} {'items/day':>9}  {'last success':<20} name")
    for row in rows:
        print(
            f"{row['status']:<9} {row['errors']:>6} {row['items_per_day']:>9.1f}  "
            f"{(row['last_success'] or 'never')[:19]:<20} {row['name']}"
            + (f"  ({row['last_error']})" if row["status"] != "ok" and row["last_error"] else "")
        )
    return 0


def cmd_feeds_add(args: argparse.Namespace) -> int:
    from monitor.feedadmin import add_feed

    settings = _settings(args)
    try:
        print(
            asyncio.run(
                add_feed(settings, args.url, name=args.name, lang=args.lang, tags=tuple(args.tags))
            )
        )
    except (FetchError, ParseError) as exc:
        print(f"feeds add: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_feeds_import(args: argparse.Namespace) -> int:
    from monitor.feedadmin import import_opml

    settings = _settings(args)
    try:
        added, present = import_opml(settings, Path(args.file))
    except (OSError, ValueError) as exc:
        print(f"feeds import: {args.file}: {exc}", file=sys.stderr)
        return 1
    print(f"imported {added} feeds ({present} already watched)")
    return 0


def cmd_feeds_export(args: argparse.Namespace) -> int:
    from monitor.feedadmin import export_opml

    sys.stdout.write(export_opml(_settings(args)))
    return 0


# --- alerts ----------------------------------------------------------------------------------


def cmd_alerts(args: argparse.Namespace) -> int:
    from monitor.status import list_alert_rows

    settings = _settings(args)
    if args.action == "retry":
        from monitor.status import retry_delivery

        if args.id is None:
            print("usage: rasd alerts retry ID", file=sys.stderr)
            return 2
        ok = retry_delivery(settings, args.id)
        print(f"delivery {args.id} queued again" if ok else f"no retryable delivery {args.id}")
        return 0 if ok else 1
    rows = list_alert_rows(settings, dead=args.dead, limit=args.limit)
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        elif args.dead:
            print(
                f"delivery {row['id']} alert {row['alert_id']} → {row['channel']}: "
                f"{row['attempts']} attempts, last error: {row['last_error']}"
            )
        else:
            states = ", ".join(f"{d['channel']}:{d['status']}" for d in row["deliveries"])
            print(
                f"#{row['id']} [{row['severity']}] {row['rule']} — {row['title'][:90]} "
                f"({row['feed']}) {states}"
            )
    return 0


def cmd_notify_test(args: argparse.Namespace) -> int:
    from monitor.status import send_test

    settings = _settings(args)
    setup_logging(settings.log_format)
    return asyncio.run(send_test(settings, args.channel))


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(
        f"ok: {len(settings.feeds)} feeds, {len(settings.channels)} channels, "
        f"{len(settings.routes)} routes; database {settings.database.split('@')[-1]}"
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from storage.migrate import check_schema, upgrade

    settings = _settings(args)
    revision = upgrade(settings.database, args.revision)
    print(f"database at schema revision {revision}")
    if args.revision == "head":
        from storage.db import create_db_engine

        engine = create_db_engine(settings.database)
        try:
            problem = check_schema(engine)
        finally:
            engine.dispose()
        if problem:
            print(problem, file=sys.stderr)
            return 1
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    from storage.db import create_db_engine
    from storage.migrate import check_schema, current_revision

    engine = create_db_engine(_settings(args).database)
    try:
        problem = check_schema(engine)
        revision = current_revision(engine)
    finally:
        engine.dispose()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    print(f"ok: database at schema revision {revision}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from monitor.status import status_text

    print(status_text(_settings(args)))
    return 0


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rasd", description="Rasd (رصد): news monitoring.")
    parser.add_argument("--config", "-c", help="config file (default $RASD_CONFIG or rasd.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="start the daemon")
    p.add_argument(
        "--migrate", action="store_true", help="apply pending schema migrations before starting"
    )
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("once", help="poll every enabled feed once, deliver, exit")
    p.add_argument("--json", action="store_true", help="print a JSON summary line")
    p.set_defaults(func=cmd_once)
    p = sub.add_parser("demo", help="offline demo on bundled real news")
    p.add_argument("--data-dir", help="where to keep the demo database and alerts")
    p.add_argument("--rules", help="rules folder (default ./rules)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    rules = sub.add_parser("rules", help="check, test and evaluate rules").add_subparsers(
        dest="rules_command", required=True
    )
    p = rules.add_parser("check", help="validate rule files")
    p.add_argument("paths", nargs="*")
    p.set_defaults(func=cmd_rules_check)
    p = rules.add_parser("test", help="which rules fire on a text, file or URL, and why")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text")
    src.add_argument("--file")
    src.add_argument("--url")
    p.add_argument("--lang")
    p.add_argument("--json", action="store_true")
    p.add_argument("--rules", dest="paths", action="append", help="rules file or folder")
    p.set_defaults(func=cmd_rules_test)
    p = rules.add_parser("eval", help="precision/recall on a labelled JSONL corpus")
    p.add_argument("corpus")
    p.add_argument("--json", action="store_true")
    p.add_argument("--rules", dest="paths", action="append", help="rules file or folder")
    p.set_defaults(func=cmd_rules_eval)

    p = sub.add_parser("replay", help="run the current rules over stored items")
    p.add_argument("--since", default="30d")
    p.add_argument("--rule")
    p.add_argument("--notify", action="store_true", help="really raise and deliver alerts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replay)

    feeds = sub.add_parser("feeds", help="feed management").add_subparsers(
        dest="feeds_command", required=True
    )
    p = feeds.add_parser("check", help="fetch and parse one feed, explain what is wrong")
    p.add_argument("url")
    p.add_argument("--encoding")
    p.set_defaults(func=cmd_feeds_check)
    p = feeds.add_parser("list", help="feeds with their health")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feeds_list)
    p = feeds.add_parser("add", help="watch a feed (or the feed an HTML page advertises)")
    p.add_argument("url")
    p.add_argument("--name")
    p.add_argument("--lang")
    p.add_argument("--tag", action="append", default=[], dest="tags")
    p.set_defaults(func=cmd_feeds_add)
    p = feeds.add_parser("import", help="watch every feed of an OPML file")
    p.add_argument("file")
    p.set_defaults(func=cmd_feeds_import)
    p = feeds.add_parser("export", help="print every enabled feed as OPML")
    p.set_defaults(func=cmd_feeds_export)

    p = sub.add_parser("alerts", help="recent alerts; --dead for failed deliveries")
    p.add_argument("action", nargs="?", choices=["retry"])
    p.add_argument("id", nargs="?", type=int)
    p.add_argument("--dead", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_alerts)

    notify = sub.add_parser("notify", help="channels").add_subparsers(
        dest="notify_command", required=True
    )
    p = notify.add_parser("test", help="send a sample alert to a channel")
    p.add_argument("channel")
    p.set_defaults(func=cmd_notify_test)

    config = sub.add_parser("config", help="configuration").add_subparsers(
        dest="config_command", required=True
    )
    p = config.add_parser("check", help="validate rasd.yaml without starting")
    p.set_defaults(func=cmd_config_check)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser("upgrade", help="apply the schema migrations (SQLite and PostgreSQL)")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_db_upgrade)
    p = db.add_parser("check", help="exit 1 with a message if the schema is not current")
    p.set_defaults(func=cmd_db_check)

    p = sub.add_parser("status", help="feeds, outbox and rules at a glance")
    p.set_defaults(func=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except RuleError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except SchemaError as exc:
        print(f"rasd: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `rasd alerts | head`: the reader left, which is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
