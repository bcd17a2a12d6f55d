"""The HTTP client's parse of a URL: urllib3's own, taken without it for the plain URLs of an
index's pages and files (``httpclient._plain_url``), which must give the very same result."""

from __future__ import annotations

import pytest
import urllib3.util
from hypothesis import given, settings
from hypothesis import strategies as st

from wheelscan.wheel import http_pools, httpclient

from property_budget import examples

# URLs of the plain form (``_PLAIN_URL``), and the same with a character put in that changes
# how urllib3 parses or escapes them
_SCHEME = st.sampled_from(["http", "https"])
_HOST = st.text(st.sampled_from("az09.-"), min_size=1, max_size=10)
_PORT = st.one_of(st.just(""), st.integers(0, 70000).map(lambda port: f":{port}"))
_PATH = st.text(st.sampled_from("az09/._-~:@!$&'()*+,;="), max_size=24)
_TRICKY = st.sampled_from(
    ["A", "Z", "%", "%2f", "%2F", "?", "#", "\\", "[", "]", "@", ":", "/", ".", "..", "/./",
     "/../", " ", "\t", "\x7f", "é", "Ж", ":0", "0"]
)  # fmt: skip


@st.composite
def _urls(draw: st.DrawFn) -> str:
    url = f"{draw(_SCHEME)}://{draw(_HOST)}{draw(_PORT)}/{draw(_PATH)}"
    if draw(st.booleans()):
        at = draw(st.integers(0, len(url)))
        url = url[:at] + draw(_TRICKY) + url[at:]
    return url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/simple/numpy/",
        "https://files.example.org/packages/ab/cd/ef/numpy-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "http://mirror/simple/",
        "http://mirror",
        "http://mirror:65535/a//b/",
        "https://mirror/a/b@c:d/e;f=g,h/(i)*+!$&'~",
    ],
)
def test_an_index_url_is_parsed_without_urllib3_as_urllib3_parses_it(url: str) -> None:
    plain = httpclient._plain_url(url)
    assert plain is not None
    assert plain == urllib3.util.parse_url(url)
    assert httpclient._normalised(url) == plain


@pytest.mark.parametrize(
    "url",
    [
        "http://Mirror/simple/",  # the parse lowers the host
        "HTTP://mirror/simple/",  # and the scheme
        "http://mirror:080/simple/",  # it drops a port's leading zeros
        "http://mirror:65536/simple/",  # and refuses a port past 65535
        "http://mirror/a/./b/",  # it removes dot segments
        "http://mirror/a/../b/",
        "http://mirror/a/b/..",
        "http://mirror/a%2fb",  # it writes percent-escapes in upper case
        "http://mirror/a b",  # and escapes what a path may not hold
        "http://user:secret@mirror/simple/",  # userinfo
        "http://evil:81\\@good:82/",  # read otherwise by urlsplit
        "http://mirror/simple/?q=1",
        "http://mirror/simple/#frag",
        "http://[::1]:8080/simple/",
        "http://bücher.example/simple/",
        "ftp://mirror/simple/",
    ],
)
def test_a_url_the_parse_would_change_is_left_to_it(url: str) -> None:
    assert httpclient._plain_url(url) is None


@settings(max_examples=examples(2000))
@given(_urls())
def test_the_plain_parse_is_urllib3s_parse(url: str) -> None:
    plain = httpclient._plain_url(url)
    if plain is not None:
        assert plain == urllib3.util.parse_url(url)
        assert tuple(plain) == tuple(urllib3.util.parse_url(url))


_TARGET = st.text(st.sampled_from("az09AZ/._-~:@!$&'()*+,;=?#%2fF[]\\ é<>\"{}|^`\t"), max_size=24)


def _urllib3_sends_as_is(target: str) -> bool:
    """Whether urllib3's pool would send ``target`` as it is (``urlopen`` encodes it so)."""
    from urllib3.util.url import _encode_target

    return target[:1] == "/" and _encode_target(target) == target


@settings(max_examples=examples(2000))
@given(st.one_of(_TARGET, _TARGET.map(lambda target: "/" + target)))
def test_a_target_is_sent_as_is_where_urllib3_would_send_it_so(target: str) -> None:
    """``sent_as_is`` (a target without escapes told by its characters alone, one with
    them by the pattern) says yes only where urllib3 itself would leave the target as it
    is: a target it said yes to goes out unencoded."""
    if http_pools.sent_as_is.__wrapped__(target):
        assert _urllib3_sends_as_is(target)


def test_every_character_is_told_as_urllib3_tells_it() -> None:
    """Each character alone in a target, escaped or not: ``sent_as_is`` says yes to the
    ones urllib3 leaves as they are, and only to them (RFC 3986's, but "#": a fragment,
    never sent)."""
    for code in range(0x180):
        character = chr(code)
        for target in (f"/a{character}b", f"/a%41{character}b"):
            expected = _urllib3_sends_as_is(target) and character != "#"
            assert http_pools.sent_as_is.__wrapped__(target) == expected, repr(target)
