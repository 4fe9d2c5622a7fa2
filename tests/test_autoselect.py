"""The automatic choice of the temporal-convolution implementation: full timing, the disk cache and its
re-check, noisy timings, machine keys, hostile cache files and the one-line summary.

Every test but the last replaces ``autoselect.timed_run`` by :class:`FakeTimer`, so what is asserted
never depends on how fast this machine is; the implementations chosen still compute the result. The
disk cache lives in a per-test temporary directory, never the user's home."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import torch

from shiftspike.quant.temporal import EXACT, TOEPLITZ_MAX_STEPS, autoselect_report, reference, temporal_conv
from shiftspike.quant.temporal import autoselect

pytestmark = pytest.mark.usefixtures("private_autoselect")

#: Seconds per run of a quiet machine: fused fastest, fft dropped after its warm-up (5 > 4 x 1 ms).
QUIET = {"fused": 1e-3, "conv1d": 2e-3, "taploop": 3e-3, "toeplitz": 4e-3, "fft": 5e-3}
DILATION = 2
CONV1D_WITHIN_MARGIN = 1.5e-3  # a cached conv1d that passes the re-check against fused's 1 ms


class FakeTimer:
    """Stands in for ``autoselect.timed_run``: the n-th run of an implementation takes the n-th of its
    seconds (the last one repeating); every call is recorded in ``calls``."""

    def __init__(self, seconds: dict[str, float | list[float]]):
        self.seconds = {name: s if isinstance(s, list) else [s] for name, s in seconds.items()}
        self.calls: list[str] = []

    def __call__(self, name, x, weight, dilation, grad) -> float:
        runs = self.seconds[name]
        done = self.calls.count(name)
        self.calls.append(name)
        return runs[min(done, len(runs) - 1)]


@pytest.fixture
def timer(monkeypatch):
    """``timer(**seconds)`` installs a FakeTimer with the QUIET seconds overridden by ``seconds``."""

    def install(**seconds) -> FakeTimer:
        fake = FakeTimer({**QUIET, **seconds})
        monkeypatch.setattr(autoselect, "timed_run", fake)
        return fake

    return install


def small_layer(steps=12, dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(steps, 2, 3, generator=gen, dtype=dtype)
    weight = torch.randn(3, 4, generator=gen, dtype=dtype)
    return x, weight


def small_key(exact=False) -> str:
    return autoselect.shape_key((12, 2, 3), 4, DILATION, torch.float32, exact)


def write_cache(choices: dict, version: int = autoselect.FORMAT_VERSION) -> bytes:
    """Write a cache file holding ``choices``; its bytes."""
    return write_text(json.dumps({"version": version, "choices": choices}))


def write_text(text: str) -> bytes:
    path = autoselect.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path.read_bytes()


def cached_choices() -> dict:
    data = json.loads(autoselect.cache_path().read_text())
    assert data["version"] == autoselect.FORMAT_VERSION
    return data["choices"]


def run_small_layer() -> dict:
    """``temporal_conv`` with ``impl="auto"`` on the small layer, checked against the reference; the decision."""
    x, weight = small_layer()
    out = temporal_conv(x, weight, DILATION)
    torch.testing.assert_close(out.double(), reference(x, weight, DILATION), rtol=1e-5, atol=1e-5)
    return autoselect_report()["decisions"][small_key()]


def test_first_use_times_every_candidate_and_caches_the_choice(timer):
    fake = timer()
    decision = run_small_layer()
    assert decision["impl"] == "fused" and decision["why"] == autoselect.TIMED
    # fft's warm-up took more than DROP_FACTOR times fused's: dropped, not repeated, not recorded
    assert Counter(fake.calls)["fft"] == 1 and all(Counter(fake.calls)[n] > autoselect.REPEATS for n in QUIET
                                                   if n != "fft")
    without_fft = {name: s for name, s in QUIET.items() if name != "fft"}
    assert cached_choices() == {small_key(): {"impl": "fused", "seconds": without_fft}}
    report = autoselect_report()
    assert report["timed"] == 1 and report["from_disk"] == 0 and report["choices"] == {small_key(): "fused"}
    calls = len(fake.calls)
    run_small_layer()  # the in-process record: nothing timed
    assert len(fake.calls) == calls
    autoselect.reset()  # a new process: the cached default is used without a check
    assert run_small_layer()["why"] == autoselect.CACHED and len(fake.calls) == calls
    assert autoselect_report()["from_disk"] == 1 and autoselect_report()["timed"] == 0


def test_a_stale_cached_choice_is_timed_again_and_replaced(timer):
    write_cache({small_key(): {"impl": "fft", "seconds": {"fft": 1e-4}}})  # timed on a busy machine
    fake = timer(fft=10 * QUIET["fused"])
    decision = run_small_layer()
    assert fake.calls[:4] == ["fft", "fused", "fft", "fused"]  # the check: warm-ups, then one timed run each
    assert len(fake.calls) > 4  # then the full timing
    assert decision["impl"] == "fused" and decision["why"] == autoselect.STALE and decision["stale"] == "fft"
    assert cached_choices()[small_key()]["impl"] == "fused"
    assert autoselect_report()["timed"] == 1 and autoselect_report()["from_disk"] == 0
    assert "(cached fft too slow so re-timed: fused 1 ms," in autoselect_report()["summary"]


@pytest.mark.parametrize("cached, calls, why", [
    ("conv1d", ["conv1d", "fused", "conv1d", "fused"], autoselect.RECHECKED),  # one check against the default
    ("fused", [], autoselect.CACHED),  # the default itself: nothing to compare with
])
def test_a_cached_choice_still_fast_is_kept_after_one_check(timer, cached, calls, why):
    before = write_cache({small_key(): {"impl": cached, "seconds": {cached: 1e-3}}})
    fake = timer(conv1d=1.9e-3)  # 1.9 times the default's 1 ms: within RECHECK_MARGIN = 2
    decision = run_small_layer()
    assert fake.calls == calls
    assert decision["impl"] == cached and decision["why"] == why
    assert autoselect.cache_path().read_bytes() == before
    assert autoselect_report()["from_disk"] == 1 and autoselect_report()["timed"] == 0


def test_noisy_timings_are_used_but_not_cached(timer):
    other = small_key().replace("T=12 ", "T=13 ")
    before = write_cache({other: {"impl": "taploop", "seconds": {}}})
    # fused: a quick warm-up and first run, then three times slower: median 3 ms, fastest 1 ms
    fake = timer(fused=[1e-3, 1e-3, 3e-3])
    decision = run_small_layer()
    assert decision["impl"] == "conv1d" and decision["why"] == autoselect.NOISY
    assert autoselect.cache_path().read_bytes() == before
    calls = len(fake.calls)
    run_small_layer()  # the noisy choice stands for this process
    assert len(fake.calls) == calls
    autoselect.reset()  # the next process times again, on a quiet machine now
    timer()
    assert run_small_layer()["why"] == autoselect.TIMED
    assert cached_choices() == {other: {"impl": "taploop", "seconds": {}},
                                small_key(): {"impl": "fused", "seconds": {n: s for n, s in QUIET.items() if n != "fft"}}}


@pytest.mark.parametrize("runs, expected", [
    ({"fused": [1.0, 1.0, 1.01], "conv1d": [1.02, 1.02, 1.03]}, False),  # a close call, runs agree: clear
    ({"fused": [1.0, 1.0, 1.0], "toeplitz": [4.0, 9.0, 9.0]}, False),  # noisy, but never a contender
    ({"fused": [1.0, 1.0, 1.0], "fft": []}, False),  # dropped after its warm-up
    ({"fused": [1.0, 1.5, 1.5]}, False),  # median exactly NOISE_RATIO times the fastest run
    ({"fused": [1.0, 1.6, 1.6]}, True),  # the winner's runs disagree
    ({"fused": [1.0, 1.0, 1.0], "conv1d": [1.2, 2.0, 2.0]}, True),  # a contender's runs disagree
])
def test_noise_is_disagreement_among_the_contenders_runs(runs, expected):
    assert autoselect.NOISE_RATIO == 1.5
    assert autoselect.noisy(runs) is expected


def test_an_entry_for_another_machine_is_not_used(timer):
    key, threads = small_key(), torch.get_num_threads()
    other_cpu = key.replace(f"cpu={autoselect.cpu_model()}", "cpu=Another CPU 9000")
    other_threads = key.replace(f"threads={threads} ", f"threads={threads + 1} ")
    foreign = {k: {"impl": "conv1d", "seconds": {"conv1d": 1e-4}} for k in (other_cpu, other_threads)}
    assert key not in foreign and len(foreign) == 2
    write_cache(foreign)
    timer()
    assert run_small_layer()["why"] == autoselect.TIMED
    assert cached_choices() == {**foreign, key: {"impl": "fused", "seconds": {n: s for n, s in QUIET.items()
                                                                              if n != "fft"}}}


def test_the_key_names_the_thread_count_and_the_cpu_model(monkeypatch):
    before = torch.get_num_threads()
    key = small_key()
    try:
        torch.set_num_threads(before + 1)
        assert small_key() != key and f"threads={before + 1} " in small_key()
    finally:
        torch.set_num_threads(before)
    monkeypatch.setattr(autoselect, "cpu_model", lambda: "Another CPU 9000")
    assert small_key() == key.replace(key[key.index(" cpu=") :], " cpu=Another CPU 9000")


def test_a_version_1_cache_file_is_ignored(timer):
    old_key = small_key().rsplit(" cpu=", 1)[0]  # version 1 keys ended with the thread count
    write_cache({old_key: {"impl": "conv1d", "seconds": {"conv1d": 1e-4}}}, version=1)
    timer()
    assert run_small_layer()["why"] == autoselect.TIMED
    assert list(cached_choices()) == [small_key()]


@pytest.mark.parametrize("cpuinfo, expected", [
    ("processor\t: 0\nmodel name\t: Test  CPU @ 3.0GHz\nflags\t: sse\nmodel name\t: Second\n", "Test CPU @ 3.0GHz"),
    ("processor\t: 0\nCPU part\t: 0xd0c\n", "fallback"),  # no model name (many Arm machines)
    ("model name\t:   \n", "fallback"),
    (b"\xff\xfe\x00model name", "fallback"),  # not text
    (None, "fallback"),  # no such file
    ([], "fallback"),  # a folder: unreadable
], ids=["model-name", "no-model-name", "empty-model-name", "binary", "missing", "folder"])
def test_the_cpu_model_never_fails(tmp_path, monkeypatch, cpuinfo, expected):
    path = tmp_path / "cpuinfo"
    if isinstance(cpuinfo, str):
        path.write_text(cpuinfo)
    elif isinstance(cpuinfo, bytes):
        path.write_bytes(cpuinfo)
    elif cpuinfo == []:
        path.mkdir()
    monkeypatch.setattr(autoselect, "CPUINFO", str(path))
    monkeypatch.setattr(autoselect.platform, "processor", lambda: "fallback")
    assert autoselect.cpu_model.__wrapped__() == expected
    monkeypatch.setattr(autoselect.platform, "processor", lambda: "")
    monkeypatch.setattr(autoselect.platform, "machine", lambda: "")
    if expected == "fallback":
        assert autoselect.cpu_model.__wrapped__() == "unknown"


def hostile_files() -> dict[str, str]:
    """Cache files that must be ignored, by name. Where a well-formed file would be used, they name
    ``conv1d`` for the small layer, which would pass the re-check: timing it fully shows they were ignored."""
    key = json.dumps(small_key())

    def file(entry: str, version: str = "2", extra: str = "") -> str:
        return f'{{"version": {version}, "choices": {{{key}: {entry}}}{extra}}}'

    return {
        "not-json": "{not json",
        "deep-nesting": "[" * 100_000,
        "long-integer": file('{"impl": "conv1d", "seconds": {"conv1d": 1' + "0" * 5000 + "}}"),
        "infinite-float": file('{"impl": "conv1d", "seconds": {"conv1d": 1e999}}'),
        "nan": file('{"impl": "conv1d", "seconds": {"conv1d": NaN}}'),
        "top-level-list": f'[{{"version": 2, "choices": {{{key}: {{"impl": "conv1d", "seconds": {{}}}}}}}}]',
        "choices-list": '{"version": 2, "choices": [["conv1d"]]}',
        "version-string": file('{"impl": "conv1d", "seconds": {}}', version='"2"'),
        "version-float": file('{"impl": "conv1d", "seconds": {}}', version="2.0"),
        "unknown-top-key": file('{"impl": "conv1d", "seconds": {}}', extra=', "more": 1'),
        "entry-string": file('"conv1d"'),
        "impl-number": file('{"impl": 7, "seconds": {}}'),
        "impl-list": file('{"impl": ["conv1d"], "seconds": {}}'),
        "impl-unknown": file('{"impl": "__import__", "seconds": {}}'),
        "impl-missing": file('{"seconds": {"conv1d": 0.001}}'),
        "seconds-list": file('{"impl": "conv1d", "seconds": [0.001]}'),
        "seconds-negative": file('{"impl": "conv1d", "seconds": {"conv1d": -1}}'),
        "seconds-bool": file('{"impl": "conv1d", "seconds": {"conv1d": true}}'),
        "seconds-string": file('{"impl": "conv1d", "seconds": {"conv1d": "fast"}}'),
        "seconds-unknown-name": file('{"impl": "conv1d", "seconds": {"evil": 1}}'),
        "entry-unknown-key": file('{"impl": "conv1d", "seconds": {}, "note": 1}'),
    }


def test_a_well_formed_entry_like_the_hostile_ones_is_used(timer):
    """The hostile files below differ from this one in one place each: it is their flaw that is ignored."""
    write_text(f'{{"version": 2, "choices": {{{json.dumps(small_key())}: {{"impl": "conv1d", "seconds": {{}}}}}}}}')
    timer(conv1d=CONV1D_WITHIN_MARGIN)
    assert run_small_layer()["why"] == autoselect.RECHECKED


@pytest.mark.parametrize("name", list(hostile_files()))
def test_a_malformed_cache_file_is_ignored_and_timed_again(timer, name):
    write_text(hostile_files()[name])
    timer(conv1d=CONV1D_WITHIN_MARGIN)
    decision = run_small_layer()
    assert decision["impl"] == "fused" and decision["why"] == autoselect.TIMED
    assert list(cached_choices()) == [small_key()]


def test_an_unwritable_cache_warns_and_the_choice_stands(tmp_path, monkeypatch, timer):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("SHIFTSPIKE_CACHE_DIR", str(blocker))  # a file where the directory should be
    timer()
    with pytest.warns(RuntimeWarning, match="could not write"):
        assert run_small_layer()["why"] == autoselect.TIMED


def test_exact_never_picks_fft(timer):
    x, weight = small_layer()
    x = (x * 64).round()  # integers, power-of-two weights: the exact result is representable
    weight = torch.sign(weight) * 2.0 ** torch.randint(-3, 3, weight.shape)
    write_cache({small_key(exact=True): {"impl": "fft", "seconds": {}}})
    fake = timer(fft=1e-5)  # fastest of all, and still not allowed
    out = temporal_conv(x, weight, DILATION, exact=True)
    assert torch.equal(out, reference(x, weight, DILATION).float())
    decision = autoselect_report()["decisions"][small_key(exact=True)]
    assert decision["why"] == autoselect.TIMED and decision["impl"] in EXACT and "fft" not in fake.calls
    assert "fft" not in autoselect.candidates(64, exact=True)
    assert "fft" in autoselect.candidates(64, exact=False)


def test_inapplicable_candidates_are_skipped_and_the_disk_cache_can_be_off(monkeypatch, timer):
    assert "toeplitz" not in autoselect.candidates(TOEPLITZ_MAX_STEPS + 1, exact=False)
    monkeypatch.setenv("SHIFTSPIKE_DISK_CACHE", "0")
    assert autoselect.cache_path() is None
    timer()
    assert run_small_layer()["why"] == autoselect.TIMED
    autoselect.reset()
    assert run_small_layer()["why"] == autoselect.TIMED  # nothing was kept on disk


def test_the_summary_is_one_line(timer):
    assert autoselect_report()["summary"] == ""  # nothing chosen automatically: nothing to say
    timer()
    run_small_layer()
    assert re.fullmatch(r"autoselect in \d+\.\d s: fused for \[T=12, B=2, C=3, k=4, d=2\] "
                        r"\(timed: fused 1 ms, conv1d 2 ms, taploop 3 ms, toeplitz 4 ms\)",
                        autoselect_report()["summary"])
    x, weight = small_layer(steps=20, dtype=torch.float64)
    temporal_conv(x, weight, 1, exact=True)
    autoselect.reset()  # a new process: both from the file, and one more shape timed
    run_small_layer()
    temporal_conv(x, weight, 1, exact=True)
    temporal_conv(x[:5], weight, 3)
    summary = autoselect_report()["summary"]
    assert "\n" not in summary
    assert re.fullmatch(r"autoselect in \d+\.\d s, 3 shapes: fused for 3 \(2 cached, 1 timed\)", summary)
    assert autoselect.describe((20, 2, 3, 4), 4, 1, torch.float64, True) == \
        "[T=20, B=2, C=3, k=4, d=1, rest=4, float64, exact]"


def test_the_real_timer_chooses_a_working_implementation():
    """The one test with real timings: what it asserts holds however fast or busy the machine is."""
    x, weight = small_layer()
    out = temporal_conv(x, weight, DILATION)
    torch.testing.assert_close(out.double(), reference(x, weight, DILATION), rtol=1e-5, atol=1e-5)
    report = autoselect_report()
    decision = report["decisions"][small_key()]
    assert report["timed"] == 1 and report["seconds"] > 0
    assert decision["impl"] in autoselect.candidates(12, exact=False) and set(decision["seconds"]) >= {"fused"}
    if decision["why"] == autoselect.TIMED:
        assert cached_choices()[small_key()]["impl"] == decision["impl"]
    else:
        assert decision["why"] == autoselect.NOISY and not autoselect.cache_path().exists()
