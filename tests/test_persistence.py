"""skae.save and skae.load: a model file that round-trips every estimator and runs no code."""

import copy as copy_module
import io
import json
import pickle
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler

import skae
from skae import (
    AutoencoderAnomalyDetector,
    AutoencoderTransformer,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)
from skae.losses import Huber, Loss
from skae.persistence import FORMAT_VERSION

AUTOENCODERS = [
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
    ContractiveAutoencoder,
    VariationalAutoencoder,
]


@pytest.fixture
def X():
    rng = np.random.RandomState(0)
    latent = rng.normal(size=(120, 2))
    return latent @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(120, 6))


def round_trip(estimator, tmp_path):
    path = tmp_path / "model.skae"
    skae.save(estimator, path)
    return skae.load(path)


def fitted_attribute_names(estimator):
    return sorted(name for name in vars(estimator) if name.endswith("_"))


@pytest.mark.parametrize("cls", AUTOENCODERS)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_autoencoder_round_trip_predicts_identically(cls, early_stopping, X, tmp_path):
    model = cls(n_components=2, hidden_layer_sizes=(8,), max_iter=4, early_stopping=early_stopping, random_state=0)
    model.fit(X)
    loaded = round_trip(model, tmp_path)
    assert type(loaded) is cls
    assert loaded.get_params() == model.get_params()
    assert fitted_attribute_names(loaded) == fitted_attribute_names(model)
    assert loaded.n_iter_ == model.n_iter_
    assert loaded.loss_curve_ == model.loss_curve_
    assert loaded.loss_terms_curve_ == model.loss_terms_curve_
    codes = model.transform(X)
    assert_array_equal(loaded.transform(X), codes)
    assert_array_equal(loaded.inverse_transform(codes), model.inverse_transform(codes))
    assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    if early_stopping:
        assert loaded.validation_scores_ == model.validation_scores_


def test_a_float64_model_round_trips_in_float64(X, tmp_path):
    model = AutoencoderTransformer(2, hidden_layer_sizes=(8,), max_iter=3, precision="float64", random_state=0).fit(X)
    loaded = round_trip(model, tmp_path)
    assert {p.dtype for p in loaded.engine_.module.parameters()} == {torch.float64}
    assert_array_equal(loaded.transform(X), model.transform(X))


def test_training_continues_where_it_stopped(X, tmp_path):
    # Adam's moments and the random generator are saved: one more pass gives
    # the same model as one more pass of the original.
    model = DenoisingAutoencoder(n_components=2, max_iter=3, random_state=0).fit(X)
    loaded = round_trip(model, tmp_path)
    model.partial_fit(X)
    loaded.partial_fit(X)
    assert loaded.n_iter_ == model.n_iter_ == 4
    assert_array_equal(loaded.transform(X), model.transform(X))


def test_loss_objects_and_tuples_round_trip(X, tmp_path):
    model = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(6, 4), loss=Huber(delta=0.5), max_iter=2)
    model.set_params(random_state=np.random.RandomState(1)).fit(X)
    loaded = round_trip(model, tmp_path)
    assert isinstance(loaded.loss, Huber) and loaded.loss.delta == 0.5
    assert loaded.hidden_layer_sizes == (6, 4)
    assert isinstance(loaded.random_state, np.random.RandomState)
    assert loaded.random_state.randint(10**6) == model.random_state.randint(10**6)
    assert_array_equal(loaded.score_samples(X), model.score_samples(X))


def test_unfitted_estimator_stays_unfitted(tmp_path):
    loaded = round_trip(SparseAutoencoder(n_components=3, loss="l1+0.5*l2"), tmp_path)
    assert loaded.get_params() == SparseAutoencoder(n_components=3, loss="l1+0.5*l2").get_params()
    with pytest.raises(NotFittedError):
        loaded.transform(np.zeros((1, 4)))


