"""Bundle uploads: real ZIP and .tar.gz archives, honest and hostile, built here."""

from __future__ import annotations

import io
import json
import os
import resource
import stat
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest

from gitexport.errors import DocumentError
from gitexport.service import uploads
from gitexport.service.uploads import (
    BadArchive,
    UploadLimits,
    UploadTooLarge,
    extract_bundle,
)

PIPELINE = json.dumps({"format": "canvas-pipeline/1"}).encode()
CSV = b"a,b\n1,2\n3,4\n"
BUNDLE = {"pipeline.json": PIPELINE, "data/train.csv": CSV}
SMALL = UploadLimits(max_compressed_bytes=1 << 20, max_uncompressed_bytes=1 << 20, max_entries=20)
MiB = 1 << 20
GiB = 1 << 30


# --- archive builders ----------------------------------------------------------------------


def make_zip(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_with(info: zipfile.ZipInfo, data: bytes = b"", files: dict | None = None) -> bytes:
    """BUNDLE plus one entry described by ``info`` (its attributes set by the caller)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in (files or BUNDLE).items():
            zf.writestr(name, content)
        zf.writestr(info, data)
    return buf.getvalue()


def tar_member(name: str, data: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def make_tgz(members: list[tuple[tarfile.TarInfo, bytes]] | dict[str, bytes]) -> bytes:
    if isinstance(members, dict):
        members = [tar_member(n, d) for n, d in members.items()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def tgz_with(*extra: tuple[tarfile.TarInfo, bytes]) -> bytes:
    return make_tgz([tar_member(n, d) for n, d in BUNDLE.items()] + list(extra))


def raw_zip(entries: list[dict]) -> bytes:
    """A ZIP written byte by byte, so its headers can say whatever a hostile archiver wants.

    Each entry: name (str), data (already compressed bytes), and optionally method, crc,
    usize (declared uncompressed size), flags, external_attr.
    """
    local, central = b"", b""
    for e in entries:
        name, data = e["name"].encode(), e["data"]
        method, crc, usize = e.get("method", 8), e.get("crc", 0), e["usize"]
        flags, attr = e.get("flags", 0), e.get("external_attr", 0o100644 << 16)
        offset = len(local)
        head = (20, flags, method, 0, 0x21, crc, len(data), usize, len(name))
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", *head, 0) + name + data
        central += (
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 0x031E, *head, 0, 0, 0, 0, attr, offset)
            + name
        )
    n = len(entries)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(local), 0)
    return local + central + eocd


def deflated(data: bytes) -> tuple[bytes, int]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), zlib.crc32(data)


def zeros_deflate_stream(prefix: bytes, n_mib: int, suffix: bytes = b"") -> bytes:
    """Raw deflate of prefix + n_mib MiB of zeros + suffix, built in about 1 MB of work.

    After a full flush the compressor starts afresh, so every further MiB of zeros compresses
    to the very same bytes: compress one, repeat it (checked: two in a row are identical).
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    zero = bytes(MiB)
    block = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH) == block
    return head + block * n_mib + c.compress(suffix) + c.flush()


def crc_of_zeros(prefix: bytes, n_mib: int, suffix: bytes = b"") -> int:
    crc, zero = zlib.crc32(prefix), bytes(MiB)
    for _ in range(n_mib):
        crc = zlib.crc32(zero, crc)
    return zlib.crc32(suffix, crc)


def extract(data: bytes, tmp_path: Path, limits: UploadLimits = SMALL) -> Path:
    return extract_bundle(io.BytesIO(data), tmp_path / "out" / "bundle", limits)


