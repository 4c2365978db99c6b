"""The sweep spec's schema: one typed description of a study (a YAML file under sweeps/).

A spec names the data set, the grids over training-set size N, seed and architecture, the
training strategies (Sec. 3.4-3.6 of the paper), the attacks and distance measurements run after
training (Sec. 3.2-3.3), the shared learned manifolds, resources, storage, concurrency and
retries. This module is the schema only: it imports no data, model or attack code, so every
layer may import it. Names and parameters are checked against the registries by
raysweep.resolve.validate, once, before any work starts.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from raysweep.config.arch import ArchSpec

DEFAULT_TRIAL_FN = "raysweep.trial:run_trial"
# Seeds feed torch.Generator.manual_seed (64-bit) and numpy (below 2**32), and trials derive
# more from them (seed + 1, seed * 1_000_003 + epoch): numpy's bound keeps every derived seed
# inside torch's range too.
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class Strict(BaseModel):
    """Unknown keys are errors and values are frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(Strict):
    """What one trial (or actor) asks Ray for; GPU may be fractional (bookkeeping only in Ray)."""

    cpu: float = Field(1.0, gt=0)  # always some CPU: a GPU-only request gets 0 CPUs in Tune
    gpu: float = Field(0.1, ge=0)


class ActorResources(Strict):
    """A shared actor's share, held until the sweep ends; CPU may be 0 so actors never block trials from starting (the driver refuses shares that leave no room for a trial)."""

    cpu: float = Field(0.0, ge=0)
    gpu: float = Field(0.05, ge=0)


class DatasetSpec(Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)  # load_dataset(name, **options)


class GridSpec(Strict):
    n: list[int] = Field(min_length=1)
    seed: list[Seed] = Field(min_length=1)
    # a name or {name: resnet13, width: 4}: the model's options (raysweep.config.arch)
    arch: list[ArchSpec] = Field(default_factory=lambda: [ArchSpec(name="cnn")], min_length=1)


class StrategySpec(Strict):
    name: str
    label: Optional[str] = None  # the `strategy` column; defaults to name (two configs of one strategy need labels)
    params: dict[str, Any] = Field(default_factory=dict)  # the strategy's typed parameters
    resources: Optional[Resources] = None  # None: the spec's default resources

    @property
    def key(self) -> str:
        """The strategy's name in the tables (its label, else its registered name)."""
        return self.label or self.name


class TrainSpec(Strict):
    """Classifier training, Sec. 3.1: Adam (betas 0.5, 0.9; the authors' code), lr 0.01 decayed by
    0.95 per epoch, weight decay 1e-4 (Adam's own L2), batch 100, 20 epochs. The training loop
    takes this object as its config (raysweep.training.loop.TrainConfig is this class)."""

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(100, ge=1)
    lr: float = Field(0.01, gt=0, allow_inf_nan=False)
    lr_decay: float = Field(0.95, gt=0, le=1)  # per epoch, applied continuously every iteration
    weight_decay: float = Field(1e-4, ge=0, allow_inf_nan=False)
    betas: tuple[float, float] = (0.5, 0.9)


# An attack's working batch: raysweep.attacks.base.AttackConfig.max_rows's default (a test checks
# that they agree).
ATTACK_MAX_ROWS = 10_000
# (sample, restart) rows of one attack in one trial: 20x the paper's largest (2500 x 5). Each row
# is ~100 bytes of records and example table; with distances the trial also keeps every x_adv:
# 250k rows hold 0.8 GB of 28x28 images, 8 GB of CelebA's 3x56x48, on the trial's device.
MAX_ATTACK_ROWS = 250_000


