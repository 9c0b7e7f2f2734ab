"""Fixtures of the storage tests: read-only media."""

import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def read_only_media():
    """A function: folder -> a read-only view of it, undone at the end of the test.

    As root, permission bits do not stop writes, so the view is a read-only bind
    mount (what a read-only disk or share looks like); otherwise the folder and
    its files lose their write bits.
    """
    mounts: list[Path] = []
    chmodded: list[Path] = []

    def run(*args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(list(args), capture_output=True, text=True)
        except FileNotFoundError as exc:
            pytest.skip(f"read-only media need `mount` as root: {exc}")

    def make(folder: Path) -> Path:
        if os.geteuid() != 0:
            for item in folder.iterdir():
                item.chmod(0o444)
            folder.chmod(0o555)
            chmodded.append(folder)
            return folder
        view = folder.with_name(folder.name + ".ro")
        view.mkdir()
        bind = run("mount", "--bind", str(folder), str(view))
        if bind.returncode != 0:
            pytest.skip(f"read-only media need a bind mount as root: {bind.stderr.strip()}")
        mounts.append(view)
        remount = run("mount", "-o", "remount,ro,bind", str(view))
        if remount.returncode != 0:
            pytest.skip(f"read-only media need a read-only remount as root: {remount.stderr.strip()}")
        return view

    yield make
    for view in reversed(mounts):
        if subprocess.run(["umount", str(view)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(view)], capture_output=True)
    for folder in chmodded:
        folder.chmod(0o755)
        for item in folder.iterdir():
            item.chmod(0o644)
