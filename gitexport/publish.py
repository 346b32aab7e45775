"""A built project onto a forge: provider, working repository, commit, push, pull request.

:func:`publish_built` prepares what the push needs from a
:class:`~gitexport.build.BuiltProject` and a :class:`~gitexport.options.Target`: the provider
(from :mod:`gitexport.providers.registry`), the repository spec, the local working repository
(seeded from the remote when missing), the export commit and the release manifest.
:func:`publish` is the push algorithm itself, the same for every forge; the providers only
speak their forge's API (:class:`~gitexport.providers.base.Provider`).

Rules :func:`publish` follows:

* The first export goes to ``main``; every later one to ``gitexport/<sanitised id>`` with a
  PR/MR into ``main`` (one PR: an open one is updated, never duplicated).
* An existing non-empty repository must hold this pipeline's exports (a gitexport commit of
  this pipeline on its ``main`` or export branch), else it is refused unless *adopt*.
* LFS objects are uploaded before any ref moves; refs move in one atomic push with leases.
* A remote export branch with commits that are neither in the local history nor gitexport
  commits of this pipeline (a human's commit) stops the push with a clear message: we never
  overwrite nor silently build on someone's work. (Merge them into the PR's base or delete the
  branch, then push again.)
* Nothing changed → no push, no PR call beyond finding the open one.
* A push refused because the remote moved → fetch, recompute, retry once, else stop.
* Cancellation (:class:`~gitexport.progress.Reporter`) is honoured before the pushes and
  before the pull request / release step, never inside one: no ref moves without its
  objects, no PR exists without its branch, and a rerun converges.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gitexport import git, gitcmd, lineage
from gitexport.errors import ConflictError, ForgeUnavailableError, UserError
from gitexport.git import export_branch_name, release_tag
from gitexport.git_remote import (
    FETCH_NAMESPACE,
    GitNotFoundError,
    GitRemote,
    GitTransientError,
    PushRejectedError,
    RefUpdate,
    redact,
)
from gitexport.http_retry import Retryable, RetryGaveUp, RetryPolicy, call_with_retry
from gitexport.options import Target
from gitexport.progress import Reporter
from gitexport.providers import registry
from gitexport.providers.base import (
    BASE_BRANCH,
    LABEL,
    Artifact,
    Provider,
    PullRequest,
    PushResult,
    RepoRef,
    RepoSpec,
    Status,
)

if TYPE_CHECKING:
    from gitexport.build import BuiltProject

log = logging.getLogger(__name__)


def make_provider(target: Target, token: str | None) -> Provider:
    """The forge adapter for *target* (a token, or the GitHub App fields of the target)."""
    return registry.get(target.provider).create(target, token)


def repo_spec(target: Target, plan) -> RepoSpec:
    lineage.check_pipeline_id(plan.pipeline.id)
    owner, name = registry.get(target.provider).repo_name(target.repo)
    description = plan.pipeline.description or f"{plan.pipeline.name}, exported by gitexport"
    return RepoSpec(
        name=name,
        pipeline_id=plan.pipeline.id,
        owner=owner,
        visibility="private" if target.private else "public",
        description=description[:300],
    )


def default_workdir(target: Target) -> Path:
    """A cache folder per provider and repository (the canvas's working copies)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gitexport" / "work"
    slug = target.repo if target.provider != "local" else str(Path(target.repo).absolute())
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in slug).strip("_.")
    return base / target.provider / safe


def seed_workdir(provider, repo, workdir: Path, branch: str) -> None:
    """Start a working repository from the remote's exports (a canvas on a new machine)."""
    credentials = provider.git_credentials()

    def fetch(repo_dir: Path) -> dict[str, str]:
        remote = GitRemote(repo_dir, repo.clone_url, credentials)
        heads = remote.ls_remote()
        return remote.fetch([b for b in ("main", branch) if b in heads])

    policy = getattr(provider, "retry", None) or RetryPolicy()
    try:
        call_with_retry(
            lambda: git.seed_from_remote(workdir, fetch),
            policy=policy,
            classify=_git_retryable(repo),
            what="fetching the earlier exports",
        )
    except RetryGaveUp as exc:
        raise ForgeUnavailableError(
            f"fetching the earlier exports from {repo.web_url} gave up: {exc}"
        ) from None


