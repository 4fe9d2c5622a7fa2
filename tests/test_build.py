"""``shiftspike.build`` without training: step records, the stale-input rule as a property over every file
of a run folder, folder hashes, and staged folders that leave nothing behind on failure.

The whole flow on a real run is ``tests/test_flow.py``; here the run folder's files are stand-ins with the
declared names, so each case takes milliseconds.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiftspike.build import STEPS, Build, StaleInput, content_hash, producer, step_named, steps_between

#: The steps whose outputs the verify step's inputs come from, and what each stand-in file holds.
MADE = ("train", "export", "rtl")
FILES = ("train/checkpoint.pt", "train/config.json", "train/summary.json", "model.ssm", "export.json",
         "test_inputs.npy", "test_labels.npy", "rtl/shift/core.v", "rtl/shift/core.json", "rtl/mul/core.v")
#: The files whose change makes the verify step's inputs stale: its inputs, and the inputs of their steps.
VERIFY_DEPENDS = {"model.ssm", "test_inputs.npy", "rtl/shift/core.v", "rtl/shift/core.json", "rtl/mul/core.v",
                  "train/checkpoint.pt", "train/config.json"}


def fake_run(root):
    """A run folder with stand-ins for the outputs of train, export and rtl, and their records."""
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(f"content of {rel}".encode())
    build = Build(root)
    for name in MADE:
        step = step_named(name)
        build._write_record(step, {rel: content_hash(root / rel.rstrip("/")) for rel in step.reads}, {"step": name})
    return build


def test_every_read_has_exactly_one_writer():
    for step in STEPS:
        for rel in step.reads:
            writers = [s.name for s in STEPS if rel in s.writes]
            assert len(writers) == 1 and STEPS.index(producer(rel)) < STEPS.index(step), (step.name, rel)


def test_slices():
    assert [s.name for s in steps_between("export", "verify")] == ["export", "report", "rtl", "synth", "verify"]
    with pytest.raises(Exception, match="comes after"):
        steps_between("verify", "export")
    with pytest.raises(Exception, match="unknown step"):
        step_named("deploy")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rel=st.sampled_from(FILES), change=st.sampled_from(["append", "rewrite", "delete"]))
def test_verify_refuses_exactly_the_stale_inputs(tmp_path_factory, rel, change):
    """Changing one file of the run folder makes the verify step refuse iff the file is one of its inputs
    or an input of the step that wrote one of them; the message names the step to rerun from."""
    root = tmp_path_factory.mktemp("run")
    build = fake_run(root)
    verify = step_named("verify")
    build.check_inputs(verify)  # all current
    path = root / rel
    if change == "append":
        path.write_bytes(path.read_bytes() + b"!")
    elif change == "rewrite":
        path.write_bytes(b"something else")
    else:
        path.unlink()
    if rel in VERIFY_DEPENDS:
        with pytest.raises(StaleInput, match="rerun --from (export|rtl)"):
            build.check_inputs(verify)
    else:
        build.check_inputs(verify)


def test_a_missing_record_names_its_step(tmp_path):
    build = fake_run(tmp_path)
    (tmp_path / "steps" / "export.json").unlink()
    with pytest.raises(StaleInput, match="step verify needs model.ssm, which step export has not written"):
        build.check_inputs(step_named("verify"))
    (tmp_path / "steps" / "rtl.json").write_text("[1, 2]")
    with pytest.raises(StaleInput, match="not a step record"):
        build.check_inputs(step_named("synth"))


def test_folder_hash_covers_names_and_contents_but_not_temporaries(tmp_path):
    folder = tmp_path / "f"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x.v").write_text("1")
    first = content_hash(folder)
    (folder / ".x.v.123.shiftspike-tmp").write_text("partial")
    assert content_hash(folder) == first
    (folder / "a" / "x.v").rename(folder / "a" / "y.v")
    assert content_hash(folder) != first
    assert content_hash(tmp_path / "absent") is None


def test_a_failed_staged_folder_leaves_nothing(tmp_path):
    build = Build(tmp_path)
    (tmp_path / "rtl").mkdir()
    (tmp_path / "rtl" / "old.v").write_text("old")
    with pytest.raises(RuntimeError):
        with build.staged_folder("rtl/") as folder:
            (folder / "new.v").write_text("new")
            raise RuntimeError("lint failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtl"]
    assert [p.name for p in (tmp_path / "rtl").iterdir()] == ["old.v"]
    with build.staged_folder("rtl/") as folder:
        (folder / "new.v").write_text("new")
    assert [p.name for p in (tmp_path / "rtl").iterdir()] == ["new.v"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtl"]


def test_steps_that_do_not_depend_on_each_other_run_together():
    """Report and rtl both read the export's files only; synth and verify both read rtl/ and neither reads the
    other's results; every other step reads what the one before it wrote."""
    from shiftspike.build import STEPS, Step, concurrent_groups, independent

    assert [[s.name for s in group] for group in concurrent_groups(STEPS)] == [
        ["train"], ["export"], ["report", "rtl"], ["synth", "verify"], ["summary"]]
    writer, reader = Step("a", (), ("rtl/",), ""), Step("b", ("rtl/shift/x.v",), ("out.json",), "")
    assert not independent(writer, reader) and not independent(reader, writer)
    assert independent(Step("c", ("rtl/",), ("c.json",), ""), Step("d", ("rtl/",), ("d/",), ""))
