"""The breakout corpus (tests/support/hostilecorpus.py) through the two extractors (root).

Each tar case runs as an image layer (``apply_layer`` into its own snapshot
directory, its lowers below it, the checks read on a read-only overlay of
them) and as a copy (``extract_tar`` into a root holding the lowers, as
``cp`` and ``ADD``), with openat2 and with the fallback walk. A sentinel
directory beside the root, the host's ``/``, ``/etc``, ``/etc/passwd`` and
``/tmp`` must be unchanged whatever the outcome. The document cases run
through the pull's readers (``manifest_media_type``, ``parse_manifest``).

Mapping (source -> corpus case -> outcome as a layer / as a copy). containerd
follows symlinks inside the root while extracting; barque never writes
through a symlink at all, so most of containerd's "contained" cases are
refused here, before anything leaves the root:

==========================================================  ======================================  ==========================
containerd ``TestBreakouts`` / ``TestApplyTar`` / CVE         corpus case                             layer / copy
==========================================================  ======================================  ==========================
SymlinkAbsolute                                             SymlinkAbsolute                         refused / refused
SymlinkUpAndOut                                             SymlinkUpAndOut                         refused / refused
SymlinkMultipleAbsolute                                     SymlinkMultipleAbsolute                 refused / refused
SymlinkMultipleRelative                                     SymlinkMultipleRelative                 refused / refused
SymlinkEmptyFile                                            SymlinkEmptyFile                        refused / refused
HardlinkRelative                                            HardlinkRelative                        refused / refused
HardlinkDownAndOut                                          HardlinkDownAndOut                      refused / refused
HardlinkAbsolute                                            HardlinkAbsolute                        refused / refused
HardlinkRelativeLong                                        HardlinkRelativeLong                    refused / refused
HardlinkRelativeUpAndOut                                    HardlinkRelativeUpAndOut                refused / refused
HardlinkDirectRelative                                      HardlinkDirectRelative                  refused / refused
HardlinkDirectAbsolute                                      HardlinkDirectAbsolute                  contained / contained
SymlinkParentDirectory                                      SymlinkParentDirectory                  refused / refused
SymlinkEmptyFilename                                        SymlinkEmptyFilename                    contained / contained
SymlinkParentRelative                                       SymlinkParentRelative                   refused / refused
SymlinkSlashEnded                                           SymlinkSlashEnded                       contained / contained
SymlinkOverrideDirectory                                    SymlinkOverrideDirectory                refused / refused
SymlinkOverrideDirectoryRelative                            SymlinkOverrideDirectoryRelative        refused / refused
DirectoryOverrideSymlink                                    DirectoryOverrideSymlink                refused / refused
DirectoryOverrideSymlinkAndHardlink                         DirectoryOverrideSymlinkAndHardlink     contained / refused
WhiteoutRootParent                                          WhiteoutRootParent                      refused / contained
WhiteoutParent                                              WhiteoutParent                          refused / contained
WhiteoutRoot                                                WhiteoutRoot                            refused / contained
WhiteoutCurrentDirectory                                    WhiteoutCurrentDirectory                refused / contained
WhiteoutSymlink                                             WhiteoutSymlink                         contained / contained
WhiteoutSymlinkPath                                         WhiteoutSymlinkPath                     contained / refused
WhiteoutDirectoryName                                       WhiteoutDirectoryName                   contained / contained
WhiteoutDeadSymlinkParent                                   WhiteoutDeadSymlinkParent               contained / refused
WhiteoutRelativePath                                        WhiteoutRelativePath                    refused / refused
SymlinkOverridePath                                         SymlinkOverridePath                     refused / refused
HardlinkSymlinkBeforeCreateTarget                           HardlinkSymlinkBeforeCreateTarget       contained / contained
HardlinkSymlinkRelative                                     HardlinkSymlinkRelative                 contained / contained
HardlinkSymlinkAbsolute                                     HardlinkSymlinkAbsolute                 contained / contained
HardlinkSymlinkChmod                                        HardlinkSymlinkChmod                    contained / contained
TestApplyTar/DirectoryCreation                              DirectoryCreation                       contained / contained
CVE-2021-32760 (chmod through a hardlinked symlink)         Cve202132760HardlinkToSymlinkChmod      contained / contained
CVE-2021-32760 (a file entry over a host symlink)           Cve202132760FileOverHostSymlink         contained / contained
barque T1-T8 (security-reliability.md §1.2)                 DotDotName, DotDotDeep, AbsoluteName,   see the corpus
                                                            SymlinkToHostThenWrite,
                                                            SymlinkAcrossLayers,
                                                            DotDotSymlinkThenWrite,
                                                            HardlinkToHostFile,
                                                            DirThroughSymlinkParent,
                                                            WhiteoutThroughSymlinkParent,
                                                            OpaqueThroughSymlinkParent,
                                                            TrustedOverlayXattr
CVE-2024-3727 (digests as paths: ``..``, short, long,       Layer*/Config* Digest{DotDot,Short,     refused: invalid digest
uppercase, unknown algorithm, ``/``)                        Long,Uppercase,UnknownAlgorithm,Slash}
CVE-2021-41190 (manifests beside layers)                    AmbiguousManifestAndIndex               refused: ambiguous
CVE-2021-41190 (mediaType says manifest, body an index)     MediaTypeManifestBodyIndex              refused: does not match
CVE-2021-41190 (Content-Type manifest, body an index)       ContentTypeManifestBodyIndex            refused: is an index
==========================================================  ======================================  ==========================

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
@pytest.mark.parametrize("name", _NAMES)
def test_as_copy(tmp_path: Path, sentinel: Sentinel, resolver: str, name: str) -> None:
    case = _case(sentinel, name)
    root = tmp_path / "root"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for lower in case.lowers:
            extract_tar(io.BytesIO(lower), fd, ExtractOptions(owner=None))
        cp = ExtractOptions(owner=(0, 0), no_overwrite_dir_non_dir=True)
        outcome = case.copy_outcome
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