def catch_up_main(provider, repo, workdir: Path) -> None:
    """Fast-forward the working repository's ``main`` to the remote's (a pull request merged
    on the forge since the last push), so the next body starts from the right base."""
    if repo.created or git.main_commit(workdir) is None:
        return
    remote = GitRemote(workdir, repo.clone_url, provider.git_credentials())
    policy = getattr(provider, "retry", None) or RetryPolicy()
    try:
        heads = call_with_retry(
            lambda: remote.fetch(["main"]) if "main" in remote.ls_remote() else {},
            policy=policy,
            classify=_git_retryable(repo),
            what="fetching main",
        )
    except RetryGaveUp as exc:
        raise ForgeUnavailableError(f"fetching main from {repo.web_url} gave up: {exc}") from None
    if heads.get("main") and git.fast_forward_main(workdir, heads["main"]):
        log.info("main caught up with %s", repo.web_url)


def manifest_with_urls(manifest: bytes, urls: dict[str, str]) -> bytes:
    data = json.loads(manifest)
    for item in data["artifacts"]:
        if item["name"] in urls:
            item["url"] = urls[item["name"]]
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def preflight(
    target: Target, token: str | None, plan, *, workdir: Path | None, adopt: bool
) -> None:
    """What can be refused before building, without touching the network: the provider's
    credentials as given, the repository name, and the working copy's state."""
    make_provider(target, token)
    repo_spec(target, plan)
    workdir = workdir or default_workdir(target)
    if workdir.exists():
        git.check_export_target(workdir, plan.pipeline.id, adopt=adopt)


def unchanged_on_remote(
    target: Target,
    token: str | None,
    workdir: Path,
    document,
    artifacts: Literal["lfs", "release"] = "lfs",
) -> PushResult | None:
    """What the full flow answers for a push that would change nothing, found without a
    build: the caller checked (by digests) that *workdir*'s newest export is the one asked
    for; here the remote must have all of it — ``main`` where the working copy's is, and an
    export waiting on its branch there too, with its pull request open; with release assets,
    also every model file the pushed commit's manifest names, in its release, with the
    manifest's digest. None when anything is left to do (a push that died midway, an upload
    cut short, a PR closed or merged on the forge since, a missing repository): then the full
    flow builds, commits and reconciles."""
    provider = make_provider(target, token)
    spec = repo_spec(target, document)
    repo = provider.find_repo(spec)
    if repo is None:
        return None
    branch = export_branch_name(spec.pipeline_id)
    local_main = _rev(workdir, f"refs/heads/{BASE_BRANCH}")
    local_export = _rev(workdir, f"refs/heads/{branch}")
    remote = GitRemote(workdir, repo.clone_url, provider.git_credentials())
    try:
        heads = call_with_retry(
            remote.ls_remote,
            policy=getattr(provider, "retry", None) or RetryPolicy(),
            classify=_git_retryable(repo),
            what="git ls-remote",
        )
    except RetryGaveUp as exc:
        raise ForgeUnavailableError(f"git ls-remote gave up: {redact(exc)}") from None
    if local_main is None or heads.get(BASE_BRANCH) != local_main:
        return None
    on_main = local_export is None or _is_ancestor(workdir, local_export, local_main)
    commit = local_export or local_main
    if not on_main and heads.get(branch) != local_export:
        return None
    uploaded: list[Artifact] | None = []
    if artifacts == "release":
        uploaded = released_artifacts(provider, repo, workdir, commit)
        if uploaded is None:
            return None
    done = dict(repo_url=repo.web_url, artifacts=uploaded, repo_created=False, status="up_to_date")
    if on_main:
        return PushResult(commit=commit, branch=None, pr_url=None, pr_number=None, **done)
    pr = provider.find_open_pr(repo, branch, BASE_BRANCH)
    if pr is None:
        return None
    return PushResult(commit=commit, branch=branch, pr_url=pr.url, pr_number=pr.number, **done)


