"""The breakout corpus: hostile tars every path that writes a tar into a root must survive.

One definition for every tier: :func:`cases` builds each case's tars (with
:mod:`tests.support.layers`), the lower layers it needs and what must come of
it, and the tests run the same list through ``apply_layer`` (kernel tier), a
pull, ``load``, ``import``, ``cp`` and ``ADD`` (integration). The mapping to
the sources, containerd's ``pkg/archive/tar_test.go`` (``TestBreakouts``,
``TestApplyTar``) and the CVEs, is the docstring of
``tests/kernel/test_breakout_corpus.py``.

A case has two outcomes, because a tar goes into a root in two ways:

* ``layer``: as an image layer (pull, load, import, commit's unpack): applied
  by :func:`services.common.safetar.apply.apply_layer` into its own empty
  snapshot directory, ``.wh.`` names are whiteouts, the lowers are other
  snapshots below it in the overlay; the checks read the merged view;
* ``copy``: as ``cp`` extracts it (:func:`extract_tar`), into a directory
  that already holds the lowers, ``.wh.`` names plain files, owner the
  container's root, a directory never replaced by a non-directory or the
  reverse (``no_overwrite_dir_non_dir``); ``add`` as ``ADD`` of a local tar
  does: the same, the tar's owners kept, and a directory may replace a
  non-directory and back (:attr:`Case.add`, the copy outcome unless stated).

Either outcome is ``refused`` (a regular expression the one-line error
matches) or contained, with checks of where things landed inside the root.
Whatever the outcome, nothing outside the root may change: the sentinel
directory ``host`` each case is built for (see :class:`Sentinel`), the host's
``/``, ``/etc`` and ``/etc/passwd``, ``/tmp``.

A check is a tuple: ``("file", path, bytes)``, ``("absent", path)``,
``("dir", path)``, ``("symlink", path, target)``, ``("same", p1, p2)`` (one
inode, ``lstat``), ``("differ", p1, p2)``. Paths are relative to the root.

:func:`documents` are the non-tar cases (CVE-2024-3727, CVE-2021-41190): image
documents whose digests would be used as paths, or whose type is ambiguous.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.layers import (
    build_tar,
    dir_entry,
    file_entry,
    hardlink_entry,
    symlink_entry,
)

__all__ = ["Case", "Outcome", "Sentinel", "DocCase", "BAD_DIGESTS", "cases", "documents", "check_root",
           "CONTAINED", "SYMLINK_PARENT", "DOTDOT", "NOT_EARLIER", "INVALID_WHITEOUT"]

Check = tuple


@dataclass(frozen=True)
class Outcome:
    """``refused``: the error's words (a regex); None: contained, ``checks`` hold."""

    refused: str | None = None
    checks: tuple[Check, ...] = ()

    @property
    def contained(self) -> bool:
        return self.refused is None


CONTAINED = Outcome()
#: the error words of each refusal
SYMLINK_PARENT = "symlink"
DOTDOT = r"'\.\.' component"
NOT_EARLIER = "not an earlier entry"
INVALID_WHITEOUT = "invalid whiteout"


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    layer: bytes
    layer_outcome: Outcome
    copy_outcome: Outcome
    lowers: tuple[bytes, ...] = ()
    add_outcome: Outcome | None = None  # None: the copy outcome

    @property
    def add(self) -> Outcome:
        """As ``ADD`` extracts it: ``cp``'s way, but a directory may replace a non-directory and back."""
        return self.add_outcome or self.copy_outcome

    @property
    def refused_everywhere(self) -> bool:
        return not self.layer_outcome.contained and not self.copy_outcome.contained


def _refused(words: str) -> Outcome:
    return Outcome(refused=words)


def _ok(*checks: Check) -> Outcome:
    return Outcome(checks=tuple(checks))


def _etc_passwd(text: bytes = b"inside") -> list:
    return [dir_entry("etc", 0o770), file_entry("/etc/passwd", text)]


