"""The ``skae`` command line, run in-process through ``main`` (one subprocess for ``--help``)."""

import io
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

import skae
from skae import AutoencoderAnomalyDetector, AutoencoderTransformer
from skae.anomaly import SCALERS
from skae.cli import build_parser, main
from skae.losses import BinaryCrossEntropy, Lp

# Tiny networks and few epochs: these tests check the plumbing, not the models.
FAST = ["--hidden-layer-sizes", "8", "--epochs", "3", "--device", "cpu"]


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.RandomState(0)
    data = pd.DataFrame(rng.normal(size=(40, 4)), columns=["a", "b", "c", "d"])
    data.insert(0, "id", [f"row{i}" for i in range(40)])
    # One row far off in column "c": the anomaly the detector should name.
    data.loc[7, "c"] = 25.0
    path = tmp_path / "data.csv"
    data.to_csv(path, index=False)
    return path


def run_cli(args, capsys):
    status = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_reduce_writes_codes_to_stdout(csv_file, capsys):
    status, out, err = run_cli(["reduce", csv_file, "--index-col", "id", "-n", "2", *FAST], capsys)
    assert status == 0, err
    codes = pd.read_csv(io.StringIO(out), index_col=0)
    assert codes.shape == (40, 2)
    assert codes.index[0] == "row0"
    assert np.isfinite(codes.to_numpy()).all()
    assert "Fitting AutoencoderTransformer" in err


def test_detect_flags_the_planted_anomaly_and_names_its_feature(csv_file, tmp_path, capsys):
    out_path = tmp_path / "scores.csv"
    args = ["detect", csv_file, "--index-col", "id", "--contamination", "0.05", "-o", out_path, *FAST]
    status, out, err = run_cli([*args, "--epochs", "30"], capsys)
    assert status == 0, err
    assert out == ""
    scores = pd.read_csv(out_path, index_col="id")
    assert list(scores.columns) == ["anomaly_score", "is_anomaly", "top_features"]
    assert scores["anomaly_score"].idxmax() == "row7"
    assert scores.loc["row7", "is_anomaly"] == 1
    assert scores.loc["row7", "top_features"].startswith("c (")
    # contamination=0.05 of 40 rows: the two highest scores are flagged.
    assert scores["is_anomaly"].sum() == 2
    assert scores["top_features"].isna().sum() == 38
    assert "Flagged 2 of 40 rows" in err


def test_detect_without_model_options_uses_the_detectors_default(csv_file, tmp_path, capsys):
    model_path = tmp_path / "detector.skae"
    args = ["detect", csv_file, "--index-col", "id", "--save", model_path, "--top-features", "0", "-q"]
    status, out, err = run_cli(args, capsys)
    assert status == 0, err
    detector = skae.load(model_path)[-1]
    assert isinstance(detector, AutoencoderAnomalyDetector)
    assert detector.estimator is None and detector.contamination == 0.1
    assert list(pd.read_csv(io.StringIO(out)).columns) == ["id", "anomaly_score", "is_anomaly"]

    status, loaded_out, err = run_cli(
        ["detect", csv_file, "--index-col", "id", "--load", model_path, "-q", "--top-features", "0"], capsys
    )
    assert status == 0, err
    assert loaded_out == out
    status, _, err = run_cli(["reduce", csv_file, "--index-col", "id", "--load", model_path], capsys)
    assert status == 1 and "does not hold an autoencoder" in err


def test_detect_with_a_variant_and_a_loss(csv_file, tmp_path, capsys):
    model_path = tmp_path / "detector.skae"
    args = ["detect", csv_file, "--index-col", "id", "--model", "denoising", "--loss", "huber:0.5", "-n", "2"]
    status, _, err = run_cli([*args, "--save", model_path, *FAST], capsys)
    assert status == 0, err
    detector = skae.load(model_path)[-1]
    member = detector.estimators_[0]
    assert type(member).__name__ == "DenoisingAutoencoder"
    assert member.n_components == 2 and member.loss.delta == 0.5 and member.n_iter_ == 3


