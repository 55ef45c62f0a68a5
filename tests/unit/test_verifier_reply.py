"""The AUTH exchange without a server: the command's bytes and every kind of reply, split anyhow.

The verifier reads a reply in whatever pieces TLS records and the socket hand it; the verdict
must not depend on where the pieces break.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rotation.adapters.redis_verifier import (
    MAX_REPLY_BYTES,
    ReplyError,
    _Connection,
    auth_command,
    parse_auth_reply,
)

WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
VERDICTS = {b"+OK\r\n": True, WRONGPASS: False, b"-WRONGPASS\r\n": False}
NOT_VERDICTS = {
    b"-ERR wrong number of arguments for 'auth' command\r\n": "node answered ERR",
    b"-NOPERM this user has no permissions\r\n": "node answered NOPERM",
    b"-NOAUTH Authentication required.\r\n": "node answered NOAUTH",
    b"-ERR\r\n": "node answered ERR",
    b"-err lower case\r\n": "unexpected error reply",
    b"-WRONG-PASS x\r\n": "unexpected error reply",
    b"-\r\n": "unexpected error reply",
    b"+QUEUED\r\n": "unexpected reply",
    b"+OKAY\r\n": "unexpected reply",
    b":1\r\n": "unexpected reply",
    b"$2\r\nOK\r\n": "more than one reply",
    b"*1\r\n+OK\r\n": "more than one reply",
    b"OK\r\n": "unexpected reply",
    b"\r\n": "unexpected reply",
}
# Read whole at once, two replies are refused; split after the first, the second is caught before
# the next AUTH on the connection (test_bytes_left_after_a_reply_put_the_connection_out_of_step).
TWO_REPLIES = b"+OK\r\n+OK\r\n"


class Replies:
    """A socket that hands out `pieces` one recv at a time, then EOF; records what was sent."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)
        self.sent = b""
        self.received = 0

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def recv(self, size: int) -> bytes:
        if not self.pieces:
            return b""
        assert size > 0
        # As a socket does: at most `size` bytes; the rest of the piece comes next time.
        piece, rest = self.pieces[0][:size], self.pieces[0][size:]
        if rest:
            self.pieces[0] = rest
        else:
            self.pieces.pop(0)
        self.received += len(piece)
        return piece

    def close(self) -> None:
        pass


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _auth(pieces: list[bytes]) -> bool:
    return _Connection(Replies(pieces)).auth(b"AUTH")  # type: ignore[arg-type]


def test_the_command_is_resp2_auth_with_byte_lengths() -> None:
    assert auth_command("app-user", "pässwörd-1234567") == (
        b"*3\r\n$4\r\nAUTH\r\n$8\r\napp-user\r\n$18\r\np\xc3\xa4ssw\xc3\xb6rd-1234567\r\n"
    )


@pytest.mark.parametrize(("reply", "verdict"), VERDICTS.items())
def test_ok_accepts_and_wrongpass_refuses(reply: bytes, verdict: bool) -> None:
    assert parse_auth_reply(reply) is verdict


@pytest.mark.parametrize(("reply", "reason"), NOT_VERDICTS.items())
def test_anything_else_is_no_verdict_and_says_only_its_error_word(
    reply: bytes, reason: str
) -> None:
    with pytest.raises(ReplyError) as raised:
        parse_auth_reply(reply)
    assert raised.value.reason == reason


def test_a_reply_that_echoes_a_secret_is_reported_by_its_word_alone() -> None:
    with pytest.raises(ReplyError) as raised:
        parse_auth_reply(b"-ERR no such user 'Secret-value-0123456789'\r\n")
    assert "Secret" not in str(raised.value)
    assert "Secret" not in raised.value.reason


@pytest.mark.parametrize("partial", [b"", b"+", b"+OK", b"+OK\r", b"-WRONGPASS inv"])
def test_an_unfinished_line_asks_for_more(partial: bytes) -> None:
    assert parse_auth_reply(partial) is None


def test_a_line_without_end_is_cut_off_at_the_limit() -> None:
    assert parse_auth_reply(b"-" + b"E" * (MAX_REPLY_BYTES - 1)) is None
    with pytest.raises(ReplyError, match="too long"):
        parse_auth_reply(b"-" + b"E" * MAX_REPLY_BYTES)


def test_two_replies_read_at_once_are_no_verdict() -> None:
    with pytest.raises(ReplyError, match="more than one reply"):
        parse_auth_reply(TWO_REPLIES)


def test_the_connection_never_reads_past_the_limit() -> None:
    replies = Replies([b"x" * 100] * 100)
    with pytest.raises(ReplyError, match="too long"):
        _Connection(replies).auth(b"AUTH")  # type: ignore[arg-type]
    assert replies.received <= MAX_REPLY_BYTES + 2


@given(
    st.sampled_from(sorted(VERDICTS)),
    st.lists(st.integers(min_value=0, max_value=80), max_size=12),
)
def test_a_verdict_split_anywhere_reads_the_same(reply: bytes, cuts: list[int]) -> None:
    assert _auth(_split(reply, cuts)) is VERDICTS[reply]


@given(
    st.sampled_from(sorted(NOT_VERDICTS)),
    st.lists(st.integers(min_value=0, max_value=80), max_size=12),
)
def test_no_verdict_split_anywhere_is_still_no_verdict(reply: bytes, cuts: list[int]) -> None:
    pieces = _split(reply, cuts)
    with pytest.raises(ReplyError):
        _auth(pieces)


@given(st.binary(max_size=MAX_REPLY_BYTES + 40), st.lists(st.integers(0, 600), max_size=8))
def test_any_bytes_give_a_verdict_only_when_they_are_one(data: bytes, cuts: list[int]) -> None:
    try:
        verdict: bool | None = _auth(_split(data, cuts))
    except ReplyError:
        verdict = None
    except ConnectionError:
        verdict = None
        assert b"\r\n" not in data[: MAX_REPLY_BYTES + 2]
    if verdict is True:
        assert data == b"+OK\r\n"
    if verdict is False:
        assert data.startswith(b"-WRONGPASS")
        assert data.endswith(b"\r\n")
        assert data.count(b"\r\n") == 1


@given(st.sampled_from(sorted(VERDICTS)), st.integers(min_value=0, max_value=60))
def test_a_connection_closed_mid_reply_is_no_verdict(reply: bytes, keep: int) -> None:
    cut = min(keep, len(reply) - 1)
    with pytest.raises(ConnectionError, match="closed before a whole reply"):
        _auth([reply[:cut]] if cut else [])