class AttackSpec(Strict):
    name: str
    label: Optional[str] = None  # column prefix; defaults to name (two configs of one attack need labels)
    samples: int = Field(1000, ge=1)  # test images attacked (paper: 1000 off-manifold, 2500 on)
    # None: the attack's own default (5 for the paper's Adam attacks, 1 for APGD, C&W, AutoAttack and
    # the peers), filled in by raysweep.resolve.validate.fill_defaults; a value here overrides it
    restarts: Optional[int] = Field(None, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)  # ATTACKS.build(name, **params)
    # APGD attacks only: bisection steps of each sample's smallest successful eps between 0 and the
    # attack's eps (raysweep.attacks.min_eps; columns <key>.median_min_eps, .mean_min_eps,
    # .n_censored; claim 4's measure); each step costs at most one more run of the attack. None: off
    min_eps_steps: Optional[int] = Field(None, ge=1, le=20)

    @property
    def key(self) -> str:
        """The attack's column prefix in the tables."""
        return self.label or self.name

    @model_validator(mode="after")
    def _fits(self) -> "AttackSpec":
        # An attack works on batches of at most max_rows (sample, restart) rows but never splits
        # one sample's restarts, so restarts > max_rows is one unbounded batch of `restarts` rows.
        if self.restarts is None:  # checked again once the attack's default is filled in
            return self
        max_rows = self.params.get("max_rows", ATTACK_MAX_ROWS)
        if isinstance(max_rows, int) and self.restarts > max_rows:
            raise ValueError(f"restarts {self.restarts} exceed the attack's max_rows {max_rows} (the rows of one "
                             "working batch, which holds all restarts of a sample); lower restarts")
        if self.samples * self.restarts > MAX_ATTACK_ROWS:
            raise ValueError(f"samples x restarts = {self.samples * self.restarts} rows exceed {MAX_ATTACK_ROWS} per "
                             "attack (each is a records row in memory, an example-table row, and with distances a "
                             "kept image); lower samples or restarts")
        return self

    def build_params(self) -> dict[str, Any]:
        """Everything ATTACKS.build(name, **...) takes."""
        return {**({} if self.restarts is None else {"restarts": self.restarts}), **self.params}


class DistanceSpec(Strict):
    """Distance of adversarial examples to the manifold (Sec. 3.2, supplement C).

    method is a name in raysweep.manifold.distance.DISTANCES: true, knn, class, data.
    """

    method: str  # quote "true" in YAML (a bare true is a boolean)
    attack: str  # label of an attack in evaluate.attacks whose examples are measured
    samples: int = Field(500, ge=1)  # successful (sample, restart) pairs measured
    k: Optional[int] = Field(None, ge=1)  # knn only: neighbours (paper: 50)
    center: Optional[Literal["clean", "mean"]] = None  # knn only: centre at x (paper) or the neighbours' mean
    params: dict[str, Any] = Field(default_factory=dict)  # other DISTANCES.build(method, **params) options

    def build_params(self) -> dict[str, Any]:
        """Everything DISTANCES.build(method, **...) takes: params plus k and center when given."""
        extra = {k: v for k, v in (("k", self.k), ("center", self.center)) if v is not None}
        return {**self.params, **extra}

    @property
    def key(self) -> str:
        return f"{self.method}.{self.attack}"


class EvaluateSpec(Strict):
    test_samples: Optional[int] = Field(None, ge=1)  # test images for the test error; None: all
    attacks: list[AttackSpec] = Field(default_factory=list)
    distances: list[DistanceSpec] = Field(default_factory=list)

    def distances_of(self, attack: AttackSpec) -> list[DistanceSpec]:
        return [d for d in self.distances if d.attack == attack.key]


class ManifoldOptions(Strict):
    """How the shared learned manifolds (VAE-GANs, supplement B.2) are trained and served.

    vaegan: overrides of raysweep.vaegan.config.VAEGANConfig (width, epochs, ...); its keys are
    checked against that config by raysweep.resolve.validate. lambda_table: a Parquet table written by
    `raysweep tune-lambda` (columns class, lambda); a class missing from it, or no table, gets
    `vaegan.lam` if the spec sets it, else the paper's lambda (raysweep.vaegan.config.default_lambda).
    """

    vaegan: dict[str, Any] = Field(default_factory=dict)
    seed: Seed = 0
    train_size: Optional[int] = Field(None, ge=1)  # cap on training images per model (smoke runs)
    lambda_table: Optional[str] = None
    code_batch: int = Field(500, ge=1)  # images per encoder call when caching latent codes
    # Train missing VAE-GANs first as parallel Tune trials with these resources, instead of
    # inside the actors on their small share.
    train_resources: Optional[Resources] = None


