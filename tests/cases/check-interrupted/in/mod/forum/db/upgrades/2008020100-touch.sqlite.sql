CREATE TRIGGER forum_touch AFTER UPDATE ON forum BEGIN
    UPDATE config SET value = 'touched' WHERE name = 'forum';
END;
