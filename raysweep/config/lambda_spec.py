"""The pydantic spec of `raysweep tune-lambda SPEC`: Optuna picks the VAE-GAN weight lambda per class.

The paper hand-tuned lambda of Eq. 7-8 (supplement B.2: FONTS 3, EMNIST 2.5 with classes 0/1/8 at
2.75/5.6/2.25, F-MNIST 2.75, CelebA 3). Here one Optuna study per class searches lambda on a log
scale in `lambda_range`, `budget` completed trials per class, `concurrency` trials at a time.

Objective (minimised, see raysweep.manifold.lambda_objective): on FONTS the mean true-manifold distance of
decoded prior samples plus that of reconstructions of held-out images (the true manifold is
known); elsewhere held-out L1 reconstruction error (per pixel) + `frechet_weight` * Frechet
distance between held-out images and prior samples in the features of a classifier trained on
the data set. One scalar, so Optuna runs single-objective and "best" is unambiguous.

Outputs under `<storage>/<name>/`: `lambda.parquet` (best lambda per class, read by the manifold
actors), `optuna.sqlite` (the studies; a re-run resumes them) and `tune/` (Ray Tune's trial dirs).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from raysweep._core import storage
from raysweep.config.parse import parse_model
from raysweep.config.schema import DatasetSpec, Resources, Strict as _Strict
from raysweep.config.yaml_file import read_yaml
from raysweep._core.errors import UserError


class LambdaRange(_Strict):
    low: float = Field(0.5, gt=0)
    high: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "LambdaRange":
        if self.low >= self.high:
            raise ValueError(f"lambda_range.low ({self.low}) must be below lambda_range.high ({self.high})")
        return self


class ObjectiveSpec(_Strict):
    """How one VAE-GAN is scored (lower is better; raysweep.manifold.lambda_objective.QualityConfig)."""

    held_out: int = Field(200, ge=10)  # class TRAINING images held out of the fit and scored, and as many prior samples
    # Off FONTS only: objective = held-out L1 per pixel + frechet_weight * Frechet distance.
    frechet_weight: float = Field(0.1, ge=0)
    # The classifier whose penultimate features the Frechet distance uses; trained once per search
    # on the data set's training split (off FONTS only).
    classifier: str = "cnn"
    classifier_epochs: int = Field(3, ge=1)


class LambdaSpec(_Strict):
    # a single folder name under storage: no "/", and not "." or ".." (which would write outside it)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    dataset: DatasetSpec
    storage: str = Field("results", min_length=1)
    kind: Literal["class", "data"] = "class"  # class-specific (one study per class) or agnostic
    classes: Optional[list[int]] = None  # None: every class of the data set
    lambda_range: LambdaRange = Field(default_factory=LambdaRange)
    budget: int = Field(20, ge=1)  # completed Optuna trials per class, counted across re-runs
    concurrency: int = Field(2, ge=1)
    # The search seeds Optuna's sampler (numpy, below 2**32) with seed * 1_000_003 + a class and
    # trial offset (raysweep.tune.lambda_search): 4000 keeps that inside numpy's range.
    seed: int = Field(0, ge=0, le=4000)
    train_size: Optional[int] = Field(None, ge=10)  # cap on training images per class (smoke)
    vaegan: dict[str, Any] = Field(default_factory=dict)  # VAEGANConfig overrides (width, epochs)
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    # Per trial; a GPU share on a machine without GPUs is dropped with one warning line.
    resources: Resources = Field(default_factory=lambda: Resources(cpu=1.0, gpu=0.0))
    # Optuna RDB url; default sqlite beside the results. Needed when storage is a URI (s3://...),
    # because sqlite wants a local file.
    study_db: Optional[str] = None

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: Optional[list[int]]) -> Optional[list[int]]:
        if v is not None and (not v or len(set(v)) != len(v) or min(v) < 0):
            raise ValueError("classes must be a non-empty list of distinct labels >= 0, or omitted")
        return v

    def out_dir(self) -> str:
        return storage.join(self.storage, self.name)

    def table_path(self) -> str:
        return storage.join(self.out_dir(), "lambda.parquet")

    def study_url(self) -> str:
        if self.study_db:
            return self.study_db
        if not storage.is_local(self.storage):
            raise UserError(
                f"storage {self.storage!r} is a URI and sqlite needs a local file; "
                "set study_db: to an RDB url such as sqlite:////abs/path/optuna.sqlite"
            )
        return f"sqlite:///{Path(self.out_dir()) / 'optuna.sqlite'}"

    def study_name(self, cls: Optional[int]) -> str:
        return f"{self.name}-{self.kind}-{'all' if cls is None else cls}"


def check_study_db(url: str, source: str) -> None:
    """A database URL Optuna can open from every trial, checked without connecting: it parses, its
    driver is installed, and an sqlite file's folder exists (an in-memory database would be one
    private study per process). Messages show the URL with its password hidden."""
    from sqlalchemy.engine import make_url  # lazy: 0.17 s at import (measured), for study_db only
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "sqlite:////abs/path/optuna.sqlite"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"{source}: study_db: not a database URL; use an RDB url such as {example}") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as e:
        raise UserError(f"{source}: study_db: {shown} cannot be opened here ({type(e).__name__}: {e}); install "
                        f"its driver or use {example}") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            raise UserError(f"{source}: study_db: {shown} is in memory, so every trial process would see an "
                            f"empty study; name a file such as {example}")
        if not Path(db).expanduser().parent.is_dir():
            raise UserError(f"{source}: study_db: the folder of {db} does not exist; create it or choose another path")


def parse_lambda_spec(data: Any, source: str = "spec") -> LambdaSpec:
    """Validate a mapping; any problem becomes one UserError line naming the key."""
    spec = parse_model(LambdaSpec, data, source, "lambda spec")
    if spec.study_db is not None:
        check_study_db(spec.study_db, source)
    return spec


def load_lambda_spec(path: str | Path) -> LambdaSpec:
    """Read and parse a lambda spec; raysweep.resolve.validate.load_lambda_spec adds the registry checks."""
    data = read_yaml(path, "lambda spec", "sweeps/fonts-lambda.yaml")
    return parse_lambda_spec(data, source=str(path))