def released_artifacts(
    provider: Provider, repo: RepoRef, workdir: Path, commit: str
) -> list[Artifact] | None:
    """The release assets *commit*'s ``models/manifest.json`` names, if its release holds
    every one with the manifest's digest; None if any is missing or differs (or the manifest
    names none: that commit was not exported with release assets)."""
    raw = git.read_export_file(workdir, commit, "models/manifest.json")
    try:
        manifest = json.loads(raw or b"{}")
    except ValueError:
        return None
    items = [a for a in manifest.get("artifacts", []) if a.get("release")]
    if not items:
        return None
    out = []
    for tag in sorted({a["release"] for a in items}):
        held = provider.release_assets(repo, tag)
        if held is None:
            return None
        for item in (a for a in items if a["release"] == tag):
            name = Path(item["path"]).name
            if held.get(name) != f"sha256:{item['sha256']}":
                return None
            url = item.get("url") or provider.release_asset_url(repo, tag, name)
            out.append(Artifact(name, url, item["sha256"], int(item["size"])))
    return out


def publish_built(
    built: BuiltProject,
    target: Target,
    *,
    token: str | None,
    reporter: Reporter,
    workdir: Path | None = None,
    adopt: bool = False,
) -> tuple[PushResult, Path, list[str]]:
    """Commit *built* in the working repository and publish it to *target*.

    Returns the forge's result, the working repository used, and warnings. Phases: ``commit``
    (the local export commit), ``push`` and ``pull_request`` (inside :func:`publish`).
    """
    # Loaded here: the digest-decided path (unchanged_on_remote) must not import pandas.
    from gitexport.changes import change_summary
    from gitexport.export_commit import export_request, place_release_files
    from gitexport.summary import figure_url_for

    plan = built.plan
    provider = make_provider(target, token)
    spec = repo_spec(target, plan)
    reporter.enter("commit", "preparing the repository")
    repo = provider.ensure_repo(spec)
    if built.options.artifacts == "release":
        # The manifest committed with the export names where each asset will live.
        tag = release_tag(str(plan.pipeline.version))
        urls = {
            Path(p).name: provider.release_asset_url(repo, tag, Path(p).name)
            for p in built.release_files
        }
        built.files["models/manifest.json"] = manifest_with_urls(
            built.files["models/manifest.json"], urls
        )
    workdir = Path(workdir) if workdir else default_workdir(target)
    if not workdir.exists():
        seed_workdir(provider, repo, workdir, export_branch_name(plan.pipeline.id))
    else:
        catch_up_main(provider, repo, workdir)
    outcome = git.export_to_repo(workdir, export_request(built), merge=False, adopt=adopt)
    if outcome.status == "conflict":  # cannot happen with merge=False; defensive
        raise ConflictError(f"the export conflicts in {', '.join(outcome.conflicts)}")
    # Written after the commit: the body links the head's figures at its commit SHA.
    summary, _ = change_summary(
        built,
        workdir,
        head_commit=outcome.export_commit,
        figure_url=figure_url_for(target.provider, repo.web_url),
    )
    release_files = place_release_files(workdir, built)
    result = publish(
        provider,
        workdir,
        spec,
        title=f"Canvas pipeline {plan.pipeline.name}: version {plan.pipeline.version}",
        body=summary,
        artifacts=built.options.artifacts,
        release_files=release_files,
        draft=target.draft,
        reviewers=list(target.reviewers),
        adopt=adopt,
        repo=repo,
        reporter=reporter,
    )
    warnings = []
    expected = {a["name"]: a for a in json.loads(built.files["models/manifest.json"])["artifacts"]}
    for artifact in result.artifacts:
        if artifact.name in expected and expected[artifact.name].get("url") != artifact.url:
            warnings.append(
                f"{artifact.name} was uploaded to {artifact.url}, not to the URL the manifest names"
            )
    return result, workdir, warnings


