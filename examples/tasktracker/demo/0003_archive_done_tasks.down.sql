DROP TABLE tasks_archive;
