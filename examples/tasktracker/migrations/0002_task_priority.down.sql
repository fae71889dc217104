DROP INDEX tasks_open_by_owner;
ALTER TABLE tasks DROP COLUMN priority;