def _containerd(host: str) -> list[Case]:
    """TestBreakouts and TestApplyTar, one to one, in containerd's order."""
    tb = "containerd TestBreakouts/"
    unbroken = file_entry("/localetc/unbroken", b"unbroken")
    tname = "breakout-" + os.path.basename(host)
    lower_etc = build_tar([dir_entry("etc/"), file_entry("etc/passwd", b"inside"), dir_entry("localetc/")])
    lower_etc_link = build_tar([dir_entry("etc/"), file_entry("etc/passwd", b"inside"),
                                symlink_entry("localetc", "/etc")])
    lower_users = build_tar([dir_entry("etc/"), file_entry("etc/passwd", b"all users"),
                             file_entry("etc/whitedout", b"ahhhh whiteout"), symlink_entry("localetc", "/etc")])
    lower_dne = build_tar([dir_entry("etc/"), file_entry("etc/passwd", b"all users"),
                           symlink_entry("localetc", "/dne")])
    through = _refused(SYMLINK_PARENT)
    link_through = _refused(NOT_EARLIER)
    same_passwd = _ok(("same", "localpasswd", "etc/passwd"), ("file", "etc/passwd", b"inside"))
    return [
        Case("SymlinkAbsolute", tb + "SymlinkAbsolute", build_tar([
            dir_entry("etc"), symlink_entry("localetc", "/etc"), unbroken]), through, through),
        Case("SymlinkUpAndOut", tb + "SymlinkUpAndOut", build_tar([
            dir_entry("etc"), dir_entry("dummy"), symlink_entry("localetc", "/dummy/../etc"), unbroken]),
            through, through),
        Case("SymlinkMultipleAbsolute", tb + "SymlinkMultipleAbsolute", build_tar([
            dir_entry("etc"), dir_entry("dummy"), symlink_entry("/dummy/etc", "/etc"),
            symlink_entry("localetc", "/dummy/etc"), file_entry("/dummy/etc/unbroken", b"unbroken")]),
            through, through),
        Case("SymlinkMultipleRelative", tb + "SymlinkMultipleRelative", build_tar([
            dir_entry("etc"), dir_entry("dummy"), symlink_entry("/dummy/etc", "/etc"),
            symlink_entry("localetc", "./dummy/etc"), file_entry("/dummy/etc/unbroken", b"unbroken")]),
            through, through),
        Case("SymlinkEmptyFile", tb + "SymlinkEmptyFile", build_tar([
            dir_entry("etc"), file_entry("etc/emptied", b"notempty"), symlink_entry("localetc", "/etc"),
            file_entry("/localetc/emptied", b"")]), through, through),
        Case("HardlinkRelative", tb + "HardlinkRelative", build_tar([
            *_etc_passwd(), dir_entry("breakouts"), symlink_entry("breakouts/d1", "../../etc"),
            hardlink_entry("breakouts/mypasswd", "/breakouts/d1/passwd")]), link_through, link_through),
        Case("HardlinkDownAndOut", tb + "HardlinkDownAndOut", build_tar([
            *_etc_passwd(), dir_entry("breakouts"), dir_entry("downandout"),
            symlink_entry("breakouts/d1", "../downandout/../../etc"),
            hardlink_entry("breakouts/mypasswd", "/breakouts/d1/passwd")]), link_through, link_through),
        Case("HardlinkAbsolute", tb + "HardlinkAbsolute", build_tar([
            *_etc_passwd(), symlink_entry("localetc", "/etc"), hardlink_entry("localpasswd", "/localetc/passwd")]),
            link_through, link_through),
        Case("HardlinkRelativeLong", tb + "HardlinkRelativeLong", build_tar([
            *_etc_passwd(), symlink_entry("localetc", "../../../../../../../etc"),
            hardlink_entry("localpasswd", "/localetc/passwd")]), link_through, link_through),
        Case("HardlinkRelativeUpAndOut", tb + "HardlinkRelativeUpAndOut", build_tar([
            *_etc_passwd(), symlink_entry("localetc", "upandout/../../../etc"),
            hardlink_entry("localpasswd", "/localetc/passwd")]), link_through, link_through),
        Case("HardlinkDirectRelative", tb + "HardlinkDirectRelative", build_tar([
            *_etc_passwd(), hardlink_entry("localpasswd", "../../../../../etc/passwd")]),
            _refused(DOTDOT), _refused(DOTDOT)),
        Case("HardlinkDirectAbsolute", tb + "HardlinkDirectAbsolute", build_tar([
            *_etc_passwd(), hardlink_entry("localpasswd", "/etc/passwd")]), same_passwd, same_passwd),
        Case("SymlinkParentDirectory", tb + "SymlinkParentDirectory", build_tar([
            *_etc_passwd(), symlink_entry("..", "/etc/"), hardlink_entry("localpasswd", "/etc/passwd")]),
            _refused(DOTDOT), _refused(DOTDOT)),
        Case("SymlinkEmptyFilename", tb + "SymlinkEmptyFilename", build_tar([
            *_etc_passwd(), symlink_entry("", "/etc/"), hardlink_entry("localpasswd", "/etc/passwd")]),
            same_passwd, same_passwd),
        Case("SymlinkParentRelative", tb + "SymlinkParentRelative", build_tar([
            *_etc_passwd(), symlink_entry("localetc/sub/..", "/etc/"),
            hardlink_entry("/localetc/localpasswd", "/etc/passwd")]), _refused(DOTDOT), _refused(DOTDOT)),
        Case("SymlinkSlashEnded", tb + "SymlinkSlashEnded", build_tar([
            *_etc_passwd(), dir_entry("localetc/", 0o770), hardlink_entry("/localetc/localpasswd", "/etc/passwd")]),
            _ok(("same", "localetc/localpasswd", "etc/passwd")), _ok(("same", "localetc/localpasswd", "etc/passwd"))),
        Case("SymlinkOverrideDirectory", tb + "SymlinkOverrideDirectory", build_tar([
            symlink_entry("localetc", "/etc"), hardlink_entry("/localetc/localpasswd", "/etc/passwd")]),
            through, _refused("cannot overwrite directory"), lowers=(lower_etc,), add_outcome=through),
        Case("SymlinkOverrideDirectoryRelative", tb + "SymlinkOverrideDirectoryRelative", build_tar([
            symlink_entry("localetc", "../../etc"), hardlink_entry("/localetc/localpasswd", "/etc/passwd")]),
            through, _refused("cannot overwrite directory"), lowers=(lower_etc,), add_outcome=through),
        # a hardlink to a lower layer's file is no entry of this layer (overlay cannot link across layers)
        Case("DirectoryOverrideSymlink", tb + "DirectoryOverrideSymlink", build_tar([
            dir_entry("/localetc/"), hardlink_entry("/localetc/localpasswd", "/etc/passwd")]),
            link_through, _refused("cannot overwrite non-directory"), lowers=(lower_etc_link,),
            add_outcome=_ok(("same", "localetc/localpasswd", "etc/passwd"), ("dir", "localetc"))),
        # the lower's own hardlink through its symlink is refused by our applier, so the lower lacks it
        Case("DirectoryOverrideSymlinkAndHardlink", tb + "DirectoryOverrideSymlinkAndHardlink", build_tar([
            dir_entry("/localetc/"), file_entry("/localetc/localpasswd", b"different")]),
            _ok(("file", "localetc/localpasswd", b"different"), ("file", "etc/passwd", b"inside"),
                ("differ", "localetc/localpasswd", "etc/passwd")),
            _refused("cannot overwrite non-directory"), lowers=(lower_etc_link,),
            add_outcome=_ok(("file", "localetc/localpasswd", b"different"), ("file", "etc/passwd", b"inside"))),
        Case("WhiteoutRootParent", tb + "WhiteoutRootParent", build_tar([file_entry(".wh...", b"")]),
            _refused(INVALID_WHITEOUT), _ok(("file", ".wh...", b""), ("file", "etc/passwd", b"inside")),
            lowers=(lower_etc,)),
        Case("WhiteoutParent", tb + "WhiteoutParent", build_tar([file_entry("etc/.wh...", b"")]),
            _refused(INVALID_WHITEOUT), _ok(("file", "etc/.wh...", b""), ("file", "etc/passwd", b"inside")),
            lowers=(lower_etc,)),
        Case("WhiteoutRoot", tb + "WhiteoutRoot", build_tar([file_entry(".wh..", b"")]),
            _refused(INVALID_WHITEOUT), _ok(("file", ".wh..", b""), ("file", "etc/passwd", b"inside")),
            lowers=(lower_etc,)),
        Case("WhiteoutCurrentDirectory", tb + "WhiteoutCurrentDirectory", build_tar([file_entry("etc/.wh..", b"")]),
            _refused(INVALID_WHITEOUT), _ok(("file", "etc/.wh..", b""), ("file", "etc/passwd", b"inside")),
            lowers=(lower_etc,)),
        Case("WhiteoutSymlink", tb + "WhiteoutSymlink", build_tar([file_entry(".wh.localetc", b"")]),
            _ok(("file", "etc/passwd", b"all users"), ("absent", "localetc")),
            _ok(("file", "etc/passwd", b"all users"), ("file", ".wh.localetc", b""),
                ("symlink", "localetc", "/etc")), lowers=(lower_users,)),
        # containerd deletes etc/whitedout through the symlink (its TODO says it should not); here the
        # whiteout's parent is a directory of this layer, hiding the lower symlink, and etc/ is untouched
        Case("WhiteoutSymlinkPath", tb + "WhiteoutSymlinkPath", build_tar([file_entry("localetc/.wh.whitedout", b"")]),
            _ok(("file", "etc/passwd", b"all users"), ("file", "etc/whitedout", b"ahhhh whiteout"),
                ("dir", "localetc"), ("absent", "localetc/whitedout")),
            _refused(SYMLINK_PARENT), lowers=(lower_users,)),
        Case("WhiteoutDirectoryName", tb + "WhiteoutDirectoryName", build_tar([file_entry(".wh.etc/somefile", b"non-empty")]),
            _ok(("file", "etc/passwd", b"all users"), ("file", ".wh.etc/somefile", b"non-empty")),
            _ok(("file", "etc/passwd", b"all users"), ("file", ".wh.etc/somefile", b"non-empty")),
            lowers=(lower_users,)),
        Case("WhiteoutDeadSymlinkParent", tb + "WhiteoutDeadSymlinkParent", build_tar([file_entry("localetc/.wh.etc", b"")]),
            _ok(("file", "etc/passwd", b"all users"), ("dir", "localetc")),
            _refused(SYMLINK_PARENT), lowers=(lower_dne,)),
        Case("WhiteoutRelativePath", tb + "WhiteoutRelativePath", build_tar([file_entry("dne/../.wh.etc", b"")]),
            _refused(DOTDOT), _refused(DOTDOT), lowers=(lower_dne,)),
        Case("SymlinkOverridePath", tb + "SymlinkOverridePath", build_tar([
            dir_entry("foo"), dir_entry("foo/tmp"), file_entry("foo/tmp/" + tname, bytes([0, 1, 2])),
            symlink_entry("foo", "/"), file_entry("foo/tmp/" + tname, bytes([3, 4, 5])),
            dir_entry("foo"), dir_entry("foo/tmp"), file_entry("foo/tmp/" + tname, bytes([6, 7, 8]))]),
            through, _refused("cannot overwrite directory"), add_outcome=through),
        Case("HardlinkSymlinkBeforeCreateTarget", tb + "HardlinkSymlinkBeforeCreateTarget", build_tar([
            dir_entry("etc", 0o770), symlink_entry("localpasswd", "/etc/passwd"),
            hardlink_entry("localpasswd-dup", "localpasswd"), file_entry("/etc/passwd", b"after")]),
            _ok(("same", "localpasswd-dup", "localpasswd"), ("symlink", "localpasswd-dup", "/etc/passwd"),
                ("file", "etc/passwd", b"after")),
            _ok(("same", "localpasswd-dup", "localpasswd"), ("symlink", "localpasswd-dup", "/etc/passwd"),
                ("file", "etc/passwd", b"after"))),
        Case("HardlinkSymlinkRelative", tb + "HardlinkSymlinkRelative", build_tar([
            *_etc_passwd(), symlink_entry("passwdlink", "../../../../../etc/passwd"),
            hardlink_entry("localpasswd", "/passwdlink")]),
            _ok(("same", "localpasswd", "passwdlink"), ("symlink", "localpasswd", "../../../../../etc/passwd")),
            _ok(("same", "localpasswd", "passwdlink"), ("symlink", "localpasswd", "../../../../../etc/passwd"))),
        Case("HardlinkSymlinkAbsolute", tb + "HardlinkSymlinkAbsolute", build_tar([
            *_etc_passwd(), symlink_entry("passwdlink", "/etc/passwd"), hardlink_entry("localpasswd", "/passwdlink")]),
            _ok(("same", "localpasswd", "passwdlink"), ("symlink", "localpasswd", "/etc/passwd")),
            _ok(("same", "localpasswd", "passwdlink"), ("symlink", "localpasswd", "/etc/passwd"))),
        Case("HardlinkSymlinkChmod", tb + "HardlinkSymlinkChmod", build_tar([
            symlink_entry(host + "/also-exists-outside-root", host + "/perm400"),
            _chmod(hardlink_entry("sketchylink", host + "/also-exists-outside-root"), 0o777)]),
            _ok(("same", "sketchylink", host.lstrip("/") + "/also-exists-outside-root"),
                ("symlink", "sketchylink", host + "/perm400")),
            _ok(("same", "sketchylink", host.lstrip("/") + "/also-exists-outside-root"))),
        Case("DirectoryCreation", "containerd TestApplyTar/DirectoryCreation", build_tar([
            dir_entry("/etc/subdir"), dir_entry("/etc/subdir2/"), dir_entry("/etc/subdir2/more"),
            dir_entry("/other/noparent-1/1"), dir_entry("/other/noparent-2/2/")]),
            _ok(*[("dir", d) for d in ("etc/subdir", "etc/subdir2", "etc/subdir2/more",
                                       "other/noparent-1/1", "other/noparent-2/2")]),
            _ok(*[("dir", d) for d in ("etc/subdir", "etc/subdir2", "etc/subdir2/more",
                                       "other/noparent-1/1", "other/noparent-2/2")]),
            lowers=(build_tar([dir_entry("etc/")]),)),
    ]


