"""``bayesmin fit``: one model, one data set, estimates written to a folder.

Also the decisions behind the commands, as library functions the CLI only calls:
:func:`load_data` (a model's data from the user's CSV or built in, with the feature
names of a regression design) and :func:`choose_method` (how ``fit`` fits a model).
Both raise :class:`models.DataError` with one line that names the problem and the fix.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import arviz as az
import numpy as np
import pandas as pd

from .. import diagnostics, inference, models
from ..inference.em import GLAD, PPCA, GaussianMixture
from ..inference.evidence import RVR
from ..models import glad as glad_model
from ..models import linear_regression as lr
from .run_page import write_fit_page
from .rundir import publish, write_atomic
from .tables import csv_text

# Models whose weight vector ``w`` has one entry per column of the user's design, so it
# can be labelled by the feature names.
_REGRESSION = {"linear_regression", "linear_regression_unknown_noise"}


# ------------------------------------------------------------------------------ data


class UserData(NamedTuple):
    """What :func:`load_data` returns.

    data : dict
        The model's data (keyword arguments of its programs), from ``spec.from_frame``
        or ``spec.simulate``.
    feature_names : list of str or None
        For a regression read from a table, the name of each column of the design
        (``"intercept"`` first where there is one); else None.
    """

    data: dict
    feature_names: list[str] | None


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A user's CSV for a registry model as a DataFrame, or a :class:`models.DataError`
    saying what is wrong (:func:`models.user.read_csv`: a missing or empty file, another
    format, a ``;``-separated file, a header without rows, ...)."""
    from ..models import user

    return user.read_csv(path, csv_only=True)


def _check_settings(model: str, settings: Mapping[str, Any], accepted: set[str]) -> None:
    unknown = sorted(set(settings) - accepted)
    if unknown:
        raise models.DataError(
            f"unknown setting(s) {', '.join(unknown)} for {model}; "
            f"known: {', '.join(sorted(accepted)) or 'none'}"
        )


