"""The compact terminal view of a build: one line per step, redrawn while it
runs with its latest output, final with CACHED or its seconds; a failed
step's output printed whole."""

from __future__ import annotations

from cli.buildview import CompactView

LEGACY = (
    "Sending build context to Docker daemon  2.048kB\n"
    "Step 1/3 : FROM busybox\n ---> abcdefabcdef\n"
    "Step 2/3 : RUN echo hi\n ---> Running in 0123456789ab\nhi\n"
)


def _final_lines(out: list[str]) -> list[str]:
    text = "".join(out)
    return [chunk.split("\r\x1b[K")[-1] for chunk in text.split("\n") if chunk]


def test_one_line_per_step_with_cached_and_seconds():
    now = [0.0]
    out: list[str] = []
    view = CompactView(out.append, 40, clock=lambda: now[0])
    view.write(LEGACY)
    now[0] = 1.25
    view.write("Removing intermediate container 0123456789ab\n ---> 0123456789ab\n")
    view.write("Step 3/3 : ENV A=1\n ---> Using cache\n ---> 1111111111ff\n")
    view.close()
    lines = _final_lines(out)
    assert lines[0] == "Sending build context to Docker daemon  2.048kB"
    assert lines[1].startswith("[1/3] FROM busybox") and lines[1].endswith("0.0s") and len(lines[1]) == 39
    assert lines[2].startswith("[2/3] RUN echo hi") and lines[2].endswith("1.2s")
    assert lines[3].startswith("[3/3] ENV A=1") and lines[3].endswith("CACHED")
    assert "[2/3] RUN echo hi | hi" in "".join(out)  # the running step showed its output
    assert "Running in" not in "".join(out)


def test_a_failed_step_prints_its_whole_output_and_long_lines_fit():
    out: list[str] = []
    view = CompactView(out.append, 30)
    view.write("Step 1/1 : RUN " + "x" * 100 + "\n ---> Running in 0123456789ab\nline one\nline two")
    view.fail()
    text = "".join(out)
    assert text.endswith("line one\nline two\n")
    for chunk in text.split("\r\x1b[K"):
        for line in chunk.split("\n")[:1]:
            assert len(line) <= 29
