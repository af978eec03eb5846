-- Added after the MOODLE_20_STABLE branch point.
CREATE INDEX forum_name_ix ON forum (name);