def _chmod(entry, mode: int):
    info, data = entry
    info.mode = mode
    return info, data


def _cves_and_barque(host: str) -> list[Case]:
    """CVE-2021-32760 and barque's own T1-T5 (security-reliability.md §1.2)."""
    cve = "CVE-2021-32760 "
    return [
        Case("Cve202132760HardlinkToSymlinkChmod", cve + "(hardlink to a symlink, then chmod through it)",
             build_tar([symlink_entry("s", host + "/file"), _chmod(hardlink_entry("h", "s"), 0o777),
                        _chmod(file_entry("perm", b"x"), 0o4777)]),
             _ok(("symlink", "h", host + "/file"), ("same", "h", "s")),
             _ok(("symlink", "h", host + "/file"), ("same", "h", "s"))),
        Case("Cve202132760FileOverHostSymlink", cve + "(a file entry over a symlink to a host file)",
             build_tar([symlink_entry("f", host + "/file"), _chmod(file_entry("f", b"overwrite"), 0o777)]),
             _ok(("file", "f", b"overwrite")), _ok(("file", "f", b"overwrite"))),
        Case("DotDotName", "barque T1 ('..' in a name)", build_tar([file_entry("../escape", b"escaped")]),
             _refused(DOTDOT), _refused(DOTDOT)),
        Case("DotDotDeep", "barque T1 (a/../../x)", build_tar([file_entry("a/../../x", b"escaped")]),
             _refused(DOTDOT), _refused(DOTDOT)),
        Case("AbsoluteName", "barque T2 (absolute name)", build_tar([file_entry("/abs-escape", b"abs")]),
             _ok(("file", "abs-escape", b"abs")), _ok(("file", "abs-escape", b"abs"))),
        Case("SymlinkToHostThenWrite", "barque T3 (write through a symlink to a host dir)",
             build_tar([symlink_entry("evil", host + "/dir"), file_entry("evil/pwned", b"pwned")]),
             _refused(SYMLINK_PARENT), _refused(SYMLINK_PARENT)),
        Case("SymlinkAcrossLayers", "barque T3 (the symlink in a lower layer, the write in this one)",
             build_tar([file_entry("evil/pwned", b"pwned")]),
             _ok(("dir", "evil"), ("file", "evil/pwned", b"pwned")), _refused(SYMLINK_PARENT),
             lowers=(build_tar([symlink_entry("evil", host + "/dir")]),)),
        Case("DotDotSymlinkThenWrite", "barque T3/T4 (evil -> ../../../.. then evil/x)",
             build_tar([symlink_entry("evil", "../../../.."), file_entry("evil/x", b"x")]),
             _refused(SYMLINK_PARENT), _refused(SYMLINK_PARENT)),
        Case("HardlinkToHostFile", "barque T5 (hardlink to /etc/passwd, not in the layer)",
             build_tar([hardlink_entry("passwd-link", "/etc/passwd")]), _refused(NOT_EARLIER),
             _refused(NOT_EARLIER)),
        Case("DirThroughSymlinkParent", "barque T3 (a directory entry below a symlink)",
             build_tar([symlink_entry("evil", host), dir_entry("evil/dir/", mode=0o777)]),
             _refused(SYMLINK_PARENT), _refused(SYMLINK_PARENT)),
        Case("WhiteoutThroughSymlinkParent", "barque T7 (a whiteout below a symlink to a host dir)",
             build_tar([symlink_entry("evil", host), file_entry("evil/.wh.file", b"")]),
             _refused(SYMLINK_PARENT), _refused(SYMLINK_PARENT)),
        Case("OpaqueThroughSymlinkParent", "barque T7 (an opaque marker below a symlink)",
             build_tar([symlink_entry("evil", host), file_entry("evil/.wh..wh..opq", b"")]),
             _refused(SYMLINK_PARENT), _refused(SYMLINK_PARENT)),
        Case("TrustedOverlayXattr", "barque T8 (a forged trusted.overlay.* xattr)",
             build_tar([file_entry("f", b"x", xattrs={"trusted.overlay.redirect": "/etc"})]),
             _refused("admin xattr"), _refused("admin xattr")),
    ]


