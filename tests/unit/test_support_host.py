"""The pure parts of the host probes every tier and bench/ share
(tests/support/host.py): mountinfo lines and /proc status text."""

from __future__ import annotations

from tests.support.host import Mount, parse_mountinfo, status_field, unescape

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
31 22 0:27 /sub /srv/with\\040space rw,nosuid - btrfs /dev/sdc1 rw
40 22 0:40 / /var/lib/barque/merged rw,relatime - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/u
not a mountinfo line
"""


def test_mountinfo_unescape():
    assert unescape(r"/tmp/a\040b\011c\134d") == "/tmp/a b\tc\\d"


def test_parse_mountinfo_fields_and_order():
    rows = parse_mountinfo(MOUNTINFO)
    assert rows[0] == Mount(device="8:1", root="/", point="/", options="rw,relatime", optional=("shared:1",),
                            fstype="ext4", source="/dev/sda1", super_options="rw,errors=remount-ro")
    assert (rows[1].root, rows[1].point, rows[1].optional) == ("/sub", "/srv/with space", ())
    assert rows[2].fstype == "overlay" and "upperdir=/u" in rows[2].super_options
    assert len(rows) == 3


def test_status_field_reads_host_and_container_text():
    text = "Name:\tsh\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\n"
    assert status_field(text, "CapEff") == "00000000a80425fb"
    assert status_field(text, "NoNewPrivs") == "1"
