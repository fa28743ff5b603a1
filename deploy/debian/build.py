#!/usr/bin/python3
"""Builds the Debian package `sa` without cargo-deb, from the same [package.metadata.deb]
table of node/sanode/Cargo.toml that `cargo deb` reads (docs/operations.md).

    deploy/debian/build.py [--bin-dir DIR] [--out DIR] [--compression xz|gzip|zstd|none]

With no --bin-dir it builds the release binaries first (cargo build --release). It implements
the part of cargo-deb the table uses: assets (a file, or a glob whose matches keep their path
below the glob), their modes, conffiles, maintainer scripts, $auto dependencies through
dpkg-shlibdeps, stripped binaries and the generated copyright file. Anything else in the
table is refused, so that the two builds cannot drift apart unnoticed.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "node" / "sanode" / "Cargo.toml"
# What this script knows how to honour; cargo-deb knows more.
KNOWN_KEYS = {
    "name", "maintainer", "copyright", "section", "priority", "revision", "depends",
    "extended-description", "maintainer-scripts", "conf-files", "assets",
}
MAINTAINER_SCRIPTS = ("preinst", "postinst", "prerm", "postrm")


def cargo():
    return os.environ.get("CARGO", "cargo")


def package_metadata():
    out = subprocess.run(
        [cargo(), "metadata", "--no-deps", "--format-version", "1", "--manifest-path", MANIFEST],
        check=True, capture_output=True, text=True,
    ).stdout
    metadata = json.loads(out)
    package = next(p for p in metadata["packages"] if p["manifest_path"] == str(MANIFEST))
    deb = package["metadata"]["deb"]
    unknown = set(deb) - KNOWN_KEYS
    # cargo-deb turns these into Homepage and copyright fields build.py does not write.
    unknown |= {key for key in ("homepage", "repository") if package.get(key)}
    if unknown:
        sys.exit(f"build.py: the package sets {sorted(unknown)}, which build.py does not "
                 "implement: teach it, or cargo deb and build.py make different packages")
    return package, deb, Path(metadata["target_directory"])


def resolve_asset(source, dest, manifest_dir, bin_dir):
    """(source file, path in the package) pairs of one asset, as cargo-deb resolves them."""
    if source.startswith("target/release/"):
        path = bin_dir / source[len("target/release/"):]
    else:
        path = manifest_dir / source
    parts = Path(source).parts
    globbed = [i for i, part in enumerate(parts) if any(c in part for c in "*?[")]
    if not globbed:
        if not path.is_file():
            sys.exit(f"build.py: asset {source} not found ({path})")
        target = Path(dest) / path.name if dest.endswith("/") else Path(dest)
        return [(path, target)]
    if not dest.endswith("/") or globbed[-1] != len(parts) - 1 or source.startswith("target/"):
        sys.exit(f"build.py: asset {source}: only globs of file names (dir/**/*.ext, dir/*) "
                 "into a directory (a destination ending with /) are supported")
    # cargo-deb keeps each match's path below the first globbed component; include_hidden,
    # since its glob crate's * matches dot files.
    base = manifest_dir.joinpath(*parts[: globbed[0]])
    matches = sorted(
        Path(p) for p in glob.glob(str(path), recursive=True, include_hidden=True)
        if Path(p).is_file()
    )
    if not matches:
        sys.exit(f"build.py: asset {source} matches no file")
    return [(m, Path(dest) / m.relative_to(base)) for m in matches]


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def shlib_depends(binaries):
    """The Depends dpkg-shlibdeps works out for the binaries, as cargo-deb's $auto."""
    with tempfile.TemporaryDirectory() as scratch:
        # dpkg-shlibdeps wants a debian/control to exist; it reads nothing from it here.
        (Path(scratch) / "debian").mkdir()
        (Path(scratch) / "debian" / "control").touch()
        out = subprocess.run(
            ["dpkg-shlibdeps", "-O", "--warnings=0", *[f"-e{b}" for b in binaries]],
            cwd=scratch, check=True, capture_output=True, text=True,
        ).stdout
    for line in out.splitlines():
        if line.startswith("shlibs:Depends="):
            # cargo-deb leaves libgcc out: every system has it.
            return [d.strip() for d in line.split("=", 1)[1].split(",")
                    if not d.strip().startswith(("libgcc-", "libgcc1"))]
    sys.exit(f"build.py: dpkg-shlibdeps said nothing of the binaries' libraries: {out}")