# -- the push algorithm ----------------------------------------------------------------


def _git_retryable(repo: RepoRef):
    """Which network git failures are worth another attempt against *repo*."""

    def classify(exc: BaseException) -> Retryable | None:
        if isinstance(exc, GitTransientError):
            return Retryable("network error")
        if isinstance(exc, GitNotFoundError) and repo.created:
            return Retryable("the new repository is not reachable yet")
        return None

    return classify


@dataclass
class _Plan:
    updates: list[RefUpdate]
    main_pushed: bool
    export_needed: bool  # the export branch must exist with a PR
    source: str
    remote_heads: dict[str, str]


def publish(
    provider: Provider,
    local_repo: Path | str,
    spec: RepoSpec,
    *,
    title: str,
    body: str,
    artifacts: Literal["lfs", "release"] = "lfs",
    release_files: Sequence[Path] = (),
    draft: bool = False,
    reviewers: Sequence[str] = (),
    labels: Sequence[str] = (LABEL,),
    adopt: bool = False,
    retry: RetryPolicy | None = None,  # default: the provider's own policy
    git_timeout: float = 600.0,
    repo: RepoRef | None = None,  # the caller's ensure_repo() result (keeps ``created``)
    reporter: Reporter | None = None,
) -> PushResult:
    """Push the export in *local_repo* to *provider*: the whole flow, see the module doc.

    *artifacts*: ``"lfs"`` (the default) pushes the LFS objects of the pushed commits (always
    done when they use LFS, before any ref moves); ``"release"`` also creates release
    ``v<Pipeline-Version>`` at the pushed commit and uploads *release_files* to it (after the
    push: the forges tag only commits they have), returning their URLs and SHA-256.
    *reporter* gets the phases ``push`` and ``pull_request`` and may cancel before each.
    """
    reporter = reporter or Reporter()
    lineage.check_pipeline_id(spec.pipeline_id)  # compared exactly on the remote too
    retry = retry or getattr(provider, "retry", None) or RetryPolicy()
    local = Path(local_repo)
    if _git(local, "rev-parse", "--git-dir", check=False) is None:
        raise UserError(f"{local} is not a git repository (run `gitexport export` first)")
    branch = export_branch_name(spec.pipeline_id)
    local_main = _rev(local, f"refs/heads/{BASE_BRANCH}")
    if local_main is None:
        raise UserError(f"{local} has no `{BASE_BRANCH}` branch: nothing has been exported yet")
    local_export = _rev(local, f"refs/heads/{branch}")
    source = local_export or local_main
    if artifacts not in ("lfs", "release"):
        raise UserError(f"unknown artifacts mode {artifacts!r} (expected lfs or release)")

    repo = repo or provider.ensure_repo(spec)
    remote = GitRemote(local, repo.clone_url, provider.git_credentials(), timeout=git_timeout)
    log.info("pushing %s to %s", local, repo.web_url)
    classify = _git_retryable(repo)

    def git_call(fn: Callable, what: str):
        try:
            return call_with_retry(fn, policy=retry, classify=classify, what=what)
        except RetryGaveUp as exc:
            raise ForgeUnavailableError(f"{what} gave up: {redact(exc)}") from None

    pr: PullRequest | None = None
    for attempt in (1, 2):
        plan = _make_plan(
            local,
            remote,
            spec,
            branch,
            local_main,
            local_export,
            source,
            adopt=adopt,
            git_call=git_call,
            repo=repo,
        )
        if not plan.updates:
            break
        # A step boundary: nothing of this attempt has reached the remote yet.
        reporter.enter("push", f"pushing to {repo.web_url}")
        # LFS objects first: no ref may point at a commit whose objects are missing.
        updates = plan.updates
        remote_has = [c for c in plan.remote_heads.values() if _rev(local, c) is not None]
        git_call(
            lambda u=updates, h=remote_has: remote.lfs_push([x.source for x in u], remote_has=h),
            "git lfs push",
        )
        # Objects without a ref are harmless (the next push reuses them): a boundary too.
        reporter.check()
        try:
            git_call(lambda u=updates: remote.push(u), "git push")
            break
        except PushRejectedError as exc:
            if attempt == 2:
                raise ForgeUnavailableError(
                    f"the push to {repo.web_url} was rejected twice; the remote keeps moving "
                    f"({exc}). Nothing was overwritten; try again later."
                ) from None
            log.info("push rejected (%s); fetching and trying once more", exc)

    pushed_commit = None
    if plan.updates:
        pushed_commit = plan.updates[-1].source
        if plan.main_pushed and repo.default_branch != BASE_BRANCH:
            provider.set_default_branch(repo, BASE_BRANCH)

    # The refs are where they belong: a cancel from here on leaves a branch without its PR
    # (or a commit without its release), which the next run completes.
    reporter.enter("pull_request", "opening or updating the pull request")
    status: Status
    result_branch: str | None = None
    if plan.export_needed:
        result_branch = branch
        export_pushed = any(u.remote_ref == f"refs/heads/{branch}" for u in plan.updates)
        # Unchanged branch: report the open PR; open one only if an earlier run pushed the
        # branch but died before opening it.
        pr = None if export_pushed else provider.find_open_pr(repo, branch, BASE_BRANCH)
        if pr is None:
            pr = provider.open_or_update_pr(
                repo,
                branch,
                BASE_BRANCH,
                title,
                body,
                draft=draft,
                labels=labels,
                reviewers=reviewers,
            )
            status = "pr_opened" if pr.created else "pr_updated"
        else:
            status = "up_to_date"
    elif plan.main_pushed:
        result_branch = BASE_BRANCH
        status = "created" if repo.created else "pushed"
    else:
        status = "up_to_date"

    uploaded: list[Artifact] = []
    # Reconciled on every run, not only when refs moved: a run that pushed the commit but
    # died before (or during) the upload is completed by the next one. Uploads are
    # idempotent (an asset with the same digest is reused).
    release_commit = pushed_commit or plan.source
    if artifacts == "release" and release_files:
        version = _trailer(local, release_commit, "Pipeline-Version")
        if not version:
            raise UserError(
                f"commit {release_commit[:10]} has no Pipeline-Version trailer: "
                "cannot name the release"
            )
        uploaded = provider.upload_release(
            repo,
            release_tag(version),
            f"{spec.pipeline_id} {version}",
            [Path(f) for f in release_files],
            target=release_commit,
            body=f"Artifacts of pipeline `{spec.pipeline_id}` version {version}.",
        )

    return PushResult(
        repo_url=repo.web_url,
        # Also when an earlier (cancelled) run pushed it and this one only opened the PR.
        commit=pushed_commit or plan.source,
        branch=result_branch,
        pr_url=pr.url if pr else None,
        pr_number=pr.number if pr else None,
        status=status,
        artifacts=uploaded,
        repo_created=repo.created,
    )


