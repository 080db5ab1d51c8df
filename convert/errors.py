"""The error hierarchy. The CLI maps each class to one line and an exit code."""
from __future__ import annotations

from dataclasses import dataclass, field
from collections import Counter

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_UNSUPPORTED = 3


ERROR_TEXT_LIMIT = 400  # characters of a quoted framework message in a one-line error


def shorten(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    """``text`` on one line, cut at a word boundary when longer than ``limit``."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    from .flags import on_cli

    more = " (full text with --debug)" if on_cli() else " (full text in the error's .full)"
    return flat[:cut if cut > limit // 2 else limit].rstrip(" ,;:") + " ..." + more


def full_text(e: BaseException) -> str:
    """The unshortened message of an error (what --debug prints)."""
    return getattr(e, "full", None) or str(e)


class NNConvertError(Exception):
    """Base of every error nnconvert raises on purpose. ``full``, when set, is the
    message before a quoted detail was shortened."""

    exit_code = EXIT_UNSUPPORTED
    full: str | None = None


class UsageError(NNConvertError):
    """The user asked for something that does not make sense (bad flag, unknown format)."""

    exit_code = EXIT_USAGE


class ModelLoadError(NNConvertError):
    """A model file cannot be read: missing, truncated, corrupted or of another format."""

    def __init__(self, path: str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class Unsupported:
    """One thing that cannot be converted: a layer type, or one attribute value of a layer."""

    layer: str
    layer_type: str
    attribute: str | None = None
    value: object = None
    hint: str = ""

    def describe(self) -> str:
        text = f"{self.layer} ({self.layer_type})"
        if self.attribute is not None:
            text += f": {self.attribute}={self.value!r}"
        if self.hint:
            text += f" -- {self.hint}"
        return text


class UnsupportedError(NNConvertError):
    """Everything unsupported in a model, gathered before any output is written."""

    def __init__(self, items: list[Unsupported], where: str = "model"):
        self.items = list(items)
        self.where = where
        super().__init__(self._message())

    def _message(self) -> str:
        counts = Counter(i.layer_type for i in self.items)
        summary = ", ".join(f"{t} x{n}" for t, n in sorted(counts.items()))
        lines = [f"{len(self.items)} unsupported item(s) in {self.where}: {summary}"]
        lines += [f"  - {i.describe()}" for i in self.items]
        return "\n".join(lines)


class UnsupportedAttributeError(NNConvertError):
    """Raised by a single handler; importers collect these into an UnsupportedError."""

    def __init__(self, attribute: str, value: object, hint: str = ""):
        self.attribute = attribute
        self.value = value
        self.hint = hint
        super().__init__(f"{attribute}={value!r} is not supported" + (f" ({hint})" if hint else ""))


class InvalidGraphError(NNConvertError):
    """An IR invariant does not hold."""

    def __init__(self, invariant: str, node: str | None, detail: str):
        self.invariant = invariant
        self.node = node
        where = f" at node {node!r}" if node else ""
        super().__init__(f"invalid graph ({invariant}){where}: {detail}")


class VerificationError(NNConvertError):
    """Verification found a mismatch."""

    exit_code = EXIT_MISMATCH


class CannotVerifyError(NNConvertError):
    """One side of a verification cannot be loaded or run."""


class OutputExistsError(UsageError):
    def __init__(self, path: str):
        from .flags import flag

        super().__init__(f"{path} exists; pass {flag('force')} to overwrite it")