def cases(host: str) -> list[Case]:
    """Every tar case, built for the sentinel directory ``host`` (an absolute path)."""
    out = _containerd(host) + _cves_and_barque(host)
    assert len({c.name for c in out}) == len(out)
    return out


@dataclass(frozen=True)
class DocCase:
    """A manifest (or index) whose digests or type are hostile; ``error``: the refusal's words."""

    name: str
    source: str
    manifest: dict
    error: str
    content_type: str = "application/vnd.oci.image.manifest.v1+json"


_GOOD = "sha256:" + "a" * 64


def _manifest(layer_digest: str = _GOOD, config_digest: str = _GOOD, **extra) -> dict:
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": 2}]}
    doc.update(extra)
    return doc


#: CVE-2024-3727: digests that would name a path outside the store, or another file than theirs
BAD_DIGESTS = {
    "DigestDotDot": "sha256:../../../../etc/passwd",
    "DigestShort": "sha256:" + "a" * 63,
    "DigestLong": "sha256:" + "a" * 65,
    "DigestUppercase": "sha256:" + "A" * 64,
    "DigestUnknownAlgorithm": "md5:" + "a" * 32,
    "DigestSlash": "sha256:" + "a" * 32 + "/" + "a" * 31,
}


def documents() -> list[DocCase]:
    """CVE-2024-3727 (digests used as paths) and CVE-2021-41190 (ambiguous documents)."""
    cve3727, cve41190 = "CVE-2024-3727 ", "CVE-2021-41190 "
    out = []
    for name, digest in BAD_DIGESTS.items():
        out.append(DocCase("Layer" + name, cve3727 + "(layer digest)", _manifest(layer_digest=digest),
                           "invalid digest"))
        out.append(DocCase("Config" + name, cve3727 + "(config digest)", _manifest(config_digest=digest),
                           "invalid digest"))
    out += [
        DocCase("AmbiguousManifestAndIndex", cve41190 + "(manifests beside layers/config)",
                _manifest(manifests=[{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                      "digest": _GOOD, "size": 2}]), "ambiguous"),
        DocCase("MediaTypeManifestBodyIndex", cve41190 + "(mediaType says manifest, the body is an index)",
                {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "manifests": []}, "does not match the document"),
        DocCase("ContentTypeManifestBodyIndex", cve41190 + "(Content-Type says manifest, the body is an index: "
                "the body's type wins, and an index is no image manifest)",
                {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []},
                "is an index, not an image manifest"),
    ]
    return out


