"""cli.push.PushPrinter: docker-cli's jsonmessage display of a push, on a
terminal (lines redrawn in place, bars) and off one (phases, no byte counts)."""

from __future__ import annotations

import io

from barque.images.v1 import images_pb2 as pb
from cli.push import PushPrinter

EVENTS = [
    pb.PushResponse(status=pb.PUSH_STATUS_INFO, message="The push refers to repository [r:5000/app]"),
    pb.PushResponse(id="aaaaaaaaaaaa", status=pb.PUSH_STATUS_PREPARING),
    pb.PushResponse(id="bbbbbbbbbbbb", status=pb.PUSH_STATUS_PREPARING),
    pb.PushResponse(id="aaaaaaaaaaaa", status=pb.PUSH_STATUS_PUSHING, current=1 << 20, total=4 << 20),
    pb.PushResponse(id="bbbbbbbbbbbb", status=pb.PUSH_STATUS_MOUNTED, message="Mounted from library/busybox"),
    pb.PushResponse(id="aaaaaaaaaaaa", status=pb.PUSH_STATUS_PUSHED),
    pb.PushResponse(status=pb.PUSH_STATUS_TAG_DONE, message="latest: digest: sha256:ab size: 527"),
]


def _show(tty: bool) -> str:
    out = io.StringIO()
    printer = PushPrinter(out, tty=tty)
    for ev in EVENTS:
        printer.event(ev)
    return out.getvalue()


def test_off_a_terminal_every_phase_but_the_byte_counts():
    assert _show(False).splitlines() == [
        "The push refers to repository [r:5000/app]",
        "aaaaaaaaaaaa: Preparing",
        "bbbbbbbbbbbb: Preparing",
        "bbbbbbbbbbbb: Mounted from library/busybox",
        "aaaaaaaaaaaa: Pushed",
        "latest: digest: sha256:ab size: 527",
    ]


def test_on_a_terminal_layer_lines_are_redrawn_in_place():
    text = _show(True)
    assert text.startswith("The push refers to repository [r:5000/app]\naaaaaaaaaaaa: Preparing\n"
                           "bbbbbbbbbbbb: Preparing\n")
    # the top layer's line is two lines up: cursor up 2, clear, redraw, back down
    assert "\x1b[2A\r\x1b[2Kaaaaaaaaaaaa: Pushing [===========>   " in text
    assert "]  1.05MB/4.19MB\x1b[2B\r" in text
    assert "\x1b[1A\r\x1b[2Kbbbbbbbbbbbb: Mounted from library/busybox\x1b[1B\r" in text
    assert "\x1b[2A\r\x1b[2Kaaaaaaaaaaaa: Pushed\x1b[2B\r" in text
    assert text.endswith("latest: digest: sha256:ab size: 527\n")