@pytest.mark.parametrize(
    "detector",
    [
        AutoencoderAnomalyDetector(n_estimators=2, random_state=0),
        AutoencoderAnomalyDetector(
            DenoisingAutoencoder(n_components=2, max_iter=3), scaler=RobustScaler(), distance="mean_squared"
        ),
    ],
    ids=["default", "member-and-scaler-objects"],
)
def test_detector_round_trip_with_its_scaler(detector, X, tmp_path):
    import pandas as pd

    frame = pd.DataFrame(X, columns=[f"sensor {i}" for i in range(X.shape[1])])
    detector.set_params(random_state=0).fit(frame)
    loaded = round_trip(detector, tmp_path)
    assert type(loaded.scaler_) is type(detector.scaler_)
    assert_array_equal(loaded.scaler_.transform(X), detector.scaler_.transform(X))
    assert list(loaded.feature_names_in_) == list(frame.columns)
    assert loaded.offset_ == detector.offset_
    assert_array_equal(loaded.decision_function(frame), detector.decision_function(frame))
    assert_array_equal(loaded.predict(frame), detector.predict(frame))


def test_pipeline_round_trip(X, tmp_path):
    pipeline = make_pipeline(StandardScaler(), AutoencoderTransformer(n_components=2, max_iter=3, random_state=0))
    pipeline.fit(X)
    loaded = round_trip(pipeline, tmp_path)
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipeline.steps]
    assert_array_equal(loaded.transform(X), pipeline.transform(X))


# -- the hooks the format is built on -----------------------------------------


def is_data(value):
    """Whether ``value`` is plain data (or a loss, saved as its class and parameters): no code."""
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic, torch.Tensor, Loss)):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_data(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_data(item) for key, item in value.items())
    return False


def test_fitted_state_is_data(X):
    model = SparseAutoencoder(n_components=2, hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X)
    codes = model.transform(X)
    state = model._get_fitted_state()
    assert "engine_" in state and "n_iter_" in state
    assert not set(state) & set(model.get_params())
    assert is_data(state), {name: type(value).__name__ for name, value in state.items()}
    assert set(state["engine_"]["weights"]) == set(model.module_.state_dict())
    # A new dictionary, with weights of their own.
    state.pop("n_iter_")
    for weight in state["engine_"]["weights"].values():
        weight.zero_()
    assert model.n_iter_ == 2
    assert_array_equal(model.transform(X), codes)


def test_set_fitted_state_restores_a_model_in_memory(X):
    model = VariationalAutoencoder(n_components=2, hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X)
    state = model._get_fitted_state()
    copy = VariationalAutoencoder(**model.get_params())._set_fitted_state(copy_module.deepcopy(state))
    assert copy.module_ is not model.module_
    assert_array_equal(copy.transform(X), model.transform(X))
    assert copy.engine_.n_iter == model.engine_.n_iter and copy.engine_.loss_curve == model.engine_.loss_curve
    # Training the copy leaves the original as it was.
    copy.partial_fit(X)
    assert copy.n_iter_ == 3 and model.n_iter_ == 2 and len(model.loss_curve_) == 2


def test_engine_refuses_weights_of_another_network(X):
    small = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X)
    large = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(9,), max_iter=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="The saved weights do not fit the network"):
        large.engine_.load_state_dict(small.engine_.state_dict())


def test_a_model_of_an_absent_device_loads_on_the_cpu(X, tmp_path):
    path = tmp_path / "model.skae"
    model = AutoencoderTransformer(n_components=2, max_iter=1, random_state=0).fit(X)
    skae.save(model, path)
    edit_manifest(path, lambda manifest: manifest["model"]["state"]["engine_"]["items"].update(device="cuda:99"))
    with pytest.warns(UserWarning, match="fitted on cuda:99, which is not available here"):
        loaded = skae.load(path)
    assert loaded.device_ == "cpu"
    assert_array_equal(loaded.transform(X), model.transform(X))


def test_set_output_survives(X, tmp_path):
    model = AutoencoderTransformer(n_components=2, max_iter=1, random_state=0).set_output(transform="pandas").fit(X)
    codes = round_trip(model, tmp_path).transform(X)
    assert list(codes.columns) == list(model.get_feature_names_out())