def assert_nothing_left(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == [], list(out.rglob("*"))


# --- honest bundles ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["zip", "tgz"])
def test_bundle_at_the_root(tmp_path, fmt):
    data = make_zip(BUNDLE) if fmt == "zip" else make_tgz(BUNDLE)
    root = extract(data, tmp_path)
    assert root == tmp_path / "out" / "bundle"
    assert (root / "pipeline.json").read_bytes() == PIPELINE
    assert (root / "data" / "train.csv").read_bytes() == CSV
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bundle"]  # no temp left


@pytest.mark.parametrize("fmt", ["zip", "tgz"])
def test_bundle_in_a_single_top_folder(tmp_path, fmt):
    files = {f"churn/{k}": v for k, v in BUNDLE.items()}
    root = extract(make_zip(files) if fmt == "zip" else make_tgz(files), tmp_path)
    assert root == tmp_path / "out" / "bundle" / "churn"
    assert (root / "data" / "train.csv").read_bytes() == CSV


def test_tar_made_from_dot_and_finder_zip_leftovers(tmp_path):
    dot = [tar_member(".", type=tarfile.DIRTYPE)] + [
        tar_member(f"./{n}", d) for n, d in BUNDLE.items()
    ]
    assert (extract(make_tgz(dot), tmp_path / "a") / "pipeline.json").exists()
    finder = {**{f"b/{k}": v for k, v in BUNDLE.items()}, "__MACOSX/b/._pipeline.json": b"x"}
    root = extract(make_zip({**finder, "b/.DS_Store": b"x"}), tmp_path / "b")
    assert root.name == "b" and not (root / ".DS_Store").exists()
    assert not (root.parent / "__MACOSX").exists()


def test_format_is_told_by_magic_bytes_not_name(tmp_path):
    # extract_bundle never sees a file name; a ZIP read through any file object works.
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(make_zip(BUNDLE))
    with path.open("rb") as f:
        assert (extract_bundle(f, tmp_path / "x", SMALL) / "pipeline.json").exists()


def test_archive_modes_are_not_kept(tmp_path):
    info = zipfile.ZipInfo("run.sh")
    info.external_attr = (stat.S_IFREG | stat.S_ISUID | 0o777) << 16
    root = extract(zip_with(info, b"echo hi"), tmp_path)
    assert stat.S_IMODE((root / "run.sh").stat().st_mode) & 0o7111 == 0


def test_existing_empty_destination_is_used_and_a_full_one_refused(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    assert extract_bundle(io.BytesIO(make_zip(BUNDLE)), dest, SMALL) == dest
    with pytest.raises(FileExistsError):
        extract_bundle(io.BytesIO(make_zip(BUNDLE)), dest, SMALL)


# --- what is not a good bundle ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"just some text, not an archive",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"PK\x05\x06" + bytes(18),  # an empty ZIP
    ],
    ids=["empty", "text", "png", "empty-zip"],
)
def test_non_archive_is_bad(tmp_path, data):
    with pytest.raises(BadArchive):
        extract(data, tmp_path)
    assert_nothing_left(tmp_path)


