-- Where each log check has read its file to: the file (device, inode), the
-- offset of the next line, a hash of the file's first bytes (a file
-- truncated and written again past the offset between two runs has other
-- ones), and whether the offset is inside a line longer than the cap. Written in the transaction of the result that reached it,
-- beside check_state, so a restart neither reads a line again nor skips
-- one. dev, ino and head are unsigned 64-bit numbers stored in their bits.
CREATE TABLE log_positions (
    check_id INTEGER PRIMARY KEY,
    dev      INTEGER NOT NULL,
    ino      INTEGER NOT NULL,
    pos      INTEGER NOT NULL,
    head     INTEGER NOT NULL,
    skipping INTEGER NOT NULL
);