def copyright_file(package, deb):
    """The copyright file cargo-deb writes when the table names no license file."""
    return (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: {package['name']}\n"
        f"Copyright: {deb['copyright']}\n"
        f"License: {package['license']}\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", type=Path,
                        help="directory holding sanode and sactl [default: build them with "
                             "cargo build --release and take them from the target dir]")
    parser.add_argument("--out", type=Path, default=Path.cwd(), help="where the .deb goes")
    parser.add_argument("--compression", default="xz", choices=["xz", "gzip", "zstd", "none"],
                        help="dpkg-deb's compressor (xz, dpkg's default, takes a minute)")
    args = parser.parse_args()

    package, deb, target_dir = package_metadata()
    if args.bin_dir is None:
        subprocess.run([cargo(), "build", "--release", "--locked", "-p", "sa-node", "-p", "sactl"],
                       check=True, cwd=ROOT)
        args.bin_dir = target_dir / "release"
    manifest_dir = MANIFEST.parent
    name = deb["name"]
    version = f"{package['version']}-{deb['revision']}"
    arch = subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True,
                          text=True).stdout.strip()

    with tempfile.TemporaryDirectory() as scratch:
        stage = Path(scratch) / "stage"
        stage.mkdir(mode=0o755)
        binaries = []
        installed = {}
        for source, dest, mode in deb["assets"]:
            for path, target in resolve_asset(source, dest, manifest_dir, args.bin_dir):
                if target in installed:
                    sys.exit(f"build.py: {target} comes from both {installed[target]} and {path}")
                installed[target] = path
                copy = stage / target
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
                if is_elf(copy):
                    # cargo-deb strips too: symbols are no use to an installed node.
                    subprocess.run(
                        ["strip", "--strip-unneeded", "--remove-section=.comment", copy],
                        check=True,
                    )
                    binaries.append(copy)
                copy.chmod(int(mode, 8))
        doc = stage / "usr" / "share" / "doc" / name
        doc.mkdir(parents=True, exist_ok=True)
        (doc / "copyright").write_text(copyright_file(package, deb))
        (doc / "copyright").chmod(0o644)
        for directory in [stage, *(p for p in stage.rglob("*") if p.is_dir())]:
            directory.chmod(0o755)

        # Sorted, as cargo-deb lists them.
        depends = sorted({
            d for entry in deb["depends"].split(",")
            for d in (shlib_depends(binaries) if entry.strip() == "$auto" else [entry.strip()])
        })
        installed_kib = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file()) // 1024
        # The package's synopsis: one line (Debian policy), where cargo-deb would wrap it.
        description = package["description"]
        if len(description) > 80:
            sys.exit(f"build.py: the crate's description is the package's one-line synopsis: "
                     f"{len(description)} characters is too long (80 at most)")
        # Wrapped at 80 columns, as cargo-deb wraps it.
        extended = "\n".join(" " + line for line in textwrap.wrap(deb["extended-description"], 80))
        control = stage / "DEBIAN"
        control.mkdir(mode=0o755)
        (control / "control").write_text(
            f"Package: {name}\n"
            f"Version: {version}\n"
            f"Architecture: {arch}\n"
            f"Section: {deb['section']}\n"
            f"Priority: {deb['priority']}\n"
            f"Maintainer: {deb['maintainer']}\n"
            f"Installed-Size: {installed_kib}\n"
            f"Depends: {', '.join(depends)}\n"
            f"Description: {description}\n{extended}\n"
        )
        # cargo-deb makes every file under /etc a conffile, besides those the table names.
        conffiles = set(deb.get("conf-files", []))
        conffiles |= {f"/{t}" for t in map(str, installed) if t.startswith("etc/")}
        (control / "conffiles").write_text("".join(f"{c}\n" for c in sorted(conffiles)))
        scripts = manifest_dir / deb["maintainer-scripts"]
        for script in MAINTAINER_SCRIPTS:
            if (scripts / script).is_file():
                shutil.copyfile(scripts / script, control / script)
                (control / script).chmod(0o755)
        for f in ("control", "conffiles"):
            (control / f).chmod(0o644)

        args.out.mkdir(parents=True, exist_ok=True)
        deb_path = args.out / f"{name}_{version}_{arch}.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", f"-Z{args.compression}", "--build", stage, deb_path],
            check=True, stdout=subprocess.DEVNULL,
        )
    print(deb_path)


if __name__ == "__main__":
    main()