def test_plain_tar_is_not_accepted(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info, data = tar_member("pipeline.json", PIPELINE)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(BadArchive, match="neither a ZIP nor a .tar.gz"):
        extract(buf.getvalue(), tmp_path)


def test_gzip_of_something_else_is_bad(tmp_path):
    import gzip

    with pytest.raises(BadArchive, match="does not hold a tar archive"):
        extract(gzip.compress(b"a,b\n1,2\n" * 100), tmp_path)


@pytest.mark.parametrize("fmt", ["zip", "tgz"])
def test_truncated_archive_is_bad(tmp_path, fmt):
    big = {**BUNDLE, "data/big.csv": os.urandom(50_000)}
    data = make_zip(big) if fmt == "zip" else make_tgz(big)
    with pytest.raises(BadArchive):
        extract(data[: len(data) // 2], tmp_path)
    assert_nothing_left(tmp_path)


def test_corrupt_zip_data_is_bad(tmp_path):
    data = bytearray(make_zip({**BUNDLE, "data/big.csv": b"0123456789" * 5000}))
    at = data.index(b"data/big.csv") + len("data/big.csv") + 40  # inside its deflate data
    data[at : at + 8] = b"\xff" * 8
    with pytest.raises(BadArchive, match="entry 'data/big.csv': is corrupt"):
        extract(bytes(data), tmp_path)
    assert_nothing_left(tmp_path)


def test_corrupt_tar_header_after_the_first_is_bad(tmp_path):
    import gzip

    tar = bytearray(gzip.decompress(make_tgz(BUNDLE)))
    # The last member's header: garbage where tarfile would otherwise stop quietly.
    last = tar.rindex(b"data/train.csv")
    tar[last + 148 : last + 156] = b"garbage!"  # its checksum field
    with pytest.raises(BadArchive):
        extract(gzip.compress(bytes(tar)), tmp_path)


@pytest.mark.parametrize(
    "files",
    [
        {"data/train.csv": CSV},
        {"a/pipeline.json": PIPELINE, "b/pipeline.json": PIPELINE},
        {"a/b/pipeline.json": PIPELINE},
    ],
    ids=["missing", "two-top-folders", "too-deep"],
)
def test_pipeline_json_must_be_at_the_root_or_in_the_single_top_folder(tmp_path, files):
    with pytest.raises(BadArchive, match="no pipeline.json"):
        extract(make_zip(files), tmp_path)
    assert_nothing_left(tmp_path)


def test_unsupported_and_encrypted_zip_entries(tmp_path):
    with pytest.raises(BadArchive, match="compression method 12"):
        extract(make_zip(BUNDLE, method=zipfile.ZIP_BZIP2), tmp_path)
    data, crc = deflated(PIPELINE)
    secret = raw_zip([{"name": "pipeline.json", "data": data, "crc": crc, "usize": 2, "flags": 1}])
    with pytest.raises(BadArchive, match="'pipeline.json': is encrypted"):
        extract(secret, tmp_path)


# --- hostile names -----------------------------------------------------------------------------

HOSTILE_NAMES = [
    ("../../x", "outside the archive"),
    ("data/../../x", "outside the archive"),
    ("/etc/passwd", "absolute path"),
    ("C:/Windows/x", "drive letter"),
    ("c:x", "drive letter"),
    ("..\\..\\x", "backslash"),
    ("data\\x", "backslash"),
    ("a\x00/../../x", "control character"),
    ("evil\x1b[2J.csv", "control character"),
    ("a" * 300, "longer than 255 bytes"),
    ("a/" * 600 + "x", "longer than 1024"),
]


@pytest.mark.parametrize(
    ("fmt", "name", "why"),
    [
        (fmt, name, why)
        for fmt in ("zip", "tgz")
        for name, why in HOSTILE_NAMES
        if not (fmt == "tgz" and "\x00" in name)  # a tar name ends at its first NUL
    ],
)
def test_hostile_names_are_refused(tmp_path, fmt, name, why):
    if fmt == "zip" and "\x00" in name:  # zipfile would write the name cut at the NUL
        entries = [
            {"name": n, "data": d, "method": 0, "crc": zlib.crc32(d), "usize": len(d)}
            for n, d in BUNDLE.items()
        ]
        data = raw_zip([*entries, {"name": name, "data": b"x", "method": 0, "usize": 1}])
    elif fmt == "zip":
        data = zip_with(zipfile.ZipInfo(name), b"pwned")
    else:
        data = tgz_with(tar_member(name, b"pwned"))
    with pytest.raises(BadArchive, match=why) as err:
        extract(data, tmp_path)
    assert_nothing_left(tmp_path)
    assert not (tmp_path / "x").exists() and not list(tmp_path.parent.glob("x"))
    # The message names the entry, escaped: no raw control character reaches a log or page.
    message = str(err.value)
    assert message.startswith("entry '")
    assert not any(ord(ch) < 32 for ch in message)


def test_escaped_name_in_the_message(tmp_path):
    with pytest.raises(BadArchive) as err:
        extract(zip_with(zipfile.ZipInfo("evil\x1b[2J'.csv"), b"x"), tmp_path)
    assert str(err.value).startswith("entry 'evil\\x1b[2J\\'.csv': has a control character")
    assert err.value.entry == "evil\x1b[2J'.csv"
    assert isinstance(err.value, DocumentError) and err.value.code == "invalid_document"
    assert err.value.to_dict()["problems"][0]["where"] == "entry 'evil\\x1b[2J\\'.csv'"


def test_zip_local_header_naming_another_path_is_refused(tmp_path):
    # The central directory (checked) says data/x.csv; the local header (the one some
    # unzippers write by) says ../../x.cs.
    data, crc = deflated(CSV)
    entries = [
        {"name": n, "data": d, "method": 0, "crc": zlib.crc32(d), "usize": len(d)}
        for n, d in BUNDLE.items()
    ]
    archive = bytearray(
        raw_zip([*entries, {"name": "data/x.csv", "data": data, "crc": crc, "usize": len(CSV)}])
    )
    at = archive.index(b"data/x.csv")  # the first occurrence: the local header
    archive[at : at + 10] = b"../../x.cs"
    with pytest.raises(BadArchive, match="entry 'data/x.csv': cannot be read"):
        extract(bytes(archive), tmp_path)
    assert_nothing_left(tmp_path)


def test_zip_symlink_entry_is_refused(tmp_path):
    info = zipfile.ZipInfo("data/link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(BadArchive, match="entry 'data/link': is a symbolic link"):
        extract(zip_with(info, b"/etc/passwd"), tmp_path)
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("kind", [stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK])
def test_zip_device_entries_are_refused(tmp_path, kind):
    info = zipfile.ZipInfo("dev")
    info.external_attr = (kind | 0o644) << 16
    with pytest.raises(BadArchive, match="device, FIFO or socket"):
        extract(zip_with(info), tmp_path)


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (tar_member("data/link", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic link"),
        (tar_member("data/link", type=tarfile.SYMTYPE, linkname="../../../x"), "symbolic link"),
        (tar_member("data/hard", type=tarfile.LNKTYPE, linkname="pipeline.json"), "hard link"),
        (tar_member("null", type=tarfile.CHRTYPE, devmajor=1, devminor=3), "device"),
        (tar_member("sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0), "device"),
        (tar_member("fifo", type=tarfile.FIFOTYPE), "FIFO"),
        (tar_member("cont", b"x", type=tarfile.CONTTYPE), "unsupported tar entry type"),
    ],
    ids=["symlink-abs", "symlink-up", "hardlink", "chardev", "blockdev", "fifo", "contiguous"],
)
def test_tar_links_and_devices_are_refused(tmp_path, member, why):
    with pytest.raises(BadArchive, match=why):
        extract(tgz_with(member), tmp_path)
    assert_nothing_left(tmp_path)


def test_duplicate_entries_are_refused(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = zip_with(zipfile.ZipInfo("pipeline.json"), b"{}")
    with pytest.raises(BadArchive, match="entry 'pipeline.json': is a duplicate"):
        extract(data, tmp_path)
    with pytest.raises(BadArchive, match="is a duplicate"):
        extract(tgz_with(tar_member("./data/train.csv", b"other")), tmp_path)


def test_file_and_folder_of_the_same_name_are_refused(tmp_path):
    with pytest.raises(BadArchive, match="entry 'data/train.csv/x': is inside 'data/train.csv'"):
        extract(make_zip({**BUNDLE, "data/train.csv/x": b"x"}), tmp_path)
    with pytest.raises(BadArchive, match="entry 'data': is both a file and a folder"):
        extract(tgz_with(tar_member("data", b"x")), tmp_path)


def test_names_are_checked_before_anything_is_written(tmp_path, monkeypatch):
    written = []
    real = uploads._write_file
    monkeypatch.setattr(uploads, "_write_file", lambda *a: written.append(a) or real(*a))
    for data in (
        zip_with(zipfile.ZipInfo("../../escape"), b"x"),  # last in the archive
        tgz_with(tar_member("../../escape", b"x")),
    ):
        with pytest.raises(BadArchive):
            extract(data, tmp_path)
    assert written == []
    assert_nothing_left(tmp_path)


# --- limits ------------------------------------------------------------------------------------


class Endless(io.RawIOBase):
    """An upload that never ends; counts what was read from it."""

    def __init__(self):
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        b[:] = bytes(len(b))
        self.served += len(b)
        return len(b)


def test_oversize_upload_stops_at_the_limit(tmp_path):
    upload = Endless()
    with pytest.raises(UploadTooLarge, match="the upload is more than 1048576 bytes"):
        extract_bundle(upload, tmp_path / "out" / "b", SMALL)
    assert upload.served <= SMALL.max_compressed_bytes + uploads.CHUNK
    assert_nothing_left(tmp_path)


def test_upload_exactly_at_the_limit_is_accepted(tmp_path):
    data = make_zip(BUNDLE)
    limits = UploadLimits(len(data), 1 << 20, 10)
    assert extract(data, tmp_path, limits).is_dir()
    with pytest.raises(UploadTooLarge):
        extract(data, tmp_path / "b", UploadLimits(len(data) - 1, 1 << 20, 10))


@pytest.mark.parametrize("fmt", ["zip", "tgz"])
def test_too_many_entries(tmp_path, fmt):
    files = {**BUNDLE, **{f"data/{i}.csv": b"x" for i in range(30)}}
    with pytest.raises(UploadTooLarge, match="more than 20 entries"):
        extract(make_zip(files) if fmt == "zip" else make_tgz(files), tmp_path)
    assert_nothing_left(tmp_path)


def test_zip_directory_claiming_too_many_entries_is_refused_before_parsing(tmp_path, monkeypatch):
    def no_parsing(*a, **k):
        raise AssertionError("zipfile parsed a directory it should not have")

    monkeypatch.setattr(uploads.zipfile, "ZipFile", no_parsing)
    data, crc = deflated(PIPELINE)
    entry = {"name": "pipeline.json", "data": data, "crc": crc, "usize": len(PIPELINE)}
    with pytest.raises(UploadTooLarge, match="more than 20 entries"):
        extract(raw_zip([entry] * 21), tmp_path)


@pytest.mark.parametrize("fmt", ["zip", "tgz"])
def test_declared_sizes_over_the_limit_are_refused_before_extracting(tmp_path, fmt):
    # Zeros: a small archive. Just over the limit, so that the .tar.gz gets past decompression
    # (which allows for tar's own headers) and is refused by the list of entries.
    files = {**BUNDLE, "data/big.csv": bytes(SMALL.max_uncompressed_bytes + 10_000)}
    with pytest.raises(UploadTooLarge, match="entry 'data/big.csv': takes the archive's"):
        extract(make_zip(files) if fmt == "zip" else make_tgz(files), tmp_path)
    assert_nothing_left(tmp_path)


# A zip bomb, built by hand so its headers can lie, and a gzip bomb: each decompresses to
# 1 GiB. They are unpacked in a child process whose file-size and address-space limits are
# far below 1 GiB: if extraction ever wrote or held more than the upload limits allow, the
# child would fail, whatever the speed of the machine.
BOMB_LIMITS = (
    "UploadLimits(max_compressed_bytes=4 << 20, max_uncompressed_bytes=8 << 20, max_entries=20)"
)
CHILD_FILE_LIMIT = 24 * MiB  # the biggest file the child may write (limit + tar overhead)
CHILD_MEMORY_LIMIT = 256 * MiB  # address space: an interpreter with pydantic, far below 1 GiB


def run_limited(archive: Path, tmp_path: Path, limits: str = BOMB_LIMITS) -> str:
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from gitexport.service.uploads import UploadLimits, UploadRejected, extract_bundle
        try:
            with open({str(archive)!r}, "rb") as f:
                extract_bundle(f, Path({str(tmp_path / "out" / "bundle")!r}), {limits})
        except UploadRejected as exc:
            print(type(exc).__name__, exc)
        else:
            print("extracted")
        """
    )

    def rlimits():
        resource.setrlimit(resource.RLIMIT_FSIZE, (CHILD_FILE_LIMIT, CHILD_FILE_LIMIT))
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_LIMIT, CHILD_MEMORY_LIMIT))

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        preexec_fn=rlimits,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def gib_of_zeros_deflated() -> tuple[bytes, int]:
    return zeros_deflate_stream(b"", 1024), crc_of_zeros(b"", 1024)


def test_zip_bomb_with_honest_headers_is_refused_unread(tmp_path, gib_of_zeros_deflated):
    data, crc = gib_of_zeros_deflated
    assert len(data) < 2 * MiB  # 1 GiB in the entry, under 2 MiB on the wire
    archive = tmp_path / "bomb.zip"
    pipeline, pcrc = deflated(PIPELINE)
    archive.write_bytes(
        raw_zip(
            [
                {"name": "pipeline.json", "data": pipeline, "crc": pcrc, "usize": len(PIPELINE)},
                {"name": "data/train.csv", "data": data, "crc": crc, "usize": GiB},
            ]
        )
    )
    out = run_limited(archive, tmp_path)
    assert out.startswith("UploadTooLarge entry 'data/train.csv': takes the archive's declared")
    assert_nothing_left(tmp_path)


def test_zip_bomb_with_lying_headers_is_stopped_by_the_limit(tmp_path, gib_of_zeros_deflated):
    data, crc = gib_of_zeros_deflated
    archive = tmp_path / "liar.zip"
    pipeline, pcrc = deflated(PIPELINE)
    archive.write_bytes(
        raw_zip(
            [
                {"name": "pipeline.json", "data": pipeline, "crc": pcrc, "usize": len(PIPELINE)},
                # Claims 1000 bytes; its data inflates to 1 GiB.
                {"name": "data/train.csv", "data": data, "crc": crc, "usize": 1000},
            ]
        )
    )
    out = run_limited(archive, tmp_path)
    assert out.startswith(("BadArchive entry 'data/train.csv'", "UploadTooLarge")), out
    assert_nothing_left(tmp_path)


def test_gzip_bomb_is_stopped_while_decompressing(tmp_path):
    header = tarfile.TarInfo("data/train.csv")
    header.size = GiB
    head = tar_member("pipeline.json", PIPELINE)[0].tobuf(tarfile.PAX_FORMAT)
    head += PIPELINE + bytes(-len(PIPELINE) % 512) + header.tobuf(tarfile.PAX_FORMAT)
    end = bytes(1024)
    stream = zeros_deflate_stream(head, 1024, end)
    crc = crc_of_zeros(head, 1024, end)
    size = (len(head) + GiB + len(end)) & 0xFFFFFFFF
    gz = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x02\xff" + stream + struct.pack("<2L", crc, size)
    assert len(gz) < 2 * MiB
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(gz)
    out = run_limited(archive, tmp_path)
    assert out.startswith("UploadTooLarge upload: the archive unpacks to more than"), out
    assert_nothing_left(tmp_path)


def test_oversized_tar_metadata_header_is_refused(tmp_path):
    # A pax header of 1 MiB (a long "comment") would be read into memory in one piece.
    info, data = tar_member("pipeline.json", PIPELINE)
    info.pax_headers = {"comment": "x" * MiB}
    with pytest.raises(BadArchive, match="header larger than"):
        extract(make_tgz([(info, data)]), tmp_path, UploadLimits(4 * MiB, 4 * MiB, 20))
    assert_nothing_left(tmp_path)


def test_child_limits_would_catch_an_unbounded_extraction(tmp_path):
    """The bomb tests' guard can fail: with limits above the child's, extraction breaks it."""
    archive = tmp_path / "plain.tar.gz"
    archive.write_bytes(make_tgz({**BUNDLE, "data/big.csv": bytes(CHILD_FILE_LIMIT + MiB)}))
    with pytest.raises(AssertionError, match="File too large"):
        run_limited(archive, tmp_path, "UploadLimits(4 << 20, 64 << 20, 20)")
