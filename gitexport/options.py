"""What a caller chooses beyond the document: export options and the push target.

These are the ``options`` and ``target`` objects of the export service's request
(``gitexport-service/1``); the CLI fills the same models from its flags, so both front doors
mean the same thing by every option.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ProviderName = Literal["github", "gitlab", "local"]
TRAIN_TIMEOUT = 3600  # seconds: the default time budget of training


@dataclass(frozen=True)
class Budget:
    """Limits for the generated code's processes (training, prediction)."""

    seconds: float = TRAIN_TIMEOUT
    memory_mb: int | None = None  # address-space limit of each process; None: unlimited


DEFAULT_BUDGET = Budget()


@dataclass(frozen=True)
class RenderOptions:
    """What the renderer is told beyond the plan (from :meth:`ExportOptions.render_options`)."""

    data: str = "sample"  # none | sample | full
    docker: bool = True
    kubernetes: bool = True
    ci: bool = True
    provider: str = "github"  # github | gitlab | local: which CI system to generate for
    artifacts: str = "lfs"  # lfs | release


class ExportOptions(BaseModel):
    """How the project is generated and committed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: Literal["none", "sample", "full"] = "sample"
    artifacts: Literal["lfs", "release"] = "lfs"
    docker: bool = True
    kubernetes: bool = True
    ci: bool = True
    allow_parity_drift: bool = False
    # Which CI system to generate for; None: the target's forge (GitLab CI for GitLab).
    ci_provider: Literal["github", "gitlab"] | None = None
    merge: bool = True  # export(): merge a re-export into main (False: leave it on its branch)
    adopt: bool = False  # take over a repository gitexport did not create

    def render_options(self, target_provider: str | None = None) -> RenderOptions:
        """The renderer's options."""
        ci = self.ci_provider or ("gitlab" if target_provider == "gitlab" else "github")
        return RenderOptions(
            data=self.data,
            docker=self.docker,
            kubernetes=self.kubernetes,
            ci=self.ci,
            provider=ci,
            artifacts=self.artifacts,
        )


class Target(BaseModel):
    """Where :func:`gitexport.api.push` puts the project."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: ProviderName
    repo: str = Field(min_length=1)  # OWNER/NAME (GitLab: group/sub/name) or a bare repo path
    base_url: str | None = None  # GitHub Enterprise API or self-managed GitLab
    private: bool = True
    draft: bool = False
    reviewers: tuple[str, ...] = ()
    # GitHub App installation (instead of a token): app id, private key file, installation id.
    app_id: str | None = None
    private_key: Path | None = None
    installation_id: int | None = None