class ManifoldSpec(Strict):
    """Shared learned manifolds: one Ray actor per (data set, class) serves them to all trials."""

    options: ManifoldOptions = Field(default_factory=ManifoldOptions)
    resources: ActorResources = Field(default_factory=ActorResources)
    detached: bool = False  # actors outlive the sweep (for the next sweep); teardown leaves them


class CallbackSpec(Strict):
    """One of Ray Tune's own logger callbacks (each an optional extra: `pip install 'raysweep[NAME]'`),
    or your own Tune Callback as `module:Class`; options go to its constructor (mlflow: tracking_uri,
    experiment_name; wandb: project, ...). A bare name is shorthand for {name: NAME}."""

    name: str = Field(pattern=r"^(tensorboard|mlflow|wandb|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class SweepSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    dataset: DatasetSpec
    grid: GridSpec
    strategies: list[StrategySpec] = Field(min_length=1)
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    resources: Resources = Field(default_factory=Resources)
    manifolds: ManifoldSpec = Field(default_factory=ManifoldSpec)
    storage: str = Field("results", min_length=1)  # local path or a pyarrow.fs URI (s3://bucket/prefix)
    concurrency: Optional[int] = Field(None, ge=1)  # max concurrent trials; None: as resources allow
    retries: int = Field(2, ge=0)  # FailureConfig.max_failures per trial
    # An epoch checkpoint at most this often (seconds; 0: every epoch): a retried trial loses at
    # most this much training, and short epochs do not pay ~25 ms of Tune persistence each.
    checkpoint_every_s: float = Field(30.0, ge=0)
    # "seeds": the seeds of one (strategy, arch, N) cell run in one Tune trial (raysweep.resolve.packing);
    # rows, ids, resume and retries stay per model. "none": one Tune trial per model.
    pack: Literal["none", "seeds"] = "none"
    trial: str = DEFAULT_TRIAL_FN  # "module:function" running one trial (raysweep.trial.protocol)
    plugins: list[str] = Field(default_factory=list)  # modules imported first (extra registrations)
    callbacks: list[CallbackSpec] = Field(default_factory=list)  # Ray Tune loggers: tensorboard, mlflow, wandb

    @model_validator(mode="after")
    def _cross_checks(self) -> "SweepSpec":
        labels = [a.key for a in self.evaluate.attacks]
        if len(set(labels)) != len(labels):
            raise ValueError("evaluate.attacks: two attacks share a label; give them distinct `label`s")
        keys = [d.key for d in self.evaluate.distances]
        if len(set(keys)) != len(keys):
            raise ValueError("evaluate.distances: one method measured twice on the same attack; remove the duplicate")
        for d in self.evaluate.distances:
            if d.method != "knn" and (d.k is not None or d.center is not None):
                raise ValueError(f"evaluate.distances: k and center apply to method knn only, not {d.method!r}")
            if d.attack not in labels:
                raise ValueError(f"evaluate.distances: attack {d.attack!r} is not in evaluate.attacks ({', '.join(labels) or 'none'})")
        keys = [s.key for s in self.strategies]
        if len(set(keys)) != len(keys):
            raise ValueError("strategies: a strategy is listed twice; remove the duplicate or give each "
                             "configuration its own `label`")
        for key in ("n", "seed", "arch"):
            values = getattr(self.grid, key)
            if len(set(values)) != len(values):
                raise ValueError(f"grid.{key}: a value is listed twice; remove the duplicate")
        return self

    def strategy_resources(self, s: StrategySpec) -> Resources:
        return s.resources or self.resources
