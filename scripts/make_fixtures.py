#!/usr/bin/env python3
"""Generates the test fixtures: the demo step tree and the broken trees.

    python3 scripts/make_fixtures.py

Deletes and recreates `fixtures/demo/` and `fixtures/bad/`. The output is
deterministic (same bytes on every run) and uses "\\n" line ends. Standard
library only.

`fixtures/demo/` is a Moodle-like tree: steps already consolidated as
MOODLE_19_STABLE in the components' `db/upgrade.toml` (with their release
file), and standalone steps pending for MOODLE_20_STABLE in `db/upgrades/`.
Every SQL body runs unchanged on SQLite and PostgreSQL, in plan order.

`fixtures/bad/<case>/` are minimal trees, each broken in exactly one way;
`EXPECTED` holds a substring of the error the tool must report.
"""

from __future__ import annotations

import hashlib
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
DEMO = FIXTURES / "demo"
BAD = FIXTURES / "bad"

R19 = "MOODLE_19_STABLE"
R19_VERSION = "2007101500.00"


# --------------------------------------------------------------------------
# Bodies and checksums (the normative rules of the format)
# --------------------------------------------------------------------------


def normalise(text: str) -> str:
    """No BOM, LF line ends, no trailing white space, no blank lines at either
    end, exactly one final newline (an empty body stays empty)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def checksum(body: str | dict[str, str]) -> str:
    """`sha256:<hex>` of one body, or of per-database bodies."""
    h = hashlib.sha256()
    if isinstance(body, str):
        h.update(normalise(body).encode("utf-8"))
    else:
        for db in sorted(body):
            h.update(b"\0variant:" + db.encode("utf-8") + b"\n")
            h.update(normalise(body[db]).encode("utf-8"))
    return "sha256:" + h.hexdigest()


def sql(text: str) -> str:
    """A body written as an indented triple-quoted string, normalised."""
    return normalise(textwrap.dedent(text))


# --------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------


@dataclass
class Step:
    component: str
    name: str
    body: str | dict[str, str]  # one body, or {"postgres": ..., "sqlite": ...}
    phase: str = "main"
    requires: list[str] = field(default_factory=list)
    transaction: bool = True
    release: str | None = None  # the release it is consolidated in, if any

    @property
    def key(self) -> str:
        return f"{self.component}/{self.name}"

    def bodies(self) -> dict[str | None, str]:
        return {None: self.body} if isinstance(self.body, str) else dict(self.body)


def released(component: str, name: str, body, **kw) -> Step:
    return Step(component, name, body, release=R19, **kw)


def pending(component: str, name: str, body, **kw) -> Step:
    return Step(component, name, body, **kw)


# --------------------------------------------------------------------------
# The demo tree
# --------------------------------------------------------------------------

DEMO_MANIFEST = """\
# Moodle-like demo site used by the tests and the README.
[project]
name = "moodle-demo"
version = "2008030100.02"          # exact decimal, always a quoted string
revision = 2008030100              # integer, order-less
upgrade_from = "MOODLE_19_STABLE"  # oldest release a site may upgrade from; must be in the history
strategy = "global"                # or "staged"

[components]
core = "lib"                       # folder of the core component
# Plugin types in staged-upgrade and tie-break order; component `mod_assign` lives in `mod/assign`.
plugin_types = [
  { name = "theme", folder = "theme" },
  { name = "auth", folder = "auth" },
  { name = "format", folder = "course/format" },
  { name = "block", folder = "blocks" },
  { name = "mod", folder = "mod" },
  { name = "assignsubmission", folder = "mod/assign/submission" },
  { name = "local", folder = "local" },
]

