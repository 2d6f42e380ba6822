"""The breakout corpus (tests/support/hostilecorpus.py) through the two extractors (root).

Each tar case runs as an image layer (``apply_layer`` into its own snapshot
directory, its lowers below it, the checks read on a read-only overlay of
them) and as a copy (``extract_tar`` into a root holding the lowers, as
``cp`` and ``ADD``), with openat2 and with the fallback walk. A sentinel
directory beside the root, the host's ``/``, ``/etc``, ``/etc/passwd`` and
``/tmp`` must be unchanged whatever the outcome. The document cases run
through the pull's readers (``manifest_media_type``, ``parse_manifest``);
tests/integration/test_breakout_paths.py runs them through ``load`` too, and
tests/registry/test_hostile_digests.py serves CVE-2024-3727's digests to the
registry-proxy from a hostile registry.

Mapping (source -> corpus case -> outcome as a layer, through ``cp`` and
through ``ADD``; the CVE and barque rows' details are each case's ``source``
in the corpus). containerd follows symlinks inside the root while
extracting; barque never writes through a symlink at all, so most of
containerd's "contained" cases are refused here, before anything leaves the
root. "TestBreakouts/X" is containerd's ``pkg/archive/tar_test.go``
``TestBreakouts`` case X, one corpus case each, with containerd's name:

=================================================  ===================================  ===========================================
source                                             corpus case                          layer / cp / ADD
=================================================  ===================================  ===========================================
TestBreakouts/SymlinkAbsolute                      SymlinkAbsolute                      refused / refused / refused
TestBreakouts/SymlinkUpAndOut                      SymlinkUpAndOut                      refused / refused / refused
TestBreakouts/SymlinkMultipleAbsolute              SymlinkMultipleAbsolute              refused / refused / refused
TestBreakouts/SymlinkMultipleRelative              SymlinkMultipleRelative              refused / refused / refused
TestBreakouts/SymlinkEmptyFile                     SymlinkEmptyFile                     refused / refused / refused
TestBreakouts/HardlinkRelative                     HardlinkRelative                     refused / refused / refused
TestBreakouts/HardlinkDownAndOut                   HardlinkDownAndOut                   refused / refused / refused
TestBreakouts/HardlinkAbsolute                     HardlinkAbsolute                     refused / refused / refused
TestBreakouts/HardlinkRelativeLong                 HardlinkRelativeLong                 refused / refused / refused
TestBreakouts/HardlinkRelativeUpAndOut             HardlinkRelativeUpAndOut             refused / refused / refused
TestBreakouts/HardlinkDirectRelative               HardlinkDirectRelative               refused / refused / refused
TestBreakouts/HardlinkDirectAbsolute               HardlinkDirectAbsolute               contained / contained / contained
TestBreakouts/SymlinkParentDirectory               SymlinkParentDirectory               refused / refused / refused
TestBreakouts/SymlinkEmptyFilename                 SymlinkEmptyFilename                 contained / contained / contained
TestBreakouts/SymlinkParentRelative                SymlinkParentRelative                refused / refused / refused
TestBreakouts/SymlinkSlashEnded                    SymlinkSlashEnded                    contained / contained / contained
TestBreakouts/SymlinkOverrideDirectory             SymlinkOverrideDirectory             refused / refused / refused
TestBreakouts/SymlinkOverrideDirectoryRelative     SymlinkOverrideDirectoryRelative     refused / refused / refused
TestBreakouts/DirectoryOverrideSymlink             DirectoryOverrideSymlink             refused / refused / contained
TestBreakouts/DirectoryOverrideSymlinkAndHardlink  DirectoryOverrideSymlinkAndHardlink  contained / refused / contained
TestBreakouts/WhiteoutRootParent                   WhiteoutRootParent                   refused / contained / contained
TestBreakouts/WhiteoutParent                       WhiteoutParent                       refused / contained / contained
TestBreakouts/WhiteoutRoot                         WhiteoutRoot                         refused / contained / contained
TestBreakouts/WhiteoutCurrentDirectory             WhiteoutCurrentDirectory             refused / contained / contained
TestBreakouts/WhiteoutSymlink                      WhiteoutSymlink                      contained / contained / contained
TestBreakouts/WhiteoutSymlinkPath                  WhiteoutSymlinkPath                  contained / refused / refused
TestBreakouts/WhiteoutDirectoryName                WhiteoutDirectoryName                contained / contained / contained
TestBreakouts/WhiteoutDeadSymlinkParent            WhiteoutDeadSymlinkParent            contained / refused / refused
TestBreakouts/WhiteoutRelativePath                 WhiteoutRelativePath                 refused / refused / refused
TestBreakouts/SymlinkOverridePath                  SymlinkOverridePath                  refused / refused / refused
TestBreakouts/HardlinkSymlinkBeforeCreateTarget    HardlinkSymlinkBeforeCreateTarget    contained / contained / contained
TestBreakouts/HardlinkSymlinkRelative              HardlinkSymlinkRelative              contained / contained / contained
TestBreakouts/HardlinkSymlinkAbsolute              HardlinkSymlinkAbsolute              contained / contained / contained
TestBreakouts/HardlinkSymlinkChmod                 HardlinkSymlinkChmod                 contained / contained / contained
TestApplyTar/DirectoryCreation                     DirectoryCreation                    contained / contained / contained
CVE-2021-32760                                     Cve202132760HardlinkToSymlinkChmod   contained / contained / contained
CVE-2021-32760                                     Cve202132760FileOverHostSymlink      contained / contained / contained
barque T1                                          DotDotName                           refused / refused / refused
barque T1                                          DotDotDeep                           refused / refused / refused
barque T2                                          AbsoluteName                         contained / contained / contained
barque T3                                          SymlinkToHostThenWrite               refused / refused / refused
barque T3                                          SymlinkAcrossLayers                  contained / refused / refused
barque T3/T4                                       DotDotSymlinkThenWrite               refused / refused / refused
barque T5                                          HardlinkToHostFile                   refused / refused / refused
barque T3                                          DirThroughSymlinkParent              refused / refused / refused
barque T7                                          WhiteoutThroughSymlinkParent         refused / refused / refused
barque T7                                          OpaqueThroughSymlinkParent           refused / refused / refused
barque T8                                          TrustedOverlayXattr                  refused / refused / refused
CVE-2024-3727                                      LayerDigestDotDot                    refused: invalid digest
CVE-2024-3727                                      ConfigDigestDotDot                   refused: invalid digest
CVE-2024-3727                                      LayerDigestShort                     refused: invalid digest
CVE-2024-3727                                      ConfigDigestShort                    refused: invalid digest
CVE-2024-3727                                      LayerDigestLong                      refused: invalid digest
CVE-2024-3727                                      ConfigDigestLong                     refused: invalid digest
CVE-2024-3727                                      LayerDigestUppercase                 refused: invalid digest
CVE-2024-3727                                      ConfigDigestUppercase                refused: invalid digest
CVE-2024-3727                                      LayerDigestUnknownAlgorithm          refused: invalid digest
CVE-2024-3727                                      ConfigDigestUnknownAlgorithm         refused: invalid digest
CVE-2024-3727                                      LayerDigestSlash                     refused: invalid digest
CVE-2024-3727                                      ConfigDigestSlash                    refused: invalid digest
CVE-2021-41190                                     AmbiguousManifestAndIndex            refused: ambiguous
CVE-2021-41190                                     MediaTypeManifestBodyIndex           refused: does not match the document
CVE-2021-41190                                     ContentTypeManifestBodyIndex         refused: is an index, not an image manifest
=================================================  ===================================  ===========================================

"Refused" is the whole tar refused with one error naming the entry; the
caller keeps nothing (tests/integration/test_breakout_paths.py checks that
per path). Where the error words differ by reason they are the corpus's
``SYMLINK_PARENT``, ``DOTDOT``, ``NOT_EARLIER``, ``INVALID_WHITEOUT``.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.common.safetar import beneath as fdpath
from services.common.safetar.apply import apply_layer
from services.common.safetar.errors import UnsafeLayer
from services.common.safetar.extract import ExtractOptions, extract_tar
from services.images.manifests import parse_manifest
from services.registry.manifest import manifest_media_type
from tests.support import hostilecorpus
from tests.support.hostilecorpus import Case, Sentinel, check_root

_NAMES = [c.name for c in hostilecorpus.cases("/x")]


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "walk":
        monkeypatch.setattr(fdpath._openat2(), "usable", False)
    return request.param


@pytest.fixture
def sentinel(tmp_path: Path):
    s = Sentinel(tmp_path / "sentinel")
    yield s
    s.assert_untouched()


def _case(sentinel: Sentinel, name: str) -> Case:
    return next(c for c in hostilecorpus.cases(str(sentinel.dir)) if c.name == name)


@contextmanager
def _merged(dirs: list[Path]):
    """A read-only overlay of ``dirs`` (top first); one directory is its own view."""
    if len(dirs) == 1:
        yield dirs[0]
        return
    target = dirs[0].parent / "merged"
    target.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    "ro,lowerdir=" + ":".join(str(d) for d in dirs), str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


@pytest.mark.root
@pytest.mark.parametrize("name", _NAMES)
def test_as_layer(tmp_path: Path, sentinel: Sentinel, resolver: str, name: str) -> None:
    case = _case(sentinel, name)
    dirs = []
    for i, tar in enumerate([*case.lowers, case.layer]):
        d = tmp_path / f"layer{i}"
        d.mkdir()
        dirs.append(d)
        if i < len(case.lowers):
            apply_layer(io.BytesIO(tar), d)
    outcome = case.layer_outcome
    if not outcome.contained:
        with pytest.raises(UnsafeLayer, match=outcome.refused) as err:
            apply_layer(io.BytesIO(case.layer), dirs[-1])
        assert "\n" not in str(err.value)
        return
    apply_layer(io.BytesIO(case.layer), dirs[-1])
    with _merged(dirs[::-1]) as view:
        check_root(view, outcome.checks)


@pytest.mark.root
@pytest.mark.parametrize("how", ["cp", "add"])
@pytest.mark.parametrize("name", _NAMES)
def test_as_copy(tmp_path: Path, sentinel: Sentinel, resolver: str, name: str, how: str) -> None:
    case = _case(sentinel, name)
    root = tmp_path / "root"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for lower in case.lowers:
            extract_tar(io.BytesIO(lower), fd, ExtractOptions(owner=None))
        # the runtime's CopyTo headers: cp's (cli/cp.py) and ADD's (cli/buildrun.py)
        cp = (ExtractOptions(owner=(0, 0), no_overwrite_dir_non_dir=True) if how == "cp"
              else ExtractOptions(owner=None, no_overwrite_dir_non_dir=False))
        outcome = case.copy_outcome if how == "cp" else case.add
        if not outcome.contained:
            with pytest.raises(UnsafeLayer, match=outcome.refused) as err:
                extract_tar(io.BytesIO(case.layer), fd, cp)
            assert "\n" not in str(err.value)
            return
        extract_tar(io.BytesIO(case.layer), fd, cp)
    finally:
        os.close(fd)
    check_root(root, outcome.checks)


@pytest.mark.parametrize("doc", hostilecorpus.documents(), ids=lambda d: d.name)
def test_documents_refused_by_the_pulls_readers(doc: hostilecorpus.DocCase) -> None:
    body = hostilecorpus.manifest_bytes(doc)
    with pytest.raises(Exception) as err:
        manifest_media_type(body, doc.content_type, "manifest")
        parse_manifest(body, "sha256:" + "0" * 64)
    assert re.search(doc.error, str(err.value)), str(err.value)
    assert "\n" not in str(err.value)
