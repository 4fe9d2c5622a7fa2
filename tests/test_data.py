"""The data module: shapes, splits, exact power-of-two encoding, binning, file formats, errors."""

import os

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.quant.data import DATASETS, DataError, InputInfo, SequenceData, load_dataset
from shiftspike.quant.data.long import cue_patterns
from shiftspike.quant.data.shd import bin_spikes


def assert_exact(data: SequenceData):
    """Every value is x_int * scale with x_int an integer inside the declared range."""
    q = data.x.double() / data.info.scale
    assert torch.equal(q, q.round())
    lo, hi = data.info.value_range
    assert lo <= q.min().item() and q.max().item() <= hi


# ---------------------------------------------------------------------------------------------
# digits


@pytest.fixture(scope="module")
def digits():
    return {s: load_dataset("digits", s) for s in ("train", "test")}


@pytest.fixture(scope="module")
def pixels():
    return {s: load_dataset("digits-pixels", s) for s in ("train", "test")}


def test_digits_shapes_and_split_sizes(digits, pixels):
    assert digits["train"].x.shape == (1437, 8, 8, 1) and digits["test"].x.shape == (360, 8, 8, 1)
    assert pixels["train"].x.shape == (1437, 64, 1, 1) and pixels["test"].x.shape == (360, 64, 1, 1)
    assert digits["train"].info == InputInfo("int", 6, 2.0**-4, channels=8, length=1, timesteps=8)
    assert pixels["test"].info == InputInfo("int", 6, 2.0**-4, channels=1, length=1, timesteps=64)
    for d in (*digits.values(), *pixels.values()):
        assert d.classes == 10 and d.y.dtype == torch.int64 and d.x.dtype == torch.float32
        assert d.name in ("digits", "digits-pixels")


def test_digits_split_is_stratified_and_complete(digits):
    from sklearn.datasets import load_digits

    ref = load_digits()
    total = np.bincount(ref.target, minlength=10)
    test = np.bincount(digits["test"].y.numpy(), minlength=10)
    train = np.bincount(digits["train"].y.numpy(), minlength=10)
    np.testing.assert_array_equal(train + test, total)
    assert np.all(np.abs(test - 0.2 * total) <= 1)
    # the two splits together are exactly sklearn's images (as a multiset)
    ours = torch.cat([digits["train"].x, digits["test"].x]).reshape(-1, 64).numpy() * 16
    ours = np.concatenate([ours, np.concatenate([digits["train"].y, digits["test"].y])[:, None]], axis=1)
    theirs = np.concatenate([ref.images.reshape(-1, 64), ref.target[:, None]], axis=1)
    np.testing.assert_array_equal(ours[np.lexsort(ours.T)], theirs[np.lexsort(theirs.T)])


def test_digits_exact_encoding_and_determinism(digits):
    for d in digits.values():
        assert_exact(d)
        assert d.x.min() == 0 and d.x.max() == 1  # pixels 0..16
    again = load_dataset("digits", "train")
    assert torch.equal(again.x, digits["train"].x) and torch.equal(again.y, digits["train"].y)


def test_rows_and_pixels_are_the_same_images(digits, pixels):
    for s in ("train", "test"):
        assert torch.equal(digits[s].x.reshape(-1, 64), pixels[s].x.reshape(-1, 64))
        assert torch.equal(digits[s].y, pixels[s].y)
    # row t of the image is step t of `digits` and steps 8t..8t+7 of `digits-pixels`
    assert torch.equal(digits["test"].x[5, 3, :, 0], pixels["test"].x[5, 24:32, 0, 0])


def test_batches_time_first_in_order(digits):
    d = digits["test"]
    got = list(d.batches(100, shuffle=False))
    assert [b[0].shape for b in got] == [(8, 100, 8, 1)] * 3 + [(8, 60, 8, 1)]
    assert all(b[0].is_contiguous() for b in got)
    assert torch.equal(torch.cat([b[0] for b in got], dim=1), d.x.permute(1, 0, 2, 3))
    assert torch.equal(torch.cat([b[1] for b in got]), d.y)


def indexed(n: int, timesteps: int = 3) -> SequenceData:
    """x[n, t, c, 0] = 4n + t (so a batch tells which samples it holds and that it is time-first)."""
    x = (4 * torch.arange(n)[:, None, None, None] + torch.arange(timesteps)[None, :, None, None]).expand(
        n, timesteps, 2, 1
    )
    info = InputInfo("int", 32, 1.0, channels=2, length=1, timesteps=timesteps)
    return SequenceData(x.float().contiguous(), torch.arange(n) % 3, info, 3, "indexed")


