-- phase: pre
-- Additive: safe while the old code runs.
ALTER TABLE forum ADD COLUMN intro TEXT;   

