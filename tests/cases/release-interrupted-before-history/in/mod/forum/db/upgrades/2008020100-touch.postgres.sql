CREATE FUNCTION forum_touch() RETURNS trigger AS $$
BEGIN
    UPDATE config SET value = 'touched' WHERE name = 'forum';
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER forum_touch AFTER UPDATE ON forum FOR EACH ROW EXECUTE FUNCTION forum_touch();