def test_reduce_is_reproducible_and_follows_random_state(csv_file, tmp_path, capsys):
    outputs = []
    for seed in ["1", "1", "2"]:
        out_path = tmp_path / f"codes{len(outputs)}.csv"
        args = ["reduce", csv_file, "--index-col", "id", "-q", "-o", out_path, "--random-state", seed, *FAST]
        status, out, err = run_cli(args, capsys)
        assert status == 0 and out == "" and err == ""
        outputs.append(out_path.read_text())
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_options_reach_the_model_and_save_load_roundtrip(csv_file, tmp_path, capsys):
    model_path = tmp_path / "model.skae"
    args = ["reduce", csv_file, "--index-col", "id", "-n", "3", "--loss", "lp:0.5", "--scale", "minmax"]
    args += ["--param", "alpha=0.01", "--save", model_path, "-o", tmp_path / "fit.csv", *FAST]
    status, _, err = run_cli(args, capsys)
    assert status == 0, err

    pipeline = skae.load(model_path)
    model = pipeline[-1]
    assert isinstance(model, AutoencoderTransformer)
    assert (model.n_components, model.hidden_layer_sizes, model.max_iter, model.alpha) == (3, (8,), 3, 0.01)
    assert isinstance(model.loss, Lp) and model.loss.p == 0.5
    assert model.n_iter_ == 3
    # The detector's min-max scaler, not one of the command line's own.
    assert pipeline[0].get_params() == SCALERS["minmax"]().get_params()

    status, out, err = run_cli(["reduce", csv_file, "--index-col", "id", "--load", model_path, "--epochs", "9"], capsys)
    assert status == 0, err
    assert "Ignoring --epochs" in err
    loaded_codes = pd.read_csv(io.StringIO(out), index_col=0)
    fitted_codes = pd.read_csv(tmp_path / "fit.csv", index_col=0)
    np.testing.assert_allclose(loaded_codes.to_numpy(), fitted_codes.to_numpy(), rtol=1e-6)


def test_without_a_file_it_uses_a_shipped_dataset_and_says_so(capsys):
    status, out, err = run_cli(["reduce", "-n", "2", *FAST], capsys)
    assert status == 0, err
    assert "wine" in err
    assert len(pd.read_csv(io.StringIO(out))) == 178


