"""Property-based tests of the command line against bad input.

Random mixes of out-of-range numbers, missing files and corrupt files given to ``train``,
``embed``, ``evaluate-embedding``, ``evaluate``, ``predict`` and ``compare`` must end either in
success (exit 0, with a usable result) or in one ``error: ...`` line and exit status 2 (or
click's usage error for an option of the wrong type), never in a traceback; and a command that
fails leaves its sandbox as it found it: no new run or output folder, file or parent folder,
and every file that was there before keeps its size and mtime.

Each example draws cheap valid options and then breaks at most two of them (a set of option
names, so that a failure shrinks to the fewest broken options). Examples run in-process with
:class:`typer.testing.CliRunner`, in the working directory of a fresh temporary sandbox.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import tempfile
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.embeddings.store import LabelEmbedding

pytestmark = pytest.mark.slow  # about a minute

runner = CliRunner()

# every run here is tiny and on the CPU, whatever the machine has
CHEAP = ["--accelerator", "cpu", "--workers", "0"]
LIMITS = ["--train-limit", "64", "--test-limit", "40", "--batch-size", "16", "--epochs", "1"]
EMBEDDING_FILE = "embedding.safetensors"
CHECKPOINT = "checkpoints/last.ckpt"


def examples(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
        print_blob=False,
    )


# --------------------------------------------------------------------------- the contract
Snapshot = tuple[frozenset[str], dict[str, tuple[int, int]]]


def snapshot(root: Path) -> Snapshot:
    """Every folder under ``root``, and every file with its size and mtime."""
    dirs: set[str] = set()
    files: dict[str, tuple[int, int]] = {}
    for folder, subdirs, names in os.walk(root):
        base = Path(folder)
        dirs.update(str((base / d).relative_to(root)) for d in subdirs)
        for name in names:
            path = base / name
            stat = path.lstat()
            files[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return frozenset(dirs), files


def describe_change(before: Snapshot, after: Snapshot) -> str:
    (dirs0, files0), (dirs1, files1) = before, after
    lines = [f"new folder {d}" for d in sorted(dirs1 - dirs0)]
    lines += [f"folder removed {d}" for d in sorted(dirs0 - dirs1)]
    lines += [f"new file {f}" for f in sorted(files1.keys() - files0.keys())]
    lines += [f"file removed {f}" for f in sorted(files0.keys() - files1.keys())]
    lines += [
        f"file changed {f}: {files0[f]} -> {files1[f]}"
        for f in sorted(files0.keys() & files1.keys())
        if files0[f] != files1[f]
    ]
    return "\n".join(lines)


@dataclass
class Outcome:
    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def tail(text: str, n: int = 12) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def invoke(sandbox: Path, args: list[str]) -> Outcome:
    """Run ``labelspace ARGS`` in ``sandbox`` and check what every command must do.

    Success or exit status 2 with one ``error:`` line (or click's usage error); no traceback;
    on failure, nothing in the sandbox created, removed or touched.
    """
    command = "labelspace " + shlex.join(args)
    note(command)
    before = snapshot(sandbox)
    with contextlib.chdir(sandbox):
        result = runner.invoke(app, args)
    out = Outcome(command, result.exit_code, result.stdout, result.stderr)
    shown = f"{command}\n-> exit {result.exit_code}\n{tail(result.output)}"
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        trace = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
        left = describe_change(before, snapshot(sandbox)) or "nothing"
        raise AssertionError(
            f"uncaught {type(exc).__name__}: {exc}\n{shown}\n{tail(trace, 8)}\nchanged: {left}"
        )
    assert "Traceback" not in result.output, f"a traceback in the output\n{shown}"
    if out.ok:
        return out
    changes = describe_change(before, snapshot(sandbox))
    assert not changes, f"the failed command changed its sandbox:\n{changes}\n{shown}"
    assert result.exit_code == 2, f"exit status {result.exit_code}, not 2\n{shown}"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    usage = "Usage:" in result.stderr
    assert len(errors) == 1 or usage, f"no single 'error:' line on stderr\n{shown}"
    return out


@contextlib.contextmanager
def sandbox_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="labelspace-prop-") as name:
        yield Path(name)


def assert_usable_model(run: Path, command: str) -> None:
    """The run's model loads, its parameters are finite and no buffer holds NaN (a buffer may
    hold -inf on purpose: a log-space mask)."""
    from labelspace.training.load import load_run

    module = load_run(run).module
    params = dict(module.named_parameters())
    assert_finite(params, "the trained model's parameters", command)
    nan = [k for k, b in module.named_buffers() if b.is_floating_point() and b.isnan().any()]
    assert not nan, f"the trained model's buffers {nan[:5]} hold NaN after exit 0\n{command}"


def assert_finite(tensors: Mapping[str, torch.Tensor], what: str, command: str) -> None:
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not t.isfinite().all()]
    assert not bad, f"{what} holds NaN or inf in {bad[:5]} after exit 0\n{command}"


# --------------------------------------------------------------------------- drawing options
@st.composite
def options(draw: st.DrawFn, table: Mapping[str, tuple[list, list]], max_broken: int = 2) -> dict:
    """One value per option: a cheap valid one, except at most ``max_broken`` options that get
    an odd or invalid one. ``None``: the option is not given."""
    chosen = {name: draw(st.sampled_from(valid)) for name, (valid, _) in table.items()}
    broken = draw(st.sets(st.sampled_from(sorted(table)), max_size=max_broken))
    for name in sorted(broken):
        chosen[name] = draw(st.sampled_from(table[name][1]))
    return chosen


def flags(chosen: Mapping[str, str | None], skip: tuple[str, ...] = ()) -> list[str]:
    """``{"batch_size": "16"}`` -> ``["--batch-size", "16"]``; None and ``skip`` left out."""
    args: list[str] = []
    for name, value in chosen.items():
        if value is not None and name not in skip:
            args += ["--" + name.replace("_", "-"), value]
    return args


NUMBER_JUNK = ["abc", "nan", "inf"]

# --------------------------------------------------------------------------- input files
FILE_KINDS = ("missing", "zero-byte", "garbage", "nan", "inf", "wrong-labels", "valid")


def make_embedding_file(kind: str, path: Path, valid: Path) -> Path:
    """An embedding file argument: ``valid`` copied, broken, or none at all."""
    if kind == "missing":
        return path
    if kind == "zero-byte":
        path.touch()
    elif kind == "garbage":
        path.write_text("this is not a safetensors file\n" * 20)
    elif kind == "valid":
        shutil.copyfile(valid, path)
    elif kind == "wrong-labels":
        LabelEmbedding(
            ["cat", "dog", "truck"], 0.1 * torch.randn(3, 4), "poincare", "poincare", curvature=1.0
        ).save(path)
    else:  # the right labels, but vectors full of NaN or inf
        emb = LabelEmbedding.load(valid)
        value = float(kind)
        emb.vectors = torch.full_like(emb.vectors, value)
        emb.save(path)
    return path


def break_run(kind: str, run: Path) -> None:
    """Damage a copy of a finished run in one way."""
    ckpt, config, emb = run / CHECKPOINT, run / "config.yaml", run / EMBEDDING_FILE
    if kind == "valid":
        return
    if kind == "empty-dir":
        shutil.rmtree(run)
        run.mkdir()
    elif kind == "missing":
        shutil.rmtree(run)
    elif kind == "no-checkpoint":
        shutil.rmtree(run / "checkpoints")
    elif kind == "zero-byte-checkpoint":
        ckpt.write_bytes(b"")
    elif kind == "garbage-checkpoint":
        ckpt.write_bytes(b"\x80\x02not a checkpoint" * 50)
    elif kind == "nan-checkpoint":
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        for value in state["state_dict"].values():
            if value.is_floating_point():
                value.fill_(float("nan"))
        torch.save(state, ckpt)
    elif kind == "no-config":
        config.unlink()
    elif kind == "zero-byte-config":
        config.write_text("")
    elif kind == "garbage-config":
        config.write_text("train: [unclosed\n  : : {\n")
    elif kind == "list-config":
        config.write_text("- just\n- a list\n")
    elif kind == "unknown-key-config":
        config.write_text(config.read_text() + "bogus_key: 1\n")
    elif kind == "bad-data-config":
        config.write_text(config.read_text().replace("data: fashion-mnist", "data: /nowhere"))
    elif kind == "no-embedding":
        emb.unlink(missing_ok=True)
    elif kind == "garbage-embedding":
        emb.write_text("garbage")
    elif kind == "nan-embedding":
        if emb.is_file():
            make_embedding_file("nan", emb.with_suffix(".tmp"), emb).replace(emb)
    else:
        raise ValueError(kind)


RUN_KINDS = (
    "valid",
    "missing",
    "empty-dir",
    "no-checkpoint",
    "zero-byte-checkpoint",
    "garbage-checkpoint",
    "nan-checkpoint",
    "no-config",
    "zero-byte-config",
    "garbage-config",
    "list-config",
    "unknown-key-config",
    "bad-data-config",
    "no-embedding",
    "garbage-embedding",
    "nan-embedding",
)

IMAGE_KINDS = ("gray.png", "rgb.jpg", "corrupt.png", "empty.png", "text.txt", "missing.png", "dir")


def make_image(kind: str, folder: Path) -> Path:
    path = folder / kind
    rng = np.random.default_rng(len(kind))
    if kind == "gray.png":
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(path)
    elif kind == "rgb.jpg":
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    elif kind == "corrupt.png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, 200, dtype=np.uint8)))
    elif kind == "empty.png":
        path.touch()
    elif kind == "text.txt":
        path.write_text("not an image\n")
    elif kind == "dir":
        path.mkdir()
    return path


# --------------------------------------------------------------------------- trained runs
@dataclass
class Trained:
    runs: dict[str, Path]  # method -> finished run
    comparison: Path  # a finished `compare --no-analyze` folder

    @property
    def embedding(self) -> Path:
        """A valid Fashion-MNIST Poincaré embedding file (the poincare run's)."""
        return self.runs["poincare"] / EMBEDDING_FILE

    def copy_run(self, method: str, to: Path) -> Path:
        shutil.copytree(self.runs[method], to)
        return to


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One small softmax run, one Poincaré run and one comparison, made once for the module."""
    root = tmp_path_factory.mktemp("trained")
    runs = {}
    for method in ("softmax", "poincare"):
        runs[method] = root / method
        args = ["train", str(runs[method]), "--method", method, "--dim", "5", *LIMITS, *CHEAP]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    comparison = root / "comparison"
    args = ["compare", str(comparison), "--methods", "softmax", "--no-analyze", *LIMITS, *CHEAP]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return Trained(runs, comparison)


def target(kind: str, sandbox: Path, trained: Trained, name: str) -> Path:
    """An output folder argument: absent, nested, existing and empty, or a finished run."""
    if kind == "nested":
        return sandbox / "a" / "b" / name
    path = sandbox / name
    if kind == "empty-dir":
        path.mkdir()
    elif kind == "file":
        path.write_text("a file where a folder should go\n")
    elif kind.startswith("existing-run"):
        trained.copy_run("softmax", path)
    elif kind == "existing-comparison":
        shutil.copytree(trained.comparison, path)
    return path


# --------------------------------------------------------------------------- train
TRAIN_OPTIONS: dict[str, tuple[list, list]] = {
    "method": (["softmax", "poincare"], ["devise", "hxe", "bogus", ""]),
    "epochs": (["1"], ["0", "-1", "abc", "2"]),
    "batch_size": (["16", "32"], ["2", "1", "0", "-4", "abc", "100000"]),
    "lr": ([None, "0.002"], ["1e12", "0", "-0.1", *NUMBER_JUNK]),
    "train_limit": (["64", "40"], ["0", "-5", "1", "2", "3", "abc"]),
    "test_limit": (["40", "20"], ["0", "-1", "1", "abc"]),
    "val_fraction": ([None], ["0", "1", "0.99", "-0.2", "1.5", *NUMBER_JUNK]),
    "dim": (["5"], ["0", "-3", "1", "abc"]),
    "temperature": ([None], ["0", "-1", "1e-30", "1e30", *NUMBER_JUNK]),
    "label_radius": ([None], ["0", "-1", "1e6", *NUMBER_JUNK]),
    "clip_r": ([None], ["0", "-1", "nan"]),
    "weight_decay": ([None], ["-1", "1e12", "nan"]),
    "seed": ([None], ["-1", "abc", "99999999999999999999"]),
    "unseen": ([None], ["Sandal", "unicorn", "Sandal,Sandal", "Sandal,Trouser,Bag"]),
    "optimizer": ([None], ["sgd", "bogus"]),
    "augment": ([None], ["crop-flip", "bogus"]),
    "image_size": ([None, "28"], ["0", "-3", "abc", "32"]),
    # not options: where the run goes, and what --embedding is
    "target": (
        ["absent"],
        ["nested", "empty-dir", "file", "existing-run", "existing-run-overwrite"],
    ),
    "embedding": ([None], ["poincare", "text", "bogus", *(f"file:{k}" for k in FILE_KINDS)]),
}


@examples(40)
@given(chosen=options(TRAIN_OPTIONS))
def test_train_fails_cleanly_or_saves_a_finite_model(trained: Trained, chosen) -> None:
    with sandbox_dir() as sandbox:
        run = target(chosen["target"], sandbox, trained, "run")
        args = ["train", str(run), "--data", "fashion-mnist", *CHEAP]
        args += flags(chosen, skip=("target", "embedding"))
        if chosen["target"] == "existing-run-overwrite":
            args.append("--overwrite")
        if (embedding := chosen["embedding"]) is not None:
            if embedding.startswith("file:"):
                file = sandbox / "labels.safetensors"
                embedding = str(make_embedding_file(embedding[5:], file, trained.embedding))
            args += ["--embedding", embedding]
        outcome = invoke(sandbox, args)
        if outcome.ok:
            for name in ("config.yaml", "metrics.json", CHECKPOINT, "predictions.safetensors"):
                assert (run / name).is_file(), f"no {name} after exit 0\n{outcome.command}"
            assert_usable_model(run, outcome.command)
            scores = load_file(str(run / "predictions.safetensors"))
            assert_finite(scores, "predictions.safetensors", outcome.command)
            if (run / EMBEDDING_FILE).is_file():
                vectors = {"vectors": LabelEmbedding.load(run / EMBEDDING_FILE).vectors}
                assert_finite(vectors, "the run's label embedding", outcome.command)


# --------------------------------------------------------------------------- embed
EMBED_OPTIONS: dict[str, tuple[list, list]] = {
    "source": (
        ["fashion-mnist", "cat,dog,truck"],
        [
            "file:missing.tsv",
            "file:empty.tsv",
            "file:garbage.tsv",
            "file:garbage.json",
            "file:folder",
            "qwzxv,dog",
            "dog",
            "",
            ",",
        ],
    ),
    "kind": (["poincare", "euclidean"], ["sphere", "random", "onehot", "bogus", ""]),
    "dim": (["2", "5"], ["0", "-1", "1", "abc"]),
    "epochs": (["3", "10"], ["0", "-2", "abc"]),
    "batch_size": ([None, "16"], ["0", "-1", "1", "abc"]),
    "lr": ([None], ["0", "-1", "1e12", *NUMBER_JUNK]),
    "negatives": ([None], ["0", "-1", "100000"]),
    "sample_nodes": ([None, "5"], ["0", "-5", "1", "100000", "abc"]),
    "holdout": ([None, "0.2"], ["1", "0.99", "-0.1", "1.5", *NUMBER_JUNK]),
    "init": ([None], ["hierarchy", "zeros"]),
    "burnin": ([None], ["-1", "1000000000"]),
    "direction_lr": ([None], ["-1", "nan", "1e12"]),
    "seed": ([None], ["-1", "abc"]),
    # not options: where --out and --plot go
    "out": (
        ["absent"],
        ["nested", "existing", "existing-overwrite", "under-a-file", "a-folder", "no-suffix"],
    ),
    "plot": ([None], ["absent", "existing", "nested"]),
}


def embed_source(value: str, sandbox: Path) -> str:
    if not value.startswith("file:"):
        return value
    path = sandbox / value[5:]
    if value.endswith("garbage.tsv"):
        path.write_text("a\tb\tc\td\n\x00\x01\x02 garbage\n")
    elif value.endswith("garbage.json"):
        path.write_text("{not json")
    elif value.endswith("empty.tsv"):
        path.touch()
    elif value.endswith("folder"):
        path.mkdir()
    return str(path)


def embed_out(kind: str, sandbox: Path) -> Path:
    if kind == "nested":
        return sandbox / "x" / "y" / "e.safetensors"
    if kind == "under-a-file":
        (sandbox / "plain").write_text("a file\n")
        return sandbox / "plain" / "e.safetensors"
    if kind == "a-folder":
        (sandbox / "e.safetensors").mkdir()
    elif kind == "no-suffix":
        return sandbox / "embedding"
    elif kind.startswith("existing"):
        LabelEmbedding(["a", "b"], torch.zeros(2, 2), "euclidean", "euclidean").save(
            sandbox / "e.safetensors"
        )
    return sandbox / "e.safetensors"


@examples(60)
@given(chosen=options(EMBED_OPTIONS))
def test_embed_fails_cleanly_or_saves_a_finite_embedding(chosen) -> None:
    with sandbox_dir() as sandbox:
        out = embed_out(chosen["out"], sandbox)
        args = ["embed", embed_source(chosen["source"], sandbox), "--out", str(out)]
        args += flags(chosen, skip=("source", "out", "plot"))
        if chosen["out"] == "existing-overwrite":
            args.append("--overwrite")
        plot = None
        if chosen["plot"] is not None:
            plot = sandbox / ("p/q/disk.png" if chosen["plot"] == "nested" else "disk.png")
            if chosen["plot"] == "existing":
                plot.write_bytes(b"an old picture")
            args += ["--plot", str(plot)]
        outcome = invoke(sandbox, args)
        if outcome.ok:
            emb = LabelEmbedding.load(out)
            assert_finite({"vectors": emb.vectors}, str(out.name), outcome.command)
            assert plot is None or plot.stat().st_size > 1000, outcome.command


# --------------------------------------------------------------------------- evaluate-embedding
EVALUATE_EMBEDDING_OPTIONS: dict[str, tuple[list, list]] = {
    "file": (["valid"], [k for k in FILE_KINDS if k != "valid"]),
    "source": (["fashion-mnist"], ["cifar10", "cat,dog,truck", "qwzxv", "", "file:missing.tsv"]),
    "sample_nodes": ([None, "5"], ["0", "-5", "1", "100000", "abc"]),
}


@examples(30)
@given(chosen=options(EVALUATE_EMBEDDING_OPTIONS))
def test_evaluate_embedding_fails_cleanly(trained: Trained, chosen) -> None:
    with sandbox_dir() as sandbox:
        path = make_embedding_file(chosen["file"], sandbox / "e.safetensors", trained.embedding)
        args = ["evaluate-embedding", str(path), embed_source(chosen["source"], sandbox)]
        invoke(sandbox, args + flags(chosen, skip=("file", "source")))


# --------------------------------------------------------------------------- evaluate
@examples(32)
@given(method=st.sampled_from(["softmax", "poincare"]), damage=st.sampled_from(RUN_KINDS))
def test_evaluate_fails_cleanly_on_damaged_runs(trained: Trained, method, damage) -> None:
    with sandbox_dir() as sandbox:
        run = trained.copy_run(method, sandbox / "run")
        break_run(damage, run)
        outcome = invoke(sandbox, ["evaluate", str(run)])
        if outcome.ok:
            assert (run / "metrics.json").is_file(), outcome.command


# --------------------------------------------------------------------------- predict
ROW = re.compile(r"^│\s*\d+\s*│", re.MULTILINE)


PREDICT_OPTIONS: dict[str, tuple[list, list]] = {
    "run": (["valid"], [k for k in RUN_KINDS if k != "valid"]),
    "images": (
        [("gray.png",), ("gray.png", "rgb.jpg")],
        [(), *((k,) for k in IMAGE_KINDS[2:]), ("gray.png", "corrupt.png")],
    ),
    "top": ([None, "1", "3"], ["10", "25", "0", "-1", "abc", "2.5"]),
    "backoff": ([None, "0.5"], ["0", "1", "-0.1", "1.5", *NUMBER_JUNK]),
}


@examples(60)
@given(method=st.sampled_from(["softmax", "poincare"]), chosen=options(PREDICT_OPTIONS))
def test_predict_fails_cleanly_or_shows_k_labels(trained: Trained, method, chosen) -> None:
    with sandbox_dir() as sandbox:
        run = trained.copy_run(method, sandbox / "run")
        break_run(chosen["run"], run)
        folder = sandbox / "images"
        folder.mkdir()
        paths = [make_image(kind, folder) for kind in chosen["images"]]
        args = ["predict", str(run), *map(str, paths)]
        args += flags(chosen, skip=("run", "images", "top"))
        if chosen["top"] is not None:
            args += ["-k", chosen["top"]]
        outcome = invoke(sandbox, args)
        if outcome.ok:
            k = min(int(chosen["top"] or 5), 10)  # Fashion-MNIST has 10 classes
            rows = len(ROW.findall(outcome.stdout))
            assert k >= 1 and rows == k * len(paths), (
                f"{rows} rows for {len(paths)} images at k={k}\n{outcome.command}\n"
                f"{tail(outcome.stdout)}"
            )
            assert outcome.stdout.count("backed off") == len(paths), outcome.command


# --------------------------------------------------------------------------- compare
COMPARE_OPTIONS: dict[str, tuple[list, list]] = {
    "methods": (
        ["softmax", "softmax,poincare"],
        ["bogus", "", ",", "softmax,softmax", "poincare>softmax", "softmax>"],
    ),
    "epochs": (["1"], ["0", "-1", "abc"]),
    "finetune_epochs": ([None], ["0", "-1"]),
    "train_limit": (["64", "40"], ["0", "-1", "1", "abc"]),
    "test_limit": (["40", "20"], ["0", "-3"]),
    "batch_size": (["16", "32"], ["1", "0", "abc"]),
    "lr": ([None], ["1e12", "0", "-1", *NUMBER_JUNK]),
    "seeds": ([None], ["0", "-1", "2"]),
    "unseen": ([None], ["Sandal", "unicorn", "Sandal,Sandal", ",".join(["Bag"] * 3)]),
    "temperature": ([None], ["0", "nan"]),
    "label_radius": ([None], ["-1", "nan"]),
    "dim": (["5"], ["0", "-1"]),
    "target": (["absent"], ["nested", "empty-dir", "file", "existing-comparison"]),
}


@examples(15)
@given(chosen=options(COMPARE_OPTIONS))
def test_compare_fails_cleanly_or_writes_a_report(trained: Trained, chosen) -> None:
    with sandbox_dir() as sandbox:
        out = target(chosen["target"], sandbox, trained, "cmp")
        args = ["compare", str(out), "--data", "fashion-mnist", "--no-analyze", *CHEAP]
        args += flags(chosen, skip=("target",))
        outcome = invoke(sandbox, args)
        if outcome.ok:
            assert (out / "report.md").is_file(), outcome.command
