"""Load every `*.yml` under a directory into one PolicySet, or raise with every problem found.

Loading is bounded and never raises anything but PolicyLoadError: files are size-checked before
they are read, parsing refuses deep nesting and YAML aliases (see safe_yaml), and an unexpected
failure anywhere becomes one placed problem, so a bad policy can never take a server down.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from app.routing.compile import Compiler
from app.routing.errors import PolicyLoadError, Problem
from app.routing.policy_set import PolicySet
from app.routing.read import FileReader
from app.routing.safe_yaml import parse_policy_bytes
from app.routing.schema import FileDoc

KIB = 1024
MAX_FILE_BYTES = 256 * KIB  # the annotated example is 6 KiB
MAX_TOTAL_BYTES = 512 * KIB


def content_hash(files: list[tuple[str, bytes]]) -> str:
    """sha256 hex over (relative path, bytes) of each file, sorted by path, length-prefixed."""
    digest = hashlib.sha256()
    for relative, data in sorted(files):
        name = relative.encode()
        digest.update(b"%d:%s\n%d:" % (len(name), name, len(data)))
        digest.update(data)
    return digest.hexdigest()


def load_policy_set(directory: Path) -> PolicySet:
    """Read, check and compile the policy files; a complete PolicySet or PolicyLoadError.

    The set's `warnings` list what loaded but looks wrong (a person listed twice, ...)."""
    directory = Path(directory)
    try:
        return _load(directory)
    except PolicyLoadError:
        raise
    except Exception as exc:  # a bug of ours, never a crash of the caller: say so in one line
        problem = Problem(
            str(directory),
            0,
            0,
            f"the policy set could not be checked: unexpected {type(exc).__name__}",
            "this is a Countersign bug; the policy in force stays",
        )
        raise PolicyLoadError([problem]) from exc


def load_policy_files(where: str, files: Sequence[tuple[str, bytes]]) -> PolicySet:
    """Check and compile policy files given as (relative path, bytes), e.g. a version kept in
    the store; places in problems and route sources read `where/relative path`."""
    try:
        problems: list[Problem] = []
        named = [(relative, f"{where}/{relative}", data) for relative, data in sorted(files)]
        if not named:
            raise PolicyLoadError([Problem(where, 0, 0, "no *.yml policy files found")])
        return _compile(named, problems, where, expected=len(named))
    except PolicyLoadError:
        raise
    except Exception as exc:  # a bug of ours, never a crash of the caller
        problem = Problem(where, 0, 0, f"the policy set could not be checked: {type(exc).__name__}")
        raise PolicyLoadError([problem]) from exc


def _load(directory: Path) -> PolicySet:
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
    named: list[tuple[str, str, bytes]] = []
    total = 0
    for path in ymls:
        data = _read(path, problems, MAX_TOTAL_BYTES - total)
        if data is None:
            continue
        total += len(data)
        named.append((path.relative_to(directory).as_posix(), str(path), data))
    return _compile(named, problems, where, expected=len(ymls))


def _compile(
    named: list[tuple[str, str, bytes]], problems: list[Problem], where: str, expected: int
) -> PolicySet:
    """Parse, read and compile (relative path, shown name, bytes) of each file."""
    docs: list[FileDoc] = []
    reader = FileReader(problems)
    for _, shown, data in named:
        node = parse_policy_bytes(data, shown, problems)
        doc = reader.read(node, shown) if node is not None else None
        if doc is not None:
            docs.append(doc)
    if len(docs) < expected:
        # A file we could not read at all may hold the groups or routes the others refer to:
        # cross-file checks would only report ghosts of that one mistake.
        raise PolicyLoadError(problems)
    raw = [(relative, data) for relative, _, data in named]
    policy = Compiler(problems).compile(docs, content_hash(raw), where)
    if policy is None or any(not problem.is_warning for problem in problems):
        raise PolicyLoadError(problems or [Problem(where, 0, 0, "the policy set is incomplete")])
    policy.sources = tuple(sorted(raw))
    return policy


def _read(path: Path, problems: list[Problem], room: int) -> bytes | None:
    """The file's bytes, or None with a problem: unreadable, or over the size limits."""
    shown, data = str(path), b""
    try:
        size = path.stat().st_size
        if size <= MAX_FILE_BYTES and size <= room:
            with path.open("rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)  # never more, even if it grew meanwhile
            size = len(data)
    except OSError as exc:
        problems.append(Problem(shown, 0, 0, f"cannot read: {exc.strerror or exc}"))
        return None
    if size > MAX_FILE_BYTES:
        problems.append(
            Problem(
                shown,
                1,
                1,
                f"the file is {_size(size)}; a policy file may be at most {_size(MAX_FILE_BYTES)}",
                "split it into several files, or look for something pasted by mistake",
            )
        )
        return None
    if size > room:
        problems.append(
            Problem(
                shown,
                1,
                1,
                f"the policy files together exceed {_size(MAX_TOTAL_BYTES)}",
                "keep only policy files in the folder",
            )
        )
        return None
    return data


def _size(count: int) -> str:
    return f"{count / KIB / KIB:.1f} MiB" if count >= KIB * KIB else f"{count // KIB} KiB"


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