@pytest.mark.parametrize(
    "content, expected",
    [
        ("a,b\n1,2\n3,inf\n", "1 infinite value(s), in column(s) 'b' (1)"),
        ("", "it is empty"),
        ("a,b\n", "0 data rows"),
    ],
    ids=["infinite", "empty", "header-only"],
)
def test_bad_data_gets_one_clear_line(tmp_path, capsys, content, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    status, out, err = run_cli(["reduce", path, *FAST], capsys)
    assert status == 1
    assert out == ""
    assert err.startswith("skae: error:") and expected in err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.fixture
def mixed_csv_file(tmp_path):
    rng = np.random.RandomState(0)
    size = rng.uniform(0, 10, size=60)
    data = pd.DataFrame(
        {"size": size, "price": 3 * size + rng.normal(size=60), "kind": np.where(size > 5, "big", "small")}
    )
    path = tmp_path / "mixed.csv"
    data.to_csv(path, index=False)
    return path


def test_detect_and_reduce_read_text_columns_as_categories(mixed_csv_file, tmp_path, capsys):
    status, out, err = run_cli(["detect", mixed_csv_file, *FAST], capsys)
    assert status == 0, err
    scores = pd.read_csv(io.StringIO(out))
    assert len(scores) == 60
    # One error per table column: explanations name "kind", never a one-hot level.
    explained = scores["top_features"].dropna()  # only the flagged rows are explained
    assert len(explained) > 0
    named = {part.split(" (")[0].strip() for cell in explained for part in cell.split(";")}
    assert named <= {"size", "price", "kind"} and "kind" in named
    status, out, err = run_cli(["reduce", mixed_csv_file, "-n", "2", *FAST], capsys)
    assert status == 0, err
    assert pd.read_csv(io.StringIO(out), index_col=0).shape == (60, 2)


def test_impute_refuses_text_columns(mixed_csv_file, capsys):
    status, out, err = run_cli(["impute", mixed_csv_file, *FAST], capsys)
    assert status == 1
    assert "non-numeric column(s) 'kind'" in err and "impute fills numbers only" in err


def test_unreadable_files_get_one_clear_line(tmp_path, capsys):
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x81" * 50)
    for path, expected in [
        (tmp_path / "missing.csv", "no such file"),
        (tmp_path, "is a directory"),
        (tmp_path / "binary.csv", "cannot read"),
    ]:
        status, _, err = run_cli(["reduce", path], capsys)
        assert status == 1 and expected in err and "Traceback" not in err


def test_unknown_index_column_is_named(csv_file, capsys):
    status, _, err = run_cli(["reduce", csv_file, "--index-col", "ID"], capsys)
    assert status == 1 and "no column 'ID' for --index-col" in err and "'id'" in err


def test_load_of_a_non_model_file_fails_clearly(csv_file, capsys):
    status, _, err = run_cli(["reduce", csv_file, "--index-col", "id", "--load", csv_file], capsys)
    assert status == 1
    assert "as a model saved by 'skae --save'" in err and "is not a skae model file" in err
    assert "Traceback" not in err and err.count("\n") == 1


class _SideEffect:
    """A pickle payload: unpickling it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (Path(self.marker),)


@pytest.mark.parametrize("write", [joblib.dump, lambda value, path: Path(path).write_bytes(pickle.dumps(value))])
def test_a_planted_pickle_is_refused_and_never_run(write, csv_file, tmp_path, capsys):
    marker, model_path = tmp_path / "ran", tmp_path / "model.joblib"
    write(_SideEffect(marker), model_path)
    status, out, err = run_cli(["detect", csv_file, "--index-col", "id", "--load", model_path], capsys)
    assert status == 1 and out == ""
    assert "is a pickle (joblib) file" in err and "safe format" in err and "skae.save(joblib.load(" in err
    assert not marker.exists()
    # The payload is live: unpickling the same file does run it.
    joblib.load(model_path)
    assert marker.exists()


def test_saved_model_loads_in_a_fresh_process_and_predicts_identically(csv_file, tmp_path, capsys):
    model_path, scores_path = tmp_path / "detector.skae", tmp_path / "scores.csv"
    args = ["detect", csv_file, "--index-col", "id", "-n", "2", "--save", model_path, "-o", scores_path, *FAST]
    status, _, err = run_cli(args, capsys)
    assert status == 0, err
    assert f"reuse it with --load {model_path}" in err
    command = [sys.executable, "-m", "skae", "detect", str(csv_file), "--index-col", "id", "--load", str(model_path)]
    loaded = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded AutoencoderAnomalyDetector" in loaded.stderr and "Fitting" not in loaded.stderr
    assert loaded.stdout == scores_path.read_text()


def test_bad_parameter_values_fail_clearly(csv_file, capsys):
    status, _, err = run_cli(["reduce", csv_file, "--index-col", "id", "-n", "9", *FAST], capsys)
    assert status == 1 and "n_components=9" in err
    status, _, err = run_cli(["reduce", csv_file, "--index-col", "id", "--param", "nonsense=1", *FAST], capsys)
    assert status == 1 and "nonsense" in err
    status, _, err = run_cli(["reduce", csv_file, "--loss", "cubic"], capsys)
    assert status == 2 and "unknown loss 'cubic'" in err


def test_verbose_prints_epochs_to_stderr_only(csv_file, capsys):
    status, out, err = run_cli(["reduce", csv_file, "--index-col", "id", "-v", *FAST], capsys)
    assert status == 0
    assert err.count("Epoch ") == 3
    assert "Epoch" not in out


class FakeProgressBar:
    """Stands in for ``sklearn.callback.ProgressBar`` (which needs rich): records each task that ends."""

    created = []

    def __init__(self, max_propagation_depth=1):
        self.max_propagation_depth = max_propagation_depth
        self.ended = []
        FakeProgressBar.created.append(self)

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, **kwargs):
        pass

    def on_fit_task_end(self, estimator, context, **kwargs):
        self.ended.append((context.estimator_name, context.task_name))
        return False


@pytest.fixture
def fake_progress_bar(monkeypatch):
    sklearn_callback = pytest.importorskip("sklearn.callback", reason="scikit-learn's callback API is new in 1.9")
    monkeypatch.setattr(sklearn_callback, "ProgressBar", FakeProgressBar)
    monkeypatch.setattr(FakeProgressBar, "created", [])
    return FakeProgressBar


def test_no_progress_bar_nor_epoch_lines_when_stderr_is_not_a_terminal(csv_file, capsys, fake_progress_bar):
    assert not sys.stderr.isatty()  # captured
    status, out, err = run_cli(["reduce", csv_file, "--index-col", "id", *FAST], capsys)
    assert status == 0, err
    assert fake_progress_bar.created == []
    assert "Epoch" not in err and "Epoch" not in out


def test_a_terminal_shows_the_progress_bar_per_epoch(csv_file, tmp_path, capsys, monkeypatch, fake_progress_bar):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    model_path = tmp_path / "model.skae"
    status, _, err = run_cli(["reduce", csv_file, "--index-col", "id", "--save", model_path, *FAST], capsys)
    assert status == 0, err
    (bar,) = fake_progress_bar.created
    assert bar.ended.count(("AutoencoderTransformer", "epoch")) == 3
    assert "Epoch" not in err  # the bar instead of the epoch lines
    assert not hasattr(skae.load(model_path)[-1], "_skl_callbacks")


def test_a_terminal_shows_the_detectors_members_and_their_epochs(csv_file, capsys, monkeypatch, fake_progress_bar):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    status, _, err = run_cli(["detect", csv_file, "--index-col", "id", "--top-features", "0", *FAST], capsys)
    assert status == 0, err
    (bar,) = fake_progress_bar.created
    n_estimators = AutoencoderAnomalyDetector().n_estimators
    assert len([task for task in bar.ended if task[1] == "epoch"]) >= 3 * n_estimators


def test_a_terminal_without_the_bar_gets_the_epoch_lines(csv_file, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr("skae.cli.progress_bar", lambda args, stream: None)  # old scikit-learn, or no rich
    status, _, err = run_cli(["reduce", csv_file, "--index-col", "id", *FAST], capsys)
    assert status == 0, err
    assert err.count("Epoch ") == 3
    status, _, err = run_cli(["reduce", csv_file, "--index-col", "id", "-q", *FAST], capsys)
    assert status == 0 and err == ""


def test_scale_auto_follows_the_loss_also_when_set_by_param(csv_file, tmp_path, capsys):
    model_path = tmp_path / "model.skae"
    args = ["reduce", csv_file, "--index-col", "id", "--param", "loss='binary_crossentropy'", "-q", *FAST]
    args += ["--save", model_path]
    status, _, err = run_cli(args, capsys)
    assert status == 0, err
    pipeline = skae.load(model_path)
    assert isinstance(pipeline[0], SCALERS["minmax"])
    assert isinstance(pipeline[-1].loss_, BinaryCrossEntropy)


def test_help_shows_the_library_defaults(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    subcommands = next(action for action in build_parser()._actions if action.dest == "command")
    reduce_help = subcommands.choices["reduce"].format_help()
    defaults = AutoencoderTransformer().get_params()
    assert f"maximum training epochs (default: {defaults['max_iter']})" in reduce_help
    assert f"Adam step size (default: {defaults['learning_rate_init']})" in reduce_help
    assert f"latent code size (default: {defaults['n_components']})" in reduce_help
    assert "--scale {" + ",".join(["auto", *SCALERS, "none"]) + "}" in reduce_help
    detect_help = subcommands.choices["detect"].format_help()
    assert f"(default: {AutoencoderAnomalyDetector().contamination})" in detect_help


def test_python_m_skae_help_runs_in_a_subprocess():
    result = subprocess.run(
        [sys.executable, "-m", "skae", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0
    assert "detect" in result.stdout and "reduce" in result.stdout
