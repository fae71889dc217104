-- Revision 0003 of the BROKEN release v1.5.0 that `make demo` deploys: it
-- means to move done tasks to tasks_archive, but deletes them before the
-- copy.  Rehearsal cannot catch it (up and down both work: the revision
-- comes back); the verify check tasks-kept does, and the plan's matrix rolls
-- back images, migrations and restores the backup.
CREATE TABLE tasks_archive (LIKE tasks INCLUDING ALL);
DELETE FROM tasks WHERE done;
INSERT INTO tasks_archive SELECT * FROM tasks WHERE done;