class _NoOpCallback:
    """A callback of scikit-learn's protocol that does nothing (not auto-propagated: any estimator may hold one)."""

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, **kwargs):
        pass

    def on_fit_task_end(self, estimator, context, **kwargs):
        return False


def test_callbacks_are_not_saved(X, tmp_path):
    pytest.importorskip("sklearn.callback", reason="scikit-learn's callback API is new in 1.9")
    model = AutoencoderTransformer(n_components=2, max_iter=2, random_state=0).set_callbacks(_NoOpCallback())
    detector = AutoencoderAnomalyDetector(model, n_estimators=1, random_state=0).set_callbacks(_NoOpCallback())
    pipeline = make_pipeline(StandardScaler(), detector).set_callbacks(_NoOpCallback()).fit(X)
    loaded = round_trip(pipeline, tmp_path)
    for estimator in [loaded, loaded[-1], loaded[-1].estimator, loaded[-1].estimators_[0]]:
        assert not hasattr(estimator, "_skl_callbacks"), type(estimator).__name__
    assert hasattr(pipeline, "_skl_callbacks") and hasattr(model, "_skl_callbacks")  # saving left them
    assert_array_equal(loaded.decision_function(X), pipeline.decision_function(X))


def test_imputer_round_trip(X, tmp_path):
    X = X.copy()
    X[np.random.RandomState(1).rand(*X.shape) < 0.1] = np.nan
    imputer = skae.AutoencoderImputer(random_state=0).fit(X)
    loaded = round_trip(imputer, tmp_path)
    assert_array_equal(loaded.transform(X), imputer.transform(X))


def test_loads_and_predicts_identically_in_a_fresh_process(X, tmp_path):
    detector = AutoencoderAnomalyDetector(random_state=0).fit(X)
    np.save(tmp_path / "X.npy", X)
    skae.save(detector, tmp_path / "detector.skae")
    script = (
        "import sys, numpy as np, skae\n"
        "folder = sys.argv[1]\n"
        "detector = skae.load(folder + '/detector.skae')\n"
        "np.save(folder + '/scores.npy', detector.score_samples(np.load(folder + '/X.npy')))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)
    assert_array_equal(np.load(tmp_path / "scores.npy"), detector.score_samples(X))


def test_callable_loss_is_refused(X, tmp_path):
    model = AutoencoderTransformer(n_components=2, loss=lambda output, target: (output - target) ** 2, max_iter=1)
    with pytest.raises(TypeError, match="callable"):
        skae.save(model, tmp_path / "model.skae")
    assert not (tmp_path / "model.skae").exists()


def test_foreign_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="save expects a skae estimator"):
        skae.save({"weights": 1}, tmp_path / "model.skae")
    with pytest.raises(TypeError, match="not among the classes"):
        skae.save(make_pipeline(_ForeignScaler()), tmp_path / "model.skae")


class _ForeignScaler(StandardScaler):
    pass


# -- files that are not what they claim --------------------------------------


class _SideEffect:
    """A pickle payload: unpickling it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (Path(self.marker),)


def rewrite(path, replace):
    """Rewrite the archive at ``path``, each member's bytes passed through ``replace(name, data)``."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, replace(name, data))


def edit_manifest(path, edit):
    def replace(name, data):
        if name != "skae.json":
            return data
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest)

    rewrite(path, replace)


def test_the_planted_payload_is_live(tmp_path):
    # Without this, the tests below would pass with a payload that does nothing.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_SideEffect(marker)))
    assert marker.exists()


