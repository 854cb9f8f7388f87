"""Load every `*.yml` under a directory into one PolicySet, or raise with every problem found."""

from __future__ import annotations

import hashlib
from pathlib import Path

from app.routing.compile import Compiler
from app.routing.errors import PolicyLoadError, Problem
from app.routing.policy_set import PolicySet
from app.routing.read import FileReader
from app.routing.schema import FileDoc
from app.routing.source import parse_yaml

MAX_FILE_BYTES = 1_000_000


def content_hash(files: list[tuple[str, bytes]]) -> str:
    """sha256 hex over (relative path, bytes) of each file, sorted by path, length-prefixed."""
    digest = hashlib.sha256()
    for relative, data in sorted(files):
        name = relative.encode()
        digest.update(b"%d:%s\n%d:" % (len(name), name, len(data)))
        digest.update(data)
    return digest.hexdigest()


def load_policy_set(directory: Path) -> PolicySet:
    """Read, check and compile the policy files; a complete PolicySet or PolicyLoadError."""
    directory = Path(directory)
    where = str(directory)
    if not directory.is_dir():
        raise PolicyLoadError([Problem(where, 0, 0, "not a directory", "point it at policies/")])
    problems: list[Problem] = []
    paths = sorted(p for p in directory.rglob("*") if p.is_file() and not _hidden(p, directory))
    for path in paths:
        if path.suffix == ".yaml":
            problems.append(
                Problem(
                    str(path), 0, 0, "policy files must end in .yml", f"rename to {path.stem}.yml"
                )
            )
    ymls = [p for p in paths if p.suffix == ".yml"]
    if not ymls and not problems:
        raise PolicyLoadError([Problem(where, 0, 0, "no *.yml policy files found")])
    raw: list[tuple[str, bytes]] = []
    docs: list[FileDoc] = []
    reader = FileReader(problems)
    for path in ymls:
        data = path.read_bytes()
        raw.append((path.relative_to(directory).as_posix(), data))
        shown = str(path)
        if len(data) > MAX_FILE_BYTES:
            problems.append(Problem(shown, 0, 0, "file is larger than 1 MB"))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(shown, 0, 0, f"not UTF-8 text ({exc.reason})"))
            continue
        node = parse_yaml(text, shown, problems)
        doc = reader.read(node, shown) if node is not None else None
        if doc is not None:
            docs.append(doc)
    if len(docs) < len(ymls):
        # A file we could not read at all may hold the groups or routes the others refer to:
        # cross-file checks would only report ghosts of that one mistake.
        raise PolicyLoadError(problems)
    policy = Compiler(problems).compile(docs, content_hash(raw), where)
    if problems or policy is None:
        raise PolicyLoadError(problems or [Problem(where, 0, 0, "the policy set is incomplete")])
    return policy


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
