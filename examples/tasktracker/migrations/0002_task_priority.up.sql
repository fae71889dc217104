-- Revision 0002 (release v1.4.0): tasks get a priority (1 high .. 3 low),
-- and the open tasks of a user are found by index.
ALTER TABLE tasks ADD COLUMN priority smallint NOT NULL DEFAULT 2
    CHECK (priority BETWEEN 1 AND 3);
CREATE INDEX tasks_open_by_owner ON tasks (owner_id) WHERE NOT done;