@settings(max_examples=40)
@given(n=st.integers(1, 60), batch=st.integers(1, 70), shuffle=st.booleans(), seed=st.integers(0, 2**31))
def test_batches_cover_every_sample_once(n, batch, shuffle, seed):
    d = indexed(n)
    g = torch.Generator().manual_seed(seed)
    seen = []
    for xb, yb in d.batches(batch, shuffle=shuffle, generator=g):
        assert xb.shape[0] == 3 and xb.shape[2:] == (2, 1) and 1 <= xb.shape[1] <= batch
        idx = (xb[0, :, 0, 0] / 4).long()
        assert torch.equal(xb[:, :, 1, 0], 4 * idx[None, :] + torch.arange(3)[:, None])  # time-first
        assert torch.equal(yb, idx % 3)
        seen.append(idx)
    seen = torch.cat(seen)
    assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        assert seen.tolist() == list(range(n))


def test_shuffle_is_reproducible_with_a_seeded_generator(digits):
    d = digits["train"]

    def order(seed):
        return torch.cat([y for _, y in d.batches(256, True, torch.Generator().manual_seed(seed))])

    assert torch.equal(order(1), order(1))
    assert not torch.equal(order(1), order(2))
    with pytest.raises(DataError, match="batch_size"):
        next(d.batches(0, False))


def test_to_int_is_channel_major_and_checks_the_grid(digits):
    d = digits["test"]
    xb, _ = next(d.batches(7, shuffle=False))
    xi = d.info.to_int(xb)
    assert xi.shape == (8, 7, 8) and xi.dtype == np.int8
    np.testing.assert_array_equal(xi[:, 2, :], (d.x[2, :, :, 0] * 16).numpy())
    with pytest.raises(DataError, match="multiple of scale"):
        d.info.to_int(xb + 2.0**-6)
    with pytest.raises(DataError, match="range"):
        d.info.to_int(xb + 2.0)


def test_input_info_is_validated():
    with pytest.raises(DataError, match="power of two"):
        InputInfo("int", 6, 0.3, 1, 1, 1)
    with pytest.raises(DataError, match="spike input"):
        InputInfo("spike", 2, 1.0, 1, 1, 1)
    with pytest.raises(DataError, match="kind"):
        InputInfo("float", 6, 1.0, 1, 1, 1)
    with pytest.raises(DataError, match=r"x is torch.float32 \[2, 3, 1, 1\], expected float32 \[N, 4, 1, 1\]"):
        info = InputInfo("spike", 1, 1.0, 1, 1, 4)
        SequenceData(torch.zeros(2, 3, 1, 1), torch.zeros(2, dtype=torch.int64), info, 2, "t")
    assert InputInfo("int", 9, 2.0**-8, 3, 32, 32).value_range == (-256, 255)
    assert InputInfo("spike", 1, 1.0, 3, 1, 32).value_range == (0, 1)


# ---------------------------------------------------------------------------------------------
# long


@pytest.mark.parametrize("timesteps", [8, 100, 4096])
def test_long_shapes(timesteps):
    d = load_dataset("long", "train", timesteps=timesteps, samples=(12, 4), channels=5, classes=3)
    assert d.x.shape == (12, timesteps, 5, 1) and d.y.shape == (12,)
    assert d.info == InputInfo("spike", 1, 1.0, channels=5, length=1, timesteps=timesteps)
    assert d.classes == 3 and d.name == "long"
    assert len(load_dataset("long", "test", timesteps=timesteps, samples=(12, 4), channels=5, classes=3)) == 4
    assert_exact(d)


def test_long_structure_balance_and_noise_rate():
    p = dict(timesteps=300, channels=6, classes=5, cue_steps=3, marker_steps=2, noise_rate=0.1, samples=(203, 50))
    d = load_dataset("long", "train", **p)
    x = d.x[..., 0]
    counts = torch.bincount(d.y, minlength=5)
    assert counts.max() - counts.min() <= 1
    assert torch.all(x[:, -2:, -1] == 1) and torch.all(x[:, :-2, -1] == 0)  # marker only at the end
    assert torch.all(x[:, -2:, :-1] == 0)
    noise = x[:, 3:-2, :-1]
    cells = noise.numel()
    assert abs(noise.mean().item() - 0.1) < 5 * (0.1 * 0.9 / cells) ** 0.5
    # noise is independent of the class and of position
    assert abs(noise[:, :100].mean() - noise[:, -100:].mean()) < 0.02