def _make_plan(
    local: Path,
    remote: GitRemote,
    spec: RepoSpec,
    branch: str,
    local_main: str,
    local_export: str | None,
    source: str,
    *,
    adopt: bool,
    git_call: Callable,
    repo: RepoRef,
) -> _Plan:
    heads: dict[str, str] = git_call(remote.ls_remote, "git ls-remote")
    wanted = [b for b in (BASE_BRANCH, branch) if b in heads]
    fetched: dict[str, str] = git_call(lambda: remote.fetch(wanted), "git fetch") if wanted else {}
    if heads and not adopt and not _holds_pipeline(local, list(fetched.values()), spec.pipeline_id):
        raise ConflictError(
            f"{repo.web_url} already exists and does not hold the exports of pipeline "
            f"{spec.pipeline_id!r} (no `Pipeline-Id: {spec.pipeline_id}` commit on "
            f"{' or '.join(wanted) or 'any of its branches we look at'}); choose another "
            "repository name, or pass --adopt to push into it anyway"
        )
    updates: list[RefUpdate] = []
    main_pushed = False
    remote_main = fetched.get(BASE_BRANCH)
    if remote_main is None:
        updates.append(RefUpdate(local_main, f"refs/heads/{BASE_BRANCH}", None))
        main_pushed = True
        export_needed = source != local_main and not _is_ancestor(local, source, local_main)
    else:
        export_needed = not _is_ancestor(local, source, remote_main)
    if export_needed:
        remote_export = fetched.get(branch)
        if remote_export == source:
            pass  # already there
        elif remote_export is None or _is_ancestor(local, remote_export, source):
            updates.append(RefUpdate(source, f"refs/heads/{branch}", remote_export))
        else:
            foreign = _foreign_commits(local, f"{FETCH_NAMESPACE}{branch}", spec.pipeline_id)
            if foreign:
                listed = "\n".join(f"  {c}" for c in foreign[:10])
                raise ConflictError(
                    f"the branch {branch} on {repo.web_url} has {len(foreign)} commit(s) that "
                    f"gitexport did not make:\n{listed}\nRefusing to overwrite them. Merge them "
                    f"into {BASE_BRANCH} (or the export), or delete the branch, then push again."
                )
            updates.append(RefUpdate(source, f"refs/heads/{branch}", remote_export))
    return _Plan(updates, main_pushed, export_needed, source, heads)


