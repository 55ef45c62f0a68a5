"""Invariant 5: no password or RotationToken in anything the function writes or raises.

The scanner tees every channel a secret could leave by while it is active: sys.stdout/sys.stderr
and every logging StreamHandler (Powertools' JSON logs and its EMF metrics are printed to stdout),
every log record of every logger at DEBUG (botocore's included), the text Python prints for an
exception the function raised (what the Lambda runtime reports), and X-Ray annotations and
metadata. `scan(secrets)` then looks for each secret, and for its first 16 characters.
"""

from __future__ import annotations

import contextlib
import io
import logging
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


class _Tee(io.TextIOBase):
    def __init__(self, sink: list[str]) -> None:
        self._sink = sink

    def write(self, text: str) -> int:
        self._sink.append(text)
        return len(text)

    def flush(self) -> None:
        return None


class _Records(logging.Handler):
    def __init__(self, sink: list[str], kept: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink
        self._kept = kept

    def emit(self, record: logging.LogRecord) -> None:
        self._kept.append(record)
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is still scanned by its parts
            text = f"{record.msg!r} {record.args!r}"
        parts = [f"{record.name}: {text}", repr(record.__dict__)]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(record.exc_info[1])))
        self._sink.append("\n".join(parts))


@dataclass
class LeakScanner:
    """Collects what leaves the function.

    `debug=True` sets the levels an operator can set to DEBUG: the root logger (the Lambda
    runtime's AWS_LAMBDA_LOG_LEVEL) and the loggers that do not propagate
    (Powertools' service logger, which does not propagate). Every other logger keeps its level:
    the function pins botocore, boto3 and urllib3 at INFO, and that pin is what is under test.
    """

    debug: bool = False
    texts: dict[str, list[str]] = field(
        default_factory=lambda: {
            "stdout/stderr": [],
            "log records": [],
            "exceptions": [],
            "traces": [],
        }
    )
    records: list[logging.LogRecord] = field(default_factory=list)
    """Every log record seen while capturing, for checks on what was logged."""

    @contextlib.contextmanager
    def capturing(self) -> Iterator[LeakScanner]:
        out = self.texts["stdout/stderr"]
        records = _Records(self.texts["log records"], self.records)
        root = logging.getLogger()
        saved_levels: list[tuple[logging.Logger, int]] = []
        swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
        loggers = [root] + [
            lg
            for lg in logging.Logger.manager.loggerDict.values()
            if isinstance(lg, logging.Logger)
        ]
        for lg in loggers:
            for handler in lg.handlers:
                # Plain StreamHandlers only (Powertools' is one); test runners' capture
                # handlers subclass it and keep their own buffers.
                if type(handler) is logging.StreamHandler:
                    swapped.append((handler, handler.setStream(_Tee(out))))
        # Loggers that do not propagate (Powertools') get the record handler directly.
        private = [lg for lg in loggers if not lg.propagate]
        saved_levels.append((root, root.level))
        if self.debug:
            root.setLevel(logging.DEBUG)
            for lg in private:
                saved_levels.append((lg, lg.level))
                lg.setLevel(logging.DEBUG)
        root.addHandler(records)
        for lg in private:
            lg.addHandler(records)
        patches = _trace_patches(self.texts["traces"])
        try:
            with contextlib.redirect_stdout(_Tee(out)), contextlib.redirect_stderr(_Tee(out)):
                yield self
        finally:
            for undo in patches:
                undo()
            for lg in private:
                lg.removeHandler(records)
            root.removeHandler(records)
            for lg, level in saved_levels:
                lg.setLevel(level)
            for handler, stream in swapped:
                handler.setStream(stream)

    def exception(self, exc: BaseException) -> None:
        """What Python (and so the Lambda runtime) prints for a raised exception."""
        self.texts["exceptions"].append(str(exc))
        self.texts["exceptions"].append("".join(traceback.format_exception(exc)))

    def text(self, channel: str, value: str) -> None:
        self.texts.setdefault(channel, []).append(value)

    def scan(self, secrets: Iterable[str]) -> list[str]:
        """Every (channel, secret fingerprint) where a secret or its first 16 characters shows."""
        needles = {s for s in secrets if s and len(s) >= 8}
        found = []
        for channel, texts in self.texts.items():
            blob = "\n".join(texts)
            for secret in needles:
                probe = secret[:16]
                if secret in blob or probe in blob:
                    found.append(f"{channel}: a secret of length {len(secret)} appears")
        return found

    @property
    def captured_chars(self) -> int:
        return sum(len(t) for texts in self.texts.values() for t in texts)


def _trace_patches(sink: list[str]) -> list[Any]:
    """Record every X-Ray annotation and metadata value, on real and dummy (unsampled) entities."""
    try:
        from aws_xray_sdk.core.models import (  # type: ignore[import-untyped]
            dummy_entities,
            entity,
            facade_segment,
        )
    except ImportError:  # pragma: no cover - the X-Ray SDK ships with Powertools' tracer extra
        return []
    undo = []
    for cls in (
        entity.Entity,
        dummy_entities.DummySegment,
        dummy_entities.DummySubsegment,
        facade_segment.FacadeSegment,
    ):
        for name in ("put_annotation", "put_metadata"):
            original = cls.__dict__.get(name)
            if original is None:
                continue

            def recorder(self: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
                sink.append(repr(args) + repr(kw))
                return _original(self, *args, **kw)

            setattr(cls, name, recorder)
            undo.append(lambda cls=cls, name=name, original=original: setattr(cls, name, original))
    return undo
