"""`df` on the mount (issue 12, item 16): statfs reports the filesystem that holds the
database, so the space shown is the space the registry can still grow into."""
import os

from conftest import run


def test_df_shows_the_database_filesystem(mnt):
    here, there = os.statvfs(mnt.path), os.statvfs(os.path.dirname(mnt.db))
    assert here.f_blocks > 0 and here.f_blocks == there.f_blocks
    assert here.f_frsize == there.f_frsize and here.f_files == there.f_files
    # free space moves with whatever else writes that disk: same order, not equal
    assert abs(here.f_bavail - there.f_bavail) <= max(there.f_blocks // 100, 1024)
    assert here.f_namemax == 255
    r = run("df -P -k '%s'" % mnt.path)
    assert r.returncode == 0, r.stderr
    size_kb = int(r.stdout.splitlines()[1].split()[1])
    assert size_kb == there.f_blocks * there.f_frsize // 1024
