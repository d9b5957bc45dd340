"""Local stand-ins for the chat APIs, on 127.0.0.1. Each one CHECKS a request the way the
real service does (token in the path or header, JSON shape, length limits) and is stricter
where Rasd promises more (escaping, mentions). `force(...)` queues answers such as 429 with
Retry-After or a 500, served before any check."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str  # raw, still percent-encoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case keys
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
        return cls(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    @classmethod
    def text(cls, status: int, text: str, headers: dict[str, str] | None = None) -> Answer:
        return cls(status, text.encode(), {"Content-Type": "text/plain", **(headers or {})})


class FakeApi:
    """Base: a threaded HTTP server; subclasses implement `check(request) -> Answer`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.accepted: list[Any] = []  # payloads that passed every check
        self.refusals: list[str] = []  # why requests were refused
        self.forced: deque[Answer] = deque()
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with api._lock:
                    api.requests.append(request)
                    answer = api.forced.popleft() if api.forced else api.check(request)
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    def check(self, request: Request) -> Answer:
        raise NotImplementedError

    def refuse(self, answer: Answer, why: str) -> Answer:
        self.refusals.append(why)
        return answer

    def force(self, answer: Answer, times: int = 1) -> None:
        for _ in range(times):
            self.forced.append(answer)

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _json_body(request: Request) -> Any:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise ValueError("content-type is not application/json")
    return request.json()


# --- Telegram ----------------------------------------------------------------------------

_TG_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
            "span", "tg-spoiler", "blockquote", "tg-emoji"}  # fmt: skip
_TG_TAG = re.compile(r'<(/?)([a-zA-Z][\w-]*)((?:\s+[a-z-]+="[^"<>]*")*)\s*>')
_TG_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def telegram_visible_text(text: str) -> str:
    """Parse Bot API HTML as strictly as Telegram: supported tags only, properly nested,
    every `<`, `>` and `&` outside a tag or entity is an error. Returns the visible text."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            match = _TG_TAG.match(text, pos)
            if not match:
                raise ValueError(f"Can't parse entities: unsupported start tag at {pos}")
            closing, name = match.group(1), match.group(2).lower()
            if name not in _TG_TAGS:
                raise ValueError(f'Can\'t parse entities: unsupported start tag "{name}"')
            if closing:
                if not stack or stack[-1] != name:
                    raise ValueError(f"Can't parse entities: can't find start tag for {name}")
                stack.pop()
            else:
                if name == "a" and 'href="' not in match.group(3):
                    raise ValueError("Can't parse entities: <a> without href")
                stack.append(name)
            pos = match.end()
        elif char == "&":
            match = _TG_ENTITY.match(text, pos)
            if not match:
                raise ValueError(f"Can't parse entities: bare & at {pos}")
            out.append(html.unescape(match.group(0)))
            pos = match.end()
        elif char == ">":
            raise ValueError(f"Can't parse entities: bare > at {pos}")
        else:
            out.append(char)
            pos += 1
    if stack:
        raise ValueError(f"Can't parse entities: can't find end tag for {stack[-1]}")
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram(FakeApi):
    def __init__(self, token: str = "123456:ABC-secret", chat_id: int | str = -1001234) -> None:
        super().__init__()
        self.token = token
        self.chat_id = chat_id

    @staticmethod
    def error(code: int, description: str, **extra: Any) -> Answer:
        return Answer.of_json(
            code, {"ok": False, "error_code": code, "description": description, **extra}
        )

    @classmethod
    def too_many(cls, retry_after: int) -> Answer:
        return cls.error(
            429,
            f"Too Many Requests: retry after {retry_after}",
            parameters={"retry_after": retry_after},
        )

    def check(self, request: Request) -> Answer:
        match = re.fullmatch(r"/bot([^/]+)/sendMessage", request.path)
        if request.method != "POST" or not match:
            return self.refuse(self.error(404, "Not Found"), "path")
        if unquote(match.group(1)) != self.token:
            return self.refuse(self.error(401, "Unauthorized"), "token")
        try:
            body = _json_body(request)
        except ValueError as exc:
            return self.refuse(self.error(400, f"Bad Request: {exc}"), "json")
        if body.get("chat_id") != self.chat_id:
            return self.refuse(self.error(400, "Bad Request: chat not found"), "chat")
        if body.get("parse_mode") != "HTML":
            return self.refuse(self.error(400, "Bad Request: parse_mode"), "parse_mode")
        text = body.get("text")
        if not isinstance(text, str):
            return self.refuse(self.error(400, "Bad Request: message text is empty"), "text")
        try:
            visible = telegram_visible_text(text)
        except ValueError as exc:
            return self.refuse(self.error(400, f"Bad Request: {exc}"), str(exc))
        if not visible.strip():
            return self.refuse(self.error(400, "Bad Request: message text is empty"), "empty")
        if utf16_len(visible) > 4096:
            return self.refuse(self.error(400, "Bad Request: message is too long"), "too long")
        self.accepted.append(body)
        result = {"message_id": len(self.accepted), "chat": {"id": self.chat_id}, "text": visible}
        return Answer.of_json(200, {"ok": True, "result": result})


# --- Slack -------------------------------------------------------------------------------

_SLACK_LINK = re.compile(r"<https?://[^|<>\s]+(?:\|[^<>]*)?>")
_SLACK_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def slack_markup_problem(text: str) -> str | None:
    """Rasd's promise: in mrkdwn the only `<…>` are links; `&` only starts an entity."""
    rest = _SLACK_LINK.sub("", text)
    if "<" in rest or ">" in rest:
        return "unescaped < or > (or a <!special> mention)"
    if _SLACK_ENTITY.search(text):
        return "unescaped &"
    return None


