"""Which providers exist: name → how to make one for a target, and how it names repositories.

:func:`gitexport.publish.make_provider` looks the target's ``provider`` up here; nothing else
in gitexport lists the forges. A factory imports its forge's client library only when it is
called, so a local push never loads PyGithub or python-gitlab.

Adding a provider: write ``providers/<name>.py`` (a class satisfying
:class:`~gitexport.providers.base.Provider`, its errors through
:func:`~gitexport.providers.errors.call_api`), then :func:`register` an entry below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitexport.errors import UserError

if TYPE_CHECKING:
    from gitexport.options import Target

    from .base import Provider


@dataclass(frozen=True)
class ProviderEntry:
    name: str
    create: Callable[[Target, str | None], Provider]  # (target, token) → provider
    # target.repo → (owner or None, repository name)
    repo_name: Callable[[str], tuple[str | None, str]]
    token_env: str | None = None  # the default environment variable holding the token


_REGISTRY: dict[str, ProviderEntry] = {}


def register(entry: ProviderEntry) -> ProviderEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"provider {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def get(name: str) -> ProviderEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserError(
            f"unknown provider {name!r} (known: {', '.join(sorted(_REGISTRY))})"
        ) from None


def names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


# -- the built-in providers ------------------------------------------------------------


def _forge_repo_name(repo: str) -> tuple[str | None, str]:
    owner, _, name = repo.strip("/").rpartition("/")
    if not name:
        raise UserError(f"repository {repo!r}: expected OWNER/NAME")
    return owner or None, name


def _local_repo_name(repo: str) -> tuple[str | None, str]:
    return None, Path(repo).name.removesuffix(".git")


def _local(target: Target, token: str | None) -> Provider:
    from .local import LocalProvider

    return LocalProvider(Path(target.repo))


def _github(target: Target, token: str | None) -> Provider:
    from .github import DEFAULT_API, GitHubProvider

    base_url = target.base_url or DEFAULT_API
    if target.app_id:
        return GitHubProvider(
            app_id=target.app_id,
            private_key_path=target.private_key,
            installation_id=target.installation_id,
            base_url=base_url,
        )
    if not token:
        raise UserError("no GitHub token given")
    return GitHubProvider(token=token, base_url=base_url)


def _gitlab(target: Target, token: str | None) -> Provider:
    from .gitlab import DEFAULT_URL, GitLabProvider

    if not token:
        raise UserError("no GitLab token given")
    return GitLabProvider(token=token, base_url=target.base_url or DEFAULT_URL)


register(ProviderEntry("local", _local, _local_repo_name))
register(ProviderEntry("github", _github, _forge_repo_name, token_env="GITHUB_TOKEN"))
register(ProviderEntry("gitlab", _gitlab, _forge_repo_name, token_env="GITLAB_TOKEN"))