# The release history, oldest first.
[[release]]
name = "MOODLE_19_STABLE"
version = "2007101500.00"
"""

# Plugin types in rank order (core is rank 0) and their folders.
DEMO_TYPES = [
    ("theme", "theme"),
    ("auth", "auth"),
    ("format", "course/format"),
    ("block", "blocks"),
    ("mod", "mod"),
    ("assignsubmission", "mod/assign/submission"),
    ("local", "local"),
]

# Component -> folder. IDs in config/config_plugins rows use one hundred per
# component (core 1.., theme 100.., auth 200.., block 400.., mod_assign 700..)
# so that inserts of different components never collide.
DEMO_COMPONENTS = {
    "core": "lib",
    "theme_standard": "theme/standard",
    "auth_ldap": "auth/ldap",
    "format_weeks": "course/format/weeks",
    "block_navigation": "blocks/navigation",
    "mod_forum": "mod/forum",
    "mod_assign": "mod/assign",
    "assignsubmission_file": "mod/assign/submission/file",
    "local_reports": "local/reports",
    "mod_wiki": "mod/wiki",
}

# ---- MOODLE_19_STABLE: consolidated, all dated before 2007101500 ----------

RELEASED_19 = [
    released("core", "2007080100-config", sql("""
        -- Site and plugin settings.
        CREATE TABLE config (
            id BIGINT NOT NULL PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            value TEXT NOT NULL
        );
        CREATE UNIQUE INDEX config_name_uix ON config (name);

        CREATE TABLE config_plugins (
            id BIGINT NOT NULL PRIMARY KEY,
            plugin VARCHAR(100) NOT NULL,
            name VARCHAR(100) NOT NULL,
            value TEXT NOT NULL
        );
        CREATE UNIQUE INDEX config_plugins_plugin_name_uix ON config_plugins (plugin, name);

        INSERT INTO config (id, name, value) VALUES (1, 'sitename', 'Moodle demo');
    """)),
    released("core", "2007080101-users", sql("""
        -- User accounts, with the guest and admin users.
        CREATE TABLE users (
            id BIGINT NOT NULL PRIMARY KEY,
            auth VARCHAR(20) NOT NULL DEFAULT 'manual',
            username VARCHAR(100) NOT NULL,
            email VARCHAR(100) NOT NULL DEFAULT '',
            firstname VARCHAR(100) NOT NULL,
            lastname VARCHAR(100) NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            timecreated BIGINT NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX users_username_uix ON users (username);

        INSERT INTO users (id, username, email, firstname, lastname) VALUES (1, 'guest', '', 'Guest', 'User');
        INSERT INTO users (id, username, email, firstname, lastname) VALUES (2, 'admin', 'admin@example.com', 'Admin', 'User');
        INSERT INTO users (id, username, email, firstname, lastname) VALUES (3, 'student', 'student@example.com', 'Sam', 'Student');
    """)),
    released("core", "2007080200-course", sql("""
        -- Courses and their sections, with the site course and one real course.
        CREATE TABLE course (
            id BIGINT NOT NULL PRIMARY KEY,
            category BIGINT NOT NULL DEFAULT 0,
            fullname VARCHAR(254) NOT NULL,
            shortname VARCHAR(100) NOT NULL,
            format VARCHAR(21) NOT NULL DEFAULT 'weeks',
            visible INTEGER NOT NULL DEFAULT 1,
            timecreated BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX course_category_ix ON course (category);

        CREATE TABLE course_sections (
            id BIGINT NOT NULL PRIMARY KEY,
            course BIGINT NOT NULL,
            section INTEGER NOT NULL,
            summary TEXT,
            visible INTEGER NOT NULL DEFAULT 1
        );
        CREATE UNIQUE INDEX course_sections_course_section_uix ON course_sections (course, section);

        INSERT INTO course (id, fullname, shortname, format) VALUES (1, 'Moodle demo site', 'demo', 'site');
        INSERT INTO course (id, category, fullname, shortname) VALUES (2, 1, 'Introduction to SQL', 'SQL101');
        INSERT INTO course_sections (id, course, section, summary) VALUES (1, 2, 0, 'General');
        INSERT INTO course_sections (id, course, section, summary) VALUES (2, 2, 1, 'Week 1');
    """)),
    released("core", "2007090300-cache_flags", sql("""
        -- Flags that invalidate caches across the cluster.
        CREATE TABLE cache_flags (
            id BIGINT NOT NULL PRIMARY KEY,
            flagtype VARCHAR(255) NOT NULL,
            name VARCHAR(255) NOT NULL,
            value TEXT NOT NULL,
            expiry BIGINT NOT NULL,
            timemodified BIGINT NOT NULL
        );
        CREATE INDEX cache_flags_flagtype_ix ON cache_flags (flagtype);
    """)),
    released("core", "2007091200-block_tables", sql("""
        -- Installed blocks and their instances on pages.
        CREATE TABLE block (
            id BIGINT NOT NULL PRIMARY KEY,
            name VARCHAR(40) NOT NULL,
            version BIGINT NOT NULL DEFAULT 0,
            visible INTEGER NOT NULL DEFAULT 1
        );
        CREATE UNIQUE INDEX block_name_uix ON block (name);

        CREATE TABLE block_instance (
            id BIGINT NOT NULL PRIMARY KEY,
            blockid BIGINT NOT NULL,
            pageid BIGINT NOT NULL,
            pagetype VARCHAR(20) NOT NULL,
            region VARCHAR(10) NOT NULL,
            weight INTEGER NOT NULL DEFAULT 0,
            visible INTEGER NOT NULL DEFAULT 1,
            configdata TEXT
        );
        CREATE INDEX block_instance_pageid_ix ON block_instance (pageid);
    """)),
    released("core", "2007092400-context", sql("""
        -- The context tree used by roles and capabilities.
        CREATE TABLE context (
            id BIGINT NOT NULL PRIMARY KEY,
            contextlevel BIGINT NOT NULL,
            instanceid BIGINT NOT NULL,
            path VARCHAR(255),
            depth INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX context_level_instance_uix ON context (contextlevel, instanceid);

        INSERT INTO context (id, contextlevel, instanceid, path, depth) VALUES (1, 10, 0, '/1', 1);
    """)),
    released("core", "2007100900-users_email_ix", {
        "postgres": sql("""
            -- Speeds up the user search by e-mail prefix.
            CREATE INDEX users_email_ix ON users (email varchar_pattern_ops);
        """),
        "sqlite": sql("""
            -- Speeds up the user search by e-mail, ignoring case.
            CREATE INDEX users_email_ix ON users (email COLLATE NOCASE);
        """),
    }),
    released("theme_standard", "2007082000-theme_defaults", sql("""
        -- Makes the standard theme the site theme.
        INSERT INTO config (id, name, value) VALUES (100, 'theme', 'standard');
        INSERT INTO config_plugins (id, plugin, name, value) VALUES (100, 'theme_standard', 'customcss', '');
    """)),
    released("auth_ldap", "2007083000-ldap_defaults", sql("""
        -- Default LDAP server settings.
        INSERT INTO config_plugins (id, plugin, name, value) VALUES (200, 'auth_ldap', 'host_url', 'ldap://ldap.example.com');
        INSERT INTO config_plugins (id, plugin, name, value) VALUES (201, 'auth_ldap', 'contexts', 'ou=people,dc=example,dc=com');
    """)),
    released("block_navigation", "2007091800-navigation_register", sql("""
        -- Registers the navigation block and shows it on the front page.
        INSERT INTO block (id, name, version) VALUES (1, 'navigation', 2007091800);
        INSERT INTO block_instance (id, blockid, pageid, pagetype, region, weight) VALUES (1, 1, 1, 'site-index', 'l', 0);
    """)),
    released("mod_forum", "2007081500-forum_tables", sql("""
        -- Forums and their discussions.
        CREATE TABLE forum (
            id BIGINT NOT NULL PRIMARY KEY,
            course BIGINT NOT NULL DEFAULT 0,
            type VARCHAR(20) NOT NULL DEFAULT 'general',
            name VARCHAR(255) NOT NULL,
            intro TEXT,
            timemodified BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX forum_course_ix ON forum (course);

        CREATE TABLE forum_discussions (
            id BIGINT NOT NULL PRIMARY KEY,
            course BIGINT NOT NULL DEFAULT 0,
            forum BIGINT NOT NULL DEFAULT 0,
            name VARCHAR(255) NOT NULL,
            userid BIGINT NOT NULL DEFAULT 0,
            timemodified BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX forum_discussions_forum_ix ON forum_discussions (forum);

        INSERT INTO forum (id, course, type, name, intro) VALUES (1, 2, 'news', 'News forum', 'General news and announcements');
        INSERT INTO forum (id, course, type, name, intro) VALUES (2, 2, 'general', 'Questions and answers', 'Ask the tutors');
    """), requires=["core/2007080200-course"]),
    released("mod_forum", "2007081501-forum_posts", sql("""
        -- Forum posts, with a first discussion.
        CREATE TABLE forum_posts (
            id BIGINT NOT NULL PRIMARY KEY,
            discussion BIGINT NOT NULL DEFAULT 0,
            parent BIGINT NOT NULL DEFAULT 0,
            userid BIGINT NOT NULL DEFAULT 0,
            created BIGINT NOT NULL DEFAULT 0,
            modified BIGINT NOT NULL DEFAULT 0,
            mailed INTEGER NOT NULL DEFAULT 0,
            subject VARCHAR(255) NOT NULL,
            message TEXT NOT NULL
        );

        INSERT INTO forum_discussions (id, course, forum, name, userid, timemodified) VALUES (1, 2, 2, 'Welcome', 2, 1186100000);
        INSERT INTO forum_posts (id, discussion, parent, userid, created, modified, mailed, subject, message)
            VALUES (1, 1, 0, 2, 1186000000, 1186000000, 1, 'Welcome', 'Welcome to the course.');
        INSERT INTO forum_posts (id, discussion, parent, userid, created, modified, mailed, subject, message)
            VALUES (2, 1, 1, 3, 1186100000, 1186100000, 0, 'Re: Welcome', 'Thanks, glad to be here.');
    """)),
    released("mod_forum", "2007092000-forum_posts_index", sql("""
        -- Indexes the posts by discussion and by author.
        CREATE INDEX forum_posts_discussion_ix ON forum_posts (discussion);
        CREATE INDEX forum_posts_userid_ix ON forum_posts (userid);
    """), transaction=False),
    released("mod_assign", "2007100100-assign_tables", sql("""
        -- Assignments and their submissions.
        CREATE TABLE assign (
            id BIGINT NOT NULL PRIMARY KEY,
            course BIGINT NOT NULL DEFAULT 0,
            name VARCHAR(255) NOT NULL,
            intro TEXT,
            duedate BIGINT NOT NULL DEFAULT 0,
            grade BIGINT NOT NULL DEFAULT 100,
            timemodified BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX assign_course_ix ON assign (course);

        CREATE TABLE assign_submission (
            id BIGINT NOT NULL PRIMARY KEY,
            assignment BIGINT NOT NULL DEFAULT 0,
            userid BIGINT NOT NULL DEFAULT 0,
            timecreated BIGINT NOT NULL DEFAULT 0,
            timemodified BIGINT NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX assign_submission_assignment_userid_uix ON assign_submission (assignment, userid);

        INSERT INTO assign (id, course, name, intro, duedate) VALUES (1, 2, 'First essay', 'Write about normal forms', 1193000000);
        INSERT INTO assign_submission (id, assignment, userid, timecreated, timemodified) VALUES (1, 1, 3, 1192000000, 1192000000);
        INSERT INTO assign_submission (id, assignment, userid, timecreated, timemodified) VALUES (2, 1, 2, 1192000000, 0);
    """)),
]

# ---- MOODLE_20_STABLE: standalone, dated 2007110100 .. 2008030100 ---------

PENDING_20 = [
    # core
    pending("core", "2007110100-user_timezone", sql("""
        -- Stores each user's own time zone and last address.
        ALTER TABLE users ADD COLUMN timezone VARCHAR(100) NOT NULL DEFAULT '99';
        ALTER TABLE users ADD COLUMN lastip VARCHAR(45);
    """)),
    pending("core", "2007112000-event_table", sql("""
        -- Calendar events.
        CREATE TABLE event (
            id BIGINT NOT NULL PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT,
            courseid BIGINT NOT NULL DEFAULT 0,
            userid BIGINT NOT NULL DEFAULT 0,
            modulename VARCHAR(20) NOT NULL DEFAULT '',
            instance BIGINT NOT NULL DEFAULT 0,
            eventtype VARCHAR(20) NOT NULL DEFAULT '',
            timestart BIGINT NOT NULL DEFAULT 0,
            timeduration BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX event_courseid_ix ON event (courseid);
        CREATE INDEX event_userid_ix ON event (userid);
    """)),
    pending("core", "2007121000-grade_tables", sql("""
        -- The gradebook.
        CREATE TABLE grade_items (
            id BIGINT NOT NULL PRIMARY KEY,
            courseid BIGINT,
            itemtype VARCHAR(30) NOT NULL,
            itemmodule VARCHAR(30),
            iteminstance BIGINT,
            grademax BIGINT NOT NULL DEFAULT 100,
            timemodified BIGINT
        );
        CREATE INDEX grade_items_courseid_ix ON grade_items (courseid);

        CREATE TABLE grade_grades (
            id BIGINT NOT NULL PRIMARY KEY,
            itemid BIGINT NOT NULL,
            userid BIGINT NOT NULL,
            finalgrade BIGINT,
            timemodified BIGINT
        );
        CREATE UNIQUE INDEX grade_grades_itemid_userid_uix ON grade_grades (itemid, userid);
    """)),
    pending("core", "2008010100-message_tables", sql("""
        -- Personal messages, unread and read.
        CREATE TABLE message (
            id BIGINT NOT NULL PRIMARY KEY,
            useridfrom BIGINT NOT NULL DEFAULT 0,
            useridto BIGINT NOT NULL DEFAULT 0,
            subject TEXT,
            fullmessage TEXT,
            timecreated BIGINT NOT NULL DEFAULT 0
        );

        CREATE TABLE message_read (
            id BIGINT NOT NULL PRIMARY KEY,
            useridfrom BIGINT NOT NULL DEFAULT 0,
            useridto BIGINT NOT NULL DEFAULT 0,
            subject TEXT,
            fullmessage TEXT,
            timecreated BIGINT NOT NULL DEFAULT 0,
            timeread BIGINT NOT NULL DEFAULT 0
        );
    """)),
    pending("core", "2008010101-message_indexes", sql("""
        -- Indexes the messages by recipient.
        CREATE INDEX message_useridto_ix ON message (useridto);
        CREATE INDEX message_read_useridto_ix ON message_read (useridto);
    """)),
    # Additive and independent of every other table: safe while the old code
    # still runs, and valid even as the very first step of a fresh install.
    pending("core", "2008010800-lock_table", sql("""
        -- Adds the lock table.
        CREATE TABLE lock_db (
            id BIGINT NOT NULL PRIMARY KEY,
            resourcekey VARCHAR(255) NOT NULL,
            owner VARCHAR(36),
            expires BIGINT
        );
        CREATE UNIQUE INDEX lock_db_resourcekey_uix ON lock_db (resourcekey);
        CREATE INDEX lock_db_expires_ix ON lock_db (expires);
    """), phase="pre"),
    pending("core", "2008012800-user_preferences", sql("""
        -- Per-user preferences.
        CREATE TABLE user_preferences (
            id BIGINT NOT NULL PRIMARY KEY,
            userid BIGINT NOT NULL DEFAULT 0,
            name VARCHAR(255) NOT NULL,
            value VARCHAR(1333) NOT NULL DEFAULT ''
        );
        CREATE UNIQUE INDEX user_preferences_userid_name_uix ON user_preferences (userid, name);
    """)),
    pending("core", "2008021700-webdavlocks", sql("""
        -- Locks held by WebDAV clients.
        CREATE TABLE webdav_locks (
            id BIGINT NOT NULL PRIMARY KEY,
            token VARCHAR(255) NOT NULL,
            path VARCHAR(255) NOT NULL,
            expiry BIGINT NOT NULL,
            userid BIGINT NOT NULL,
            isrecursive INTEGER NOT NULL DEFAULT 0,
            exclusivelock INTEGER NOT NULL DEFAULT 0,
            created BIGINT NOT NULL,
            modified BIGINT NOT NULL,
            owner VARCHAR(255)
        );
        CREATE UNIQUE INDEX webdav_locks_token_uix ON webdav_locks (token);
        CREATE INDEX webdav_locks_path_ix ON webdav_locks (path);
    """)),
    # theme_standard
    pending("theme_standard", "2007111500-custom_menu", sql("""
        -- An empty custom menu.
        INSERT INTO config_plugins (id, plugin, name, value) VALUES (101, 'theme_standard', 'custommenuitems', '');
    """)),
    # Same name as block_navigation's step: the tie is broken by component
    # rank, so theme_standard (rank 1) runs before block_navigation (rank 4).
    pending("theme_standard", "2008022000-navbar_defaults", sql("""
        -- Puts the navigation bar at the top.
        INSERT INTO config_plugins (id, plugin, name, value) VALUES (102, 'theme_standard', 'navbarposition', 'top');
    """)),
    # auth_ldap
    pending("auth_ldap", "2007121500-ldap_sync_log", sql("""
        -- Logs what each LDAP synchronisation changed.
        CREATE TABLE auth_ldap_sync_log (
            id BIGINT NOT NULL PRIMARY KEY,
            userid BIGINT NOT NULL,
            change_type CHAR(1) NOT NULL,
            timecreated BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX auth_ldap_sync_log_userid_ix ON auth_ldap_sync_log (userid);
    """)),
    # format_weeks
    pending("format_weeks", "2008011200-weeks_options", sql("""
        -- Per-course options of the weekly format, for every weekly course.
        CREATE TABLE format_weeks_options (
            id BIGINT NOT NULL PRIMARY KEY,
            courseid BIGINT NOT NULL,
            hiddensections INTEGER NOT NULL DEFAULT 0,
            coursedisplay INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX format_weeks_options_courseid_uix ON format_weeks_options (courseid);

        INSERT INTO format_weeks_options (id, courseid, hiddensections, coursedisplay)
            SELECT id, id, 0, 0 FROM course WHERE format = 'weeks';
    """)),
    # block_navigation
    pending("block_navigation", "2008020400-navigation_cache", sql("""
        -- Caches the expanded branches of each user's navigation.
        CREATE TABLE block_navigation_cache (
            id BIGINT NOT NULL PRIMARY KEY,
            userid BIGINT NOT NULL,
            courseid BIGINT NOT NULL DEFAULT 0,
            expandable TEXT,
            timemodified BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX block_navigation_cache_userid_ix ON block_navigation_cache (userid);
    """)),
    pending("block_navigation", "2008022000-navbar_defaults", sql("""
        -- Docks the block unless the theme puts the navigation bar at the top.
        INSERT INTO config_plugins (id, plugin, name, value)
            SELECT 400, 'block_navigation', 'docked', CASE WHEN value = 'top' THEN '0' ELSE '1' END
            FROM config_plugins
            WHERE plugin = 'theme_standard' AND name = 'navbarposition';
    """)),
    # mod_forum
    pending("mod_forum", "2007113000-forum_tracking", sql("""
        -- Read tracking of forum posts.
        ALTER TABLE forum ADD COLUMN trackingtype INTEGER NOT NULL DEFAULT 1;

        CREATE TABLE forum_track_prefs (
            id BIGINT NOT NULL PRIMARY KEY,
            userid BIGINT NOT NULL DEFAULT 0,
            forumid BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX forum_track_prefs_userid_forumid_ix ON forum_track_prefs (userid, forumid);

        CREATE TABLE forum_read (
            id BIGINT NOT NULL PRIMARY KEY,
            userid BIGINT NOT NULL DEFAULT 0,
            forumid BIGINT NOT NULL DEFAULT 0,
            discussionid BIGINT NOT NULL DEFAULT 0,
            postid BIGINT NOT NULL DEFAULT 0,
            firstread BIGINT NOT NULL DEFAULT 0,
            lastread BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX forum_read_userid_postid_ix ON forum_read (userid, postid);
    """)),
    pending("mod_forum", "2007120300-forum_backport_fix", sql("""
        -- Backported to the 1.9 branch as well.
        -- Marks posts stuck in the mail queue since before the fix as mailed.
        UPDATE forum_posts SET mailed = 1 WHERE mailed = 0 AND created < 1196640000;
    """)),
    # Sorts before core/2008012800-user_preferences but needs its table: the
    # requirement moves it after that step in the global order.
    pending("mod_forum", "2008012200-forum_tracking_default", sql("""
        -- Turns forum tracking on for every existing user.
        INSERT INTO user_preferences (id, userid, name, value)
            SELECT id + 5000, id, 'forum_trackforums', '1' FROM users WHERE deleted = 0;
    """), requires=["core/2008012800-user_preferences"]),
    pending("mod_forum", "2008020800-discussion_replies", sql("""
        -- Counts the replies of each discussion.
        ALTER TABLE forum_discussions ADD COLUMN replies INTEGER NOT NULL DEFAULT 0;
    """)),
    pending("mod_forum", "2008021000-discussion_touch", {
        "postgres": sql("""
            -- Keeps each discussion's modification time and reply count in step with its posts.
            CREATE FUNCTION forum_posts_touch_discussion() RETURNS trigger AS $$
            BEGIN
                UPDATE forum_discussions SET timemodified = NEW.modified WHERE id = NEW.discussion;
                UPDATE forum_discussions SET replies = replies + 1 WHERE id = NEW.discussion AND NEW.parent <> 0;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql;

            CREATE TRIGGER forum_posts_touch_discussion
                AFTER INSERT ON forum_posts
                FOR EACH ROW EXECUTE FUNCTION forum_posts_touch_discussion();
        """),
        "sqlite": sql("""
            -- Keeps each discussion's modification time and reply count in step with its posts.
            CREATE TRIGGER forum_posts_touch_discussion
                AFTER INSERT ON forum_posts
                FOR EACH ROW
            BEGIN
                UPDATE forum_discussions SET timemodified = NEW.modified WHERE id = NEW.discussion;
                UPDATE forum_discussions SET replies = replies + 1 WHERE id = NEW.discussion AND NEW.parent <> 0;
            END;
        """),
    }),
    pending("mod_forum", "2008021400-posts_created_ix", sql("""
        -- Runs outside a transaction, as building it on a large site takes long.
        CREATE INDEX forum_posts_created_ix ON forum_posts (created);
    """), transaction=False),
    pending("mod_forum", "2008022600-upgrade_news", sql("""
        -- Announces the upgrade in the news forum (the trigger updates the discussion).
        INSERT INTO forum_discussions (id, course, forum, name, userid, timemodified)
            VALUES (2, 2, 1, 'Moodle 2.0 upgrade', 2, 0);
        INSERT INTO forum_posts (id, discussion, parent, userid, created, modified, mailed, subject, message)
            VALUES (3, 2, 0, 2, 1204000000, 1204000000, 0, 'Moodle 2.0 upgrade', 'The site now runs the new release.');
    """)),
    pending("mod_forum", "2008022800-backfill_discussion_replies", sql("""
        -- Counts the replies of discussions started before the trigger existed.
        UPDATE forum_discussions SET replies = (
            SELECT COUNT(*) FROM forum_posts
            WHERE forum_posts.discussion = forum_discussions.id AND forum_posts.parent <> 0
        );
    """), phase="post"),
    # mod_assign
    pending("mod_assign", "2007112800-assign_grades", sql("""
        -- Grades given to submissions.
        CREATE TABLE assign_grades (
            id BIGINT NOT NULL PRIMARY KEY,
            assignment BIGINT NOT NULL DEFAULT 0,
            userid BIGINT NOT NULL DEFAULT 0,
            grader BIGINT NOT NULL DEFAULT 0,
            grade BIGINT,
            timecreated BIGINT NOT NULL DEFAULT 0,
            timemodified BIGINT NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX assign_grades_assignment_userid_uix ON assign_grades (assignment, userid);
    """)),
    pending("mod_assign", "2008011500-submission_status", sql("""
        -- The workflow status of a submission.
        ALTER TABLE assign_submission ADD COLUMN status VARCHAR(30) NOT NULL DEFAULT 'new';
        UPDATE assign_submission SET status = 'submitted' WHERE timemodified > 0;
        CREATE INDEX assign_submission_status_ix ON assign_submission (status);
    """)),
    # assignsubmission_file
    pending("assignsubmission_file", "2008020100-file_submissions", sql("""
        -- File submissions, one row per submitted submission.
        CREATE TABLE assignsubmission_file (
            id BIGINT NOT NULL PRIMARY KEY,
            assignment BIGINT NOT NULL DEFAULT 0,
            submission BIGINT NOT NULL DEFAULT 0,
            numfiles INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX assignsubmission_file_submission_ix ON assignsubmission_file (submission);

        INSERT INTO assignsubmission_file (id, assignment, submission, numfiles)
            SELECT id, assignment, id, 0 FROM assign_submission WHERE status = 'submitted';
    """), requires=["mod_assign/2008011500-submission_status"]),
    pending("assignsubmission_file", "2008022700-file_limits", sql("""
        -- Default limits of file submissions.
        INSERT INTO config_plugins (id, plugin, name, value) VALUES (700, 'assignsubmission_file', 'maxbytes', '1048576');
        INSERT INTO config_plugins (id, plugin, name, value) VALUES (701, 'assignsubmission_file', 'maxfiles', '20');
    """)),
    # local_reports
    pending("local_reports", "2008011800-report_definitions", sql("""
        -- Saved report definitions, with one built-in report.
        CREATE TABLE local_reports (
            id BIGINT NOT NULL PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            querysql TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            timecreated BIGINT NOT NULL DEFAULT 0
        );

        INSERT INTO local_reports (id, name, querysql) VALUES (1, 'Forum activity', 'SELECT * FROM local_reports_forum_activity');
    """)),
    pending("local_reports", "2008030100-forum_activity", sql("""
        -- The view behind the built-in report, and report schedules.
        CREATE VIEW local_reports_forum_activity AS
            SELECT u.id AS userid, u.username, COUNT(p.id) AS posts
            FROM users u
            LEFT JOIN forum_posts p ON p.userid = u.id
            GROUP BY u.id, u.username;

        CREATE TABLE local_reports_schedule (
            id BIGINT NOT NULL PRIMARY KEY,
            reportid BIGINT NOT NULL,
            userid BIGINT NOT NULL,
            frequency VARCHAR(10) NOT NULL DEFAULT 'weekly',
            nextrun BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX local_reports_schedule_nextrun_ix ON local_reports_schedule (nextrun);
    """)),
    # mod_wiki: a plugin added after MOODLE_19_STABLE, with an install snapshot
    pending("mod_wiki", "2008021500-wiki_tables", sql("""
        -- Wikis and their pages.
        CREATE TABLE wiki (
            id BIGINT NOT NULL PRIMARY KEY,
            course BIGINT NOT NULL DEFAULT 0,
            name VARCHAR(255) NOT NULL
        );
        CREATE TABLE wiki_pages (
            id BIGINT NOT NULL PRIMARY KEY,
            wiki BIGINT NOT NULL DEFAULT 0,
            title VARCHAR(255) NOT NULL,
            content TEXT NOT NULL
        );
    """), requires=["core/2007080200-course"]),
    pending("mod_wiki", "2008022500-wiki_pages_ix", sql("""
        -- Pages are looked up by wiki and title.
        CREATE UNIQUE INDEX wiki_pages_wiki_title_uix ON wiki_pages (wiki, title);
        ALTER TABLE wiki ADD COLUMN timemodified BIGINT NOT NULL DEFAULT 0;
    """)),
]


# --------------------------------------------------------------------------
# Install snapshots: a component's schema as of one of its steps
# --------------------------------------------------------------------------


def concatenated_snapshot(steps: list[Step], component: str, covers: str, title: str) -> dict[str, str]:
    """A snapshot made of the component's steps up to `covers`, in name
    order (what a project's install script holds as of that step): one
    file, or one per database when a step has per-database bodies."""
    mine = sorted((s for s in steps if s.component == component and s.name <= covers), key=lambda s: s.name)
    databases = sorted({db for s in mine for db in s.bodies() if db})
    header = f"-- covers: {covers}\n-- {title}\n"
    if not databases:
        return {"install.sql": header + "".join("\n" + s.body for s in mine)}
    return {
        f"install.{db}.sql": header + "".join("\n" + s.bodies().get(db, s.bodies().get(None, "")) for s in mine)
        for db in databases
    }


WIKI_SNAPSHOT = """-- covers: 2008022500-wiki_pages_ix
-- The schema of mod_wiki as of its second step, written as a whole.
CREATE TABLE wiki (
    id BIGINT NOT NULL PRIMARY KEY,
    course BIGINT NOT NULL DEFAULT 0,
    name VARCHAR(255) NOT NULL,
    timemodified BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE wiki_pages (
    id BIGINT NOT NULL PRIMARY KEY,
    wiki BIGINT NOT NULL DEFAULT 0,
    title VARCHAR(255) NOT NULL,
    content TEXT NOT NULL
);
CREATE UNIQUE INDEX wiki_pages_wiki_title_uix ON wiki_pages (wiki, title);
"""


def install_files(steps: list[Step]) -> dict[str, str]:
    """Install snapshots of core (per database), mod_forum and mod_wiki."""
    files = {}
    for component, covers, title in [
        ("core", "2007100900-users_email_ix", "The core schema of MOODLE_19_STABLE."),
        ("mod_forum", "2007092000-forum_posts_index", "The forum schema of MOODLE_19_STABLE."),
    ]:
        folder = DEMO_COMPONENTS[component]
        for name, text in concatenated_snapshot(steps, component, covers, title).items():
            files[f"{folder}/db/{name}"] = text
    files["mod/wiki/db/install.sql"] = WIKI_SNAPSHOT
    return files


# --------------------------------------------------------------------------
# Rendering files
# --------------------------------------------------------------------------


def header_lines(step: Step) -> list[str]:
    """The `-- key: value` lines of a standalone step (defaults omitted)."""
    lines = []
    if step.phase != "main":
        lines.append(f"-- phase: {step.phase}")
    if step.requires:
        lines.append(f"-- requires: {', '.join(step.requires)}")
    if not step.transaction:
        lines.append("-- transaction: no")
    return lines


def standalone_files(folder: str, step: Step) -> dict[str, str]:
    """The file (or one file per database) of a standalone step."""
    files = {}
    for db, body in step.bodies().items():
        suffix = ".sql" if db is None else f".{db}.sql"
        text = "\n".join(header_lines(step)) + "\n" if header_lines(step) else ""
        files[f"{folder}/db/upgrades/{step.name}{suffix}"] = text + body
    return files


def toml_multiline(text: str) -> str:
    """A TOML multi-line literal string holding `text` exactly."""
    assert "'''" not in text and not text.endswith("'"), text
    return "'''\n" + text + "'''"


def upgrade_entry(step: Step) -> str:
    """One `[[step]]` entry, as `consolidate release` writes it."""
    lines = [
        "[[step]]",
        f'name = "{step.name}"',
        f'release = "{step.release}"',
        f'phase = "{step.phase}"',
    ]
    if step.requires:
        lines.append("requires = [" + ", ".join(f'"{r}"' for r in step.requires) + "]")
    if not step.transaction:
        lines.append("transaction = false")
    lines.append(f'checksum = "{checksum(step.body)}"')
    if isinstance(step.body, str):
        lines.append("sql = " + toml_multiline(step.body))
    else:
        lines.append("")
        lines.append("[step.sql]")
        for db in sorted(step.body):
            lines.append(f"{db} = " + toml_multiline(step.body[db]))
    return "\n".join(lines) + "\n"


def upgrade_toml(component: str, steps: list[Step]) -> str:
    """A component's `db/upgrade.toml` holding `steps`."""
    head = (
        f"# Major-release upgrade steps of {component}.\n"
        "# Written by `consolidate release`: entries are appended, never edited.\n"
    )
    return head + "".join("\n" + upgrade_entry(s) for s in steps)


def release_toml(release: str, version: str, steps: list[Step]) -> str:
    """`releases/<release>.toml` covering `steps`."""
    out = (
        f"# Cleanup rules of {release}, written by `consolidate release`.\n"
        "# A site that completes this release deletes the ledger rows of these steps.\n"
        f'release = "{release}"\n'
        f'version = "{version}"\n'
    )
    for component in sorted({s.component for s in steps}):
        out += f"\n[covers.{component}]\n"
        for s in sorted((s for s in steps if s.component == component), key=lambda s: s.name):
            out += f'"{s.name}" = "{checksum(s.body)}"\n'
    return out


def tree_files(components: dict[str, str], steps: list[Step]) -> dict[str, str]:
    """Standalone files, component upgrade.toml files and release files."""
    files: dict[str, str] = {}
    by_release: dict[str, list[Step]] = {}
    for component, folder in components.items():
        mine = [s for s in steps if s.component == component]
        consolidated = sorted((s for s in mine if s.release), key=lambda s: s.name)
        if consolidated:
            files[f"{folder}/db/upgrade.toml"] = upgrade_toml(component, consolidated)
        for s in mine:
            if s.release:
                by_release.setdefault(s.release, []).append(s)
            else:
                files.update(standalone_files(folder, s))
    for release, rsteps in by_release.items():
        files[f"releases/{release}.toml"] = release_toml(release, R19_VERSION, rsteps)
    return files


# --------------------------------------------------------------------------
# The broken trees
# --------------------------------------------------------------------------

BAD_MANIFEST = """\
# Minimal tree for the `{case}` error case: broken in exactly one way.
[project]
name = "bad-{case}"
version = "2008030100.00"
revision = 1
strategy = "global"

[components]
core = "lib"
plugin_types = [
  { name = "mod", folder = "mod" },
]
"""

# With a release history, for the cases that hold released steps.
BAD_MANIFEST_WITH_HISTORY = BAD_MANIFEST.replace(
    'revision = 1\n', 'revision = 1\nupgrade_from = "MOODLE_19_STABLE"\n'
) + f"""
[[release]]
name = "{R19}"
version = "{R19_VERSION}"
"""

BASE_BODY = sql("""
    -- A first valid step.
    CREATE TABLE base (
        id BIGINT NOT NULL PRIMARY KEY,
        name VARCHAR(255) NOT NULL
    );
""")

CACHE_FLAGS_BODY = sql("""
    CREATE TABLE cache_flags (
        id BIGINT NOT NULL PRIMARY KEY,
        name VARCHAR(255) NOT NULL
    );
""")


def core_step(name: str, body: str, header: list[str] = ()) -> tuple[str, str]:
    """A standalone core step file: path and text."""
    text = "".join(line + "\n" for line in header) + body
    return f"lib/db/upgrades/{name}.sql", text


def released_tree(body_in_toml: str, recorded_body: str) -> dict[str, str]:
    """lib/db/upgrade.toml with core/2007090300-cache_flags released in 1.9,
    its `sql` being `body_in_toml` and its checksum that of `recorded_body`,
    plus a release file recording the same checksum."""
    step = released("core", "2007090300-cache_flags", recorded_body)
    entry = upgrade_toml("core", [step]).replace(
        toml_multiline(recorded_body), toml_multiline(body_in_toml)
    )
    return {
        "upgrade.toml": BAD_MANIFEST_WITH_HISTORY,
        "lib/db/upgrade.toml": entry,
        f"releases/{R19}.toml": release_toml(R19, R19_VERSION, [step]),
    }


def bad_cases() -> dict[str, tuple[str, dict[str, str | bytes]]]:
    """case -> (expected error substring, files). `{case}` in the manifest is
    filled in later."""
    plain = {"upgrade.toml": BAD_MANIFEST}
    base = dict([core_step("2008010100-base", BASE_BODY)])
    cases: dict[str, tuple[str, dict[str, str | bytes]]] = {}

    cases["bad-name"] = ("is not a step file name", {
        **plain, **base,
        **dict([core_step("2008021700-Web_Dav", sql("""
            CREATE TABLE webdav_locks (
                id BIGINT NOT NULL PRIMARY KEY,
                token VARCHAR(255) NOT NULL
            );
        """))]),
    })
    cases["bad-date"] = ("is not a step file name", {
        **plain, **base,
        **dict([core_step("2008133100-x", "CREATE TABLE x (id BIGINT NOT NULL PRIMARY KEY);\n")]),
    })
    cases["duplicate-name"] = ("is defined twice", {
        **released_tree(CACHE_FLAGS_BODY, CACHE_FLAGS_BODY),
        **dict([core_step("2007090300-cache_flags", sql("""
            CREATE TABLE cache_flags (
                id BIGINT NOT NULL PRIMARY KEY,
                name VARCHAR(255) NOT NULL,
                value TEXT NOT NULL
            );
        """))]),
    })
    cases["cycle"] = ("cycle", {
        **plain,
        **dict([
            core_step("2008010100-lock_table", sql("""
                CREATE TABLE lock_db (id BIGINT NOT NULL PRIMARY KEY);
            """), ["-- requires: core/2008010200-lock_owner"]),
            core_step("2008010200-lock_owner", sql("""
                ALTER TABLE lock_db ADD COLUMN owner VARCHAR(36);
            """), ["-- requires: core/2008010100-lock_table"]),
        ]),
    })
    cases["missing-requirement"] = ("requires core/2008010100-nowhere, which does not exist", {
        **plain, **base,
        **dict([core_step("2008010200-uses_nowhere", sql("""
            ALTER TABLE base ADD COLUMN nowhere VARCHAR(10);
        """), ["-- requires: core/2008010100-nowhere"])]),
    })
    cases["unknown-component-folder"] = ("is not the folder of any component", {
        **plain, **base,
        "blocks/x/db/upgrades/2008010200-x_cache.sql": sql("""
            CREATE TABLE block_x_cache (id BIGINT NOT NULL PRIMARY KEY);
        """),
    })
    cases["broken-toml"] = ("broken TOML", {
        # Line 6: a bare word where a string belongs.
        "upgrade.toml": BAD_MANIFEST.replace('strategy = "global"', "strategy = global"),
        **base,
    })
    cases["edited-released-step"] = ("was edited after release", {
        **released_tree(CACHE_FLAGS_BODY.replace("VARCHAR(255)", "VARCHAR(100)"), CACHE_FLAGS_BODY),
    })
    cases["non-utf8"] = ("not valid UTF-8", {
        **plain,
        "lib/db/upgrades/2008010100-cafe_menu.sql":
            b"-- Caf\xe9 menu of the front page.\n"
            b"CREATE TABLE cafe_menu (id BIGINT NOT NULL PRIMARY KEY, dish VARCHAR(100) NOT NULL);\n",
    })
    cases["unknown-header"] = ("unknown header key", {
        **plain, **base,
        **dict([core_step("2008010200-base_name_ix", sql("""
            CREATE INDEX base_name_ix ON base (name);
        """), ["-- requries: core/2008010100-base"])]),
    })
    cases["mixed-variants"] = ("both a plain .sql file and per-database variants", {
        **plain,
        "lib/db/upgrades/2008010100-triggers.sql": sql("""
            CREATE TABLE triggers_demo (id BIGINT NOT NULL PRIMARY KEY);
        """),
        "lib/db/upgrades/2008010100-triggers.sqlite.sql": sql("""
            CREATE TABLE triggers_demo (id INTEGER PRIMARY KEY);
        """),
    })
    cases["float-version"] = ("never a float", {
        "upgrade.toml": BAD_MANIFEST.replace('"2008030100.00"', "2008030100.02"),
        **base,
    })
    cases["later-phase-requirement"] = ("later phase", {
        **plain, **base,
        **dict([core_step("2008010200-base_name_ix", sql("""
            CREATE INDEX base_name_ix ON base (name);
        """), ["-- phase: pre", "-- requires: core/2008010100-base"])]),
    })
    return cases


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def write_tree(root: Path, files: dict[str, str | bytes]) -> None:
    for rel in sorted(files):
        content = files[rel]
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        assert b"\r" not in data, rel
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def check_demo(steps: list[Step]) -> None:
    """Cheap sanity checks of the demo data, so edits fail loudly."""
    keys = {s.key for s in steps}
    assert len(keys) == len(steps), "duplicate step"
    for s in steps:
        assert s.component in DEMO_COMPONENTS, s.key
        for r in s.requires:
            assert r in keys, f"{s.key} requires unknown {r}"
        for db, body in s.bodies().items():
            assert body == normalise(body) and body, s.key
            # Leading comments must never read as `key: value` header lines.
            for line in body.split("\n"):
                if not line.startswith("--"):
                    break
                assert ":" not in line and line[3:4].isupper(), (s.key, line)
        if s.release:
            assert s.name < R19_VERSION.replace(".", "")[:10], s.key
        else:
            assert "2007110100" <= s.name[:10] <= "2008030100", s.key


def main() -> None:
    steps = RELEASED_19 + PENDING_20
    check_demo(steps)
    for target in (DEMO, BAD):
        if target.exists():
            shutil.rmtree(target)

    demo = {
        "upgrade.toml": DEMO_MANIFEST,
        **tree_files(DEMO_COMPONENTS, steps),
        **install_files(steps),
    }
    write_tree(DEMO, demo)

    for case, (expected, files) in sorted(bad_cases().items()):
        files = {
            rel: (content.replace("{case}", case) if rel == "upgrade.toml" else content)
            for rel, content in files.items()
        }
        files["EXPECTED"] = expected + "\n"
        write_tree(BAD / case, files)

    released_count = sum(1 for s in steps if s.release)
    print(
        f"fixtures/demo: {len(steps)} steps "
        f"({released_count} consolidated, {len(steps) - released_count} standalone), "
        f"{len(demo)} files; fixtures/bad: {len(bad_cases())} cases"
    )


if __name__ == "__main__":
    main()
