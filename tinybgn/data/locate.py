"""Where tinybgn looks for dataset files, and where it downloads them.

Search order (the first directory that holds a complete labelled split wins):

1. the ``data_dir`` argument (``--data-dir`` on the command line), when given;
2. the ``TINYBGN_DATA`` environment variable, when set;
3. the project's ``data/`` folder when tinybgn runs from a source checkout (the folder that
   holds ``setup.cfg`` next to the ``tinybgn`` package), otherwise the per-user cache
   ``$XDG_CACHE_HOME/tinybgn`` (by default ``~/.cache/tinybgn``) of an installed package;
4. ``/usr/share/datasets``, where Debian's ``dataset-fashion-mnist`` package installs
   ``/usr/share/datasets/fashion-mnist/``.

Each of these *roots* holds a dataset's files in the dataset's own folder: a subfolder named
after it (``root/mnist/t10k-images-idx3-ubyte.gz``), or the root itself when the root is that
folder (``TINYBGN_DATA=~/data/mnist``). Files may be gzip-compressed (``.gz``) or not. Since
MNIST and Fashion-MNIST use the same file names, files are never looked for in a folder named
after another dataset (or after none): MNIST's files are not mistaken for Fashion-MNIST's.
A root given as ``data_dir`` or ``TINYBGN_DATA`` that exists but is a file is an error
(:class:`~tinybgn.data.errors.DataDirError`), never silently skipped.

Datasets shipped inside the package (the embedded MNIST sample) have a fixed ``location`` and
are looked for there only.

Downloads go to the first writable root among 1-3, into ``root/<name>/`` (or into ``root``
itself when it is already named after the dataset, e.g. ``TINYBGN_DATA=~/data/mnist``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tinybgn.data.errors import DataDirError, DataNotFoundError
from tinybgn.data.registry import DATASETS, SPLITS, DatasetSpec, get_spec, same_dataset_name

ENV_VAR = "TINYBGN_DATA"
SYSTEM_ROOTS: tuple[Path, ...] = (Path("/usr/share/datasets"),)


@dataclass(frozen=True)
class SearchRoot:
    """A directory that may hold datasets, and why it is searched."""

    path: Path
    origin: str  # e.g. "data_dir argument", "TINYBGN_DATA", "project data/ folder"


@dataclass(frozen=True)
class Located:
    """A dataset found on disk: the directory and the file paths of each split present."""

    spec: DatasetSpec
    directory: Path
    origin: str
    paths: dict[str, tuple[Path, Path]]  # split -> (images, labels)

    @property
    def splits(self) -> tuple[str, ...]:
        """The labelled splits present, in the order train, test."""
        return tuple(s for s in SPLITS if s in self.paths)


def project_root() -> Path | None:
    """The source checkout tinybgn runs from, or None when it is an installed package."""
    root = Path(__file__).resolve().parents[2]
    if (root / "setup.cfg").is_file() and (root / "tinybgn").is_dir():
        return root
    return None


def user_cache_dir() -> Path:
    """Per-user cache for an installed tinybgn: ``$XDG_CACHE_HOME/tinybgn`` or ~/.cache/tinybgn."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinybgn"


def default_root() -> SearchRoot:
    """The project's data/ folder in a source checkout, else the per-user cache."""
    root = project_root()
    if root is not None:
        return SearchRoot(root / "data", "project data/ folder")
    return SearchRoot(user_cache_dir(), "user cache")


def _given_root(value: str | os.PathLike, origin: str) -> SearchRoot:
    """A root the user named; DataDirError if it exists but is not a folder."""
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        what = "--data-dir / data_dir" if origin == "data_dir argument" else origin
        raise DataDirError(
            f"{what} is {path}, which is a file, not a folder; point it at the folder that "
            f"holds (or should receive) the dataset files."
        )
    return SearchRoot(path, origin)


def search_roots(data_dir: str | os.PathLike | None = None) -> list[SearchRoot]:
    """The roots searched for datasets, in order (see the module docstring)."""
    roots = []
    if data_dir is not None:
        roots.append(_given_root(data_dir, "data_dir argument"))
    if os.environ.get(ENV_VAR):
        roots.append(_given_root(os.environ[ENV_VAR], ENV_VAR))
    roots.append(default_root())
    roots.extend(SearchRoot(p, "system datasets") for p in SYSTEM_ROOTS)
    return roots