class FakeSlack(FakeApi):
    path = "/services/T0001/B0001/XXXXsecretXXXX"

    def check(self, request: Request) -> Answer:
        if request.method != "POST":
            return self.refuse(Answer.text(405, "invalid_method"), "method")
        if request.path != self.path:
            return self.refuse(Answer.text(403, "invalid_token"), "token")
        try:
            body = _json_body(request)
        except ValueError:
            return self.refuse(Answer.text(400, "invalid_payload"), "json")
        problem = self._problem(body)
        if problem:
            return self.refuse(Answer.text(400, "invalid_blocks"), problem)
        self.accepted.append(body)
        return Answer.text(200, "ok")

    @staticmethod
    def _problem(body: dict[str, Any]) -> str | None:
        if not body.get("text") and not body.get("blocks"):
            return "no_text"
        if len(body.get("text", "")) > 40_000:
            return "text too long"
        if body.get("text") and slack_markup_problem(body["text"]):
            return "text: " + str(slack_markup_problem(body["text"]))
        blocks = body.get("blocks", [])
        if len(blocks) > 50:
            return "more than 50 blocks"
        for block in blocks:
            kind = block.get("type")
            if kind == "header":
                text = block["text"]
                if text.get("type") != "plain_text" or not 0 < len(text["text"]) <= 150:
                    return "header text"
            elif kind == "section":
                text = block["text"]
                if text.get("type") != "mrkdwn" or not 0 < len(text["text"]) <= 3000:
                    return "section text over 3000 or empty"
                if slack_markup_problem(text["text"]):
                    return "section: " + str(slack_markup_problem(text["text"]))
            elif kind == "context":
                elements = block.get("elements", [])
                if not 0 < len(elements) <= 10:
                    return "context elements"
                for element in elements:
                    if element.get("type") == "mrkdwn" and slack_markup_problem(element["text"]):
                        return "context: " + str(slack_markup_problem(element["text"]))
            else:
                return f"unexpected block type {kind}"
        return None


# --- Microsoft Teams (Workflows) ---------------------------------------------------------