def test_long_cue_encodes_the_label():
    p = dict(timesteps=64, channels=4, classes=6, cue_steps=2, samples=(60, 60), seed=3)
    train, test = load_dataset("long", "train", **p), load_dataset("long", "test", **p)
    patterns = cue_patterns(3, 6, 2, 4)
    assert patterns.shape == (6, 2, 3)
    flat = patterns.reshape(6, -1)
    assert len({r.tobytes() for r in flat}) == 6 and flat.sum(axis=1).min() > 0
    # a trivial decoder fitted on train: nearest stored cue
    table = {train.x[i, :2, :3, 0].numpy().tobytes(): int(train.y[i]) for i in range(len(train))}
    assert len(table) == 6
    decoded = [table[test.x[i, :2, :3, 0].numpy().tobytes()] for i in range(len(test))]
    assert decoded == test.y.tolist()
    np.testing.assert_array_equal(test.x[:, :2, :3, 0].numpy(), patterns[test.y.numpy()])


def test_long_is_deterministic_and_splits_differ():
    p = dict(timesteps=128, samples=(20, 20))
    a, b = load_dataset("long", "train", **p), load_dataset("long", "train", **p)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    t = load_dataset("long", "test", **p)
    assert not torch.equal(a.x, t.x)
    other = load_dataset("long", "train", seed=1, **p)
    assert not torch.equal(a.x, other.x)
    # the cue patterns are shared by the splits; the lengths don't change them
    longer = load_dataset("long", "test", timesteps=512, samples=(20, 20))
    assert {r.tobytes() for r in a.x[:, :4, :7, 0].numpy()} == {r.tobytes() for r in longer.x[:, :4, :7, 0].numpy()}


@settings(max_examples=25)
@given(
    timesteps=st.integers(3, 80),
    channels=st.integers(2, 6),
    classes=st.integers(2, 4),
    rate=st.sampled_from([0.0, 0.03, 0.5, 1.0]),
    n=st.integers(1, 9),
    seed=st.integers(0, 1000),
)
def test_long_property(timesteps, channels, classes, rate, n, seed):
    cue = 2
    if (1 << cue * (channels - 1)) - 1 < classes or timesteps < cue + 1:
        with pytest.raises(DataError):
            load_dataset("long", "train", timesteps=timesteps, channels=channels, classes=classes,
                         cue_steps=cue, noise_rate=rate, samples=n, seed=seed)
        return
    d = load_dataset("long", "train", timesteps=timesteps, channels=channels, classes=classes,
                     cue_steps=cue, noise_rate=rate, samples=n, seed=seed)
    x = d.x[..., 0].numpy()
    assert x.shape == (n, timesteps, channels)
    np.testing.assert_array_equal(x[:, :cue, :-1], cue_patterns(seed, classes, cue, channels)[d.y.numpy()])
    assert np.all(x[:, :cue, -1] == 0) and np.all(x[:, -1, -1] == 1) and np.all(x[:, -1, :-1] == 0)
    noise = x[:, cue:-1, :-1]
    if rate in (0.0, 1.0):
        assert np.all(noise == rate)
    assert set(np.unique(x)) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(timesteps=4, cue_steps=4), "timesteps"),
        (dict(classes=20, channels=2, cue_steps=4), "distinct cues"),
        (dict(noise_rate=1.5), "noise_rate"),
        (dict(samples=(1, 2, 3)), "samples"),
        (dict(samples=0), "samples"),
        (dict(channels=2.0), "channels"),
        (dict(seed=True), "seed"),
        (dict(timesteps=16384, samples=100, max_bytes=1 << 20), "needs 50.00 MiB"),
        (dict(colour="red"), "valid parameters: timesteps, channels"),
    ],
)
def test_long_bad_parameters(params, match):
    with pytest.raises(DataError, match=match):
        load_dataset("long", "train", **params)


