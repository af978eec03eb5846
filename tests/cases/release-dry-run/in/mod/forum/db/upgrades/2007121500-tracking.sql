-- requires: core/2008010100-webdavlocks
-- transaction: no
CREATE TABLE forum_track (forum_id INTEGER NOT NULL, user_id INTEGER NOT NULL);
