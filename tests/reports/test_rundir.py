"""Run directories (``reports.rundir``): a bad ``--out`` is refused before any work, a
folder holding anything else is never written into, a fit is replaced whole, a folder
being written is locked, and files get the umask's permissions."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from bayesmin.reports import cli, grid, rundir
from bayesmin.reports import sbc as sbc_run

CHEAP_GRID = ["--samplers", "metropolis:pymc", "--chains", 1, "--draws", 50, "--tune", 50]


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with the SHA-256 of its bytes."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_sampling(monkeypatch):
    """Any sampler run fails the test: a refusal must come before the work."""

    def refuse(*args, **kwargs):
        raise AssertionError("sampled before --out was checked")

    monkeypatch.setattr("bayesmin.inference.sample", refuse)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


# ----------------------------------------------------------------- refused before any work


@pytest.mark.parametrize("given", ["folder", ".", ""])
def test_fit_never_writes_into_a_folder_with_your_files(
    tmp_path, monkeypatch, capsys, no_sampling, given
):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.csv").write_text("my own numbers\n1,2,3\n")
    before = snapshot(mine)
    monkeypatch.chdir(mine if given != "folder" else tmp_path)
    out = {"folder": "mine", ".": ".", "": ""}[given]
    code, _, err = run(["fit", "normal_normal", "--method", "nuts", "--out", out], capsys)
    assert code == 2
    line = one_line(err)
    assert ("--out is empty" if given == "" else "summary.csv") in line
    assert snapshot(mine) == before  # byte-identical, nothing added (no lock file either)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


@pytest.mark.parametrize(
    "where",
    ["a file", "under a file", "/proc", "read-only folder"],
)
def test_a_bad_out_is_one_line_before_any_sampling(tmp_path, capsys, no_sampling, where):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    if where == "a file":
        out, needle = afile, "is a file"
    elif where == "under a file":
        out, needle = afile / "fit", "is a file"
    elif where == "/proc":
        if not Path("/proc").is_dir():
            pytest.skip("no /proc here")
        out, needle = Path("/proc/bayesmin-x"), "cannot create files in /proc"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only folder anyway")
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        out, needle = locked / "fit", "cannot create files in"
    try:
        for command in (["fit", "normal_normal", "--method", "nuts"], ["compare", "normal_normal"]):
            code, _, err = run([*command, "--out", out], capsys)
            assert code == 2 and needle in one_line(err), err
    finally:
        if where == "read-only folder":
            locked.chmod(0o700)
    assert afile.read_text() == "x"


def test_check_out(tmp_path):
    with pytest.raises(rundir.OutError, match="--out is empty; name a folder"):
        rundir.check_out("")
    with pytest.raises(rundir.OutError, match="--out is empty"):
        rundir.check_out("  ")
    new = tmp_path / "some" / "new" / "folder"
    assert rundir.check_out(str(new)) == new
    assert list(tmp_path.iterdir()) == []  # checking creates nothing (the probe is gone)
    assert issubclass(rundir.OutError, ValueError)  # the CLI's one-line exit 2


# --------------------------------------------------------------------------- ownership


def test_another_fit_needs_force_and_then_leaves_only_its_own_files(tmp_path, capsys):
    out = tmp_path / "X"
    code, _, err = run(["fit", "linear_regression", "--out", out], capsys)
    assert code == 0, err
    assert (out / "estimates.csv").exists()
    before = snapshot(out)

    code, _, err = run(["fit", "normal_normal", "--out", out], capsys)
    assert code == 2
    line = one_line(err)
    assert "holds a fit of linear_regression (exact)" in line
    assert "choose another --out, or pass --force to replace it" in line
    assert snapshot(out) == before

    code, _, err = run(["fit", "normal_normal", "--force", "--out", out], capsys)
    assert code == 0, err
    meta = json.loads((out / "fit.json").read_text())
    assert meta["model"] == "normal_normal"
    assert sorted(snapshot(out)) == meta["files"]  # exactly the new fit's files
    assert not (out / "estimates.csv").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["X"]  # no temporary folder left beside


def test_the_same_fit_rerun_replaces_its_folder_without_force(tmp_path, capsys):
    out = tmp_path / "X"
    argv = ["fit", "gamma_poisson", "--set", "a=3", "--out", out]
    assert run(argv, capsys)[0] == 0
    first = json.loads((out / "fit.json").read_text())
    code, printed, err = run(argv, capsys)
    assert code == 0, err
    assert printed.split() == [str(out / n) for n in ("summary.csv", "fit.json", "index.html")]
    assert json.loads((out / "fit.json").read_text())["identity"] == first["identity"]
    # Other data (a hyperparameter) make another fit.
    code, _, err = run(["fit", "gamma_poisson", "--set", "a=4", "--out", out], capsys)
    assert code == 2 and "its data differs" in one_line(err)


@pytest.mark.parametrize("kind", ["compare", "sbc", "network", "report", "your files"])
def test_force_replaces_nothing_but_a_fit(tmp_path, capsys, no_sampling, kind):
    out = tmp_path / "X"
    if kind == "compare":
        grid.prepare(out, grid.GridSpec("normal_normal", ("mh",), (0,), 10, 10, 1, "abc"))
        needle = "holds a comparison grid (grid.json)"
    elif kind == "sbc":
        sbc_run.prepare(out, sbc_run.SBCSpec("normal_normal", "mh", 10, 0, 10, 10, 1, 9, "x"))
        needle = "holds a simulation-based calibration (sbc.json)"
    elif kind == "network":
        out.mkdir()
        (out / "checkpoint.npz").write_bytes(b"weights of a long training")
        needle = "holds a network's training"
    elif kind == "report":
        (out / "figures").mkdir(parents=True)
        (out / "index.html").write_text("<html></html>")
        (out / "figures" / "topic1_posterior.png").write_bytes(b"png")
        needle = "holds a report"
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("chapter 1")
        needle = "is not empty: it holds thesis.tex, not made by bayesmin"
    before = snapshot(out)
    code, _, err = run(["fit", "normal_normal", "--force", "--out", out], capsys)
    assert code == 2
    line = one_line(err)
    assert needle in line and "(--force replaces only another fit)" in line
    assert snapshot(out) == before


def test_a_fit_folder_with_your_files_added_is_not_replaced(tmp_path, capsys):
    out = tmp_path / "X"
    assert run(["fit", "normal_normal", "--out", out], capsys)[0] == 0
    (out / "notes.txt").write_text("what I saw")
    before = snapshot(out)
    for force in ([], ["--force"]):
        code, _, err = run(["fit", "normal_normal", *force, "--out", out], capsys)
        assert code == 2 and "files it did not write (notes.txt)" in one_line(err)
    assert snapshot(out) == before


def test_other_commands_refuse_a_fit_folder_and_your_files(tmp_path, capsys, no_sampling):
    fit = tmp_path / "fit"
    assert run(["fit", "normal_normal", "--out", fit], capsys)[0] == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("my home page")
    for out, needle in ((fit, "holds a fit of normal_normal"), (mine, "is not empty")):
        before = snapshot(out)
        for argv in (["compare", "normal_normal"], ["sbc", "normal_normal"], ["report"]):
            code, _, err = run([*argv, "--out", out], capsys)
            assert code == 2 and needle in one_line(err), (argv, err)
        assert snapshot(out) == before


def test_inspect_tells_the_kinds_apart(tmp_path):
    assert rundir.inspect(tmp_path / "new").empty
    (tmp_path / rundir.LOCK).write_text("{}")
    assert rundir.inspect(tmp_path).empty  # the lock file is not a file of the folder
    (tmp_path / "metrics.json").write_text(json.dumps({"model": "vae"}))
    assert rundir.inspect(tmp_path).kind == "network"
    (tmp_path / "fit.json").write_text("not a manifest")
    assert rundir.inspect(tmp_path).kind == "network"  # a fit.json must say what fit
    other = tmp_path / "other"
    other.mkdir()
    (other / "metrics.json").write_text(json.dumps({"model": "my own"}))
    held = rundir.inspect(other)
    assert held.kind is None and held.names == ("metrics.json",)


# ---------------------------------------------------------------- published atomically


def test_a_fit_that_fails_while_writing_leaves_the_old_result(tmp_path, capsys, monkeypatch):
    out = tmp_path / "X"
    assert run(["fit", "normal_normal", "--out", out], capsys)[0] == 0
    before = snapshot(out)
    from bayesmin.reports import fitting

    def broken_page(folder, *args, **kwargs):
        assert (folder / "summary.csv").exists()  # some files of the new fit are written
        raise RuntimeError("disk full")

    monkeypatch.setattr(fitting, "write_fit_page", broken_page)
    with pytest.raises(RuntimeError, match="disk full"):
        cli.main(["fit", "normal_normal", "--force", "--set", "sigma=2", "--out", str(out)])
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["X"]  # the half-built folder is gone


def test_a_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    out = tmp_path / "X"
    out.mkdir()
    (out / "fit.json").write_text(json.dumps({"model": "m", "method": "exact", "files": []}))
    before = snapshot(out)
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the new folder into place
            raise OSError("interrupted")
        real_rename(src, dst)

    monkeypatch.setattr(rundir.os, "rename", rename)
    with pytest.raises(OSError, match="interrupted"), rundir.publish(out) as folder:
        (folder / "fit.json").write_text("{}")
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["X"]


def test_atomic_writes_use_unique_temporary_names(tmp_path):
    target = tmp_path / "posterior.nc"
    with rundir.atomic_path(target) as a, rundir.atomic_path(target) as b:
        assert a != b and a.parent == b.parent == tmp_path
        assert a.suffix == ".nc" and a.name.startswith(".")
        a.write_text("finished last")
        b.write_text("finished first")
    assert target.read_text() == "finished last"  # the last one renamed wins, whole
    with pytest.raises(RuntimeError), rundir.atomic_path(target) as c:
        c.write_text("half")
        raise RuntimeError
    assert target.read_text() == "finished last"
    assert [p.name for p in tmp_path.iterdir()] == ["posterior.nc"]


# ---------------------------------------------------------------------------- locking


def test_a_folder_being_written_is_refused_until_it_is_let_go(tmp_path, capsys):
    out = tmp_path / "cmp"
    with rundir.claim(out, "compare", note="bayesmin compare normal_normal --out cmp"):
        assert (out / rundir.LOCK).exists()
        code, _, err = run(["compare", "normal_normal", *CHEAP_GRID, "--out", out], capsys)
        assert code == 2
        line = one_line(err)
        assert f"is being written by process {os.getpid()} (bayesmin compare normal_normal" in line
        assert "wait for it to finish, or choose another --out" in line
        assert not (out / "grid.json").exists()
        with pytest.raises(rundir.Busy), rundir.claim(out, "compare"):
            pytest.fail("a second claim took a folder another holder has locked")
    assert not out.exists()  # made by the claim, left empty: removed
    code, _, err = run(["compare", "normal_normal", *CHEAP_GRID, "--out", out], capsys)
    assert code == 0, err
    assert not (out / rundir.LOCK).exists()


def test_a_lock_file_left_by_a_dead_process_blocks_nobody(tmp_path, capsys):
    out = tmp_path / "X"
    out.mkdir()
    stale = {"pid": 2**22 + 17, "command": "bayesmin fit normal_normal", "started": 0}
    (out / rundir.LOCK).write_text(json.dumps(stale))  # as `kill -9` leaves it
    code, _, err = run(["fit", "normal_normal", "--out", out], capsys)
    assert code == 0, err
    assert (out / "fit.json").exists() and not (out / rundir.LOCK).exists()


# ------------------------------------------------------------------------------ modes


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_get_the_umasks_permissions(tmp_path, capsys, umask_022):
    out = tmp_path / "fit"
    argv = ["fit", "normal_normal", "--method", "metropolis:pymc", "--chains", 1]
    code, _, err = run([*argv, "--draws", 100, "--tune", 100, "--out", out], capsys)
    assert code == 0, err
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".csv", ".json", ".html", ".nc", ".png"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o644 for p in files}
    assert _mode(out) == _mode(out / "figures") == 0o755

    os.umask(0o027)
    assert _mode(rundir.write_atomic(tmp_path / "t.csv", "a\n1\n")) == 0o640
    with rundir.atomic_path(tmp_path / "t.nc") as tmp:
        assert _mode(tmp) == 0o640


def test_a_claim_removes_temporaries_a_killed_writer_left(tmp_path):
    out = tmp_path / "cmp"
    (out / "runs").mkdir(parents=True)
    (out / "grid.json").write_text("{}")
    kept = out / "runs" / "mh__seed0.nc"
    kept.write_bytes(b"finished")
    # What kill -9 leaves between atomic_path's create and rename: a temporary name.
    orphan = out / "runs" / ".mh__seed2.tmp-0123abcd.nc"
    orphan.write_bytes(b"half written")
    with rundir.claim(out, "compare"):
        assert not orphan.exists()
        assert kept.read_bytes() == b"finished"