def test_long_16384_steps_builds_only_its_own_array():
    """A long task builds its arrays once: the NumPy buffers tracemalloc sees peak below 3x the float32 ``x``
    (no per-step or per-chunk copies kept alive). No wall-clock bound: the machine may be loaded."""
    import tracemalloc

    tracemalloc.start()
    d = load_dataset("long", "train", timesteps=16384, samples=(64, 8))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert d.x.shape == (64, 16384, 8, 1)
    assert peak <= 3 * d.x.numel() * 4


# ---------------------------------------------------------------------------------------------
# shd


def write_shd(file, times, units, labels, *, skip=(), vlen=True, unit_dtype=np.uint16):
    """An HDF5 file in the SHD layout (``skip`` leaves datasets out)."""
    with h5py.File(file, "w") as f:
        if "times" not in skip:
            if vlen:
                ds = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
                for i, t in enumerate(times):
                    ds[i] = np.asarray(t, np.float32)
            else:
                f.create_dataset("spikes/times", data=np.zeros((len(times), 3), np.float32))
        if "units" not in skip:
            ds = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(unit_dtype))
            for i, u in enumerate(units):
                ds[i] = np.asarray(u, unit_dtype)
        if "labels" not in skip:
            f.create_dataset("labels", data=np.asarray(labels, np.uint16))
    return str(file)


TIMES = [[0.0, 0.25, 0.3, 0.3, 0.99, 1.0, 1.5], [], [0.5, 0.75, 0.125]]
UNITS = [[0, 1, 1, 1, 699, 5, 6], [], [3, 3, 699]]
LABELS = [4, 0, 19]


def hand_binned(times, units, timesteps, max_time):
    x = np.zeros((len(times), timesteps, 700), np.uint8)
    edges = np.linspace(0, max_time, timesteps + 1)
    for n, (ts, us) in enumerate(zip(times, units)):
        for t, u in zip(ts, us):
            for k in range(timesteps):
                if edges[k] <= np.float32(t) < edges[k + 1]:
                    x[n, k, u] = 1
    return x


def test_shd_binning_by_hand(tmp_path):
    file = write_shd(tmp_path / "shd_train.h5", TIMES, UNITS, LABELS)
    d = load_dataset("shd", "train", file, timesteps=4, max_time=1.0)
    assert d.x.shape == (3, 4, 700, 1)
    assert d.info == InputInfo("spike", 1, 1.0, channels=700, length=1, timesteps=4)
    assert d.y.tolist() == LABELS and d.classes == 20 and d.name == "shd"
    expected = np.zeros((3, 4, 700), np.float32)
    expected[0, 0, 0] = 1  # t = 0
    expected[0, 1, 1] = 1  # t = 0.25, exactly on the edge: the later bin; 0.3 twice: same bin, still 1
    expected[0, 3, 699] = 1  # 0.99; 1.0 (= max_time) and 1.5 are dropped
    expected[2, 2, 3] = 1  # 0.5 edge
    expected[2, 3, 3] = 1  # 0.75 edge
    expected[2, 0, 699] = 1  # 0.125
    np.testing.assert_array_equal(d.x[..., 0].numpy(), expected)
    np.testing.assert_array_equal(expected, hand_binned(TIMES, UNITS, 4, 1.0))
    assert_exact(d)


@settings(max_examples=30)
@given(
    data=st.lists(
        st.lists(st.tuples(st.floats(0, 2, width=32), st.integers(0, 699)), max_size=12), min_size=1, max_size=5
    ),
    timesteps=st.integers(1, 9),
    max_time=st.sampled_from([1.0, 1.4, 0.3]),
)
def test_shd_binning_matches_a_loop(data, timesteps, max_time):
    times = [np.array([t for t, _ in s], np.float32) for s in data]
    units = [np.array([u for _, u in s], np.uint16) for s in data]
    got = bin_spikes(times, units, timesteps, max_time, chunk=2)
    np.testing.assert_array_equal(got, hand_binned(times, units, timesteps, max_time))


def test_shd_directory_and_file_paths(tmp_path):
    write_shd(tmp_path / "shd_train.h5", TIMES, UNITS, LABELS)
    write_shd(tmp_path / "shd_test.h5", [[0.1]], [[7]], [2])
    train = load_dataset("shd", "train", str(tmp_path))
    test = load_dataset("shd", "test", tmp_path)
    assert train.x.shape == (3, 100, 700, 1) and test.x.shape == (1, 100, 700, 1)
    assert test.y.tolist() == [2] and test.x[0, 7, 7, 0] == 1 and test.x.sum() == 1  # 0.1 s / 0.014 s
    by_file = load_dataset("shd", "train", str(tmp_path / "shd_train.h5"))
    assert torch.equal(by_file.x, train.x)