def candidate_dirs(spec: DatasetSpec, data_dir=None) -> list[tuple[Path, str]]:
    """The dataset's own folder in every root, in search order, without repeats: ``root/<name>``,
    and ``root`` itself when it is named after the dataset. A packaged dataset: its location."""
    if spec.location is not None:
        return [(spec.location, "embedded")]
    seen, out = set(), []
    for root in search_roots(data_dir):
        own = [root.path / spec.name]
        if same_dataset_name(root.path.name, spec):
            own.append(root.path)
        for directory in own:
            if directory not in seen:
                seen.add(directory)
                out.append((directory, root.origin))
    return out


def find_file(directory: Path, filename: str) -> Path | None:
    """``directory/filename``, or its uncompressed twin without ``.gz``, if either exists."""
    names = [filename] + ([filename.removesuffix(".gz")] if filename.endswith(".gz") else [])
    for name in names:
        if (directory / name).is_file():
            return directory / name
    return None


def files_in(directory: Path, spec: DatasetSpec) -> tuple[dict, list[str]]:
    """The complete splits of ``spec`` in ``directory``, and the files of incomplete ones."""
    complete, partial = {}, []
    for split, (images, labels) in spec.files.items():
        found = [find_file(directory, f.filename) for f in (images, labels)]
        if all(found):
            complete[split] = tuple(found)
        else:
            partial.extend(p.name for p in found if p is not None)
    return complete, partial


def find_dataset(name: str | DatasetSpec, data_dir: str | os.PathLike | None = None) -> Located:
    """Find the first directory holding at least one complete split (images and labels).

    Raises DataNotFoundError listing every directory searched when none does.
    Checksums are not verified here; loading does that.
    """
    spec = get_spec(name)
    searched = []
    candidates = candidate_dirs(spec, data_dir)
    for directory, origin in candidates:
        complete, partial = files_in(directory, spec)
        if complete:
            return Located(spec, directory, origin, complete)
        note = f" (incomplete: only {', '.join(partial)})" if partial else ""
        searched.append(f"  {directory}  [{origin}]{note}")
    wanted = ", ".join(f.filename for f in spec.all_files())
    looked = {d for d, _ in candidates}
    elsewhere = [
        f"\n{root.path} holds files named like {spec.name}'s but is not named {spec.name!r}: "
        f"move them into {root.path / spec.name}."
        for root in search_roots(data_dir)
        if root.path not in looked
        and not any(same_dataset_name(root.path.name, other) for other in DATASETS.values())
        and files_in(root.path, spec)[0]
    ]
    raise DataNotFoundError(
        f"dataset {spec.name!r} not found. Looked for its files ({wanted}) in, in order:\n"
        + "\n".join(searched)
        + "".join(elsewhere)
        + f"\nTo get it, run `tinybgn data download {spec.name}` or allow download=True; or set "
        f"{ENV_VAR} (or data_dir=) to a folder that holds the files."
    )


def _writable(path: Path) -> bool:
    """Whether ``path`` exists and is writable, or could be created."""
    for p in (path, *path.parents):
        if p.exists():
            return p.is_dir() and os.access(p, os.W_OK | os.X_OK)
    return False


def download_dir(name: str | DatasetSpec, data_dir: str | os.PathLike | None = None) -> Path:
    """Where a download of ``name`` goes: ``<first writable root>/<name>`` (see module doc)."""
    spec = get_spec(name)
    roots = [r for r in search_roots(data_dir) if r.origin != "system datasets"]
    if spec.location is not None:
        raise DataNotFoundError(f"{spec.name} is shipped inside tinybgn; it is never downloaded.")
    for root in roots:
        if _writable(root.path):
            own = same_dataset_name(root.path.name, spec)
            return root.path if own else root.path / spec.name
    tried = ", ".join(str(r.path) for r in roots)
    raise DataNotFoundError(
        f"no writable folder to download {spec.name!r} into (tried {tried}); "
        f"pass data_dir= or set {ENV_VAR} to a writable folder."
    )
