-- 003_resource_generation: a counter bumped each time a resource's bytes are replaced.
-- The filesystem folds it into the resource file's inode number, so that each content
-- has its own inode and the kernel's cached pages of one content never mix with another.
ALTER TABLE resource ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
