"""Which package index to read, decided the way pip decides it.

wheelscan never names an index in its code: the URL comes, in this order, from

1. an explicit value (the ``--index-url`` flag),
2. the ``PIP_INDEX_URL`` environment variable,
3. ``index-url`` in pip's configuration files,
4. pip's own built-in default, asked of the installed pip at run time.

Configuration files are merged as pip 23+ merges them (``pip/_internal/configuration.py``):
site-wide files first (``$XDG_CONFIG_DIRS/pip/pip.conf``, default ``/etc/xdg/pip/pip.conf``, then
``/etc/pip.conf``), then the user's (``~/.pip/pip.conf``, then ``$XDG_CONFIG_HOME/pip/pip.conf``;
skipped when ``PIP_CONFIG_FILE`` names an existing file), then the environment's
(``sys.prefix/pip.conf``), and last the file named by ``PIP_CONFIG_FILE``; a later file overrides
an earlier one. ``PIP_CONFIG_FILE=/dev/null`` turns all files off, as it does for pip. Within the
merged result a command's own section beats ``[global]``; wheelscan only downloads, so it reads
``[install]`` and then ``[download]`` over ``[global]``.

Only the POSIX locations are implemented: wheelscan audits Linux wheels on POSIX hosts.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from packaging.utils import canonicalize_name

from wheelscan.errors import CommandError, CommandErrorCode

__all__ = [
    "IndexUrlError",
    "default_index_url",
    "pip_config_files",
    "pip_setting",
    "project_page_url",
]

_CONFIG_BASENAME = "pip.conf"
# Sections consulted, lowest priority first (pip: "global", then the command's name).
_SECTIONS = ("global", "install", "download")
_KEY = "index-url"


class IndexUrlError(CommandError, RuntimeError):
    """No index URL could be found, or a pip configuration file could not be read."""

    kind = CommandErrorCode.NO_INDEX_URL


def pip_config_files() -> list[Path]:
    """Return pip's configuration files in the order pip merges them (later wins).

    Files that do not exist are included: the caller skips them, as pip does.
    """
    env = os.environ
    explicit = env.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []

    xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    site_wide = [Path(d, "pip", _CONFIG_BASENAME) for d in xdg_dirs.split(os.pathsep) if d]
    site_wide.append(Path("/etc", _CONFIG_BASENAME))

    home = Path(env.get("HOME") or Path.home())
    xdg_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    user = [home / ".pip" / _CONFIG_BASENAME, xdg_home / "pip" / _CONFIG_BASENAME]
    # pip ignores the user's files when PIP_CONFIG_FILE names a file that exists.
    if explicit and Path(explicit).exists():
        user = []

    files = site_wide + user + [Path(sys.prefix, _CONFIG_BASENAME)]
    if explicit:
        files.append(Path(explicit))
    return files


def _config_items(path: Path) -> Iterator[tuple[str, str, str]]:
    """Yield (section, normalized key, value) from one pip configuration file."""
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        raise IndexUrlError(f"cannot read pip configuration file {path}: {e}") from e
    for section in parser.sections():
        for name, value in parser.items(section):
            # pip's _normalize_name: case-insensitive, '_' == '-', a leading '--' dropped.
            key = name.lower().replace("_", "-").removeprefix("--")
            yield section, key, value


def pip_setting(key: str) -> str | None:
    """A setting as pip would take it: ``PIP_<KEY>`` from the environment, else the merged
    configuration files (``key`` as written there: ``index-url``, ``cert``)."""
    from_env = os.environ.get("PIP_" + key.upper().replace("-", "_"), "").strip()
    if from_env:
        return from_env
    merged: dict[tuple[str, str], str] = {}
    for path in pip_config_files():
        if path.is_file():
            merged.update(((s, k), v) for s, k, v in _config_items(path))
    found = None
    for section in _SECTIONS:
        # pip ignores empty values.
        value = merged.get((section, key), "").strip()
        if value:
            found = value
    return found


def _index_url_from_config() -> str | None:
    return pip_setting(_KEY)


def _pip_builtin_index_url() -> str:
    try:
        from pip._internal.models.index import PyPI
    except ImportError as e:
        raise IndexUrlError(
            "no index URL configured (no --index-url, no PIP_INDEX_URL, no index-url in pip's "
            "configuration files) and pip's built-in default cannot be read: "
            f"pip is not importable ({e}); pass --index-url"
        ) from e
    url = getattr(PyPI, "simple_url", None)
    if not isinstance(url, str) or not url:
        raise IndexUrlError("pip's built-in default index URL is unavailable; pass --index-url")
    return url


def default_index_url(explicit: str | None = None) -> str:
    """Return the simple-API index URL to read, resolved like pip resolves ``--index-url``."""
    if explicit:
        return explicit
    from_env = os.environ.get("PIP_INDEX_URL", "").strip()
    if from_env:
        return from_env
    return _index_url_from_config() or _pip_builtin_index_url()


def project_page_url(index_url: str, project: str) -> str:
    """Return the PEP 503 project page URL: the normalized name under the index, with a '/'."""
    return f"{index_url.rstrip('/')}/{canonicalize_name(project)}/"