# -- local git queries -----------------------------------------------------------------


def _git(repo: Path, *args: str, check: bool = True) -> str | None:
    try:
        return gitcmd.run(["-C", str(repo), *args], timeout=120)[1].decode("utf-8", "replace")
    except gitcmd.GitCommandError as exc:
        if check:
            raise UserError(
                f"git {' '.join(args)} failed in {repo}: {redact(exc.stderr.strip())}"
            ) from None
        return None


def _rev(repo: Path, ref: str) -> str | None:
    out = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return out.strip() if out else None


def _is_ancestor(repo: Path, a: str, b: str) -> bool:
    status, _ = gitcmd.run(
        ["-C", str(repo), "merge-base", "--is-ancestor", a, b], ok=(0, 1, 128), timeout=120
    )
    return status == 0


def _trailer(repo: Path, commit: str, key: str) -> str | None:
    found = git.read_commits(repo, [commit], limit=1)
    return lineage.parse(found[0].message).first(key) if found else None


def _holds_pipeline(repo: Path, commits: Sequence[str], pipeline_id: str, depth: int = 500) -> bool:
    """Whether gitexport's exports of exactly this pipeline are in the history of *commits*."""
    return any(
        lineage.is_export_of(c.message, c.tree, pipeline_id)
        for c in git.read_commits(repo, commits, limit=depth)
    )


def _foreign_commits(repo: Path, remote_tip: str, pipeline_id: str) -> list[str]:
    """Commits of *remote_tip* that are in no local branch and are not gitexport's exports of
    this pipeline (as written: an amended export is someone's commit)."""
    return [
        f"{c.sha[:10]} {c.message.split(chr(10), 1)[0]!r} by {c.author}"
        for c in git.read_commits(repo, [remote_tip], not_branches=True)
        if not lineage.is_export_of(c.message, c.tree, pipeline_id)
    ]