def shd_case(tmp_path, case):
    f = tmp_path / "shd_train.h5"
    if case == "not hdf5":
        f.write_bytes(b"not an hdf5 file at all")
        return str(f)
    if case == "no times":
        return write_shd(f, TIMES, UNITS, LABELS, skip=("times",))
    if case == "no units":
        return write_shd(f, TIMES, UNITS, LABELS, skip=("units",))
    if case == "no labels":
        return write_shd(f, TIMES, UNITS, LABELS, skip=("labels",))
    if case == "not vlen":
        return write_shd(f, TIMES, UNITS, LABELS, vlen=False)
    if case == "float units":
        return write_shd(f, TIMES, UNITS, LABELS, unit_dtype=np.float32)
    if case == "count mismatch":
        return write_shd(f, TIMES, UNITS, LABELS[:2])
    if case == "sample mismatch":
        return write_shd(f, TIMES, [UNITS[0], UNITS[1], [3]], LABELS)
    if case == "unit 700":
        return write_shd(f, TIMES, [UNITS[0], [], [3, 700, 1]], LABELS)
    if case == "negative time":
        return write_shd(f, [TIMES[0], [], [0.5, -0.1, 0.2]], UNITS, LABELS)
    if case == "nan time":
        return write_shd(f, [TIMES[0], [], [0.5, np.nan, 0.2]], UNITS, LABELS)
    if case == "label 20":
        return write_shd(f, TIMES, UNITS, [4, 20, 1])
    if case == "empty":
        return write_shd(f, [], [], [])
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case, match",
    [
        ("not hdf5", "not a readable HDF5 file"),
        ("no times", "missing dataset 'spikes/times'"),
        ("no units", "missing dataset 'spikes/units'"),
        ("no labels", "missing dataset 'labels'"),
        ("not vlen", "'spikes/times' is not a 1-D dataset"),
        ("float units", "'spikes/units' has element dtype float32, expected integer"),
        ("count mismatch", "lengths differ: spikes/times 3, spikes/units 3, labels 2"),
        ("sample mismatch", "sample 2 has 3 spike times but 1 units"),
        ("unit 700", "sample 2 has a unit outside 0..699: 700"),
        ("negative time", "sample 2 has a negative spike time -0.1$"),
        ("nan time", "sample 2 has a non-finite spike time nan"),
        ("label 20", "label 20 of sample 1 is outside 0..19"),
        ("empty", "holds no samples"),
    ],
)
def test_shd_malformed_files(tmp_path, case, match):
    file = shd_case(tmp_path, case)
    with pytest.raises(DataError, match=match) as info:
        load_dataset("shd", "train", file)
    msg = str(info.value)
    assert "\n" not in msg and file in msg
    with pytest.raises(DataError, match=match):  # the directory form reports the same
        load_dataset("shd", "train", tmp_path)


def test_shd_missing_paths_and_limits(tmp_path):
    with pytest.raises(DataError, match="shd: needs path"):
        load_dataset("shd", "train")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("shd", "train", tmp_path / "nowhere")
    write_shd(tmp_path / "shd_train.h5", TIMES, UNITS, LABELS)
    with pytest.raises(DataError, match=r"shd_test\.h5 not found$"):
        load_dataset("shd", "test", tmp_path)
    (tmp_path / "shd_test.h5.gz").write_bytes(b"")
    with pytest.raises(DataError, match="gunzip"):
        load_dataset("shd", "test", tmp_path)
    with pytest.raises(DataError, match="max_time"):
        load_dataset("shd", "train", tmp_path, max_time=0)
    with pytest.raises(DataError, match="needs 8.20 MiB as float32, over the limit of 1.00 MiB"):
        load_dataset("shd", "train", tmp_path, timesteps=1024, max_bytes=1 << 20)


# ---------------------------------------------------------------------------------------------
# scifar


