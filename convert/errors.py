"""The error hierarchy. The CLI maps each class to one line and an exit code."""
from __future__ import annotations

import unicodedata
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


class OutputWriteError(NNConvertError):
    """The output cannot be written (disk full, quota, read-only file system): the model is
    fine, the destination is not, so the line names the destination."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"cannot write {self.path}: {problem}; nothing was written")


class OutputExistsError(UsageError):
    def __init__(self, path: str):
        from .flags import flag

        super().__init__(f"{path} exists; pass {flag('force')} to overwrite it")


MAX_ERROR_LINE = 1000


def printable(text: str) -> str:
    """``text`` safe for a terminal and for one line: control and format characters (a
    carriage return, an ANSI escape, a right-to-left override, a newline) from a layer
    or file name are shown as Python escapes instead of acting on the terminal."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            out.append(repr(ch)[1:-1] if ch not in "'\"" else ch)
        else:
            out.append(ch)
    return "".join(out)


def error_text(err: BaseException, subject: str | None = None, full: bool = False) -> str:
    """The CLI's text for an error: one line (an UnsupportedError keeps its one line per
    item, each escaped), naming ``subject`` (the model file) when the message does not.
    ``full`` (--debug) keeps a long message whole."""
    if isinstance(err, UnsupportedError):
        lines = [printable(line) for line in str(err).splitlines()]
    elif isinstance(err, NNConvertError):
        lines = [printable((full_text(err) if full else str(err)).strip())]
    else:
        msg = f"{type(err).__name__}: {str(err).strip()}".rstrip(": ")
        lines = [printable(msg if full else " ".join(msg.split()))]
    if subject and subject not in lines[0] and printable(subject) not in lines[0]:
        lines[0] = f"{printable(subject)}: {lines[0]}"
    if not full and len(lines[0]) > MAX_ERROR_LINE:  # a framework's message may quote a whole config
        # Keep the start (file, what failed) and the end (what to do about it), cut at words.
        text, head_len, tail_len = lines[0], MAX_ERROR_LINE * 2 // 3, MAX_ERROR_LINE // 3
        cut = text.rfind(" ", 0, head_len)
        head = text[:cut if cut > head_len // 2 else head_len]
        start = text.find(" ", len(text) - tail_len)
        tail = text[start + 1 if 0 <= start < len(text) - tail_len // 2 else len(text) - tail_len:]
        lines[0] = f"{head} ... {tail}"
    return "\n".join(lines)
