from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.dedup import (
    Fingerprint,
    StoryIndex,
    _canonical_url_parsed,
    canonical_url,
    fingerprint,
)
from monitor.stories import shingles
from tests.monitor.story_eval import (
    ENTITY_VOCABULARIES,
    evaluate,
    load_pairs,
    load_vocabularies,
    with_entities,
)

T0 = datetime(2025, 11, 3, 8, 0, tzinfo=UTC)

# --- canonical_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a", "https://example.com/a"),
        ("HTTP://Example.COM/a", "https://example.com/a"),
        ("http://www.example.com/a/", "https://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "https://example.com/a"),
        ("https://example.com:8080/a", "https://example.com:8080/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed", "https://example.com/a"),
        ("https://example.com/a?UTM_Campaign=x&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=IwAR0&gclid=Cj0&mc_cid=1&mc_eid=2", "https://example.com/a"),
        ("https://example.com/a?xtor=RSS-3208", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?id=1&id=1", "https://example.com/a?id=1&id=1"),
        ("https://example.com/a?q=caf%c3%a9", "https://example.com/a?q=caf%C3%A9"),
        # AMP variants
        (
            "https://maliactu.net/attaques-simultanees/?amp=1",
            "https://maliactu.net/attaques-simultanees",
        ),
        ("https://example.com/a?amp", "https://example.com/a"),
        ("https://example.com/a/amp", "https://example.com/a"),
        ("https://example.com/a/amp/", "https://example.com/a"),
        ("https://aletihad.ae/amp/news/4320394", "https://aletihad.ae/news/4320394"),
        ("https://amp.theguardian.com/world/2025/mali", "https://theguardian.com/world/2025/mali"),
        ("https://example.com/story.amp", "https://example.com/story"),
        ("https://example.com/a?outputType=amp", "https://example.com/a"),
        ("https://example.com/a?outputType=print", "https://example.com/a?outputType=print"),
        ("https://example.com/ampere", "https://example.com/ampere"),
        # real corpus shapes: lower-case escapes, raw Arabic path, tracking parameter
        (
            "https://www.ghadnews.net/2025/09/16/%d8%a7%d9%84/",
            "https://ghadnews.net/2025/09/16/%D8%A7%D9%84",
        ),
        (
            "https://albarg.org/2023/07/05/روسيا",
            "https://albarg.org/2023/07/05/%D8%B1%D9%88%D8%B3%D9%8A%D8%A7",
        ),
        (
            "https://www.aljazeera.net/news/2024/9/17/x?traffic_source=rss",
            "https://aljazeera.net/news/2024/9/17/x",
        ),
        ("https://example.com/%7Euser/%41", "https://example.com/~user/A"),
        ("https://example.com/a%2Fb", "https://example.com/a%2Fb"),
        ("https://www.com/a", "https://www.com/a"),  # "www" is the whole name: kept
        # not an http(s) URL: returned as given, stripped
        ("  mailto:desk@example.com ", "mailto:desk@example.com"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        ("not a url", "not a url"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_unifies_one_article_spellings() -> None:
    spellings = [
        "https://maliactu.net/attaques-simultanees-au-mali/",
        "http://maliactu.net/attaques-simultanees-au-mali",
        "https://www.maliactu.net/attaques-simultanees-au-mali/?amp=1",
        "https://maliactu.net/attaques-simultanees-au-mali/amp/",
        "https://amp.maliactu.net/attaques-simultanees-au-mali?utm_source=fb&fbclid=x#top",
    ]
    assert len({canonical_url(u) for u in spellings}) == 1


_url_parts = st.text(alphabet="abcAMPé%/._-~:?&=#+ مالي0123456789", max_size=30)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
    host=st.sampled_from(["example.com", "WWW.Example.com", "amp.www.x.org", "www.com", "[::1]"]),
    port=st.sampled_from(["", ":80", ":443", ":8080"]),
    rest=_url_parts,
)
def test_canonical_url_is_idempotent(scheme: str, host: str, port: str, rest: str) -> None:
    once = canonical_url(f"{scheme}://{host}{port}/{rest}")
    assert canonical_url(once) == once


@given(st.text(max_size=60))
def test_canonical_url_is_idempotent_on_any_text(text: str) -> None:
    once = canonical_url(text)
    assert canonical_url(once) == once


_link_text = st.text(alphabet="aAmMpP0-9/._~!$&'()*+,;=:@%?#é \t\nwz", max_size=25)


@settings(max_examples=1000)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp", "http:"]),
    host=st.sampled_from(
        ["example.com", "www.example.com", "amp.www.x.org", "www.com", "a-b.c", "Ex.com", "x..y"]
    ),
    port=st.sampled_from(["", "", "", ":80", ":8080", ":", "@u"]),
    path=st.one_of(_link_text, st.text(alphabet="ab/.-~Amp", max_size=12)),
    query=st.one_of(st.just(""), st.builds("?{}".format, _link_text)),
    space=st.sampled_from(["", " ", "\n"]),
)
def test_canonical_url_shortcut_equals_the_urlsplit_path(
    scheme: str, host: str, port: str, path: str, query: str, space: str
) -> None:
    url = f"{space}{scheme}://{host}{port}/{path}{query}{space}"
    assert canonical_url(url) == _canonical_url_parsed(url.strip())


@pytest.mark.parametrize(
    "url",
    [
        "https://site12.example/2025/11/03/article-4.html?utm_source=rss",
        "https://www.maliweb.net/insecurite/attaque-terroriste-a-kayes-3101234.html",
        "https://www.aljazeera.net/news/2025/11/3/مالي",
        "https://example.com?b=2&a=1#top",
        "https://example.com/a/amp/",
        "https://www.example.com/a/b/",
        "https://example.com/?",
        "http://a.b/x:y@z?q=%41&fbclid=1",
    ],
)
def test_canonical_url_shortcut_on_real_shapes(url: str) -> None:
    assert canonical_url(url) == _canonical_url_parsed(url)


# --- fingerprint -----------------------------------------------------------------------------


@given(st.text(max_size=200), st.text(max_size=200))
def test_fingerprint_of_identical_text_is_equal(title: str, summary: str) -> None:
    assert fingerprint(title, summary) == fingerprint(title, summary)


@given(st.text(max_size=120))
def test_fingerprint_json_round_trip(title: str) -> None:
    fp = fingerprint(title, "")
    assert Fingerprint.from_json(fp.to_json()) == fp


def test_fingerprint_ignores_case_accents_harakat_and_article() -> None:
    assert fingerprint("Mali : l'armée à Ménaka", "") == fingerprint("MALI: L’ARMEE A MENAKA", "")
    assert fingerprint("أزمةُ الوقودِ في مالي", "") == fingerprint("ازمة وقود في مالي", "")


def test_fingerprint_is_stable_across_processes() -> None:
    # Stored signatures must survive restarts: no salted hash() anywhere.
    fp = fingerprint("Mali : le JNIM bloque les importations de carburant", "")
    assert fp.values[:2] == (2223461079, 3863992614)
    assert len(fp.values) == 64


def test_fingerprint_of_empty_text_matches_nothing() -> None:
    empty = fingerprint("", "  ")
    assert empty.values == ()
    assert empty.similarity(empty) == 0.0


def test_similarity_tracks_jaccard() -> None:
    a = "Le JNIM lance des attaques simultanées dans sept villes du pays et revendique"
    b = "Le JNIM lance des attaques coordonnées dans sept villes du pays et revendique"
    sa, sb = shingles(a, ""), shingles(b, "")
    jaccard = len(sa & sb) / len(sa | sb)
    assert abs(fingerprint(a, "").similarity(fingerprint(b, "")) - jaccard) < 0.2


@pytest.mark.parametrize("bad", ['{"v": 2, "minhash": ""}', '{"v": 1, "minhash": "abc"}', "[]"])
def test_fingerprint_from_json_rejects_unknown_formats(bad: str) -> None:
    with pytest.raises(ValueError, match="dedup"):
        Fingerprint.from_json(bad)


# --- StoryIndex ------------------------------------------------------------------------------

WIRE = (
    "Mali : le JNIM lance des attaques simultanées dans sept villes du pays",
    "Plus de 80 terroristes neutralisés et un arsenal de guerre récupéré, selon les FAMa.",
)


def _index(**options: object) -> StoryIndex:
    index = StoryIndex(**options)  # type: ignore[arg-type]
    index.add(
        key="1",
        story_id=10,
        lang="fr",
        title=WIRE[0],
        summary=WIRE[1],
        published=T0,
        url="https://maliactu.net/attaques/?amp=1",
    )
    return index


def test_near_duplicate_joins_the_story() -> None:
    found = _index().find(
        lang="fr",
        title="Mali: le JNIM lance des attaques simultanées dans sept villes",
        summary="Au moins 80 terroristes neutralisés et un arsenal de guerre récupéré, dit la FAMa",
        published=T0 + timedelta(hours=3),
    )
    assert found is not None
    assert (found.story_id, found.reason, found.key) == (10, "near-duplicate", "1")
    assert 0.5 <= found.similarity < 1.0


def test_same_url_joins_the_story() -> None:
    found = _index().find(
        lang="fr",
        title="Titre tout à fait différent",
        summary="",
        published=T0,
        url="http://www.maliactu.net/attaques#x",
    )
    assert found is not None
    assert (found.story_id, found.reason, found.similarity) == (10, "url", 1.0)


def test_different_event_about_the_same_place_stays_apart() -> None:
    found = _index().find(
        lang="fr",
        title="Mali : le prix de l'essence flambe à Kayes et Nioro du Sahel",
        summary="Les stations-service de la région sont à sec depuis trois semaines.",
        published=T0 + timedelta(hours=1),
    )
    assert found is None


def test_near_duplicate_outside_the_window_is_a_new_story() -> None:
    found = _index(window=timedelta(hours=48)).find(
        lang="fr", title=WIRE[0], summary=WIRE[1], published=T0 + timedelta(hours=49)
    )
    assert found is None


def test_same_language_candidate_wins() -> None:
    index = _index()
    index.add(
        key="2", story_id=20, lang="ar", title=WIRE[0], summary=WIRE[1], published=T0
    )  # a mislabelled copy in another language
    found = index.find(lang="fr", title=WIRE[0], summary=WIRE[1], published=T0)
    assert found is not None and found.story_id == 10


def test_entities_group_arabic_and_french_reports() -> None:
    index = StoryIndex()
    index.add(
        key="fr",
        story_id=7,
        lang="fr",
        title="Tombouctou : la jeune tiktokeuse Mariam Cissé exécutée publiquement à Tonka",
        summary="",
        published=T0,
        entities=frozenset({"place:tonka", "place:tombouctou", "actor:tiktok"}),
    )
    found = index.find(
        lang="ar",
        title="تمبكتو: إعدام صانعة المحتوى الشابة مريم سيسي علنا في تونكا",
        summary="",
        published=T0 + timedelta(hours=5),
        entities=frozenset({"place:tonka", "place:tombouctou", "actor:tiktok"}),
    )
    assert found is not None
    assert (found.story_id, found.reason, found.similarity) == (7, "entities", 1.0)
    later = T0 + timedelta(hours=30)  # beyond the 24 h entity window
    assert (
        index.find(
            lang="ar",
            title="x",
            summary="",
            published=later,
            entities=frozenset({"place:tonka", "place:tombouctou", "actor:tiktok"}),
        )
        is None
    )


def test_entities_need_enough_in_common() -> None:
    index = StoryIndex(generic_entities=frozenset({"country:mali"}))
    index.add(
        key="a",
        story_id=1,
        lang="ar",
        title="a",
        summary="",
        published=T0,
        entities=frozenset({"actor:jnim", "place:bamako", "place:bougouni", "thing:tankers"}),
    )

    def find(entities: set[str]) -> object:
        return index.find(
            lang="fr", title="b", summary="", published=T0, entities=frozenset(entities)
        )

    assert find({"actor:jnim", "place:bamako", "country:mali"}) is None  # 2 specific shared
    same_set = find({"actor:jnim", "place:bamako", "place:bougouni", "thing:tankers"})
    assert same_set is not None and same_set.similarity == 1.0
    three_of_five = find({"actor:jnim", "place:bamako", "place:kayes", "thing:tankers"})
    assert three_of_five is not None and three_of_five.similarity == pytest.approx(0.6)
    # Another convoy attack: 3 shared out of 6 named (Jaccard 0.5) stays a separate story.
    assert (
        find({"actor:jnim", "place:bamako", "place:kayes", "place:souribougou", "thing:tankers"})
        is None
    )


_ENTITY_POOL = [f"place:p{i}" for i in range(7)] + ["actor:a", "actor:b", "country:mali"]


@given(
    st.lists(
        st.tuples(
            st.frozensets(st.sampled_from(_ENTITY_POOL), max_size=7),
            st.integers(0, 40),  # hours after T0
            st.sampled_from(["ar", "fr"]),
        ),
        max_size=25,
    ),
    st.frozensets(st.sampled_from(_ENTITY_POOL), max_size=7),
    st.integers(0, 40),
    st.booleans(),
)
def test_entity_match_is_the_best_by_brute_force(
    stored: list[tuple[frozenset[str], int, str]],
    asked: frozenset[str],
    hours: int,
    across_only: bool,
) -> None:
    """The posting-list shortcut finds what a scan of every indexed item would."""
    index = StoryIndex(
        generic_entities=frozenset({"country:mali"}), entities_across_languages_only=across_only
    )
    for n, (entities, at, lang) in enumerate(stored):
        # Distinct one-word titles: the text steps never match, only entities can.
        index.add(
            key=str(n),
            story_id=n,
            lang=lang,
            title=f"w{n}",
            summary="",
            published=T0 + timedelta(hours=at),
            entities=entities,
        )
    published = T0 + timedelta(hours=hours)
    found = index.find(lang="fr", title="zz", summary="", published=published, entities=asked)
    specific = asked - {"country:mali"}
    best = None
    for entities, at, lang in stored:
        mine = entities - {"country:mali"}
        count, gap = len(specific & mine), abs(timedelta(hours=at - hours))
        if count < 3 or gap > index.entity_window or (across_only and lang == "fr"):
            continue
        jaccard = count / len(specific | mine)
        if jaccard >= index.min_entity_jaccard and (best is None or (jaccard, count, -gap) > best):
            best = (jaccard, count, -gap)
    if best is None:
        assert found is None
    else:
        assert found is not None and found.reason == "entities"
        entities, at, _ = stored[found.story_id]
        mine = entities - {"country:mali"}
        count = len(specific & mine)
        assert (found.similarity, count, -abs(timedelta(hours=at - hours))) == best


def test_add_without_story_is_not_indexed_and_readd_replaces() -> None:
    index = _index()
    index.add(key="x", story_id=None, lang="fr", title=WIRE[0], summary="", published=T0)
    assert len(index) == 1
    index.add(key="1", story_id=11, lang="fr", title=WIRE[0], summary=WIRE[1], published=T0)
    assert len(index) == 1
    found = index.find(lang="fr", title=WIRE[0], summary=WIRE[1], published=T0)
    assert found is not None and found.story_id == 11


def test_stored_fingerprint_is_used() -> None:
    index = StoryIndex()
    fp = Fingerprint.from_json(fingerprint(*WIRE).to_json())
    index.add(key="1", story_id=3, lang="fr", title="", summary="", published=T0, fingerprint=fp)
    found = index.find(lang="fr", title=WIRE[0], summary=WIRE[1], published=T0)
    assert found is not None and found.story_id == 3


def test_evict_drops_items_older_than_the_window() -> None:
    index = StoryIndex(window=timedelta(hours=48))
    for hour in range(100):
        index.add(
            key=str(hour),
            story_id=hour,
            lang="fr",
            title=f"Dépêche numéro {hour} sur Ségou",
            summary="",
            published=T0 + timedelta(hours=hour),
            entities=frozenset({f"e{hour}", "place:segou"}),
            url=f"https://example.com/{hour}",
        )
    assert index.evict(T0 + timedelta(hours=100)) == 52
    assert len(index) == 48
    assert (
        index.find(lang="fr", title="x", summary="", published=T0, url="https://example.com/3")
        is None
    )
    assert (
        index.find(lang="fr", title="x", summary="", published=T0, url="https://example.com/60")
        is not None
    )
    assert index.evict(T0 + timedelta(days=30)) == 48
    assert len(index) == 0
    assert not index._by_band and not index._by_entity and not index._by_url  # no leftovers


def test_memory_is_bounded_by_the_window() -> None:
    signatures = [
        fingerprint(f"Attaque {n} à Ségou, {n * 7} morts selon la source {n % 97}", f"Bilan {n}")
        for n in range(600)
    ]
    index = StoryIndex(window=timedelta(hours=48))  # 10 items an hour: ~480 live items
    traced: dict[int, int] = {}
    tracemalloc.start()
    for n in range(1, 7681):
        published = T0 + timedelta(minutes=6 * n)
        index.add(
            key=str(n),
            story_id=n,
            lang="fr",
            title="",
            summary="",
            published=published,
            entities=frozenset({f"place:{n % 50}", f"actor:{n}"}),
            url=f"https://example.com/{n}",
            fingerprint=signatures[n % 600],
        )
        index.evict(published)
        if n in (1920, 7680):
            traced[n] = tracemalloc.get_traced_memory()[0]
            assert len(index) <= 481
    tracemalloc.stop()
    assert traced[7680] < traced[1920] * 1.25  # 4x the items, same window: same memory


@pytest.mark.parametrize(
    "bad",
    [{"threshold": 0.0}, {"threshold": 1.5}, {"cross_lang_min_entities": 0}],
)
def test_bad_options_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="stories"):
        StoryIndex(**bad)  # type: ignore[arg-type]


# --- quality on the labelled pairs ------------------------------------------------------------


def test_precision_and_recall_on_labelled_pairs() -> None:
    pairs = with_entities(load_pairs(), load_vocabularies(ENTITY_VOCABULARIES))
    assert len(pairs) >= 60
    score = evaluate(pairs)  # the defaults
    # Reached 1.000 / 0.569 (29 tp, 0 fp, 22 fn, 38 tn); see bench/results/dedup.md.
    assert score.precision >= 0.95
    assert score.recall >= 0.55
    assert score.by_kind["near-dup"] == (16, 16)
    assert score.by_kind["diff-event"][0] == score.by_kind["diff-event"][1]