def test_a_pickle_is_refused_and_runs_no_code(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.skae"
    path.write_bytes(pickle.dumps(_SideEffect(marker)))
    with pytest.raises(ValueError, match="not a skae model file"):
        skae.load(path)
    assert not marker.exists()


def test_a_joblib_file_is_refused(X, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(AutoencoderTransformer(n_components=2, max_iter=1).fit(X), path)
    with pytest.raises(ValueError, match="not a skae model file"):
        skae.load(path)


def test_a_planted_pickle_among_the_tensors_is_refused_unrun(X, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.skae"
    skae.save(AutoencoderTransformer(n_components=2, max_iter=1).fit(X), path)

    def plant(name, data):
        if name != "tensors.pt":
            return data
        buffer = io.BytesIO()
        torch.save({"0": _SideEffect(marker)}, buffer)
        return buffer.getvalue()

    rewrite(path, plant)
    with pytest.raises(ValueError, match="tampered"):
        skae.load(path)
    assert not marker.exists()


def test_a_class_outside_the_allow_list_is_never_built(X, tmp_path):
    path = tmp_path / "model.skae"
    skae.save(AutoencoderTransformer(n_components=2), path)

    def name_subprocess(manifest):
        manifest["model"]["class"] = "subprocess.Popen"
        manifest["model"]["params"] = {"args": ["touch", str(tmp_path / "ran")]}

    edit_manifest(path, name_subprocess)
    with pytest.raises(ValueError, match="'subprocess.Popen' is not one the format may build"):
        skae.load(path)
    assert not (tmp_path / "ran").exists()


def test_special_attribute_names_are_refused(tmp_path):
    path = tmp_path / "model.skae"
    skae.save(AutoencoderTransformer(), path)
    edit_manifest(path, lambda manifest: manifest["model"]["state"].update(__dict__={"kind": "dict", "items": {}}))
    with pytest.raises(ValueError, match="'__dict__' is not an attribute name"):
        skae.load(path)


def test_weights_that_do_not_fit_the_network_are_refused(X, tmp_path):
    path = tmp_path / "model.skae"
    skae.save(AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), max_iter=1).fit(X), path)

    def widen(manifest):
        network_params = manifest["model"]["state"]["_fitted_network_params_"]
        network_params["items"]["hidden_layer_sizes"]["items"] = [9]

    edit_manifest(path, widen)
    with pytest.raises(ValueError, match="damaged or was tampered with.*do not fit the network"):
        skae.load(path)


def test_a_zip_without_a_manifest_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, path)  # torch's own files are zip archives too
    with pytest.raises(ValueError, match="not a skae model file .*no skae.json"):
        skae.load(path)


@pytest.mark.parametrize("offset", [-1, 1], ids=["older", "newer"])
def test_an_incompatible_format_version_is_refused(offset, X, tmp_path):
    path = tmp_path / "model.skae"
    skae.save(AutoencoderTransformer(n_components=2, max_iter=1).fit(X), path)
    written = FORMAT_VERSION + offset
    edit_manifest(path, lambda manifest: manifest.update(format_version=written))
    message = f"format version {written}; this skae .* reads format version {FORMAT_VERSION} only"
    with pytest.raises(ValueError, match=message):
        skae.load(path)


def test_another_skae_release_is_refused(tmp_path):
    path = tmp_path / "model.skae"
    skae.save(AutoencoderTransformer(), path)
    edit_manifest(path, lambda manifest: manifest["versions"].update(skae="99.1.0"))
    with pytest.raises(ValueError, match="saved by skae 99.1.0.*Load it with skae 99.1.0, or refit"):
        skae.load(path)


def test_another_torch_release_warns(tmp_path):
    path = tmp_path / "model.skae"
    skae.save(AutoencoderTransformer(), path)
    edit_manifest(path, lambda manifest: manifest["versions"].update(torch="1.0.0"))
    with pytest.warns(UserWarning, match="saved with torch 1.0.0"):
        skae.load(path)


def test_same_versions_load_without_warnings(X, tmp_path):
    path = tmp_path / "model.skae"
    skae.save(AutoencoderTransformer(n_components=2, max_iter=1).fit(X), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        skae.load(path)


def test_a_missing_file_is_reported_as_such(tmp_path):
    with pytest.raises(FileNotFoundError):
        skae.load(tmp_path / "nowhere.skae")
