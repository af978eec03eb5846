-- Adds the WebDAV lock table.
CREATE TABLE webdav_locks (
    id INTEGER PRIMARY KEY,
    token VARCHAR(255) NOT NULL, -- it's unique
    expires BIGINT
);