@dataclass
class Sentinel:
    """The host state a case must not change: ``dir`` (``file``, ``dir/``,
    ``perm400``, ``also-exists-outside-root``) plus the host's ``/``, ``/etc``,
    ``/etc/passwd`` and the ``/tmp`` breakout name. :meth:`assert_untouched`
    compares everything with the snapshot taken at construction."""

    dir: Path
    _before: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.dir / "dir").mkdir(parents=True)
        (self.dir / "file").write_text("sentinel\n")
        (self.dir / "perm400").write_text("...")
        (self.dir / "perm400").chmod(0o400)
        (self.dir / "also-exists-outside-root").write_text("...")
        (self.dir / "also-exists-outside-root").chmod(0o640)
        self._before = self._state()

    def _state(self) -> dict:
        out: dict = {}
        for dirpath, dirs, files in os.walk(self.dir):
            for name in dirs + files:
                p = Path(dirpath) / name
                st = p.lstat()
                content = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
                out[str(p)] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns, st.st_nlink, content)
        passwd = os.stat("/etc/passwd")
        out["/etc/passwd"] = (passwd.st_mode, passwd.st_nlink, passwd.st_mtime_ns, passwd.st_size)
        out["/"] = sorted(os.listdir("/"))
        out["/etc"] = sorted(os.listdir("/etc"))
        out["/tmp"] = os.path.lexists("/tmp/breakout-" + self.dir.name)
        return out

    def assert_untouched(self) -> None:
        now = self._state()
        changed = {k: (self._before.get(k), now.get(k)) for k in set(now) | set(self._before)
                   if now.get(k) != self._before.get(k)}
        assert not changed, f"outside the root changed: {changed}"


def check_root(root: Path, checks: tuple[Check, ...]) -> None:
    """Assert every check of a contained outcome on ``root`` (a merged view)."""
    for check in checks:
        kind, path = check[0], root / check[1]
        if kind == "file":
            assert not path.is_symlink() and path.read_bytes() == check[2], (check, path)
        elif kind == "absent":
            assert not os.path.lexists(path), check
        elif kind == "dir":
            assert path.is_dir() and not path.is_symlink(), check
        elif kind == "symlink":
            assert path.is_symlink() and os.readlink(path) == check[2], check
        elif kind in ("same", "differ"):
            a, b = path.lstat(), (root / check[2]).lstat()
            assert ((a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)) == (kind == "same"), check
        else:
            raise AssertionError(f"unknown check {check!r}")


def manifest_bytes(doc: DocCase) -> bytes:
    return json.dumps(doc.manifest).encode()
