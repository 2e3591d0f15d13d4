-- 006_resource_broken: resources whose bytes `deardiary fsck --repair` found missing,
-- short or not matching their sha256. A broken resource stays listed (its name, size and
-- sha256 are a record of what was lost) but every read of its bytes fails with EIO, and
-- the user.deardiary.broken extended attribute says why. fsck --repair clears the mark
-- again when the bytes are restored (they verify against the recorded sha256).
ALTER TABLE resource ADD COLUMN broken INTEGER NOT NULL DEFAULT 0 CHECK (broken IN (0, 1));