def load_data(
    spec: models.ModelSpec,
    path: str | os.PathLike | None = None,
    *,
    target: str | None = None,
    column: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> UserData:
    """The model's data: the user's CSV through ``spec.from_frame``, else built in.

    Parameters
    ----------
    spec : ModelSpec
    path : path, optional
        A CSV file; None uses the model's built-in data, ``spec.simulate(0, **settings)``.
    target, column : str, optional
        The regression target / the one data column, for models whose ``from_frame``
        takes them (``--target``, ``--column``).
    settings : mapping, optional
        Hyperparameters and sizes (``--set``), keyword arguments of ``from_frame`` or
        ``simulate``.

    Returns
    -------
    UserData
        The data, and the design's feature names for a regression read from a table
        (computed from the same table, with the same ``intercept`` setting).

    Raises
    ------
    models.DataError
        A setting or option the model does not take, a model without ``from_frame``
        given a file, or data the model cannot use.
    """
    settings = dict(settings or {})
    if path is None:
        accepted = set(inspect.signature(spec.simulate).parameters) - {"seed"}
        _check_settings(spec.name, settings, accepted)
        return UserData(spec.simulate(0, **settings), None)
    if spec.from_frame is None:
        raise models.DataError(f"model {spec.name} does not read user data; run it without --data")
    params = inspect.signature(spec.from_frame).parameters
    accepted = {n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD} - {"df"}
    _check_settings(spec.name, settings, accepted - {"target", "column"})
    kwargs = dict(settings)
    if "target" in accepted:
        kwargs["target"] = target
    elif target is not None:
        raise models.DataError(
            f"{spec.name} takes no --target; use --column for its one data column"
        )
    if "column" in accepted:
        kwargs["column"] = column
    elif column is not None:
        raise models.DataError(f"{spec.name} takes no --column")
    df = read_csv(path)
    data = spec.from_frame(df, **kwargs)
    names = None
    if spec.name in _REGRESSION:
        # The design from_frame built: same table, same intercept choice (its default: on).
        intercept = bool(kwargs.get("intercept", params["intercept"].default))
        names = lr.design_from_frame(df, target, intercept=intercept)[2]
    return UserData(data, names)


# ---------------------------------------------------------------------------- memory

#: Numbers a run stores per draw beside the parameters: the sampler's statistics (``lp``,
#: ``acceptance_rate``, ``diverging``, ``n_steps``, and NUTS's tree depth, energy, step
#: size, ...), rounded up.
SAMPLE_STATS = 10


def available_memory() -> int:
    """Bytes of memory this process can still use: what the system has available
    (``psutil``; else all of it, from ``sysconf``), within a cgroup's limit (a container's)
    where one is set."""
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with dask.distributed
        free = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    with contextlib.suppress(OSError):  # no cgroup v2 files: no container limit to apply
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit.isdigit() and used.isdigit():
            free = min(free, max(int(limit) - int(used), 0))
    return free


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def check_memory(
    spec: models.ModelSpec,
    data: Mapping[str, Any],
    *,
    draws: int,
    chains: int,
    tune: int = 0,
    runs: int = 1,
) -> None:
    """Refuse, before any work, runs whose draws cannot fit in this machine's memory.

    One run holds ``draws × chains × (values per draw + SAMPLE_STATS)`` float64 numbers
    (:func:`inference.values_per_draw`), twice while they are collected (the sampler's
    arrays, then the InferenceData); ``runs`` runs kept together (a comparison keeps
    every run for its table) hold that many more. Compared with
    :func:`available_memory`. ``tune`` is taken so that the run lengths pass as they
    are; warm-up draws are not kept.

    Raises
    ------
    models.DataError
        With the estimate, what it is made of, and the options to lower.
    """
    try:
        values = inference.values_per_draw(spec, data)
    except models.DataError:
        raise
    except Exception:  # a model that cannot be traced fails in its run, with its own error
        return
    one = draws * chains * (values + SAMPLE_STATS) * 8
    need = one * (runs + 1)
    free = available_memory()
    if need <= free:
        return
    if runs > 1:
        kept = f" × {runs} runs, all kept for the table,"
        lower = "--draws, --chains or the number of seeds and samplers"
    else:
        kept = ", held twice while they are collected,"
        lower = "--draws or --chains"
    raise models.DataError(
        f"--draws {draws} × --chains {chains} × {values + SAMPLE_STATS} numbers per draw "
        f"({values} parameter value{'s' if values != 1 else ''}, {SAMPLE_STATS} sampler "
        f"statistics){kept} need about {_gb(need)} of memory; this machine has {_gb(free)} "
        f"available; lower {lower}"
    )


# ---------------------------------------------------------------------------- method


def choose_method(spec: models.ModelSpec, method: str = "auto") -> str:
    """How ``bayesmin fit`` fits ``spec``: ``method`` checked, or the default for ``"auto"``.

    The default is ``"exact"`` where the model has a closed-form posterior, else its
    point fit (``"em"`` or ``"evidence"``, :data:`POINT_FITS`), else ``"nuts"``.

    Raises
    ------
    models.DataError
        ``"exact"`` for a model without a closed form, or a point fit the model lacks;
        the message names the methods it has.
    ValueError
        An unknown sampler (from :func:`inference.resolve_sampler`).
    """
    point = [m for m, fits in POINT_FITS.items() if spec.name in fits]
    if method == "auto":
        return "exact" if spec.exact is not None else point[0] if point else "nuts"
    if method == "exact" and spec.exact is None:
        other = f"--method {point[0]} or a sampler" if point else "--method nuts"
        raise models.DataError(f"{spec.name} has no closed-form posterior; use {other}")
    if method in POINT_FITS and method not in point:
        label = {"em": "EM", "evidence": "type-II ML (evidence)"}[method]
        have = [*(["exact"] if spec.exact is not None else []), *point]
        other = " or ".join([*(f"--method {m}" for m in have), "a sampler (--method nuts)"])
        raise models.DataError(f"{spec.name} has no {label} fit; use {other}")
    if method not in ("exact", *POINT_FITS):
        inference.resolve_sampler(method)
    return method


def _labels(name: str, shape: tuple[int, ...], names: Sequence[str] | None) -> list[str]:
    if not shape:
        return [name]
    if names is not None and len(shape) == 1 and len(names) == shape[0]:
        return [f"{name}[{n}]" for n in names]
    return [f"{name}[{','.join(map(str, i))}]" for i in np.ndindex(*shape)]


def exact_summary(exact: Mapping[str, models.Exact], names=None) -> pd.DataFrame:
    """Mean, sd and the central 95% interval of each closed-form marginal."""
    rows = []
    for var, ref in exact.items():
        shape = np.shape(ref.mean)
        labels = _labels(var, shape, names if var == "w" else None)
        marg = ref.marginals or [None] * len(labels)
        for label, m, s, d in zip(labels, np.ravel(ref.mean), np.ravel(ref.sd), marg, strict=True):
            lo, hi = (d.ppf(0.025), d.ppf(0.975)) if d is not None else (np.nan, np.nan)
            rows.append({"parameter": label, "mean": m, "sd": s, "q2.5": lo, "q97.5": hi})
    return pd.DataFrame(rows)


def _family(ref: models.Exact) -> Any:
    if ref.marginals is None or len(ref.marginals) != 1:
        return None
    d = ref.marginals[0]
    return {
        "family": d.dist.name,
        "args": [float(a) for a in d.args],
        "kwds": {k: float(v) for k, v in d.kwds.items()},
    }


def sampled_summary(idata: az.InferenceData, names=None) -> pd.DataFrame:
    summ = az.summary(idata, hdi_prob=0.95)
    mom = diagnostics.moments(idata).table
    summ["median"] = mom["median"].reindex(summ.index).to_numpy()
    summ["mode"] = mom["mode"].reindex(summ.index).to_numpy()
    if names is not None:
        summ.index = [
            f"w[{names[int(i[2:-1])]}]" if i.startswith("w[") and i[2:-1].isdigit() else i
            for i in summ.index
        ]
    summ.index.name = "parameter"
    return summ.reset_index()


# ----------------------------------------------------------------------- EM fits
# ``bayesmin fit --method em``: each returns {"summary": DataFrame, <name>: DataFrame, ...,
# "info": dict}; every table is written as <name>.csv, ``info`` goes into fit.json.


def mixture_tables(data: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """EM fit (full covariances, 5 restarts) as tables: components and assignments."""
    X, k = data["X"], int(data["k"])
    fit = GaussianMixture(k, n_init=5, random_state=seed).fit(X)
    order = np.argsort(fit.means_[:, 0])
    d = X.shape[1]
    comps = pd.DataFrame({"component": np.arange(k), "weight": fit.weights_[order]})
    for j in range(d):
        comps[f"mean[{j}]"] = fit.means_[order, j]
    for j in range(d):
        comps[f"var[{j}]"] = fit.covariances_[order, j, j]
    proba = fit.predict_proba(X)[:, order]
    assign = pd.DataFrame({"row": np.arange(len(X)), "component": proba.argmax(1)})
    assign["probability"] = proba.max(1)
    return {
        "summary": comps,
        "assignments": assign,
        "info": {
            "lower_bound": fit.lower_bound_,
            "n_iter": fit.n_iter_,
            "converged": fit.converged_,
            "bic": fit.bic(X),
            "aic": fit.aic(X),
        },
    }


def ppca_tables(data: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """EM fit: loadings, the noise variance, the latent means and the imputed table."""
    X, q = data["X"], int(data["q"])
    fit = PPCA(q, random_state=seed).fit(X)
    D = X.shape[1]
    loadings = pd.DataFrame(
        fit.components_.T, columns=[f"W[:,{j}]" for j in range(q)], index=pd.RangeIndex(D)
    )
    loadings.insert(0, "mean", fit.mean_)
    loadings.insert(0, "feature", np.arange(D))
    latent = pd.DataFrame(fit.transform(X), columns=[f"z[{j}]" for j in range(q)])
    return {
        "summary": loadings,
        "latent": latent,
        "imputed": pd.DataFrame(fit.impute(X)),
        "info": {
            "noise_variance": fit.noise_variance_,
            "lower_bound": fit.lower_bound_,
            "n_iter": fit.n_iter_,
            "converged": fit.converged_,
            "missing_values": int(np.isnan(X).sum()),
        },
    }


def glad_tables(data: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """GLAD by EM: each task's label and P(label = 1), each worker's α, each task's β."""
    df = pd.DataFrame({k: data[k] for k in ("task", "worker", "label")})
    fit = GLAD(random_state=seed).fit(df)
    tasks = pd.DataFrame(
        {
            "task": fit.labels_.index,
            "label": fit.labels_.to_numpy(),
            "p_label_1": fit.probas_[1].to_numpy(),
            "beta": fit.betas_.reindex(fit.labels_.index).to_numpy(),
            "majority_vote": glad_model.majority_vote(df).reindex(fit.labels_.index).to_numpy(),
        }
    )
    workers = pd.DataFrame({"worker": fit.alphas_.index, "alpha": fit.alphas_.to_numpy()})
    workers = workers.sort_values("alpha", ascending=False)
    return {
        "summary": tasks,
        "workers": workers,
        "info": {
            "lower_bound": fit.lower_bound_,
            "n_iter": fit.n_iter_,
            "converged": fit.converged_,
            "class_prior": float(fit.class_prior_),
            "n_labels": len(df),
        },
    }


EM_FITS = {"gaussian_mixture": mixture_tables, "ppca": ppca_tables, "glad": glad_tables}


# ------------------------------------------------------------- type-II ML (evidence) fits


def rvr_tables(data: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """Relevance vector regression (type-II ML) on ``ard_regression`` data, in the user's units.

    Type-II ML is deterministic; ``seed`` is there for the signature every point fit shares.

    ``summary``: one row per relevance vector (its row in the table, its features, weight,
    α); ``predictions``: each row's predictive mean and sd. ``from_frame`` standardised
    features and target; they are mapped back with the stored shifts and scales.
    """
    x, t = np.asarray(data["x"]), np.asarray(data["t"])
    fit = RVR(kernel="rbf", gamma=float(data["gamma"])).fit(x, t)
    t_mean, t_sd = float(data.get("t_mean", 0.0)), float(data.get("t_sd", 1.0))
    x_mean = np.asarray(data.get("x_mean", np.zeros(x.shape[1])))
    x_sd = np.asarray(data.get("x_sd", np.ones(x.shape[1])))
    rows = fit.relevance_indices_
    summary = pd.DataFrame({"row": rows})
    for j in range(x.shape[1]):
        summary[f"x{j}"] = x[rows, j] * x_sd[j] + x_mean[j]
    # Kernel weights of the standardised target, scaled to the user's units.
    offset = 1 if fit.bias_used_ else 0
    summary["weight"] = fit.coef_[offset:] * t_sd
    summary["alpha"] = fit.alpha_[offset:]
    mean, sd = fit.predict(x, return_std=True)
    predictions = pd.DataFrame(
        {
            "row": np.arange(len(t)),
            "target": t * t_sd + t_mean,
            "predicted_mean": mean * t_sd + t_mean,
            "predicted_sd": sd * t_sd,
        }
    )
    return {
        "summary": summary,
        "predictions": predictions,
        "info": {
            "relevance_vectors": len(rows),
            "bias": float(fit.coef_[0] * t_sd + t_mean) if fit.bias_used_ else t_mean,
            "noise_sd": float(np.sqrt(fit.noise_variance_) * t_sd),
            "log_evidence": float(fit.log_evidence_[-1]),
            "n_iter": int(fit.n_iter_),
            "converged": bool(fit.converged_),
            "gamma": float(data["gamma"]),
        },
    }


EVIDENCE_FITS = {"ard_regression": rvr_tables}
# ``--method NAME`` -> the models it fits by a point-estimate routine, each writing tables.
POINT_FITS = {"em": EM_FITS, "evidence": EVIDENCE_FITS}


def fit_identity(
    spec: models.ModelSpec,
    data: Mapping[str, Any],
    *,
    method: str,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    origin: Mapping[str, str] | None = None,
    until_ess: float | None = None,
) -> dict[str, Any]:
    """What makes two fits the same fit: model, method, data (:func:`models.fingerprint`,
    hyperparameters included), a user's script (its SHA-256) and the settings that change
    the result (none for a closed form, the seed for a point fit, run lengths and seed
    for a sampler). ``fit.json`` records it as ``identity``; rerunning the same fit into
    its folder replaces it, another fit needs ``--force`` (:func:`reports.rundir.ensure`).
    """
    if method == "exact":
        settings: dict[str, int] = {}
    elif method in POINT_FITS:
        settings = {"seed": seed}
    else:
        settings = {"draws": draws, "tune": tune, "chains": chains, "seed": seed}
        if until_ess is not None:
            settings["until_ess"] = float(until_ess)
    return {
        "model": spec.name,
        "method": method,
        "data": models.fingerprint(data),
        "script_sha256": dict(origin or {}).get("script_sha256", ""),
        "settings": settings,
    }


def fit_and_write(
    spec: models.ModelSpec,
    data: Mapping[str, Any],
    out: Path,
    *,
    method: str,
    feature_names: Sequence[str] | None,
    source: str,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool = True,
    origin: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
    until_ess: float | None = None,
) -> list[Path]:
    """Fit and write ``summary.csv``, ``fit.json`` and, by method, ``posterior.nc``,
    ``estimates.csv`` (regression: MLE, MAP and posterior per feature) or the EM tables
    (``method="em"`` or ``"evidence"``: the :data:`POINT_FITS` tables as CSV, their
    ``info`` in ``fit.json``); last the diagnostics page ``index.html``
    (:func:`reports.run_page.write_fit_page`). ``origin`` (a user's model: its script and
    data files with their SHA-256) goes into ``fit.json``. ``provenance`` ends the page: a
    record of :func:`reports.run_page.provenance`, or a function making one when the page
    is written (so that its timings include the fit). ``until_ess`` samples until every
    parameter's ESS is there (``inference.sample``), ``draws`` at a time.

    Nothing is written before the fit has succeeded, and then every file at once: the
    folder is built beside ``out`` and swapped in whole (:func:`reports.rundir.publish`),
    so ``out`` holds the old fit or the new one, never a mix. ``fit.json`` records the
    fit's :func:`fit_identity` and lists its files. ``out`` must be new, empty or a fit's
    own folder (:class:`reports.rundir.OutError` otherwise); the CLI also locks it and
    checks the identity first (:func:`reports.rundir.claim`)."""
    out = Path(out)
    identity = fit_identity(
        spec,
        data,
        method=method,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        origin=origin,
        until_ess=until_ess,
    )
    meta: dict[str, Any] = {
        "model": spec.name,
        "method": method,
        "data": source,
        **dict(origin or {}),  # a user's script and data, with their SHA-256
        "hyperparameters": {
            k: float(v) for k, v in data.items() if np.ndim(v) == 0 and np.isreal(v)
        },
        "identity": identity,
    }
    files: dict[str, str | bytes] = {}
    idata = None
    if method == "exact":
        exact = spec.exact(data)
        summary = exact_summary(exact, feature_names)
        meta["posterior"] = {k: _family(v) for k, v in exact.items()}
    elif method in POINT_FITS:
        tables = dict(POINT_FITS[method][spec.name](data, seed=seed))
        meta[method] = tables.pop("info", {})
        summary = tables.pop("summary")
        for name, table in tables.items():
            files[f"{name}.csv"] = csv_text(table, index=False)
    else:
        idata = inference.sample(
            spec,
            method,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            data=data,
            progress=progress,
            **({} if until_ess is None else {"until_ess": until_ess}),
        )
        summary = sampled_summary(idata, feature_names)
        meta["sampler"] = dict(idata.attrs)
    files["summary.csv"] = csv_text(summary, index=False)
    if spec.name in _REGRESSION:
        X, t = data["X"], data["t"]
        names = list(feature_names) if feature_names else [f"x{j}" for j in range(X.shape[1])]
        est = pd.DataFrame({"feature": names, "mle": lr.mle(X, t)})
        if "beta" in data:
            est["map"] = lr.map_estimate(X, t, data["alpha"], data["beta"])
        ref = spec.exact(data)["w"]
        est["posterior_mean"], est["posterior_sd"] = ref.mean, ref.sd
        files["estimates.csv"] = csv_text(est, index=False)
    n_obs = next((len(v) for v in data.values() if np.ndim(v) >= 1), 0)
    meta["n_observations"] = int(n_obs)
    files["fit.json"] = json.dumps(meta, indent=2, default=str)
    with publish(out) as folder:
        written = []
        if idata is not None:
            idata.to_netcdf(str(folder / "posterior.nc"))  # a private folder: a plain write
            written.append(folder / "posterior.nc")
        for name, content in files.items():
            written.append(write_atomic(folder / name, content))
        written.append(
            write_fit_page(
                folder,
                spec.name,
                summary=summary,
                idata=idata,
                method=method,
                provenance=provenance() if callable(provenance) else provenance,
            )
        )
        # What the folder holds, so that a later run can tell the fit's files from others.
        meta["files"] = sorted(
            p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
        )
        write_atomic(folder / "fit.json", json.dumps(meta, indent=2, default=str))
    return [out / p.relative_to(folder) for p in written]