class FakeTeams(FakeApi):
    path = "/workflows/abc123/triggers/manual/paths/invoke"
    sig = "s3cr3tsig"

    def check(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != self.path:
            return self.refuse(Answer.of_json(404, {"error": {"code": "NotFound"}}), "path")
        if request.query.get("sig") != [self.sig]:
            return self.refuse(
                Answer.of_json(401, {"error": {"code": "DirectApiAuthorizationRequired"}}), "sig"
            )
        if len(request.body) > 28 * 1024:
            return self.refuse(Answer.of_json(413, {"error": {"code": "TooLarge"}}), "size")
        try:
            body = _json_body(request)
            attachment = body["attachments"][0]
            card = attachment["content"]
            assert body["type"] == "message"
            assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
            assert card["type"] == "AdaptiveCard" and card["version"] in ("1.4", "1.5")
            assert isinstance(card["body"], list) and card["body"]
            for element in card["body"]:
                assert element["type"] in ("TextBlock", "Container", "FactSet", "ActionSet")
        except (ValueError, KeyError, IndexError, TypeError, AssertionError) as exc:
            return self.refuse(
                Answer.of_json(400, {"error": {"code": "InvalidRequestContent"}}), repr(exc)
            )
        self.accepted.append(body)
        return Answer(202)


# --- Matrix ------------------------------------------------------------------------------


class FakeMatrix(FakeApi):
    def __init__(self, token: str = "syt_secret_token", room_id: str = "!room:example.org"):
        super().__init__()
        self.token = token
        self.room_id = room_id
        self.events: dict[str, dict[str, Any]] = {}  # txnId → event content (idempotency)

    @staticmethod
    def error(status: int, errcode: str, message: str, **extra: Any) -> Answer:
        return Answer.of_json(status, {"errcode": errcode, "error": message, **extra})

    def check(self, request: Request) -> Answer:
        match = re.fullmatch(
            r"/_matrix/client/v3/rooms/([^/]+)/send/m\.room\.message/([^/]+)", request.path
        )
        if request.method != "PUT" or not match:
            return self.refuse(self.error(404, "M_UNRECOGNIZED", "Unrecognized request"), "path")
        auth = request.headers.get("authorization", "")
        if not auth:
            return self.refuse(self.error(401, "M_MISSING_TOKEN", "Missing token"), "no token")
        if auth != f"Bearer {self.token}":
            return self.refuse(self.error(401, "M_UNKNOWN_TOKEN", "Unknown token"), "token")
        room, txn = unquote(match.group(1)), unquote(match.group(2))
        if room != self.room_id:
            return self.refuse(self.error(403, "M_FORBIDDEN", "Not in room"), "room")
        try:
            body = _json_body(request)
            assert body["msgtype"] == "m.text" and isinstance(body["body"], str) and body["body"]
            assert body["format"] == "org.matrix.custom.html"
            assert isinstance(body["formatted_body"], str)
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            return self.refuse(self.error(400, "M_BAD_JSON", "Bad content"), repr(exc))
        if len(request.body) > 65_536:
            return self.refuse(self.error(413, "M_TOO_LARGE", "Event too large"), "size")
        if txn not in self.events:
            self.events[txn] = body
            self.accepted.append(body)
        event_id = "$" + hashlib.sha256(txn.encode()).hexdigest()[:16]
        return Answer.of_json(200, {"event_id": event_id})


# --- Mattermost --------------------------------------------------------------------------

_LIVE_MENTION = re.compile(r"(?<![\w\u200b])@(everyone|here|channel|all)\b")


class FakeMattermost(FakeApi):
    path = "/hooks/xx8secretkey"

    def check(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != self.path:
            return self.refuse(Answer.of_json(400, {"message": "Invalid webhook"}), "path")
        try:
            body = _json_body(request)
            text = body["text"]
            assert isinstance(text, str) and text
        except (ValueError, KeyError, AssertionError):
            return self.refuse(Answer.of_json(400, {"message": "Unable to parse"}), "json")
        if len(text) > 16_383:
            return self.refuse(Answer.of_json(400, {"message": "Message too long"}), "long")
        if _LIVE_MENTION.search(text):
            return self.refuse(Answer.of_json(400, {"message": "live mention"}), "mention")
        self.accepted.append(body)
        return Answer.text(200, "ok")


# --- Discord -----------------------------------------------------------------------------


class FakeDiscord(FakeApi):
    path = "/api/webhooks/111222333/tokenSECRET"

    @staticmethod
    def too_many(retry_after: float) -> Answer:
        return Answer.of_json(
            429,
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            {"Retry-After": str(int(retry_after) + 1)},
        )

    def check(self, request: Request) -> Answer:
        if request.method != "POST" or not request.path.startswith("/api/webhooks/"):
            return self.refuse(Answer.of_json(404, {"message": "404: Not Found", "code": 0}), "?")
        if request.path != self.path:
            return self.refuse(
                Answer.of_json(401, {"message": "Invalid Webhook Token", "code": 50027}), "token"
            )
        try:
            body = _json_body(request)
        except ValueError:
            return self.refuse(Answer.of_json(400, {"message": "Cannot send empty"}), "json")
        content = body.get("content")
        if not isinstance(content, str) or not content:
            return self.refuse(Answer.of_json(400, {"message": "Cannot send empty"}), "empty")
        if len(content) > 2000:
            return self.refuse(
                Answer.of_json(400, {"content": ["Must be 2000 or fewer in length."]}), "long"
            )
        if body.get("allowed_mentions") != {"parse": []}:
            return self.refuse(Answer.of_json(400, {"message": "mentions"}), "allowed_mentions")
        if _LIVE_MENTION.search(content):
            return self.refuse(Answer.of_json(400, {"message": "live mention"}), "mention")
        self.accepted.append(body)
        return Answer(204)


# --- generic webhook receiver ------------------------------------------------------------


class WebhookReceiver(FakeApi):
    """Recomputes the HMAC over the raw body and keeps one copy per Idempotency-Key."""

    path = "/hooks/rasd"

    def __init__(self, secret: str | None = "hook-secret") -> None:
        super().__init__()
        self.secret = secret
        self.by_key: dict[str, Any] = {}

    def check(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != self.path:
            return self.refuse(Answer.text(404, "no such hook"), "path")
        key = request.headers.get("idempotency-key")
        if not key:
            return self.refuse(Answer.text(400, "Idempotency-Key missing"), "key")
        if self.secret is not None:
            expected = (
                "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
            )
            given = request.headers.get("x-rasd-signature", "")
            if not hmac.compare_digest(expected, given):
                return self.refuse(Answer.text(401, "bad signature"), "signature")
        try:
            body = _json_body(request)
        except ValueError:
            return self.refuse(Answer.text(400, "not JSON"), "json")
        if key not in self.by_key:
            self.by_key[key] = body
            self.accepted.append(body)
        return Answer.text(200, "ok")
