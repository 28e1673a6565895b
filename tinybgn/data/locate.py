"""Where tinybgn looks for dataset files, and where it downloads them.

Search order (the first directory that holds a complete labelled split wins):

1. the ``data_dir`` argument (``--data-dir`` on the command line), when given;
2. the ``TINYBGN_DATA`` environment variable, when set;
3. the project's ``data/`` folder when tinybgn runs from a source checkout (the folder that
   holds ``setup.cfg`` next to the ``tinybgn`` package), otherwise the per-user cache
   ``$XDG_CACHE_HOME/tinybgn`` (by default ``~/.cache/tinybgn``) of an installed package;
4. ``/usr/share/datasets``, where Debian's ``dataset-fashion-mnist`` package installs
   ``/usr/share/datasets/fashion-mnist/``.

Each of these *roots* may hold the files in a subfolder named after the dataset
(``root/mnist/t10k-images-idx3-ubyte.gz``) or directly (``root/t10k-images-idx3-ubyte.gz``);
the subfolder is tried first. Files may be gzip-compressed (``.gz``) or not. Since MNIST and
Fashion-MNIST use the same file names, the checksums decide whether files found directly in a
root belong to the dataset asked for.

Downloads go to the first writable root among 1-3, into ``root/<name>/`` (or into ``root``
itself when it is already named after the dataset, e.g. ``TINYBGN_DATA=~/data/mnist``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tinybgn.data.errors import DataNotFoundError
from tinybgn.data.registry import SPLITS, DatasetSpec, get_spec

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


def search_roots(data_dir: str | os.PathLike | None = None) -> list[SearchRoot]:
    """The roots searched for datasets, in order (see the module docstring)."""
    roots = []
    if data_dir is not None:
        roots.append(SearchRoot(Path(data_dir).expanduser(), "data_dir argument"))
    if os.environ.get(ENV_VAR):
        roots.append(SearchRoot(Path(os.environ[ENV_VAR]).expanduser(), ENV_VAR))
    roots.append(default_root())
    roots.extend(SearchRoot(p, "system datasets") for p in SYSTEM_ROOTS)
    return roots


def candidate_dirs(spec: DatasetSpec, data_dir=None) -> list[tuple[Path, str]]:
    """Every directory that may hold ``spec``'s files, in search order, without repeats."""
    seen, out = set(), []
    for root in search_roots(data_dir):
        for directory in (root.path / spec.name, root.path):
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
    for directory, origin in candidate_dirs(spec, data_dir):
        complete, partial = files_in(directory, spec)
        if complete:
            return Located(spec, directory, origin, complete)
        note = f" (incomplete: only {', '.join(partial)})" if partial else ""
        searched.append(f"  {directory}  [{origin}]{note}")
    wanted = ", ".join(f.filename for f in spec.all_files())
    raise DataNotFoundError(
        f"dataset {spec.name!r} not found. Looked for its files ({wanted}) in, in order:\n"
        + "\n".join(searched)
        + f"\nTo get it, run `tinybgn data download {spec.name}` or pass download=True; or set "
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
    for root in roots:
        if _writable(root.path):
            same_name = root.path.name.lower() == spec.name.lower()
            return root.path if same_name else root.path / spec.name
    tried = ", ".join(str(r.path) for r in roots)
    raise DataNotFoundError(
        f"no writable folder to download {spec.name!r} into (tried {tried}); "
        f"pass data_dir= or set {ENV_VAR} to a writable folder."
    )
