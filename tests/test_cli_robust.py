"""``cdcgen validate`` cannot be crashed or stalled by its input.

Random bytes and random YAML (tags, anchors and aliases, deep nesting, huge scalars,
control characters, valid specs with one value replaced) go through the real CLI
(Typer's CliRunner). The only allowed outcomes: exit 0, or exit 1 with every stderr
line a located ``file:line:col: error: …``; never a traceback (exit 2 or an exception),
and each example within a time bound (hypothesis ``deadline``).
"""

from __future__ import annotations

import re
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cdcgen.cli import app
from tests.strategies_pipeline import budget

LOCATED = re.compile(r"^.+:\d+:\d+: error: .+$")
PER_EXAMPLE = timedelta(seconds=10)  # a generous bound on a loaded 2-core machine

VALID = """\
pipeline: fuzz
sources:
  companies:
    key: [id]
    updated_at: updated_at
    columns: {id: bigint, name: varchar(255), updated_at: timestamp}
facts:
  fact_vendor:
    key: [vendor_id]
    from: companies
    where: "companies.id > 0"
    columns: {vendor_id: companies.id, vendor_name: companies.name}
"""

SPECIAL = [
    "!!python/object/apply:os.system [echo pwned]",
    "!custom x",
    "&anchor value",
    "*anchor",
    "&a [*a]",
    "<<: *base",
    "!!str 1",
    "!!binary aGVsbG8=",
    "'" + "a" * 150_000 + "'",
    "a" * 5_000,
    "[" * 200 + "]" * 200,
    "{" * 100,
    "\x00",
    "\x07",
    "\ufeffBOM",
    "--- \n---",
    "? [complex, key]\n: value",
    "%YAML 1.1\n---",
    "on",
    "0x1F",
    "2024-01-01",
    ".nan",
    "|\n  block",
]

scalars = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=30),
    st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
    st.integers().map(str),
)


def _flow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    keys = st.from_regex(r"[a-z_]{1,8}", fullmatch=True)
    return st.one_of(
        st.lists(children, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(keys, children, max_size=4).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
        ),
    )


flow_yaml = st.recursive(scalars, _flow, max_leaves=30)


@st.composite
def mutated_spec(draw: st.DrawFn) -> str:
    """The valid spec with one line's value replaced by something hostile."""
    lines = VALID.splitlines()
    index = draw(st.integers(0, len(lines) - 1))
    key, sep, _ = lines[index].partition(":")
    lines[index] = f"{key}{sep} {draw(flow_yaml)}" if sep else draw(flow_yaml)
    return "\n".join(lines) + "\n"


yaml_documents = st.one_of(
    flow_yaml.map(lambda v: f"pipeline: fuzz\nsources: {v}\n"),
    mutated_spec(),
    st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), flow_yaml, max_size=5).map(
        lambda d: "".join(f"{k}: {v}\n" for k, v in d.items())
    ),
)


def validate_bytes(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "spec.yml"
        path.write_bytes(content)
        result = CliRunner().invoke(app, ["validate", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback: the property fails with it
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        lines = result.stderr.splitlines()
        assert lines, "exit 1 without an error message"
        bad = [line for line in lines if not LOCATED.match(line)]
        assert not bad, bad[:3]
        assert all(len(line) < 2_000 for line in lines), "a message repeats a long value"


@budget(60, 2000, deadline=PER_EXAMPLE, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3_000))
@example(b"\xff\xfe\x00\x00")
@example(b"pipeline: x\x00\n")
def test_random_bytes_never_crash_validate(content: bytes) -> None:
    validate_bytes(content)


@budget(150, 5000, deadline=PER_EXAMPLE, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_documents)
@example("a: &a [" + ", ".join(["*a"] * 9) + "]\n")
@example("pipeline: " + "[" * 10_000 + "]" * 10_000 + "\n")
@example(VALID.replace("companies.id > 0", "companies.id > " + "9" * 99_990))
def test_random_yaml_never_crashes_validate(text: str) -> None:
    validate_bytes(text.encode("utf-8", errors="surrogatepass"))


def test_a_5_mb_spec_validates_in_bounded_time() -> None:
    """Linear time: a 5 MB spec (600+ sources of 200 columns) well under 10 s. The bound
    is asserted loosely (60 s) so a loaded CI machine does not flake; the README gives
    the measured figure."""
    import time

    parts = ["pipeline: big\nsources:\n"]
    size, i = 0, 0
    column_lines = "".join(f"      column_number_{c}: varchar(255)\n" for c in range(200))
    while size < 5_000_000:
        block = (
            f"  s{i}:\n    key: [id]\n    updated_at: updated_at\n    columns:\n"
            f"      id: bigint\n      updated_at: timestamp\n{column_lines}"
        )
        parts.append(block)
        size += len(block)
        i += 1
    parts.append("facts:\n  f:\n    key: [id]\n    from: s0\n    columns: {id: s0.id}\n")
    started = time.perf_counter()
    validate_bytes("".join(parts).encode())
    assert time.perf_counter() - started < 60


def test_messages_cut_long_values_to_80_characters_and_their_length() -> None:
    """Whichever rule reports it, a long value shows as 'first 80…' (N characters)."""
    cases = {
        "companies.id > 0": "companies." + "n" * 400 + " > 0",  # a column rule
        "varchar(255)": "varchar(" + "9" * 400 + ")",  # a type rule
        "vendor_name: companies.name": "v" * 400 + ": companies.name",  # a name rule
    }
    for old, new in cases.items():
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "spec.yml"
            path.write_text(VALID.replace(old, new))
            result = CliRunner().invoke(app, ["validate", str(path)])
        assert result.exit_code == 1
        assert re.search(r"'[^']{80}…' \(\d{3} characters\)", result.stderr), result.stderr
        assert all(len(line) < 300 for line in result.stderr.splitlines()), result.stderr
