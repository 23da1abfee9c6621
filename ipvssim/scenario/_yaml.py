"""Typed reading of composed YAML nodes, one `Problem` per mistake, with line numbers.

The loader walks PyYAML's node graph (``yaml.compose``) instead of the constructed Python
objects so that every value keeps its position.  Scalars are read from their source text,
not from YAML 1.1's implicit typing: ``52:54:00:12:34:56`` stays a MAC address instead of
becoming a base-60 integer, and a host called ``no`` stays a name.
"""
from __future__ import annotations

import difflib
from ipaddress import IPv4Address, AddressValueError
from typing import Callable, Collection, Mapping, Sequence, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ipvssim.scenario.errors import Problem

__all__ = ["Reader", "MISSING", "join", "index", "suggest", "describe", "is_null", "line_of", "file_of"]

T = TypeVar("T")

_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_MAX_SHOWN = 60   # longest value quoted back in a message; a pasted blob stays one line


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()   # "the key was not written", as opposed to a value that failed to parse


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def suggest(word: str, candidates: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` when some candidate is close to `word`, else ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def file_of(node: Node) -> str:
    return node.start_mark.name


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG and node.style is None


def describe(node: Node) -> str:
    """How a value reads in "got ..." messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if is_null(node):
        return "nothing"
    if len(node.value) > _MAX_SHOWN:
        return repr(node.value[:_MAX_SHOWN]) + f"... ({len(node.value)} characters)"
    return repr(node.value)


class Reader:
    """Collects problems while giving typed access to nodes.

    Every reader method takes the node (or None when the key was absent) and the YAML
    path for messages.  An absent key yields `default`; a value that cannot be used
    records a problem and also yields `default`, so that loading goes on and every
    problem in the file is found in one pass.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    # -- reporting -------------------------------------------------------------------
    def problem(self, node: Node, path: str, message: str) -> None:
        self.problem_at(file_of(node), line_of(node), path, message)

    def problem_at(self, file: str, line: int, path: str, message: str) -> None:
        self.problems.append(Problem(file, line, f"{path}: {message}" if path else message))

    # -- documents -------------------------------------------------------------------
    def compose(self, text: str, filename: str) -> Node | None:
        """The root node of a one-document YAML text; None (and a problem) if it is not YAML."""
        try:
            # The constructor already scans the text for non-printable characters.
            loader = yaml.SafeLoader(text)
        except yaml.reader.ReaderError as e:
            line = text.count("\n", 0, e.position) + 1
            self.problem_at(filename, line, "", f"invalid YAML: character {e.character:#06x} "
                                                "is not allowed in a YAML file")
            return None
        loader.name = filename   # marks carry the file name, so each node knows its file
        try:
            return loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            what = e.problem or e.context or "cannot be parsed"
            if e.context and e.problem and e.problem.startswith("but "):
                what = f"{e.context}, {e.problem}"
            elif e.context and e.context.endswith("; first occurrence") and e.context_mark:
                # PyYAML splits "duplicate anchor" over context and problem.
                what = (f"{e.context.removesuffix('; first occurrence')} "
                        f"(first at line {e.context_mark.line + 1})")
            elif e.context and e.problem and e.context_mark and mark \
                    and e.context_mark.line != mark.line \
                    and e.context.startswith(("while parsing ", "while scanning ")):
                # The parser trips a line or more after the mistake (an unclosed `[` or
                # quote): point back at where the construct began.
                thing = e.context.split(" ", 2)[2]
                what = f"{e.problem} (in {thing} that starts at line {e.context_mark.line + 1})"
            self.problem_at(filename, mark.line + 1 if mark else 1, "", f"invalid YAML: {what}")
        except yaml.YAMLError as e:
            self.problem_at(filename, 1, "", f"invalid YAML: {e}")
        except RecursionError:
            # PyYAML composes nested collections recursively: [[[[...]]]] thousands deep
            # exhausts the stack.  No scenario nests more than a handful of levels.
            self.problem_at(filename, loader.get_mark().line + 1, "",
                            "invalid YAML: lists or mappings nested too deeply")
        finally:
            loader.dispose()
        return None

    # -- containers ------------------------------------------------------------------
    def entries(self, node: Node | None, path: str, what: str = "a mapping"
                ) -> list[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping, in order; duplicate keys reported.

        A missing or empty (null) value is an empty mapping.
        """
        if node is None or is_null(node):
            return []
        if not isinstance(node, MappingNode):
            self.problem(node, path, f"expected {what}, got {describe(node)}")
            return []
        seen: dict[str, Node] = {}
        out = []
        for knode, vnode in node.value:
            if not isinstance(knode, ScalarNode):
                self.problem(knode, path, f"a key must be a name, got {describe(knode)}")
                continue
            key = knode.value
            if key in seen:
                self.problem(knode, path, f"duplicate key {key!r} (first at line {line_of(seen[key])})")
                continue
            seen[key] = knode
            out.append((key, knode, vnode))
        return out

    def mapping(self, node: Node | None, path: str, keys: Collection[str],
                required: Sequence[str] = (), aliases: Mapping[str, str] | None = None,
                ) -> dict[str, Node] | None:
        """A mapping with a fixed set of keys: unknown keys and missing required keys reported.

        `aliases` maps an accepted spelling to the canonical key (``netmask`` ->
        ``persistence_netmask``); writing both is a problem.  Returns None when `node` is
        not a mapping at all.
        """
        aliases = aliases or {}
        if node is not None and not is_null(node) and not isinstance(node, MappingNode):
            self.problem(node, path, f"expected a mapping, got {describe(node)}")
            return None
        out: dict[str, Node] = {}
        written: dict[str, str] = {}
        for key, knode, vnode in self.entries(node, path):
            canonical = aliases.get(key, key)
            if canonical not in keys:
                self.problem(knode, path, f"unknown key {key!r}{suggest(key, [*keys, *aliases])}")
                continue
            if canonical in out:
                self.problem(knode, path, f"{key!r} and {written[canonical]!r} are the same "
                                          "setting; write only one")
                continue
            out[canonical] = vnode
            written[canonical] = key
        anchor = node
        for key in required:
            if key not in out:
                if anchor is None:
                    continue   # the whole mapping is absent: its owner reports that
                self.problem(anchor, path, f"missing required key {key!r}")
        return out

    def items(self, node: Node | None, path: str) -> list[Node]:
        """The items of a list; absent or null is empty."""
        if node is None or is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.problem(node, path, f"expected a list, got {describe(node)}")
            return []
        return list(node.value)

    def one_or_more(self, node: Node | None, path: str) -> list[Node]:
        """A single scalar or a list of them, as a list of nodes."""
        if node is None or is_null(node):
            return []
        if isinstance(node, ScalarNode):
            return [node]
        return self.items(node, path)

    # -- scalars ---------------------------------------------------------------------
    def _scalar(self, node: Node, path: str, what: str) -> str | None:
        if isinstance(node, ScalarNode) and not is_null(node):
            return node.value.strip() if node.style is None else node.value
        self.problem(node, path, f"expected {what}, got {describe(node)}")
        return None

    def text(self, node: Node | None, path: str, default: T = None) -> str | T:
        if node is None:
            return default
        value = self._scalar(node, path, "a string")
        return default if value is None else value

    def name(self, node: Node | None, path: str, default: T = None) -> str | T:
        """A non-empty name without spaces (host, segment, service, traffic)."""
        value = self.text(node, path, default)
        if node is not None and isinstance(value, str) and (not value or any(c.isspace() for c in value)):
            self.problem(node, path, f"expected a name without spaces, got {value!r}")
            return default
        return value

    def integer(self, node: Node | None, path: str, default: T = None,
                lo: int | None = None, hi: int | None = None) -> int | T:
        if node is None:
            return default
        raw = self._scalar(node, path, "an integer")
        if raw is None:
            return default
        try:
            if node.tag == _BOOL_TAG and node.style is None and raw.lower() not in ("0", "1"):
                raise ValueError
            value = int(raw.replace("_", ""), 10)
        except ValueError:
            self.problem(node, path, f"expected an integer, got {describe(node)}")
            return default
        return self._bounded(node, path, value, lo, hi, default)

    def number(self, node: Node | None, path: str, default: T = None,
               lo: float | None = None, hi: float | None = None) -> float | T:
        if node is None:
            return default
        raw = self._scalar(node, path, "a number")
        if raw is None:
            return default
        try:
            value = float(raw.replace("_", ""))
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
        except ValueError:
            self.problem(node, path, f"expected a number, got {describe(node)}")
            return default
        return self._bounded(node, path, value, lo, hi, default)

    def _bounded(self, node: Node, path: str, value, lo, hi, default):
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if hi is None:
                rng = f"at least {lo}"
            elif lo is None:
                rng = f"at most {hi}"
            else:
                rng = f"between {lo} and {hi}"
            self.problem(node, path, f"must be {rng}, got {value}")
            return default
        return value

    def boolean(self, node: Node | None, path: str, default: T = None) -> bool | T:
        if node is None:
            return default
        raw = self._scalar(node, path, "true or false")
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.problem(node, path, f"expected true or false, got {describe(node)}")
        return default

    def choice(self, node: Node | None, path: str, choices: Sequence[str],
               default: T = None) -> str | T:
        if node is None:
            return default
        raw = self._scalar(node, path, "one of " + ", ".join(choices))
        if raw is None:
            return default
        if raw in choices:
            return raw
        if raw.lower() in choices:
            return raw.lower()
        self.problem(node, path, f"expected one of {', '.join(choices)}, got {raw!r}"
                                 f"{suggest(raw, choices)}")
        return default

    def quantity(self, node: Node | None, path: str, parse: Callable[[str], T],
                 default: T = None, positive: bool = False) -> T:
        """A value with a unit (`ipvssim.units` parser); `positive` rejects zero."""
        if node is None:
            return default
        if not isinstance(node, ScalarNode) or is_null(node):
            try:
                parse(None)   # only for the parser's own "expected ..." wording
            except ValueError as e:
                self.problem(node, path, str(e).replace("got nothing", f"got {describe(node)}"))
            return default
        raw = node.value.strip() if node.style is None else node.value
        try:
            value = parse(raw)
        except ValueError as e:
            self.problem(node, path, str(e))
            return default
        if positive and not value > 0:
            self.problem(node, path, f"must be more than 0, got {raw!r}")
            return default
        return value

    def address(self, node: Node | None, path: str, default: T = None) -> IPv4Address | T:
        if node is None:
            return default
        raw = self._scalar(node, path, "an IPv4 address")
        if raw is None:
            return default
        try:
            return IPv4Address(raw)
        except AddressValueError:
            self.problem(node, path, f"expected an IPv4 address like 10.0.0.1, got {raw!r}")
            return default