def write_cifar(root, per_file=3, seed=0):
    """All six batch files in the CIFAR-10 binary layout; returns {file: (labels, planes [n, 3, 32, 32])}."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    out = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, per_file, dtype=np.uint8)
        planes = rng.integers(0, 256, (per_file, 3, 32, 32), dtype=np.uint8)
        records = np.concatenate([labels[:, None], planes.reshape(per_file, -1)], axis=1)
        records.tofile(os.path.join(root, name))
        out[name] = (labels, planes)
    return out


def test_scifar_layout(tmp_path):
    root = tmp_path / "cifar-10-batches-bin"
    ref = write_cifar(root)
    train = load_dataset("scifar", "train", root)
    test = load_dataset("scifar", "test", str(root))
    assert train.x.shape == (15, 32, 3, 32) and test.x.shape == (3, 32, 3, 32)
    assert train.info == InputInfo("int", 9, 2.0**-8, channels=3, length=32, timesteps=32)
    assert train.classes == 10 and train.name == "scifar"
    labels = np.concatenate([ref[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
    assert train.y.tolist() == labels.tolist() and test.y.tolist() == ref["test_batch.bin"][0].tolist()
    planes = ref["data_batch_2.bin"][1][1]  # image 4 of the train split
    for t in (0, 17, 31):
        for c in range(3):
            expected = torch.from_numpy(planes[c, :, t].astype(np.float32)) * 2.0**-8  # column t, rows 0..31
            assert torch.equal(train.x[4, t, c], expected)
    xb, _ = next(train.batches(5, shuffle=False))
    xi = train.info.to_int(xb)
    assert xi.shape == (32, 5, 96) and xi.dtype == np.int16
    np.testing.assert_array_equal(xi[9, 4], planes[:, :, 9].reshape(-1))  # channel-major: c * 32 + row
    assert_exact(train)
    # the parent directory works too
    assert torch.equal(load_dataset("scifar", "test", tmp_path).x, test.x)


@pytest.mark.parametrize("case", ["truncated", "empty", "bad label", "missing file", "missing dir", "a file"])
def test_scifar_malformed(tmp_path, case):
    root = tmp_path / "cifar-10-batches-bin"
    write_cifar(root)
    f = root / "data_batch_3.bin"
    path, match = root, None
    if case == "truncated":
        f.write_bytes(f.read_bytes()[:-5])
        match = r"data_batch_3\.bin: size 9214 bytes is not a positive multiple of the 3073-byte record"
    elif case == "empty":
        f.write_bytes(b"")
        match = r"data_batch_3\.bin: size 0 bytes"
    elif case == "bad label":
        raw = bytearray(f.read_bytes())
        raw[3073] = 10
        f.write_bytes(bytes(raw))
        match = r"data_batch_3\.bin: record 1 has label 10, outside 0..9"
    elif case == "missing file":
        f.unlink()
        match = r"scifar: .*data_batch_3\.bin not found"
    elif case == "missing dir":
        path, match = tmp_path / "nope", "scifar: path .*nope does not exist"
    elif case == "a file":
        path, match = f, "is not a directory"
    with pytest.raises(DataError, match=match) as info:
        load_dataset("scifar", "train", path)
    assert "\n" not in str(info.value)


def test_scifar_memory_limit(tmp_path):
    write_cifar(tmp_path)
    with pytest.raises(DataError, match="scifar: x of shape \\[15, 32, 3, 32\\] needs 180.00 KiB"):
        load_dataset("scifar", "train", tmp_path, max_bytes=1000)


# ---------------------------------------------------------------------------------------------
# registry


def test_registry_errors():
    assert list(DATASETS) == ["digits", "digits-pixels", "long", "shd", "scifar"]
    names = "digits, digits-pixels, long, shd, scifar"
    with pytest.raises(DataError, match=f"unknown dataset 'mnist'; choose one of {names}"):
        load_dataset("mnist", "train")
    with pytest.raises(DataError, match="unknown split 'val'; choose one of train, test"):
        load_dataset("digits", "val")
    with pytest.raises(DataError, match="unknown parameter 'timesteps'; valid parameters: max_bytes"):
        load_dataset("digits", "train", timesteps=4)
    with pytest.raises(DataError, match="takes no path"):
        load_dataset("digits", "train", "/tmp")
    with pytest.raises(DataError, match="max_bytes"):
        load_dataset("digits", "train", max_bytes="lots")
    with pytest.raises(DataError, match="unknown parameter 'timesteps'; valid parameters: max_bytes"):
        load_dataset("scifar", "train", "/tmp", timesteps=4)
    assert issubclass(DataError, ValueError)
